package estest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// newClient builds a go-elasticsearch client for srv; cfg may set auth
// and retry options, Addresses is filled in.
func newClient(t *testing.T, srv *Server, cfg elasticsearch.Config) *elasticsearch.Client {
	t.Helper()
	cfg.Addresses = []string{srv.URL}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return es
}

// decode reads an esapi response, failing the test on transport errors.
func decode(t *testing.T, res *esapi.Response, err error) (int, map[string]any) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	defer res.Body.Close()
	var body map[string]any
	// HEAD answers have no body; anything else must be JSON.
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil && err != io.EOF {
		t.Fatalf("decoding %d answer: %v", res.StatusCode, err)
	}
	return res.StatusCode, body
}

func TestClientInfoAndPing(t *testing.T) {
	srv := Start(t)
	es := newClient(t, srv, elasticsearch.Config{})
	res, err := es.Info()
	status, body := decode(t, res, err)
	if status != 200 || get(t, body, "version.number") != DefaultVersion {
		t.Fatalf("info = %d %v", status, body)
	}
	res, err = es.Ping()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("ping = %v %v", res, err)
	}
	res.Body.Close()
}

func TestClientTemplateBulkSearch(t *testing.T) {
	srv := Start(t)
	es := newClient(t, srv, elasticsearch.Config{CompressRequestBody: true})
	ctx := context.Background()

	for i := 0; i < 2; i++ {
		res, err := es.Indices.PutIndexTemplate("audit", strings.NewReader(auditTemplate), es.Indices.PutIndexTemplate.WithContext(ctx))
		if status, body := decode(t, res, err); status != 200 || body["acknowledged"] != true {
			t.Fatalf("put template = %d %v", status, body)
		}
	}
	res, err := es.Indices.GetIndexTemplate(es.Indices.GetIndexTemplate.WithName("audit"))
	if status, body := decode(t, res, err); status != 200 || get(t, body, "index_templates.0.name") != "audit" {
		t.Fatalf("get template = %d %v", status, body)
	}
	res, err = es.Indices.ExistsIndexTemplate("audit")
	if status, _ := decode(t, res, err); status != 200 {
		t.Fatalf("exists template = %d", status)
	}

	body := ndjson(
		`{"create":{"_index":"awsaudit-2024.05","_id":"evt-1"}}`,
		`{"@timestamp":"2024-05-01T10:00:00Z","instance_id":"i-1","detail":{"state":"stopped"}}`,
		`{"create":{"_index":"awsaudit-2024.05","_id":"evt-1"}}`,
		`{"@timestamp":"2024-05-01T10:00:00Z","instance_id":"i-1","detail":{"state":"stopped"}}`,
		`{"create":{"_index":"awsaudit-2024.05","_id":"evt-2"}}`,
		`{"@timestamp":"2024-05-01T10:00:00Z","instance":"i-2"}`,
	)
	res, err = es.Bulk(strings.NewReader(body), es.Bulk.WithRefresh("wait_for"))
	status, out := decode(t, res, err)
	if status != 200 || out["errors"] != true {
		t.Fatalf("bulk = %d %v", status, out)
	}
	if got := get(t, out, "items.1.create.status"); got != float64(409) {
		t.Errorf("duplicate create = %v", got)
	}
	if got := get(t, out, "items.2.create.error.type"); got != "strict_dynamic_mapping_exception" {
		t.Errorf("unknown field = %v", got)
	}

	res, err = es.Search(
		es.Search.WithIndex("awsaudit-*"),
		es.Search.WithBody(strings.NewReader(`{"query":{"bool":{"filter":[{"term":{"detail.state":"stopped"}},{"range":{"@timestamp":{"gte":"2024-05-01"}}}]}}}`)),
	)
	status, out = decode(t, res, err)
	if status != 200 || get(t, out, "hits.total.value") != float64(1) || get(t, out, "hits.hits.0._id") != "evt-1" {
		t.Fatalf("search = %d %v", status, out)
	}
	res, err = es.Count(es.Count.WithIndex("awsaudit-2024.05"))
	if status, out := decode(t, res, err); status != 200 || out["count"] != float64(1) {
		t.Fatalf("count = %d %v", status, out)
	}
	res, err = es.Get("awsaudit-2024.05", "evt-1")
	if status, out := decode(t, res, err); status != 200 || out["found"] != true {
		t.Fatalf("get = %d %v", status, out)
	}
	res, err = es.Indices.Refresh(es.Indices.Refresh.WithIndex("awsaudit-2024.05"))
	if status, _ := decode(t, res, err); status != 200 {
		t.Fatalf("refresh = %d", status)
	}
}

