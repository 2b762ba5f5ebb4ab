package estest

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestRootInfo(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "GET", "/", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("status = %d", r.status)
	}
	if got := r.header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	for path, want := range map[string]any{
		"version.number":       DefaultVersion,
		"version.build_flavor": "default",
		"tagline":              "You Know, for Search",
		"cluster_name":         "estest",
	} {
		if got := get(t, r.body, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if get(t, r.body, "cluster_uuid") == "" || get(t, r.body, "name") == "" {
		t.Errorf("missing name or cluster_uuid: %s", r.raw)
	}

	head := call(t, srv, "HEAD", "/", "", "")
	if head.status != http.StatusOK || head.raw != "" || head.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("HEAD / = %d %q %v", head.status, head.raw, head.header)
	}
}

func TestRESTLayerErrors(t *testing.T) {
	srv := Start(t)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		flat                            string // flat {"error":"..."} message fragment
		typ, reason                     string // or a full ES error
	}{
		{name: "unknown path", method: "GET", path: "/a/b/c/d", status: 400, flat: "no handler found for uri [/a/b/c/d] and method [GET]"},
		{name: "wrong method", method: "DELETE", path: "/logs/_doc", status: 405, flat: "Incorrect HTTP method for uri [/logs/_doc] and method [DELETE], allowed: [POST]"},
		// As on ES, GET /_bulk falls through to GET /{index}.
		{name: "GET on bulk", method: "GET", path: "/_bulk", status: 404, typ: "index_not_found_exception", reason: "no such index [_bulk]"},
		{name: "typo in endpoint becomes an index name", method: "POST", path: "/_bulkk", status: 405, flat: "allowed: [GET, PUT, DELETE, HEAD]"},
		{name: "missing content type", method: "POST", path: "/_bulk", body: "{}\n", status: 406, flat: "Content-Type header is missing"},
		{name: "form content type", method: "POST", path: "/_bulk", ctype: "application/x-www-form-urlencoded", body: "{}\n", status: 406, flat: "Content-Type header [application/x-www-form-urlencoded] is not supported"},
		{name: "unknown parameter", method: "POST", path: "/_bulk?refersh=true", ctype: ndjsonType, body: "{}\n", status: 400, typ: "illegal_argument_exception", reason: "request [/_bulk] contains unrecognized parameter: [refersh]"},
		{name: "bad refresh value", method: "POST", path: "/_bulk?refresh=wait", ctype: ndjsonType, body: "{}\n", status: 400, typ: "illegal_argument_exception", reason: "Unknown value for refresh: [wait]."},
		{name: "body where none is allowed", method: "GET", path: "/", ctype: jsonType, body: "{}", status: 400, typ: "illegal_argument_exception", reason: "does not support having a body"},
		{name: "real API not modelled", method: "PUT", path: "/_component_template/x", ctype: jsonType, body: "{}", status: 400, typ: "estest_not_modelled_exception", reason: "_component_template"},
		{name: "legacy template not modelled", method: "PUT", path: "/_template/x", ctype: jsonType, body: "{}", status: 400, typ: "estest_not_modelled_exception", reason: "_template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, tc.method, tc.path, tc.ctype, tc.body)
			if tc.flat != "" {
				if r.status != tc.status {
					t.Fatalf("status = %d, want %d; %s", r.status, tc.status, r.raw)
				}
				msg, _ := r.body["error"].(string)
				if !strings.Contains(msg, tc.flat) {
					t.Fatalf("error = %q, want it to contain %q", msg, tc.flat)
				}
				if r.body["status"] != float64(tc.status) {
					t.Fatalf("status field = %v", r.body["status"])
				}
				return
			}
			wantError(t, r, tc.status, tc.typ, tc.reason)
		})
	}
}

