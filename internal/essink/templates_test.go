package essink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// TestEnsureTemplatesInstallsEachOnce: two calls on one sink, a second process (sink) starting
// later, and writes afterwards install each template exactly once.
func TestEnsureTemplatesInstallsEachOnce(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	for i := range 2 {
		if err := s.EnsureTemplates(bg); err != nil {
			t.Fatalf("EnsureTemplates call %d: %v", i+1, err)
		}
	}
	if err := newSink(t, fastConfig(t, srv)).EnsureTemplates(bg); err != nil {
		t.Fatalf("EnsureTemplates from a second sink: %v", err)
	}
	if err := s.Write(bg, violatorDocs(t, "run-1", 3)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if n := srv.CountRequests(http.MethodPut, "/_index_template/"); n != 2 {
		t.Errorf("%d template PUTs, want 2 (one per index)", n)
	}
	got := srv.Templates()
	if len(got) != 2 || got[0].Name != document.DefaultAuditIndex || got[1].Name != document.DefaultViolatorIndex {
		t.Fatalf("templates = %+v", got)
	}
	for _, tmpl := range got {
		if tmpl.Mappings["dynamic"] != "strict" {
			t.Errorf("template %s mapping is not dynamic strict: %v", tmpl.Name, tmpl.Mappings["dynamic"])
		}
	}
	// The index the writes created took its mapping from the template.
	m := srv.Mapping(document.DefaultViolatorIndex)
	if m == nil {
		t.Fatal("the violator index was not created")
	}
	if m["dynamic"] != "strict" {
		t.Errorf("the violator index's mapping is dynamic %v, want strict", m["dynamic"])
	}
	for field, typ := range map[string]string{"@timestamp": "date", "id": "keyword", "tags": "keyword", "age": "double", "disable_api_stop": "boolean"} {
		if got := fieldType(t, m, field); got != typ {
			t.Errorf("the violator index maps %s as %q, want %q", field, got, typ)
		}
	}
	// The indices did not exist when the templates were installed: no mapping to update.
	if n := srv.CountRequests(http.MethodPut, "/"+document.DefaultViolatorIndex+"/_mapping"); n != 0 {
		t.Errorf("%d mapping PUTs for an index that did not exist", n)
	}
}

// TestEnsureTemplatesUpdatesExistingIndices: an index created from an older template lacks the
// fields added since, and its strict mapping would reject every document holding one, for good.
// The sink adds them to the index's mapping, whether it replaces the older template itself or
// another process did it before; an index that does not exist is left to its template.
func TestEnsureTemplatesUpdatesExistingIndices(t *testing.T) {
	for _, tc := range []struct {
		name           string
		currentAlready bool
	}{
		{"the sink replaces the older template", false},
		{"another process replaced it already", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			idx := document.DefaultIndices()
			older := document.ViolatorMapping()
			delete(older["properties"].(map[string]any), "disable_api_stop")
			tmpl := document.Template(idx.Violator, older)
			tmpl["version"] = document.TemplateVersion - 1
			putJSON(t, srv, "/_index_template/"+idx.Violator, tmpl)
			put(t, srv, "/"+idx.Violator, `{}`)
			if got := fieldType(t, srv.Mapping(idx.Violator), "disable_api_stop"); got != "" {
				t.Fatalf("the index created from the older template maps disable_api_stop as %q", got)
			}
			if tc.currentAlready {
				putJSON(t, srv, "/_index_template/"+idx.Violator, document.Templates(idx)[idx.Violator])
			}

			sw := newSweep(t, "run-1", 3)
			if err := newSink(t, fastConfig(t, srv)).Write(bg, sw.docs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			assertStoredOnce(t, srv, sw.docs)
			m := srv.Mapping(idx.Violator)
			if got := fieldType(t, m, "disable_api_stop"); got != "boolean" || m["dynamic"] != "strict" {
				t.Errorf("the index maps disable_api_stop as %q, dynamic %v; want boolean, strict", got, m["dynamic"])
			}
			if n := srv.CountRequests(http.MethodPut, "/"+idx.Violator+"/_mapping"); n != 1 {
				t.Errorf("%d mapping PUTs for the existing index, want 1", n)
			}
			if n := srv.CountRequests(http.MethodPut, "/"+idx.Audit+"/_mapping"); n != 0 {
				t.Errorf("%d mapping PUTs for the audit index, which did not exist", n)
			}
		})
	}
}

// TestEnsureTemplatesWithoutTheManagePrivilege: credentials that may write documents but not
// update an index's mapping (403) get a warning, not a failed start-up: documents that fit the
// index still land, and one with a field it lacks is refused with its reason (and spooled by the
// caller), never lost.
func TestEnsureTemplatesWithoutTheManagePrivilege(t *testing.T) {
	srv := estest.Start(t)
	idx := document.DefaultIndices()
	older := document.ViolatorMapping()
	delete(older["properties"].(map[string]any), "disable_api_stop")
	putJSON(t, srv, "/"+idx.Violator, map[string]any{"mappings": older})
	srv.FailNextOn("/"+idx.Violator+"/_mapping", 1, http.StatusForbidden)

	var logs bytes.Buffer
	cfg := fastConfig(t, srv)
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if err := newSink(t, cfg).EnsureTemplates(bg); err != nil {
		t.Fatalf("EnsureTemplates: %v", err)
	}
	if !strings.Contains(logs.String(), "lack the manage privilege") {
		t.Errorf("no warning about the privilege:\n%s", logs.String())
	}
	if got := fieldType(t, srv.Mapping(idx.Violator), "disable_api_stop"); got != "" {
		t.Errorf("the mapping was updated (disable_api_stop %q) although ES refused", got)
	}
}

// TestEnsureTemplatesReportsAFieldWhoseTypeChanged: an existing index maps a field with another
// type than the current template; Elasticsearch cannot change it in place. The error names the
// index, ES's reason and what to do, is not an outage (so Open returns it), and each attempt
// asks once.
func TestEnsureTemplatesReportsAFieldWhoseTypeChanged(t *testing.T) {
	srv := estest.Start(t)
	idx := document.DefaultIndices()
	older := document.ViolatorMapping()
	older["properties"].(map[string]any)["age"] = map[string]any{"type": "keyword"}
	putJSON(t, srv, "/"+idx.Violator, map[string]any{"mappings": older})

	cfg := fastConfig(t, srv)
	err := newSink(t, cfg).EnsureTemplates(bg)
	t.Logf("EnsureTemplates: %v", err)
	if err == nil {
		t.Fatal("EnsureTemplates succeeded")
	}
	for _, want := range []string{"the index " + idx.Violator, "illegal_argument_exception", "mapper [age] cannot be changed from type [keyword] to [double]", "reindex " + idx.Violator} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if errors.Is(err, essink.ErrUnavailable) || essink.IsAuth(err) {
		t.Error("a mapping conflict matches ErrUnavailable or IsAuth")
	}
	if n := srv.CountRequests(http.MethodPut, "/"+idx.Violator+"/_mapping"); n != 1 {
		t.Errorf("%d mapping PUTs, want 1", n)
	}
	if s, err := essink.Open(bg, cfg); err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if got := fieldType(t, srv.Mapping(idx.Violator), "age"); got != "keyword" {
		t.Errorf("age is now %q", got)
	}
}

// fieldType returns the type of a top-level field in a mapping as GET _mapping shows it, "" when
// the mapping lacks it.
func fieldType(t *testing.T, mapping map[string]any, field string) string {
	t.Helper()
	props, ok := mapping["properties"].(map[string]any)
	if !ok {
		t.Fatalf("mapping without properties: %v", mapping)
	}
	f, _ := props[field].(map[string]any)
	typ, _ := f["type"].(string)
	return typ
}

// TestEnsureTemplatesReplacesAnOlderVersion: a template installed at an older version (or by
// hand, without one) is replaced; custom index names get their own templates.
func TestEnsureTemplatesReplacesAnOlderVersion(t *testing.T) {
	srv := estest.Start(t)
	idx := document.Indices{Audit: "audit-x", Violator: "violator-x"}
	put(t, srv, "/_index_template/audit-x", `{"index_patterns":["audit-x"],"priority":500,"template":{"mappings":{"dynamic":"true"}}}`)
	before := srv.CountRequests(http.MethodPut, "/_index_template/")
	cfg := fastConfig(t, srv)
	cfg.Indices = idx
	if err := newSink(t, cfg).EnsureTemplates(bg); err != nil {
		t.Fatal(err)
	}
	if n := srv.CountRequests(http.MethodPut, "/_index_template/") - before; n != 2 {
		t.Errorf("%d template PUTs, want 2", n)
	}
	for _, tmpl := range srv.Templates() {
		if tmpl.Mappings["dynamic"] != "strict" {
			t.Errorf("template %s was not replaced: dynamic %v", tmpl.Name, tmpl.Mappings["dynamic"])
		}
	}
}

// TestEnsureTemplatesWarnsAboutAnIndexWithoutTheMapping: an index created before its template
// (by the original tool, say) keeps its dynamic mapping; the sink says so.
func TestEnsureTemplatesWarnsAboutAnIndexWithoutTheMapping(t *testing.T) {
	srv := estest.Start(t)
	put(t, srv, "/"+document.DefaultAuditIndex, `{}`)
	var logs captureLog
	cfg := fastConfig(t, srv)
	cfg.Log = logs.logger()
	if err := newSink(t, cfg).EnsureTemplates(bg); err != nil {
		t.Fatal(err)
	}
	if n := srv.CountRequests(http.MethodPut, "/"+document.DefaultAuditIndex+"/_mapping"); n != 0 {
		t.Errorf("%d mapping PUTs for an index without awsaudit's mapping, want none", n)
	}
	if !strings.Contains(logs.String(), "without awsaudit's strict mapping") || !strings.Contains(logs.String(), `"index":"aws-tag-audit"`) {
		t.Errorf("no warning about the existing index; log:\n%s", logs.String())
	}
}

// TestMappingRejectionsAreReportedWithTheirReason: with dynamic strict, a field the mapping
// lacks (at the top or inside the rollup's violators) and a value of the wrong type are
// permanent failures naming the index, the id, ES's exception type and its reason; the other
// documents of the call are written.
func TestMappingRejectionsAreReportedWithTheirReason(t *testing.T) {
	for _, tc := range []struct {
		name     string
		index    string
		body     string
		wantType string
		wantText string
	}{
		{"extra field", document.DefaultViolatorIndex, `{"id":"i-1","region":"us-east-1","color":"red"}`,
			"strict_dynamic_mapping_exception", "dynamic introduction of [color] within [_doc] is not allowed"},
		{"extra field in the rollup's violators", document.DefaultAuditIndex, `{"run_id":"r","violators":[{"id":"i-1","colour":"red"}]}`,
			"strict_dynamic_mapping_exception", "dynamic introduction of [colour] within [violators] is not allowed"},
		{"wrong type", document.DefaultViolatorIndex, `{"id":"i-1","age":"old"}`,
			"document_parsing_exception", "failed to parse field [age] of type [double]"},
		{"not a date", document.DefaultViolatorIndex, `{"id":"i-1","@timestamp":"yesterday"}`,
			"document_parsing_exception", "failed to parse field [@timestamp] of type [date]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			s := newSink(t, fastConfig(t, srv))
			good := violatorDocs(t, "run-1", 2)
			bad := document.Document{Index: tc.index, ID: "bad-1", Op: document.OpIndex, Body: []byte(tc.body)}
			docs := []document.Document{good[0], bad, good[1]}
			err := s.Write(bg, docs)
			t.Logf("Write: %v", err)
			we := writeErr(t, err)
			if len(we.Failed) != 1 || we.Failed[0].Doc.ID != "bad-1" {
				t.Fatalf("failed = %v, want only bad-1", ids(we.Docs()))
			}
			var ie *essink.ItemError
			if !errors.As(we.Failed[0].Err, &ie) || ie.Status != http.StatusBadRequest || ie.Type != tc.wantType {
				t.Fatalf("failure = %#v, want a 400 %s", we.Failed[0].Err, tc.wantType)
			}
			for _, want := range []string{tc.index + "/bad-1", tc.wantType, tc.wantText} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if errors.Is(err, essink.ErrUnavailable) {
				t.Error("a mapping rejection matches ErrUnavailable")
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 1 {
				t.Errorf("%d _bulk requests, want 1 (a mapping rejection is not retried)", n)
			}
			assertStoredOnce(t, srv, good)
		})
	}
}

// TestConcurrentWritesShareOneTemplateAttempt: Writes made together while Elasticsearch is down
// share one attempt at installing the templates (one request's retries, not one round per
// Write); the outage is then remembered for TemplateBackoff, in which a Write fails at once
// without a request, even once Elasticsearch is back; after it, the next Write installs the
// templates and writes.
func TestConcurrentWritesShareOneTemplateAttempt(t *testing.T) {
	srv := estest.Start(t)
	cfg := fastConfig(t, srv)
	cfg.RetryMax = 2
	clock := &testClock{t: t0}
	cfg.Now = clock.Now
	s := newSink(t, cfg)
	srv.Down()

	const writers = 8
	batches := make([][]document.Document, writers)
	for i := range batches {
		batches[i] = violatorDocs(t, "run-"+string(rune('a'+i)), 2)
	}
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			errs[i] = s.Write(bg, batches[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		we := writeErr(t, err)
		if len(we.Failed) != len(batches[i]) || !errors.Is(we.Failed[0].Err, essink.ErrUnavailable) {
			t.Fatalf("Write %d = %v, want every document failed with ErrUnavailable", i, err)
		}
	}
	// One attempt is the first template's GET, sent RetryMax+1 times (Go's transport may resend
	// a GET once when a connection it reused is closed).
	attempts := cfg.RetryMax + 1
	gets := srv.CountRequests(http.MethodGet, "/_index_template/")
	if gets < 1 || gets > 2*attempts {
		t.Fatalf("%d template GETs for %d concurrent Writes, want one attempt (%d to %d)", gets, writers, attempts, 2*attempts)
	}
	if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 0 {
		t.Fatalf("%d _bulk requests before the templates", n)
	}

	// Remembered: no request, even once Elasticsearch is back.
	srv.Up()
	before := len(srv.Requests())
	err := s.Write(bg, batches[0])
	if we := writeErr(t, err); !errors.Is(we.Failed[0].Err, essink.ErrUnavailable) || !strings.Contains(err.Error(), "remembered") {
		t.Fatalf("Write within TemplateBackoff = %v, want the remembered ErrUnavailable", err)
	}
	if n := len(srv.Requests()) - before; n != 0 {
		t.Fatalf("%d requests within TemplateBackoff", n)
	}

	clock.Advance(essink.DefaultTemplateBackoff)
	for _, docs := range batches {
		if err := s.Write(bg, docs); err != nil {
			t.Fatalf("Write after TemplateBackoff: %v", err)
		}
	}
	if n := srv.CountRequests(http.MethodPut, "/_index_template/"); n != 2 {
		t.Errorf("%d template PUTs, want 2", n)
	}
}

// TestTemplateAttemptOutlivesAnImpatientCaller: a Write whose context ends while the templates
// are being installed returns with its context's error, every document unsent; the attempt goes
// on, and the next Write waits for it instead of starting another.
func TestTemplateAttemptOutlivesAnImpatientCaller(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	srv.SetLatency(50 * time.Millisecond)
	docs := violatorDocs(t, "run-1", 2)
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	err := s.Write(ctx, docs)
	if we := writeErr(t, err); len(we.Failed) != 2 || !errors.Is(we.Failed[0].Err, context.DeadlineExceeded) {
		t.Fatalf("impatient Write = %v", err)
	}
	if err := s.Write(bg, docs); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if n := srv.CountRequests(http.MethodGet, "/_index_template/"); n != 2 {
		t.Errorf("%d template GETs, want 2 (one attempt)", n)
	}
	assertStoredOnce(t, srv, docs)
}

// putJSON sends v, encoded, with put.
func putJSON(t *testing.T, srv *estest.Server, path string, v any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	put(t, srv, path, string(body))
}

// put sends a raw PUT, failing the test unless it succeeds.
func put(t *testing.T, srv *estest.Server, path, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s answered %d", path, res.StatusCode)
	}
}
