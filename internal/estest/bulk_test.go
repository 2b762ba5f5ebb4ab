package estest

import (
	"net/http"
	"strings"
	"testing"
)

func TestBulkIndexCreateConflict(t *testing.T) {
	srv := Start(t)
	putTemplate(t, srv, "audit", auditTemplate)
	r := bulk(t, srv,
		`{"index":{"_index":"awsaudit-1","_id":"a"}}`, `{"instance_id":"i-1"}`,
		`{"create":{"_index":"awsaudit-1","_id":"b"}}`, `{"instance_id":"i-2"}`,
		`{"index":{"_index":"awsaudit-1","_id":"a"}}`, `{"instance_id":"i-1b"}`,
		`{"create":{"_index":"awsaudit-1","_id":"b"}}`, `{"instance_id":"i-2b"}`,
		`{"create":{"_index":"awsaudit-1"}}`, `{"instance_id":"i-3"}`,
		`{"index":{"_index":"awsaudit-1","_id":"c"}}`, `{"instance_id":"i-4","extra":1}`,
		`{"delete":{"_index":"awsaudit-1","_id":"a"}}`,
		`{"delete":{"_index":"awsaudit-1","_id":"nope"}}`,
	)
	if r.body["errors"] != true {
		t.Fatalf("errors = %v", r.body["errors"])
	}
	items := r.body["items"].([]any)
	if len(items) != 8 {
		t.Fatalf("items = %d", len(items))
	}
	type want struct {
		action, result string
		status         float64
		version        float64
		errType        string
	}
	wants := []want{
		{"index", "created", 201, 1, ""},
		{"create", "created", 201, 1, ""},
		{"index", "updated", 200, 2, ""},
		{"create", "", 409, 0, "version_conflict_engine_exception"},
		{"create", "created", 201, 1, ""},
		{"index", "", 400, 0, "strict_dynamic_mapping_exception"},
		{"delete", "deleted", 200, 3, ""},
		{"delete", "not_found", 404, 1, ""},
	}
	for i, w := range wants {
		item := items[i].(map[string]any)[w.action].(map[string]any)
		if item["status"] != w.status {
			t.Errorf("item %d status = %v, want %v (%v)", i, item["status"], w.status, item)
		}
		if item["_index"] != "awsaudit-1" || item["_id"] == nil || item["_id"] == "" {
			t.Errorf("item %d lacks _index/_id: %v", i, item)
		}
		if w.errType != "" {
			if got := get(t, item, "error.type"); got != w.errType {
				t.Errorf("item %d error.type = %v, want %s", i, got, w.errType)
			}
			continue
		}
		if item["result"] != w.result || item["_version"] != w.version {
			t.Errorf("item %d = %v, want result %s version %v", i, item, w.result, w.version)
		}
		if _, ok := item["_seq_no"]; !ok {
			t.Errorf("item %d has no _seq_no", i)
		}
		if get(t, item, "_primary_term") != float64(1) || get(t, item, "_shards.successful") != float64(1) {
			t.Errorf("item %d = %v", i, item)
		}
	}
	conflict := items[3].(map[string]any)["create"].(map[string]any)
	if got := get(t, conflict, "error.reason"); got != "[b]: version conflict, document already exists (current version [1])" {
		t.Errorf("conflict reason = %v", got)
	}
	if got := get(t, conflict, "error.index"); got != "awsaudit-1" {
		t.Errorf("conflict index = %v", got)
	}
	if n := srv.Count("awsaudit-1"); n != 2 {
		t.Errorf("count = %d, want 2 (b and the auto-id document)", n)
	}
	if d, ok := srv.Doc("awsaudit-1", "b"); !ok || d.Source["instance_id"] != "i-2" || d.Version != 1 {
		t.Errorf("doc b = %+v, %v", d, ok)
	}
	if n := srv.CountRequests("POST", "/_bulk"); n != 1 {
		t.Errorf("bulk requests logged = %d", n)
	}
}

func TestBulkRequestErrors(t *testing.T) {
	srv := Start(t)
	tests := []struct {
		name, path, body string
		typ, reason      string
	}{
		{"no final newline", "/_bulk", `{"index":{"_index":"a"}}` + "\n" + `{"f":1}`, "illegal_argument_exception", `The bulk request must be terminated by a newline [\n]`},
		{"action not an object", "/_bulk", ndjson(`"index"`, `{}`), "illegal_argument_exception", "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_STRING]"},
		{"unknown action", "/_bulk", ndjson(`{"insert":{"_index":"a"}}`, `{}`), "illegal_argument_exception", "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [insert]"},
		{"truncated metadata", "/_bulk", ndjson(`{"index":{"_index":"a"`, `{}`), "x_content_parse_exception", "[1:"},
		{"broken metadata", "/_bulk", ndjson(`{"index":{"_index":a}}`, `{}`), "x_content_parse_exception", "[1:"},
		{"_type is gone in 8", "/_bulk", ndjson(`{"index":{"_index":"a","_type":"_doc"}}`, `{}`), "illegal_argument_exception", "Action/metadata line [1] contains an unknown parameter [_type]"},
		{"array metadata", "/_bulk", ndjson(`{"index":{"_index":["a"]}}`, `{}`), "illegal_argument_exception", "Malformed action/metadata line [1], expected a simple value for field [_index] but found [START_ARRAY]"},
		{"line number counts documents", "/_bulk", ndjson(`{"index":{"_index":"a"}}`, `{}`, `{"index":{"_index":"a","bad":1}}`, `{}`), "illegal_argument_exception", "Action/metadata line [3] contains an unknown parameter [bad]"},
		{"missing index", "/_bulk", ndjson(`{"index":{}}`, `{"f":1}`), "action_request_validation_exception", "Validation Failed: 1: index is missing;"},
		{"only blank lines", "/_bulk", "\n\n", "action_request_validation_exception", "Validation Failed: 1: no requests added;"},
		{"update not modelled", "/_bulk", ndjson(`{"update":{"_index":"a","_id":"1"}}`, `{"doc":{}}`), "estest_not_modelled_exception", "[update]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, call(t, srv, "POST", tc.path, ndjsonType, tc.body), http.StatusBadRequest, tc.typ, tc.reason)
		})
	}
	if got := srv.Indices(); len(got) != 0 {
		t.Errorf("rejected requests created indices %v", got)
	}
}