func TestAuth(t *testing.T) {
	const apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	srv := StartWith(t, Options{APIKey: apiKey, Username: "elastic", Password: "changeme"})
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name, auth string
		status     int
		reason     string
	}{
		{"api key", "ApiKey " + apiKey, 200, ""},
		{"basic", basic("elastic", "changeme"), 200, ""},
		{"missing", "", 401, "missing authentication credentials for REST request [/_cluster/health]"},
		{"wrong api key", "ApiKey d3Jvbmc6a2V5", 401, "unable to authenticate with provided credentials"},
		{"wrong password", basic("elastic", "nope"), 401, "unable to authenticate user [elastic] for REST request [/_cluster/health]"},
		{"bearer", "Bearer abc", 401, "unable to authenticate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			r := call(t, srv, "GET", "/_cluster/health", "", "", hdr...)
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("status = %d, body %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tc.status, "security_exception", tc.reason)
			if got := r.header.Values("WWW-Authenticate"); len(got) != 3 || got[2] != "ApiKey" {
				t.Errorf("WWW-Authenticate = %v", got)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := StartWith(t, Options{TLS: true})
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("URL = %s", srv.URL)
	}
	if len(srv.CACert()) == 0 {
		t.Fatal("no CA certificate")
	}
	if r := call(t, srv, "GET", "/", "", ""); r.status != 200 {
		t.Fatalf("status = %d", r.status)
	}
}

func TestFilterPathAndPretty(t *testing.T) {
	srv := Start(t)
	bulk(t, srv, `{"index":{"_index":"logs","_id":"1"}}`, `{"a":1}`)
	r := call(t, srv, "POST", "/_bulk?filter_path=errors,items.*.result", ndjsonType, ndjson(`{"index":{"_index":"logs","_id":"2"}}`, `{"a":2}`))
	if r.raw != `{"errors":false,"items":[{"index":{"result":"created"}}]}` {
		t.Errorf("filtered bulk = %s", r.raw)
	}
	refresh(t, srv, "logs")
	r = call(t, srv, "GET", "/logs/_search?filter_path=hits.hits._source.a,-hits.total", jsonType, `{"query":{"term":{"a":2}}}`)
	if r.raw != `{"hits":{"hits":[{"_source":{"a":2}}]}}` {
		t.Errorf("filtered search = %s", r.raw)
	}
	bulk(t, srv, `{"index":{"_index":"nested","_id":"1"}}`, `{"z":0,"a":{"b":[{"d":2,"c":1}]}}`)
	refresh(t, srv, "nested")
	r = call(t, srv, "GET", "/nested/_search?filter_path=hits.hits._source.a.b.c,hits.hits._source.z", "", "")
	if r.raw != `{"hits":{"hits":[{"_source":{"z":0,"a":{"b":[{"c":1}]}}}]}}` {
		t.Errorf("filtered nested source = %s", r.raw)
	}
	r = call(t, srv, "GET", "/?pretty", "", "")
	if !strings.Contains(r.raw, "\n  \"name\"") {
		t.Errorf("pretty output = %s", r.raw)
	}
}

func TestIndexAPIs(t *testing.T) {
	srv := Start(t)
	r := call(t, srv, "PUT", "/audit", jsonType, `{"settings":{"number_of_replicas":0},"mappings":{"properties":{"a":{"type":"keyword"}}}}`)
	if r.status != 200 || r.body["index"] != "audit" {
		t.Fatalf("create = %d %s", r.status, r.raw)
	}
	wantError(t, call(t, srv, "PUT", "/audit", "", ""), 400, "resource_already_exists_exception", "index [audit/")
	wantError(t, call(t, srv, "PUT", "/Audit", "", ""), 400, "invalid_index_name_exception", "Invalid index name [Audit], must be lowercase")
	wantError(t, call(t, srv, "PUT", "/x", jsonType, `{"settings":{"number_of_shard":1}}`), 400, "illegal_argument_exception", "unknown setting [index.number_of_shard]")
	wantError(t, call(t, srv, "PUT", "/x", jsonType, `{"mappings":{"properties":{"a":{"type":"string"}}}}`), 400, "mapper_parsing_exception", "No handler for type [string] declared on field [a]")

	if r := call(t, srv, "HEAD", "/audit", "", ""); r.status != 200 {
		t.Errorf("HEAD existing = %d", r.status)
	}
	if r := call(t, srv, "HEAD", "/nope", "", ""); r.status != 404 {
		t.Errorf("HEAD missing = %d", r.status)
	}
	r = call(t, srv, "GET", "/audit/_mapping", "", "")
	if get(t, r.body, "audit.mappings.properties.a.type") != "keyword" {
		t.Errorf("mapping = %s", r.raw)
	}
	if r := call(t, srv, "PUT", "/audit/_mapping", jsonType, `{"properties":{"b":{"type":"long"},"o":{"properties":{"c":{"type":"keyword"}}}}}`); r.status != 200 {
		t.Fatalf("put mapping = %d %s", r.status, r.raw)
	}
	if got := get(t, srv.Mapping("audit"), "properties.o.properties.c.type"); got != "keyword" {
		t.Errorf("mapping after update = %v", srv.Mapping("audit"))
	}
	wantError(t, call(t, srv, "PUT", "/audit/_mapping", jsonType, `{"properties":{"a":{"type":"long"}}}`), 400, "illegal_argument_exception", "mapper [a] cannot be changed from type [keyword] to [long]")
	r = call(t, srv, "GET", "/audit", "", "")
	if get(t, r.body, "audit.settings.index.number_of_replicas") != "0" {
		t.Errorf("settings = %s", r.raw)
	}
	r = call(t, srv, "GET", "/_cluster/health", "", "")
	if r.body["status"] != "green" {
		t.Errorf("health = %s", r.raw)
	}
	wantError(t, call(t, srv, "DELETE", "/aud*", "", ""), 400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
	if r := call(t, srv, "DELETE", "/audit", "", ""); r.status != 200 {
		t.Errorf("DELETE = %d %s", r.status, r.raw)
	}
	wantError(t, call(t, srv, "GET", "/audit/_mapping", "", ""), 404, "index_not_found_exception", "no such index [audit]")
}
