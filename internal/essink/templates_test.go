package essink_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

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
	props := srv.Mapping(document.DefaultViolatorIndex)
	if props == nil {
		t.Fatal("the violator index was not created")
	}
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
