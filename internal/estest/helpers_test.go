package estest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// response is a decoded raw HTTP answer.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// call sends a raw request; a non-empty body goes with ctype (use
// jsonType unless the test is about Content-Type).
func call(t *testing.T, srv *Server, method, path, ctype, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	out := response{status: res.StatusCode, header: res.Header, raw: string(data)}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out.body); err != nil {
			t.Fatalf("%s %s answered non-JSON %q: %v", method, path, data, err)
		}
	}
	return out
}

const (
	jsonType   = "application/json"
	ndjsonType = "application/x-ndjson"
)

// get walks a decoded JSON value by keys and array indices ("items.0.index.status").
func get(t *testing.T, v any, path string) any {
	t.Helper()
	cur := v
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				t.Fatalf("no key %q on the way to %q in %v", p, path, v)
			}
			cur = next
		case []any:
			i := 0
			for _, r := range p {
				i = i*10 + int(r-'0')
			}
			if i >= len(c) {
				t.Fatalf("index %d out of range on the way to %q in %v", i, path, v)
			}
			cur = c[i]
		default:
			t.Fatalf("cannot descend into %T at %q of %q", cur, p, path)
		}
	}
	return cur
}

// wantError checks an ES error answer: status, error.type and a fragment
// of error.reason.
func wantError(t *testing.T, r response, status int, typ, reason string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if got := get(t, r.body, "error.type"); got != typ {
		t.Fatalf("error.type = %v, want %s; body %s", got, typ, r.raw)
	}
	if got := get(t, r.body, "error.reason").(string); !strings.Contains(got, reason) {
		t.Fatalf("error.reason = %q, want it to contain %q", got, reason)
	}
	if got := get(t, r.body, "error.root_cause.0.type"); got == nil {
		t.Fatalf("no root_cause in %s", r.raw)
	}
}

// ndjson joins lines into a bulk body with its final newline.
func ndjson(lines ...string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// bulk sends a bulk body to /_bulk and checks for a 200.
func bulk(t *testing.T, srv *Server, lines ...string) response {
	t.Helper()
	r := call(t, srv, "POST", "/_bulk", ndjsonType, ndjson(lines...))
	if r.status != http.StatusOK {
		t.Fatalf("_bulk status = %d, body %s", r.status, r.raw)
	}
	return r
}

// putTemplate installs a template and checks for a 200.
func putTemplate(t *testing.T, srv *Server, name, body string) {
	t.Helper()
	r := call(t, srv, "PUT", "/_index_template/"+name, jsonType, body)
	if r.status != http.StatusOK {
		t.Fatalf("PUT template %s: status %d, body %s", name, r.status, r.raw)
	}
}
