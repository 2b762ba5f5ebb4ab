package estest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// seed indexes events into awsaudit-1 through the audit template.
func seed(t *testing.T, srv *Server) {
	t.Helper()
	putTemplate(t, srv, "audit", `{"index_patterns":["awsaudit-*"],"template":{"mappings":{"properties":{
		"@timestamp":{"type":"date"},"instance_id":{"type":"keyword"},"count":{"type":"long"},
		"stopped":{"type":"boolean"},"message":{"type":"text"},"region":{"type":"keyword"}}}}}`)
	docs := []string{
		`{"@timestamp":"2024-05-01T10:00:00Z","instance_id":"i-1","count":1,"stopped":true,"message":"Instance stopped by policy","region":"us-west-2"}`,
		`{"@timestamp":"2024-05-02T10:00:00Z","instance_id":"i-2","count":5,"stopped":false,"message":"Instance left running","region":"eu-west-1"}`,
		`{"@timestamp":"2024-05-03T10:00:00Z","instance_id":"i-3","count":"10","stopped":true,"message":"Stopped","region":"us-west-2"}`,
		`{"@timestamp":1714816800000,"instance_id":["i-4","i-5"],"count":7,"region":"us-east-1"}`,
	}
	var lines []string
	for i, d := range docs {
		lines = append(lines, fmt.Sprintf(`{"index":{"_index":"awsaudit-1","_id":"%d"}}`, i+1), d)
	}
	if r := bulk(t, srv, lines...); r.body["errors"] != false {
		t.Fatalf("seeding failed: %s", r.raw)
	}
	refresh(t, srv, "awsaudit-1")
}

// refresh makes what was written to index searchable, as a test must with a
// real cluster.
func refresh(t *testing.T, srv *Server, index string) {
	t.Helper()
	if r := call(t, srv, "POST", "/"+index+"/_refresh", "", ""); r.status != http.StatusOK {
		t.Fatalf("refreshing %s: %d %s", index, r.status, r.raw)
	}
}

func hitIDs(t *testing.T, r response) []string {
	t.Helper()
	var ids []string
	for _, h := range get(t, r.body, "hits.hits").([]any) {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	return ids
}

func TestSearchQueries(t *testing.T) {
	srv := StartWith(t, Options{Now: func() time.Time { return time.Date(2024, 5, 3, 12, 0, 0, 0, time.UTC) }})
	seed(t, srv)
	tests := []struct {
		name, body string
		ids        string
	}{
		{"match_all", `{"query":{"match_all":{}}}`, "[1 2 3 4]"},
		{"no body", ``, "[1 2 3 4]"},
		{"term keyword", `{"query":{"term":{"instance_id":"i-2"}}}`, "[2]"},
		{"term keyword in array", `{"query":{"term":{"instance_id":{"value":"i-5"}}}}`, "[4]"},
		{"term keyword is exact", `{"query":{"term":{"instance_id":"I-2"}}}`, "[]"},
		{"term case insensitive", `{"query":{"term":{"instance_id":{"value":"I-2","case_insensitive":true}}}}`, "[2]"},
		{"term long from string", `{"query":{"term":{"count":"10"}}}`, "[3]"},
		{"term boolean", `{"query":{"term":{"stopped":true}}}`, "[1 3]"},
		{"term text token", `{"query":{"term":{"message":"stopped"}}}`, "[1 3]"},
		{"term text is not analyzed", `{"query":{"term":{"message":"Stopped"}}}`, "[]"},
		{"term unmapped field", `{"query":{"term":{"nope":"x"}}}`, "[]"},
		{"terms", `{"query":{"terms":{"instance_id":["i-1","i-3","zzz"]}}}`, "[1 3]"},
		{"range date", `{"query":{"range":{"@timestamp":{"gte":"2024-05-02T00:00:00Z","lt":"2024-05-04"}}}}`, "[2 3]"},
		{"range date math", `{"query":{"range":{"@timestamp":{"gte":"now-1d/d"}}}}`, "[2 3 4]"},
		{"range epoch", `{"query":{"range":{"@timestamp":{"gt":1714816799999}}}}`, "[4]"},
		{"range long", `{"query":{"range":{"count":{"gte":5,"lte":7}}}}`, "[2 4]"},
		{"range keyword", `{"query":{"range":{"region":{"gte":"us"}}}}`, "[1 3 4]"},
		{"exists", `{"query":{"exists":{"field":"stopped"}}}`, "[1 2 3]"},
		{"ids", `{"query":{"ids":{"values":["4","1"]}}}`, "[1 4]"},
		{"match text", `{"query":{"match":{"message":"instance POLICY"}}}`, "[1 2]"},
		{"match and", `{"query":{"match":{"message":{"query":"instance policy","operator":"and"}}}}`, "[1]"},
		{"prefix", `{"query":{"prefix":{"region":"us-"}}}`, "[1 3 4]"},
		{"wildcard", `{"query":{"wildcard":{"region":"*-west-?"}}}`, "[1 2 3]"},
		{"bool", `{"query":{"bool":{"filter":[{"term":{"region":"us-west-2"}}],"must_not":{"term":{"instance_id":"i-3"}}}}}`, "[1]"},
		{"bool should", `{"query":{"bool":{"should":[{"term":{"instance_id":"i-1"}},{"term":{"instance_id":"i-2"}}]}}}`, "[1 2]"},
		{"sort desc", `{"sort":[{"@timestamp":"desc"}]}`, "[4 3 2 1]"},
		{"sort keyword with missing", `{"sort":[{"stopped":{"order":"desc"}},"instance_id"]}`, "[1 3 2 4]"},
		{"size and from", `{"size":2,"from":1,"sort":["count"]}`, "[2 4]"},
		{"post_filter", `{"post_filter":{"term":{"region":"eu-west-1"}}}`, "[2]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctype := ""
			if tc.body != "" {
				ctype = jsonType
			}
			r := call(t, srv, "POST", "/awsaudit-1/_search", ctype, tc.body)
			if r.status != 200 {
				t.Fatalf("status = %d, body %s", r.status, r.raw)
			}
			if got := fmt.Sprint(hitIDs(t, r)); got != tc.ids {
				t.Errorf("hits = %s, want %s", got, tc.ids)
			}
		})
	}
}

