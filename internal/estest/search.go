package estest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// searchKeys lists the search body keys: true for those evaluated or
// harmlessly ignored, false for real ES options this server does not
// model (they get an explicit error).
var searchKeys = map[string]bool{
	"query": true, "size": true, "from": true, "sort": true, "_source": true,
	"track_total_hits": true, "timeout": true, "track_scores": true, "version": true,
	"seq_no_primary_term": true, "post_filter": true, "explain": true, "profile": true,
	"stats": true, "terminate_after": true,
	"aggs": false, "aggregations": false, "highlight": false, "suggest": false, "rescore": false,
	"collapse": false, "search_after": false, "pit": false, "knn": false, "rank": false,
	"retriever": false, "script_fields": false, "runtime_mappings": false, "stored_fields": false,
	"docvalue_fields": false, "fields": false, "indices_boost": false, "min_score": false,
	"slice": false, "ext": false, "sub_searches": false,
}

// searchRequest is a parsed search body plus URL parameters.
type searchRequest struct {
	query      queryNode
	postFilter queryNode
	size, from int
	sort       []sortKey
	trackTotal int // -1: exact; 0: omit
	source     *jnode
	version    bool
	seqNoTerm  bool
}

type sortKey struct {
	field       string
	desc        bool
	missingLast bool
	unmappedAs  string
}

