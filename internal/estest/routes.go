package estest

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// bodyRule says whether an endpoint reads a request body.
type bodyRule int

const (
	bodyNone bodyRule = iota
	bodyOptional
	bodyRequired
)

// endpoint is one method of a route.
type endpoint struct {
	handle func(*Server, *request) reply
	params []string // query parameters accepted besides the global ones
	body   bodyRule
}

// route is a path pattern; segments in braces are variables.
type route struct {
	segments []string
	methods  map[string]endpoint
}

// globalParams are accepted by every endpoint.
var globalParams = []string{"pretty", "human", "error_trace", "filter_path"}

var (
	writeParams   = []string{"wait_for_active_shards", "refresh", "routing", "timeout", "version", "version_type", "if_seq_no", "if_primary_term", "pipeline", "require_alias", "require_data_stream", "include_source_on_error", "op_type"}
	bulkParams    = []string{"wait_for_active_shards", "refresh", "routing", "timeout", "_source", "_source_excludes", "_source_includes", "pipeline", "require_alias", "require_data_stream", "list_executed_pipelines", "include_source_on_error"}
	getDocParams  = []string{"stored_fields", "preference", "realtime", "refresh", "routing", "_source", "_source_excludes", "_source_includes", "version", "version_type"}
	deleteParams  = []string{"wait_for_active_shards", "refresh", "routing", "timeout", "if_seq_no", "if_primary_term", "version", "version_type"}
	searchParams  = []string{"size", "from", "sort", "q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "track_total_hits", "rest_total_hits_as_int", "typed_keys", "allow_no_indices", "ignore_unavailable", "expand_wildcards", "ignore_throttled", "preference", "routing", "timeout", "terminate_after", "search_type", "request_cache", "batched_reduce_size", "max_concurrent_shard_requests", "pre_filter_shard_size", "allow_partial_search_results", "ccs_minimize_roundtrips", "track_scores", "version", "seq_no_primary_term", "stored_fields", "docvalue_fields", "explain", "_source", "_source_excludes", "_source_includes", "scroll", "stats", "suggest_field", "suggest_mode", "suggest_size", "suggest_text", "include_named_queries_score", "force_synthetic_source"}
	countParams   = []string{"q", "df", "analyzer", "analyze_wildcard", "default_operator", "lenient", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "ignore_throttled", "min_score", "preference", "routing", "terminate_after"}
	refreshParams = []string{"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
	indexParams   = []string{"wait_for_active_shards", "timeout", "master_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "flat_settings", "include_defaults", "local", "features"}
	templParams   = []string{"create", "master_timeout", "cause", "flat_settings", "local", "include_defaults", "timeout"}
	healthParams  = []string{"level", "local", "master_timeout", "timeout", "wait_for_active_shards", "wait_for_nodes", "wait_for_events", "wait_for_no_relocating_shards", "wait_for_no_initializing_shards", "wait_for_status", "expand_wildcards"}
)

func ep(h func(*Server, *request) reply, body bodyRule, params ...[]string) endpoint {
	var all []string
	for _, p := range params {
		all = append(all, p...)
	}
	return endpoint{handle: h, params: all, body: body}
}

// routeTable holds the endpoints this server answers; everything else is
// ES's "no handler found" (or, for real ES APIs this server lacks, an
// explicit estest_not_modelled_exception).
var routeTable = []route{
	{split("/"), map[string]endpoint{
		"GET":  ep((*Server).rootInfo, bodyNone),
		"HEAD": ep((*Server).rootInfo, bodyNone),
	}},
	{split("/_bulk"), map[string]endpoint{
		"POST": ep((*Server).bulk, bodyRequired, bulkParams),
		"PUT":  ep((*Server).bulk, bodyRequired, bulkParams),
	}},
	{split("/{index}/_bulk"), map[string]endpoint{
		"POST": ep((*Server).bulk, bodyRequired, bulkParams),
		"PUT":  ep((*Server).bulk, bodyRequired, bulkParams),
	}},
	{split("/_index_template"), map[string]endpoint{
		"GET": ep((*Server).getIndexTemplate, bodyNone, templParams),
	}},
	{split("/_index_template/{name}"), map[string]endpoint{
		"GET":    ep((*Server).getIndexTemplate, bodyNone, templParams),
		"HEAD":   ep((*Server).headIndexTemplate, bodyNone, templParams),
		"PUT":    ep((*Server).putIndexTemplate, bodyRequired, templParams),
		"POST":   ep((*Server).putIndexTemplate, bodyRequired, templParams),
		"DELETE": ep((*Server).deleteIndexTemplate, bodyNone, templParams),
	}},
	{split("/{index}"), map[string]endpoint{
		"GET":    ep((*Server).getIndex, bodyNone, indexParams),
		"HEAD":   ep((*Server).headIndex, bodyNone, indexParams),
		"PUT":    ep((*Server).putIndex, bodyOptional, indexParams),
		"DELETE": ep((*Server).deleteIndex, bodyNone, indexParams),
	}},
	{split("/{index}/_doc"), map[string]endpoint{
		"POST": ep((*Server).indexDoc, bodyRequired, writeParams),
	}},
	{split("/{index}/_doc/{id}"), map[string]endpoint{
		"GET":    ep((*Server).getDoc, bodyNone, getDocParams),
		"HEAD":   ep((*Server).getDoc, bodyNone, getDocParams),
		"PUT":    ep((*Server).indexDoc, bodyRequired, writeParams),
		"POST":   ep((*Server).indexDoc, bodyRequired, writeParams),
		"DELETE": ep((*Server).deleteDoc, bodyNone, deleteParams),
	}},
	{split("/{index}/_create/{id}"), map[string]endpoint{
		"PUT":  ep((*Server).createDoc, bodyRequired, writeParams),
		"POST": ep((*Server).createDoc, bodyRequired, writeParams),
	}},
	{split("/_refresh"), map[string]endpoint{
		"GET":  ep((*Server).refresh, bodyNone, refreshParams),
		"POST": ep((*Server).refresh, bodyNone, refreshParams),
	}},
	{split("/{index}/_refresh"), map[string]endpoint{
		"GET":  ep((*Server).refresh, bodyNone, refreshParams),
		"POST": ep((*Server).refresh, bodyNone, refreshParams),
	}},
	{split("/_count"), map[string]endpoint{
		"GET":  ep((*Server).count, bodyOptional, countParams),
		"POST": ep((*Server).count, bodyOptional, countParams),
	}},
	{split("/{index}/_count"), map[string]endpoint{
		"GET":  ep((*Server).count, bodyOptional, countParams),
		"POST": ep((*Server).count, bodyOptional, countParams),
	}},
	{split("/_search"), map[string]endpoint{
		"GET":  ep((*Server).search, bodyOptional, searchParams),
		"POST": ep((*Server).search, bodyOptional, searchParams),
	}},
	{split("/{index}/_search"), map[string]endpoint{
		"GET":  ep((*Server).search, bodyOptional, searchParams),
		"POST": ep((*Server).search, bodyOptional, searchParams),
	}},
	{split("/_mapping"), map[string]endpoint{
		"GET": ep((*Server).getMapping, bodyNone, indexParams),
	}},
	{split("/{index}/_mapping"), map[string]endpoint{
		"GET":  ep((*Server).getMapping, bodyNone, indexParams),
		"PUT":  ep((*Server).putMapping, bodyRequired, indexParams, []string{"write_index_only"}),
		"POST": ep((*Server).putMapping, bodyRequired, indexParams, []string{"write_index_only"}),
	}},
	{split("/_cluster/health"), map[string]endpoint{
		"GET": ep((*Server).clusterHealth, bodyNone, healthParams),
	}},
	{split("/_cluster/health/{index}"), map[string]endpoint{
		"GET": ep((*Server).clusterHealth, bodyNone, healthParams),
	}},
}

// notModelled are ES API names (path segments) this server does not
// answer; requests for them get a clear estest error rather than ES's
// "no handler found", which would wrongly suggest ES lacks the API.
var notModelled = map[string]bool{
	"_template": true, "_component_template": true, "_data_stream": true, "_alias": true,
	"_aliases": true, "_update": true, "_update_by_query": true, "_delete_by_query": true,
	"_mget": true, "_msearch": true, "_reindex": true, "_source": true, "_explain": true,
	"_termvectors": true, "_mtermvectors": true, "_settings": true, "_stats": true,
	"_analyze": true, "_field_caps": true, "_open": true, "_close": true, "_rollover": true,
	"_forcemerge": true, "_flush": true, "_pit": true, "_scroll": true, "_cat": true,
	"_nodes": true, "_ingest": true, "_ilm": true, "_security": true, "_license": true,
	"_xpack": true, "_tasks": true, "_snapshot": true, "_async_search": true, "_sql": true,
	"_eql": true, "_query": true, "_transform": true, "_ml": true, "_enrich": true,
	"_resolve": true, "_shrink": true, "_split": true, "_clone": true, "_block": true,
	"_validate": true, "_rank_eval": true, "_search_shards": true, "_health_report": true,
	"_autoscaling": true, "_ccr": true, "_features": true, "_script_context": true,
	"_scripts": true, "_render": true, "_knn_search": true, "_terms_enum": true,
	"_disk_usage": true, "_segments": true, "_recovery": true, "_shard_stores": true,
	"_cache": true, "_upgrade": true, "_freeze": true, "_unfreeze": true, "_migration": true,
	"_graph": true, "_monitoring": true, "_rollup": true, "_searchable_snapshots": true,
	"_slm": true, "_text_structure": true, "_watcher": true, "_inference": true,
	"_connector": true, "_application": true, "_synonyms": true, "_query_rules": true,
	"_index_template_simulate": true, "_simulate": true, "_fleet": true, "_cluster": true,
}

func split(pattern string) []string {
	var out []string
	for _, s := range strings.Split(pattern, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// methodOrder is the order ES lists methods in (its RestRequest.Method enum).
var methodOrder = []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT"}

// handle authenticates, routes and runs one request.
func (s *Server) handle(r *http.Request, body []byte) reply {
	if e := s.authenticate(r); e != nil {
		return errReply(e)
	}
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	var segs []string
	for _, seg := range split(r.URL.EscapedPath()) {
		u, err := url.PathUnescape(seg)
		if err != nil {
			u = seg
		}
		segs = append(segs, u)
	}
	ep, vars, allowed := findRoute(segs, r.Method)
	for _, seg := range segs {
		if notModelled[seg] && (ep.handle == nil || vars["index"] == seg) {
			return errReply(newError(http.StatusBadRequest, "estest_not_modelled_exception",
				"estest does not model [%s %s]; it answers only the Elasticsearch APIs awsaudit uses", r.Method, r.URL.Path))
		}
	}
	if ep.handle == nil {
		if r.Method == http.MethodOptions && len(allowed) > 0 {
			return reply{status: http.StatusOK, header: http.Header{"Allow": {strings.Join(allowed, ",")}}}
		}
		if len(allowed) > 0 {
			return reply{
				status: http.StatusMethodNotAllowed,
				body:   simpleError(http.StatusMethodNotAllowed, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", uri, r.Method, strings.Join(allowed, ", "))),
				header: http.Header{"Allow": {strings.Join(allowed, ",")}},
			}
		}
		return reply{status: http.StatusBadRequest, body: simpleError(http.StatusBadRequest, fmt.Sprintf("no handler found for uri [%s] and method [%s]", uri, r.Method))}
	}
	if len(body) > 0 {
		if msg := contentTypeProblem(r.Header.Values("Content-Type")); msg != "" {
			return reply{status: http.StatusNotAcceptable, body: simpleError(http.StatusNotAcceptable, msg)}
		}
	}
	req := &request{
		method: r.Method,
		path:   r.URL.Path,
		uri:    uri,
		vars:   vars,
		query:  r.URL.Query(),
		body:   body,
		header: r.Header,
		start:  s.opts.Now(),
	}
	if e := checkParams(req, ep.params); e != nil {
		return errReply(e)
	}
	switch {
	case ep.body == bodyNone && len(body) > 0:
		return errReply(illegalArgument("request [%s %s] does not support having a body", r.Method, r.URL.Path))
	case ep.body == bodyRequired && len(body) == 0:
		return errReply(newError(http.StatusBadRequest, "parse_exception", "request body is required"))
	}
	return ep.handle(s, req)
}

// findRoute picks the endpoint for a path and method the way ES's path
// trie does: literal segments beat variables, and a route is skipped when
// it lacks the method but a less specific one has it. allowed lists the
// methods of every matching route, for 405 answers.
func findRoute(segs []string, method string) (endpoint, map[string]string, []string) {
	type candidate struct {
		r        *route
		literals int
	}
	var cands []candidate
	for i := range routeTable {
		r := &routeTable[i]
		if len(r.segments) != len(segs) {
			continue
		}
		lit, ok := 0, true
		for j, seg := range r.segments {
			if strings.HasPrefix(seg, "{") {
				continue
			}
			if seg != segs[j] {
				ok = false
				break
			}
			lit++
		}
		if ok {
			cands = append(cands, candidate{r, lit})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].literals > cands[j].literals })
	methods := map[string]bool{}
	for _, c := range cands {
		for m := range c.r.methods {
			methods[m] = true
		}
		if e, ok := c.r.methods[method]; ok {
			vars := map[string]string{}
			for j, seg := range c.r.segments {
				if strings.HasPrefix(seg, "{") {
					vars[strings.Trim(seg, "{}")] = segs[j]
				}
			}
			return e, vars, nil
		}
	}
	var allowed []string
	for _, m := range methodOrder {
		if methods[m] {
			allowed = append(allowed, m)
		}
	}
	return endpoint{}, nil, allowed
}

// contentTypeProblem returns ES's 406 message for a body whose
// Content-Type it does not read, or "".
func contentTypeProblem(values []string) string {
	if len(values) == 0 {
		return "Content-Type header is missing"
	}
	mt, _, err := mime.ParseMediaType(values[0])
	switch {
	case err != nil:
	case mt == "application/json", mt == "application/x-ndjson",
		mt == "application/vnd.elasticsearch+json", mt == "application/vnd.elasticsearch+x-ndjson":
		return ""
	}
	return "Content-Type header [" + strings.Join(values, ",") + "] is not supported"
}

// checkParams rejects query parameters the endpoint does not know, as ES
// does, and values ES would not parse for the common ones.
func checkParams(req *request, allowed []string) *esError {
	var unknown []string
	for k := range req.query {
		if !contains(allowed, k) && !contains(globalParams, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		quoted := make([]string, len(unknown))
		for i, u := range unknown {
			quoted[i] = "[" + u + "]"
		}
		if len(unknown) == 1 {
			return illegalArgument("request [%s] contains unrecognized parameter: %s", req.path, quoted[0])
		}
		return illegalArgument("request [%s] contains unrecognized parameters: %s", req.path, strings.Join(quoted, ", "))
	}
	if v, ok := req.query["refresh"]; ok {
		switch v[0] {
		case "", "true", "false", "wait_for":
		default:
			return illegalArgument("Unknown value for refresh: [%s].", v[0])
		}
	}
	return nil
}