func TestSearchResponseShape(t *testing.T) {
	srv := Start(t)
	seed(t, srv)
	r := call(t, srv, "GET", "/awsaudit-*/_search?size=1", jsonType, `{"query":{"term":{"region":"us-west-2"}},"version":true}`)
	for path, want := range map[string]any{
		"timed_out":                       false,
		"_shards.total":                   float64(1),
		"_shards.failed":                  float64(0),
		"hits.total.value":                float64(2),
		"hits.total.relation":             "eq",
		"hits.max_score":                  1.0,
		"hits.hits.0._index":              "awsaudit-1",
		"hits.hits.0._id":                 "1",
		"hits.hits.0._score":              1.0,
		"hits.hits.0._version":            float64(1),
		"hits.hits.0._source.instance_id": "i-1",
	} {
		if got := get(t, r.body, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	r = call(t, srv, "POST", "/awsaudit-1/_search", jsonType, `{"sort":[{"@timestamp":"asc"}],"size":1,"_source":["instance_id"]}`)
	if get(t, r.body, "hits.hits.0._score") != nil || get(t, r.body, "hits.max_score") != nil {
		t.Errorf("sorted hits should have null scores: %s", r.raw)
	}
	if got := get(t, r.body, "hits.hits.0.sort.0"); got != float64(1714557600000) {
		t.Errorf("sort value = %v", got)
	}
	if src := get(t, r.body, "hits.hits.0._source").(map[string]any); len(src) != 1 || src["instance_id"] != "i-1" {
		t.Errorf("filtered _source = %v", src)
	}
}

func TestCount(t *testing.T) {
	srv := Start(t)
	seed(t, srv)
	tests := []struct {
		path, body string
		want       float64
	}{
		{"/awsaudit-1/_count", "", 4},
		{"/_count", `{"query":{"term":{"stopped":true}}}`, 2},
		{"/awsaudit-*,other-*/_count", `{"query":{"range":{"count":{"gt":1}}}}`, 3},
	}
	for _, tc := range tests {
		t.Run(tc.path+tc.body, func(t *testing.T) {
			ctype := ""
			if tc.body != "" {
				ctype = jsonType
			}
			r := call(t, srv, "POST", tc.path, ctype, tc.body)
			if r.status != 200 || r.body["count"] != tc.want {
				t.Fatalf("count = %d %s, want %v", r.status, r.raw, tc.want)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	srv := Start(t)
	seed(t, srv)
	tests := []struct {
		name, path, body string
		status           int
		typ, reason      string
	}{
		{"unknown index", "/nope/_search", "", 404, "index_not_found_exception", "no such index [nope]"},
		{"unknown index count", "/nope/_count", "", 404, "index_not_found_exception", "no such index [nope]"},
		{"unknown query", "/awsaudit-1/_search", `{"query":{"trem":{"a":"b"}}}`, 400, "parsing_exception", "unknown query [trem]"},
		{"unknown body key", "/awsaudit-1/_search", `{"qeury":{}}`, 400, "parsing_exception", "Unknown key for a START_OBJECT in [qeury]."},
		{"aggregations not modelled", "/awsaudit-1/_search", `{"aggs":{}}`, 400, "estest_not_modelled_exception", "[aggs]"},
		{"term with a word on a long", "/awsaudit-1/_search", `{"query":{"term":{"count":"many"}}}`, 400, "search_phase_execution_exception", "all shards failed"},
		{"bad date in range", "/awsaudit-1/_search", `{"query":{"range":{"@timestamp":{"gte":"last tuesday"}}}}`, 400, "search_phase_execution_exception", "all shards failed"},
		{"sort on text", "/awsaudit-1/_search", `{"sort":["message"]}`, 400, "search_phase_execution_exception", "all shards failed"},
		{"sort on unmapped", "/awsaudit-1/_search", `{"sort":["nope"]}`, 400, "search_phase_execution_exception", "all shards failed"},
		{"count with size", "/awsaudit-1/_count", `{"size":1}`, 400, "parsing_exception", "request does not support [size]"},
		{"window too large", "/awsaudit-1/_search?size=10001", "", 400, "illegal_argument_exception", "Result window is too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctype := ""
			if tc.body != "" {
				ctype = jsonType
			}
			r := call(t, srv, "POST", tc.path, ctype, tc.body)
			wantError(t, r, tc.status, tc.typ, tc.reason)
		})
	}
	r := call(t, srv, "POST", "/awsaudit-1/_search", jsonType, `{"sort":["message"]}`)
	if got := get(t, r.body, "error.root_cause.0.reason").(string); got[:len("failed to create query: Fielddata is disabled on [message]")] != "failed to create query: Fielddata is disabled on [message]" {
		t.Errorf("root cause = %s", got)
	}
	// A wildcard that matches nothing is not an error.
	if r := call(t, srv, "GET", "/none-*/_search", "", ""); r.status != http.StatusOK || get(t, r.body, "hits.total.value") != float64(0) {
		t.Errorf("empty wildcard = %d %s", r.status, r.raw)
	}
}

func TestDocumentAPI(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "PUT", "/docs/_doc/1?refresh=true", jsonType, `{"a":1}`)
	if r.status != 201 || r.body["result"] != "created" || r.body["forced_refresh"] != true {
		t.Fatalf("PUT = %d %s", r.status, r.raw)
	}
	r = call(t, srv, "PUT", "/docs/_doc/1", jsonType, `{"a":2}`)
	if r.status != 200 || r.body["result"] != "updated" || r.body["_version"] != float64(2) {
		t.Fatalf("PUT again = %d %s", r.status, r.raw)
	}
	wantError(t, call(t, srv, "PUT", "/docs/_create/1", jsonType, `{"a":3}`), 409, "version_conflict_engine_exception", "[1]: version conflict, document already exists (current version [2])")
	wantError(t, call(t, srv, "PUT", "/docs/_doc/1?op_type=create", jsonType, `{"a":3}`), 409, "version_conflict_engine_exception", "document already exists")
	wantError(t, call(t, srv, "PUT", "/docs/_doc/1?if_seq_no=0&if_primary_term=1", jsonType, `{"a":3}`), 409, "version_conflict_engine_exception", "required seqNo [0], primary term [1]. current document has seqNo [1]")
	r = call(t, srv, "POST", "/docs/_doc", jsonType, `{"a":4}`)
	if r.status != 201 || len(r.body["_id"].(string)) != 20 {
		t.Fatalf("auto id = %d %s", r.status, r.raw)
	}
	r = call(t, srv, "GET", "/docs/_doc/1", "", "")
	if r.status != 200 || r.body["found"] != true || get(t, r.body, "_source.a") != float64(2) || r.body["_seq_no"] != float64(1) {
		t.Fatalf("GET = %d %s", r.status, r.raw)
	}
	r = call(t, srv, "GET", "/docs/_doc/missing", "", "")
	if r.status != 404 || r.body["found"] != false {
		t.Fatalf("GET missing = %d %s", r.status, r.raw)
	}
	wantError(t, call(t, srv, "GET", "/nope/_doc/1", "", ""), 404, "index_not_found_exception", "no such index [nope]")
	if r := call(t, srv, "HEAD", "/docs/_doc/1", "", ""); r.status != 200 {
		t.Errorf("HEAD = %d", r.status)
	}
	r = call(t, srv, "DELETE", "/docs/_doc/1", "", "")
	if r.status != 200 || r.body["result"] != "deleted" || r.body["_version"] != float64(3) {
		t.Fatalf("DELETE = %d %s", r.status, r.raw)
	}
	r = call(t, srv, "PUT", "/docs/_doc/1", jsonType, `{"a":5}`)
	if r.body["_version"] != float64(4) || r.body["result"] != "created" {
		t.Errorf("re-created after delete = %s", r.raw)
	}
	if r := call(t, srv, "POST", "/docs/_refresh", "", ""); r.status != 200 {
		t.Errorf("refresh = %d %s", r.status, r.raw)
	}
	if r := call(t, srv, "GET", "/_refresh", "", ""); r.status != 200 {
		t.Errorf("refresh all = %d %s", r.status, r.raw)
	}
}

// TestRefresh: as in ES, a write is searchable (_search, _count) only after a refresh, or when
// the write asked for refresh=true or wait_for; GET _doc and the inspection helpers see it at
// once. An update or a delete not yet refreshed leaves the previous version searchable.
func TestRefresh(t *testing.T) {
	srv := Start(t)
	count := func(index, query string) float64 {
		t.Helper()
		r := call(t, srv, "POST", "/"+index+"/_count", jsonType, query)
		if r.status != http.StatusOK {
			t.Fatalf("_count: %d %s", r.status, r.raw)
		}
		return r.body["count"].(float64)
	}
	hits := func(index, query string) float64 {
		t.Helper()
		r := call(t, srv, "POST", "/"+index+"/_search", jsonType, query)
		if r.status != http.StatusOK {
			t.Fatalf("_search: %d %s", r.status, r.raw)
		}
		return get(t, r.body, "hits.total.value").(float64)
	}
	const all, a1, a2 = `{"query":{"match_all":{}}}`, `{"query":{"term":{"a":1}}}`, `{"query":{"term":{"a":2}}}`

	bulk(t, srv, `{"index":{"_index":"logs","_id":"1"}}`, `{"a":1}`)
	if n, h := count("logs", all), hits("logs", all); n != 0 || h != 0 {
		t.Fatalf("before a refresh: count %v, hits %v, want 0", n, h)
	}
	if r := call(t, srv, "GET", "/logs/_doc/1", "", ""); r.body["found"] != true {
		t.Fatalf("GET _doc is not realtime: %s", r.raw)
	}
	if srv.Count("logs") != 1 || len(srv.Docs("logs")) != 1 {
		t.Fatal("the inspection helpers do not see the write")
	}
	refresh(t, srv, "logs")
	if n, h := count("logs", a1), hits("logs", a1); n != 1 || h != 1 {
		t.Fatalf("after a refresh: count %v, hits %v, want 1", n, h)
	}

	indexOne(t, srv, "logs", "1", `{"a":2}`)
	if count("logs", a1) != 1 || count("logs", a2) != 0 {
		t.Fatal("an update not yet refreshed is searchable")
	}
	call(t, srv, "DELETE", "/logs/_doc/1", "", "")
	if count("logs", all) != 1 {
		t.Fatal("a delete not yet refreshed is searchable")
	}
	if r := call(t, srv, "GET", "/_refresh", "", ""); r.status != http.StatusOK {
		t.Fatalf("refresh all: %d %s", r.status, r.raw)
	}
	if count("logs", all) != 0 {
		t.Fatal("a refreshed delete is still searchable")
	}

	for i, q := range []string{"refresh=true", "refresh=wait_for", "refresh"} {
		id := fmt.Sprint(10 + i)
		if r := call(t, srv, "PUT", "/logs/_doc/"+id+"?"+q, jsonType, `{"a":3}`); r.status != http.StatusCreated {
			t.Fatalf("PUT ?%s: %d %s", q, r.status, r.raw)
		}
		if n := count("logs", all); n != float64(i+1) {
			t.Errorf("after PUT ?%s: count %v, want %d", q, n, i+1)
		}
	}
	r := call(t, srv, "POST", "/_bulk?refresh=wait_for", ndjsonType, ndjson(`{"create":{"_index":"other","_id":"1"}}`, `{"a":1}`))
	if r.status != http.StatusOK || r.body["errors"] != false {
		t.Fatalf("bulk: %d %s", r.status, r.raw)
	}
	if count("other", all) != 1 {
		t.Error("a bulk with refresh=wait_for is not searchable when it returns")
	}
	r = call(t, srv, "POST", "/_bulk?refresh=false", ndjsonType, ndjson(`{"create":{"_index":"other","_id":"2"}}`, `{"a":1}`))
	if r.status != http.StatusOK || count("other", all) != 1 {
		t.Errorf("a bulk with refresh=false is searchable at once: %s", r.raw)
	}
}