func (s *Server) search(req *request) reply {
	sr, e := parseSearch(req)
	if e != nil {
		return errReply(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	indices, e := s.resolveIndices(indexExpr(req))
	if e != nil {
		return errReply(e)
	}
	type hit struct {
		idx  *index
		doc  *storedDoc
		sort []any
	}
	var hits []hit
	shards := 0
	for _, idx := range indices {
		shards += idx.settings.shards
		b := &binder{idx: idx, now: s.opts.Now()}
		m, e := sr.query.bind(b)
		if e != nil {
			return errReply(e)
		}
		var post matcher
		if sr.postFilter != nil {
			if post, e = sr.postFilter.bind(b); e != nil {
				return errReply(e)
			}
		}
		getters := make([]func(*storedDoc) any, len(sr.sort))
		for i, k := range sr.sort {
			g, e := sortGetter(idx, k)
			if e != nil {
				return errReply(e)
			}
			getters[i] = g
		}
		for _, d := range ordered(idx.searchable) {
			if !m(d) || (post != nil && !post(d)) {
				continue
			}
			h := hit{idx: idx, doc: d}
			for _, g := range getters {
				h.sort = append(h.sort, g(d))
			}
			hits = append(hits, h)
		}
	}
	if len(sr.sort) > 0 {
		sort.SliceStable(hits, func(i, j int) bool {
			for k, key := range sr.sort {
				c := compareSortValues(hits[i].sort[k], hits[j].sort[k], key)
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
	}
	total := len(hits)
	page := []any{}
	for i := sr.from; i < len(hits) && i < sr.from+sr.size; i++ {
		h := hits[i]
		o := obj{{"_index", h.idx.name}, {"_id", h.doc.id}}
		if sr.version {
			o = append(o, kv{"_version", h.doc.version})
		}
		if sr.seqNoTerm {
			o = append(o, kv{"_seq_no", h.doc.seqNo}, kv{"_primary_term", 1})
		}
		if len(sr.sort) > 0 {
			o = append(o, kv{"_score", nil})
		} else {
			o = append(o, kv{"_score", 1.0})
		}
		if src, ok := filterSource(h.doc, sr.source); ok {
			o = append(o, kv{"_source", src})
		}
		if len(sr.sort) > 0 {
			o = append(o, kv{"sort", h.sort})
		}
		page = append(page, o)
	}
	var maxScore any
	if len(sr.sort) == 0 && total > 0 {
		maxScore = 1.0
	}
	hitsObj := obj{}
	if sr.trackTotal != 0 {
		value, relation := total, "eq"
		if sr.trackTotal > 0 && total > sr.trackTotal {
			value, relation = sr.trackTotal, "gte"
		}
		hitsObj = append(hitsObj, kv{"total", obj{{"value", value}, {"relation", relation}}})
	}
	hitsObj = append(hitsObj, kv{"max_score", maxScore}, kv{"hits", page})
	return reply{status: http.StatusOK, body: obj{
		{"took", s.opts.Now().Sub(req.start).Milliseconds()},
		{"timed_out", false},
		{"_shards", obj{{"total", shards}, {"successful", shards}, {"skipped", 0}, {"failed", 0}}},
		{"hits", hitsObj},
	}}
}

func indexExpr(req *request) string {
	if expr := req.vars["index"]; expr != "" {
		return expr
	}
	return "*"
}

func parseSearch(req *request) (*searchRequest, *esError) {
	sr := &searchRequest{query: matchAll{}, size: 10, trackTotal: 10000}
	if req.query.Get("q") != "" {
		return nil, newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model the [q] URI search parameter; send a query body")
	}
	if len(req.body) > 0 {
		tree, e := parseBody(req.body)
		if e != nil {
			return nil, e
		}
		p := &qp{data: req.body}
		if tree.kind != jObject {
			return nil, p.parsing(tree, "Expected [START_OBJECT] but found [%s]", tree.kind.tokenName(tree))
		}
		for i, k := range tree.keys {
			v := tree.vals[i]
			modelled, known := searchKeys[k]
			if !known {
				return nil, p.parsing(v, "Unknown key for a %s in [%s].", v.kind.tokenName(v), k)
			}
			if !modelled {
				return nil, newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model the search option [%s]", k)
			}
			var e *esError
			switch k {
			case "query":
				sr.query, e = p.parse(v)
			case "post_filter":
				sr.postFilter, e = p.parse(v)
			case "size", "from":
				n, err := strconv.Atoi(v.text())
				if err != nil || v.kind != jNumber && v.kind != jString {
					return nil, p.parsing(v, "[%s] failed to parse field", k)
				}
				if k == "size" {
					sr.size = n
				} else {
					sr.from = n
				}
			case "sort":
				sr.sort, e = parseSort(p, v)
			case "track_total_hits":
				switch {
				case v.kind == jBool && v.b:
					sr.trackTotal = -1
				case v.kind == jBool:
					sr.trackTotal = 0
				default:
					n, err := strconv.Atoi(v.text())
					if err != nil {
						return nil, p.parsing(v, "[track_total_hits] failed to parse field")
					}
					sr.trackTotal = n
				}
			case "_source":
				sr.source = v
			case "version":
				sr.version = v.kind == jBool && v.b
			case "seq_no_primary_term":
				sr.seqNoTerm = v.kind == jBool && v.b
			}
			if e != nil {
				return nil, e
			}
		}
	}
	for _, k := range []string{"size", "from"} {
		if v := req.query.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, illegalArgument("Failed to parse int parameter [%s] with value [%s]", k, v)
			}
			if k == "size" {
				sr.size = n
			} else {
				sr.from = n
			}
		}
	}
	if v := req.query.Get("track_total_hits"); v != "" {
		switch v {
		case "true":
			sr.trackTotal = -1
		case "false":
			sr.trackTotal = 0
		default:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, illegalArgument("Failed to parse int parameter [track_total_hits] with value [%s]", v)
			}
			sr.trackTotal = n
		}
	}
	if sr.from < 0 {
		return nil, illegalArgument("[from] parameter cannot be negative but was [%d]", sr.from)
	}
	if sr.size < 0 {
		return nil, illegalArgument("[size] parameter cannot be negative, found [%d]", sr.size)
	}
	if sr.from+sr.size > 10000 {
		return nil, illegalArgument("Result window is too large, from + size must be less than or equal to: [10000] but was [%d]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", sr.from+sr.size)
	}
	return sr, nil
}

func parseSort(p *qp, v *jnode) ([]sortKey, *esError) {
	items := []*jnode{v}
	if v.kind == jArray {
		items = v.elems
	}
	var keys []sortKey
	for _, it := range items {
		switch it.kind {
		case jString:
			keys = append(keys, newSortKey(it.str, ""))
		case jObject:
			for i, field := range it.keys {
				spec := it.vals[i]
				switch spec.kind {
				case jString:
					keys = append(keys, newSortKey(field, spec.str))
				case jObject:
					k := newSortKey(field, "")
					if o := spec.field("order"); o != nil {
						k = newSortKey(field, o.text())
					}
					if m := spec.field("missing"); m != nil {
						k.missingLast = m.text() != "_first"
					}
					if u := spec.field("unmapped_type"); u != nil {
						k.unmappedAs = u.text()
					}
					keys = append(keys, k)
				default:
					return nil, p.parsing(spec, "[sort] malformed sort for field [%s]", field)
				}
			}
		default:
			return nil, p.parsing(it, "[sort] malformed sort")
		}
	}
	return keys, nil
}

func newSortKey(field, order string) sortKey {
	k := sortKey{field: field, missingLast: true}
	switch strings.ToLower(order) {
	case "desc":
		k.desc = true
	case "asc":
	default:
		k.desc = field == "_score"
	}
	return k
}

// sortGetter returns the sort value of a document for key: the smallest
// value for ascending order, the largest for descending, as ES's default
// sort mode does.
func sortGetter(idx *index, key sortKey) (func(*storedDoc) any, *esError) {
	switch key.field {
	case "_doc":
		return func(d *storedDoc) any { return d.seqNo }, nil
	case "_score":
		return func(*storedDoc) any { return 1.0 }, nil
	case "_id":
		return func(d *storedDoc) any { return d.id }, nil
	}
	f, src := idx.mapping.lookup(key.field)
	if f == nil || f.isObject() {
		if key.unmappedAs != "" {
			return func(*storedDoc) any { return nil }, nil
		}
		return nil, shardFailure(idx, "query_shard_exception", "No mapping found for ["+key.field+"] in order to sort on")
	}
	if f.typ == "text" || f.typ == "match_only_text" {
		reason := "Fielddata is disabled on [" + key.field + "] in [" + idx.name + "]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [" + key.field + "] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
		return nil, shardFailure(idx, "illegal_argument_exception", reason)
	}
	return func(d *storedDoc) any {
		var best any
		for _, v := range docValues(f, d, src) {
			if best == nil {
				best = v
				continue
			}
			c, _ := compareValues(v, best)
			if (key.desc && c > 0) || (!key.desc && c < 0) {
				best = v
			}
		}
		switch t := best.(type) {
		case num:
			if t.isInt {
				return t.i
			}
			return t.f
		case bool:
			if t {
				return int64(1)
			}
			return int64(0)
		}
		return best
	}, nil
}

// compareSortValues orders two sort values for key; missing values go
// last (or first), whatever the direction.
func compareSortValues(a, b any, key sortKey) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		if key.missingLast {
			return 1
		}
		return -1
	case b == nil:
		if key.missingLast {
			return -1
		}
		return 1
	}
	c := 0
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			c = cmpOrdered(x, y)
		} else if y, ok := b.(float64); ok {
			c = cmpOrdered(float64(x), y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			c = cmpOrdered(x, y)
		} else if y, ok := b.(int64); ok {
			c = cmpOrdered(x, float64(y))
		}
	case string:
		if y, ok := b.(string); ok {
			c = strings.Compare(x, y)
		}
	}
	if key.desc {
		return -c
	}
	return c
}