func TestClientAuth(t *testing.T) {
	const key = "aWQ6c2VjcmV0"
	srv := StartWith(t, Options{APIKey: key})
	tests := []struct {
		name   string
		cfg    elasticsearch.Config
		status int
	}{
		{"api key", elasticsearch.Config{APIKey: key}, 200},
		{"wrong api key", elasticsearch.Config{APIKey: "d3Jvbmc="}, 401},
		{"none", elasticsearch.Config{}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := newClient(t, srv, tc.cfg).Info()
			status, body := decode(t, res, err)
			if status != tc.status {
				t.Fatalf("status = %d, body %v", status, body)
			}
			if status == 401 && get(t, body, "error.type") != "security_exception" {
				t.Errorf("body = %v", body)
			}
		})
	}
}

func TestClientTLS(t *testing.T) {
	srv := StartWith(t, Options{TLS: true, Username: "elastic", Password: "pw"})
	es := newClient(t, srv, elasticsearch.Config{CACert: srv.CACert(), Username: "elastic", Password: "pw"})
	res, err := es.Info()
	if status, _ := decode(t, res, err); status != 200 {
		t.Fatalf("status = %d", status)
	}
}

func TestClientRetriesThrough503(t *testing.T) {
	srv := Start(t)
	srv.FailNext(2, http.StatusServiceUnavailable)
	es := newClient(t, srv, elasticsearch.Config{RetryBackoff: func(int) time.Duration { return time.Millisecond }})
	res, err := es.Index("a", strings.NewReader(`{"f":1}`), es.Index.WithDocumentID("1"))
	if status, body := decode(t, res, err); status != 201 {
		t.Fatalf("status = %d %v", status, body)
	}
	if n := srv.CountRequests("PUT", "/a/_doc/1"); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}

func TestClientSees429AndDroppedConnections(t *testing.T) {
	srv := Start(t)
	es := newClient(t, srv, elasticsearch.Config{DisableRetry: true})

	srv.FailNextOn("/_bulk", 1, http.StatusTooManyRequests)
	res, err := es.Bulk(strings.NewReader(ndjson(`{"index":{"_index":"a"}}`, `{}`)))
	status, body := decode(t, res, err)
	if status != 429 || get(t, body, "error.type") != "es_rejected_execution_exception" {
		t.Fatalf("bulk = %d %v", status, body)
	}

	srv.DropConnections(1)
	_, err = es.Bulk(strings.NewReader(ndjson(`{"index":{"_index":"a"}}`, `{}`)))
	if err == nil {
		t.Fatal("dropped connection was not an error")
	}

	srv.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = es.Info(es.Info.WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow answer: err = %v, want a deadline error", err)
	}
}

func TestClientCompatibilityMode(t *testing.T) {
	srv := Start(t)
	es := newClient(t, srv, elasticsearch.Config{EnableCompatibilityMode: true})
	res, err := es.Index("a", strings.NewReader(`{"f":1}`))
	status, _ := decode(t, res, err)
	if status != 201 {
		t.Fatalf("status = %d", status)
	}
	if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, "compatible-with=8") {
		t.Errorf("Content-Type = %q", ct)
	}
}