func TestBulkItemLevelProblems(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "PUT", "/logs/_bulk?refresh=wait_for", "application/json", ndjson(
		`{"index":{}}`, `{"f":1}`,
		`{"index":{"_id":"x"}}`, `{"f": broken}`,
		`{"index":{"_id":""}}`, `{"f":1}`,
		`{"index":{"_index":"Logs"}}`, `{"f":1}`,
		`{"index":{"_id":"p","pipeline":"enrich"}}`, `{"f":1}`,
		`{"index":{"_id":"e"}}`, ``,
		`{"create":{"_id":"ok"}}`, "{\"f\":2}\r",
		`{"index":{"_id":"dangling"}}`,
	))
	if r.status != 200 || r.body["errors"] != true {
		t.Fatalf("bulk = %d %s", r.status, r.raw)
	}
	items := r.body["items"].([]any)
	wants := []struct {
		status      float64
		typ, reason string
	}{
		{201, "", ""},
		{400, "document_parsing_exception", "failed to parse"},
		{400, "illegal_argument_exception", "if _id is specified it must not be empty"},
		{400, "invalid_index_name_exception", "Invalid index name [Logs], must be lowercase"},
		{400, "illegal_argument_exception", "pipeline with id [enrich] does not exist"},
		{400, "document_parsing_exception", "[0:0] failed to parse, document is empty"},
		{201, "", ""},
	}
	if len(items) != len(wants) {
		t.Fatalf("items = %d, want %d (the dangling action is dropped): %s", len(items), len(wants), r.raw)
	}
	for i, w := range wants {
		for _, v := range items[i].(map[string]any) {
			item := v.(map[string]any)
			if item["status"] != w.status {
				t.Errorf("item %d status = %v, want %v: %v", i, item["status"], w.status, item)
			}
			if w.typ == "" {
				continue
			}
			if get(t, item, "error.type") != w.typ || !strings.Contains(get(t, item, "error.reason").(string), w.reason) {
				t.Errorf("item %d error = %v, want %s %q", i, item["error"], w.typ, w.reason)
			}
		}
	}
	if d, ok := srv.Doc("logs", "ok"); !ok || string(d.Raw) != `{"f":2}` {
		t.Errorf("CRLF document = %q, %v", d.Raw, ok)
	}
	if got := srv.Indices(); len(got) != 1 || got[0] != "logs" {
		t.Errorf("indices = %v", got)
	}
}

func TestBulkFilterPathWithoutErrors(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "POST", "/_bulk?filter_path=items.*.error", ndjsonType, ndjson(`{"index":{"_index":"a"}}`, `{"f":1}`))
	if r.raw != "{}" {
		t.Errorf("no errors filtered = %s", r.raw)
	}
}

// ES 8 reads an action line only up to the end of its metadata object and
// warns about the rest; ES 9 rejects such lines.
func TestBulkLenientActionLines(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "POST", "/_bulk", ndjsonType, ndjson(
		`{"index":{"_index":"a","_id":"1"}`, `{"f":1}`,
		`{"index":{"_index":"a","_id":"2"}}}`, `{"f":2}`,
	))
	if r.status != 200 || r.body["errors"] != false || srv.Count("a") != 2 {
		t.Fatalf("bulk = %d %s", r.status, r.raw)
	}
	warnings := strings.Join(r.header.Values("Warning"), "\n")
	for _, want := range []string{"wasn't closed properly", "trailing data after the closing brace"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings %q lack %q", warnings, want)
		}
	}
}

// BenchmarkBulk measures the server's cost per bulk request of 100
// CloudTrail-sized documents against a strict template, so that sink
// benchmarks can tell this server's share of the time.
func BenchmarkBulk(b *testing.B) {
	srv := New(Options{})
	defer srv.Close()
	r, err := srv.Client().Post(srv.URL+"/_index_template/audit", jsonType, strings.NewReader(auditTemplate))
	if err != nil {
		b.Fatal(err)
	}
	r.Body.Close()
	var body strings.Builder
	for i := 0; i < 100; i++ {
		body.WriteString(`{"index":{"_index":"awsaudit-bench"}}` + "\n")
		body.WriteString(`{"@timestamp":"2024-05-01T10:00:00Z","instance_id":"i-0123456789abcdef0","detail":{"state":"stopped"}}` + "\n")
	}
	payload := body.String()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := srv.Client().Post(srv.URL+"/_bulk", ndjsonType, strings.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