// filterSource applies the _source option: false drops it, a pattern or
// list of patterns (or {"includes","excludes"}) keeps parts of it.
func filterSource(d *storedDoc, spec *jnode) (any, bool) {
	if spec == nil {
		return rawJSON(d.source), true
	}
	var incl, excl [][]string
	add := func(dst *[][]string, n *jnode) {
		list := []*jnode{n}
		if n.kind == jArray {
			list = n.elems
		}
		for _, e := range list {
			if e.kind == jString {
				*dst = append(*dst, strings.Split(e.str, "."))
			}
		}
	}
	switch spec.kind {
	case jBool:
		if !spec.b {
			return nil, false
		}
		return rawJSON(d.source), true
	case jString, jArray:
		add(&incl, spec)
	case jObject:
		for i, k := range spec.keys {
			switch k {
			case "includes", "include":
				add(&incl, spec.vals[i])
			case "excludes", "exclude":
				add(&excl, spec.vals[i])
			}
		}
	}
	v := expand(rawJSON(d.source))
	if len(incl) > 0 {
		kept, ok := include(v, incl)
		if !ok {
			kept = obj{}
		}
		v = kept
	}
	if len(excl) > 0 {
		v = exclude(v, excl)
	}
	return v, true
}

func (s *Server) count(req *request) reply {
	q := queryNode(matchAll{})
	if req.query.Get("q") != "" {
		return errReply(newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model the [q] URI search parameter; send a query body"))
	}
	if len(req.body) > 0 {
		tree, e := parseBody(req.body)
		if e != nil {
			return errReply(e)
		}
		p := &qp{data: req.body}
		if tree.kind != jObject {
			return errReply(p.parsing(tree, "Expected [START_OBJECT] but found [%s]", tree.kind.tokenName(tree)))
		}
		for i, k := range tree.keys {
			if k != "query" {
				return errReply(p.parsing(tree.vals[i], "request does not support [%s]", k))
			}
			if q, e = p.parse(tree.vals[i]); e != nil {
				return errReply(e)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	indices, e := s.resolveIndices(indexExpr(req))
	if e != nil {
		return errReply(e)
	}
	n, shards := 0, 0
	for _, idx := range indices {
		shards += idx.settings.shards
		m, e := q.bind(&binder{idx: idx, now: s.opts.Now()})
		if e != nil {
			return errReply(e)
		}
		for _, d := range idx.searchable {
			if m(d) {
				n++
			}
		}
	}
	return reply{status: http.StatusOK, body: obj{
		{"count", n},
		{"_shards", obj{{"total", shards}, {"successful", shards}, {"skipped", 0}, {"failed", 0}}},
	}}
}
