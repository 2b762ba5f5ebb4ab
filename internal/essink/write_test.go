package essink_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// TestRequestRetriesLeaveOneCopy: _bulk requests answered 429, 502, 503, 504 or cut off are
// retried by the transport, and each document ends up stored exactly once.
func TestRequestRetriesLeaveOneCopy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*estest.Server)
		tries int
	}{
		{"429 twice", func(s *estest.Server) { s.FailNextOn("/_bulk", 2, http.StatusTooManyRequests) }, 3},
		{"503 twice", func(s *estest.Server) { s.FailNextOn("/_bulk", 2, http.StatusServiceUnavailable) }, 3},
		{"502 once", func(s *estest.Server) { s.FailNextOn("/_bulk", 1, http.StatusBadGateway) }, 2},
		{"504 once", func(s *estest.Server) { s.FailNextOn("/_bulk", 1, http.StatusGatewayTimeout) }, 2},
		{"connection dropped twice", func(s *estest.Server) { s.DropConnections(2) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			s := newSink(t, fastConfig(t, srv))
			if err := s.EnsureTemplates(bg); err != nil {
				t.Fatal(err)
			}
			docs := newSweep(t, "run-1", 7).docs
			tc.fault(srv)
			if err := s.Write(bg, docs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != tc.tries {
				t.Errorf("%d _bulk requests, want %d", n, tc.tries)
			}
			assertStoredOnce(t, srv, docs)
		})
	}
}

// TestRequestErrorsThatAreNotRetried: a 500 or another 4xx on the whole request is not retried
// (a second attempt would get the same answer); the batch's documents are reported with ES's
// reason, and later batches are still sent.
func TestRequestErrorsThatAreNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusRequestEntityTooLarge} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := estest.Start(t)
			cfg := fastConfig(t, srv)
			cfg.BatchDocs = 3
			s := newSink(t, cfg)
			if err := s.EnsureTemplates(bg); err != nil {
				t.Fatal(err)
			}
			docs := violatorDocs(t, "run-1", 6)
			srv.FailNextOn("/_bulk", 1, status)
			err := s.Write(bg, docs)
			we := writeErr(t, err)
			if !slices.Equal(ids(we.Docs()), ids(docs[:3])) {
				t.Fatalf("failed = %v, want the first batch", ids(we.Docs()))
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("Elasticsearch answered %d", status)) {
				t.Errorf("error %q does not give the status", err)
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 2 {
				t.Errorf("%d _bulk requests, want 2 (no retry, then the second batch)", n)
			}
			assertStoredOnce(t, srv, docs[3:])
		})
	}
}

// onceRejecter fails the chosen items with status the first time it sees them.
func onceRejecter(status int, choose func(id string) bool) estest.Rejecter {
	var seen sync.Map
	return func(index, id string, doc map[string]any) *estest.ItemError {
		if _, again := seen.LoadOrStore(index+"/"+id, true); again || !choose(id) {
			return nil
		}
		return &estest.ItemError{Status: status}
	}
}

// TestItemRetriesLeaveOneCopy: items a 200 answer marks 429 or 503 are sent again by the sink,
// alone, and end up stored once.
func TestItemRetriesLeaveOneCopy(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := estest.Start(t)
			s := newSink(t, fastConfig(t, srv))
			docs := newSweep(t, "run-1", 9).docs
			rejected := map[string]bool{docs[0].ID: true, docs[4].ID: true, docs[9].ID: true}
			srv.RejectItems(onceRejecter(status, func(id string) bool { return rejected[id] }))
			if err := s.Write(bg, docs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n := srv.RejectedItems(); n != 3 {
				t.Errorf("%d items rejected, want 3", n)
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 2 {
				t.Errorf("%d _bulk requests, want 2 (all, then the 3 rejected)", n)
			}
			assertStoredOnce(t, srv, docs)
		})
	}
}

// TestItemRetriesAreBounded: items refused with 429 every time are given up after
// ItemRetryMax resends and reported as such; the others are written.
func TestItemRetriesAreBounded(t *testing.T) {
	srv := estest.Start(t)
	cfg := fastConfig(t, srv)
	cfg.ItemRetryMax = 2
	s := newSink(t, cfg)
	docs := violatorDocs(t, "run-1", 5)
	srv.RejectItems(func(index, id string, doc map[string]any) *estest.ItemError {
		if id == docs[1].ID {
			return &estest.ItemError{Status: http.StatusTooManyRequests}
		}
		return nil
	})
	err := s.Write(bg, docs)
	we := writeErr(t, err)
	if len(we.Failed) != 1 || we.Failed[0].Doc.ID != docs[1].ID {
		t.Fatalf("failed = %v", ids(we.Docs()))
	}
	if !errors.Is(we.Failed[0].Err, essink.ErrUnavailable) || !strings.Contains(err.Error(), "after 3 attempts") ||
		!strings.Contains(err.Error(), "es_rejected_execution_exception") {
		t.Errorf("error = %v", err)
	}
	if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 3 {
		t.Errorf("%d _bulk requests, want 3", n)
	}
	assertStoredOnce(t, srv, slices.Delete(slices.Clone(docs), 1, 2))
}

// TestPermanentItemFailure: an item refused with 400 is reported with its reason at once, not
// retried; the others are written.
func TestPermanentItemFailure(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	docs := violatorDocs(t, "run-1", 4)
	srv.RejectItems(func(index, id string, doc map[string]any) *estest.ItemError {
		if id == docs[2].ID {
			return &estest.ItemError{Status: http.StatusBadRequest, Type: "illegal_argument_exception", Reason: "no such pipeline"}
		}
		return nil
	})
	err := s.Write(bg, docs)
	we := writeErr(t, err)
	if len(we.Failed) != 1 || we.Failed[0].Doc.ID != docs[2].ID {
		t.Fatalf("failed = %v", ids(we.Docs()))
	}
	want := "index aws-tag-violator/" + docs[2].ID + ": 400 illegal_argument_exception: no such pipeline"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 1 {
		t.Errorf("%d _bulk requests, want 1", n)
	}
	if unwritten := document.Unwritten(fmt.Errorf("writing: %w", err), nil); len(unwritten) != 1 {
		t.Errorf("document.Unwritten = %v", ids(unwritten))
	}
	assertStoredOnce(t, srv, slices.Delete(slices.Clone(docs), 2, 3))
}

// TestCreateKeepsTheFirstDocument: the event path writes with create; a document whose id is
// already there (a redelivered event, a duplicate in the same call) counts as written, and the
// first one written is kept.
func TestCreateKeepsTheFirstDocument(t *testing.T) {
	rollup := func(creator string) document.Document {
		r := document.NewRollup(document.Header{Timestamp: document.At(t0), RunID: "evt-1", Source: document.SourceEvent})
		r.Creator = creator
		return mustDoc(t, document.DefaultAuditIndex, document.RollupID("evt-1"), document.OpCreate, r)
	}
	first, second := rollup("alice"), rollup("bob")
	for _, tc := range []struct {
		name  string
		calls [][]document.Document
	}{
		{"later call", [][]document.Document{{first}, {second}}},
		{"same call", [][]document.Document{{first, second}}},
		{"the same document again (a redelivery)", [][]document.Document{{first}, {first}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			s := newSink(t, fastConfig(t, srv))
			for i, docs := range tc.calls {
				if err := s.Write(bg, docs); err != nil {
					t.Fatalf("Write %d: %v", i+1, err)
				}
			}
			got, ok := srv.Doc(document.DefaultAuditIndex, "evt-1")
			if !ok || got.Version != 1 || got.Source["creator"] != "alice" {
				t.Fatalf("stored %+v, want the first document at version 1", got)
			}
		})
	}
}

// TestCreateAfterALostAnswer: a create that timed out on the client may have landed; sending it
// again (from the spool, or a redelivery) finds it there (409) and counts as written, the
// document written first kept.
func TestCreateAfterALostAnswer(t *testing.T) {
	srv := estest.Start(t)
	cfg := fastConfig(t, srv)
	cfg.Timeout = 100 * time.Millisecond
	cfg.RetryMax = -1
	s := newSink(t, cfg)
	if err := s.EnsureTemplates(bg); err != nil {
		t.Fatal(err)
	}
	r := document.NewRollup(document.Header{Timestamp: document.At(t0), RunID: "evt-2", Source: document.SourceEvent})
	doc := mustDoc(t, document.DefaultAuditIndex, document.RollupID("evt-2"), document.OpCreate, r)
	srv.SetLatency(2 * time.Second)
	err := s.Write(bg, []document.Document{doc})
	if we := writeErr(t, err); len(we.Failed) != 1 {
		t.Fatalf("Write with a lost answer = %v", err)
	}
	if _, landed := srv.Doc(doc.Index, doc.ID); !landed {
		t.Fatal("the timed-out create did not land, so this test does not test the second write's 409")
	}
	srv.SetLatency(0)
	if err := s.Write(bg, []document.Document{doc}); err != nil {
		t.Fatalf("Write again: %v", err)
	}
	assertStoredOnce(t, srv, []document.Document{doc})
}

// TestIndexReplacesTheDocument: the sweep writes with index; rewriting a run replaces its
// documents, still one copy each.
func TestIndexReplacesTheDocument(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	docs := violatorDocs(t, "run-1", 3)
	for range 2 {
		if err := s.Write(bg, docs); err != nil {
			t.Fatal(err)
		}
	}
	assertStoredOnce(t, srv, docs)
}

// TestBatchesAreBounded: a large call is split by document count and by bytes.
func TestBatchesAreBounded(t *testing.T) {
	docs := violatorDocs(t, "run-big", 2500)
	size := len(document.AppendBulk(nil, docs[0]))
	for _, tc := range []struct {
		name       string
		docs       []document.Document
		batchDocs  int
		batchBytes int
		want       int
	}{
		{"by count", docs, 500, 0, 5},
		{"by count, a remainder", docs[:1201], 500, 0, 3},
		{"by bytes", docs[:100], 500, 10*size + size/2, 10},
		{"a document larger than the byte limit goes alone", docs[:3], 500, 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			cfg := fastConfig(t, srv)
			cfg.Log = nil
			cfg.BatchDocs, cfg.BatchBytes = tc.batchDocs, tc.batchBytes
			s := newSink(t, cfg)
			if err := s.Write(bg, tc.docs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != tc.want {
				t.Errorf("%d _bulk requests, want %d", n, tc.want)
			}
			if n := srv.Count(document.DefaultViolatorIndex); n != len(tc.docs) {
				t.Errorf("%d documents stored, want %d", n, len(tc.docs))
			}
		})
	}
}

// TestUnavailableFailsEveryDocument: when Elasticsearch stays unreachable or overloaded, every
// document of the call is in the WriteError, one batch pays for the retries (the others are
// not sent), and writing the same documents once it is back stores each once.
func TestUnavailableFailsEveryDocument(t *testing.T) {
	for _, tc := range []struct {
		name          string
		templates     bool // installed before the outage
		fault         func(*estest.Server)
		heal          func(*estest.Server)
		wantBulkTries int
	}{
		{"down from the start", false, (*estest.Server).Down, (*estest.Server).Up, 0},
		{"down after start", true, (*estest.Server).Down, (*estest.Server).Up, 5},
		// Five answers are all the attempts of one request (RetryMax 4); then it is back.
		{"503 on everything", true, func(s *estest.Server) { s.FailNext(5, http.StatusServiceUnavailable) }, nil, 5},
		{"429 on _bulk", true, func(s *estest.Server) { s.FailNextOn("/_bulk", 5, http.StatusTooManyRequests) }, nil, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			cfg := fastConfig(t, srv)
			cfg.BatchDocs = 4
			clock := &testClock{t: t0}
			cfg.Now = clock.Now
			s := newSink(t, cfg)
			if tc.templates {
				if err := s.EnsureTemplates(bg); err != nil {
					t.Fatal(err)
				}
			}
			docs := newSweep(t, "run-1", 10).docs
			tc.fault(srv)
			err := s.Write(bg, docs)
			t.Logf("Write: %v", err)
			we := writeErr(t, err)
			if !slices.Equal(ids(we.Docs()), ids(docs)) {
				t.Fatalf("failed = %v, want every document", ids(we.Docs()))
			}
			for _, f := range we.Failed {
				if !errors.Is(f.Err, essink.ErrUnavailable) {
					t.Errorf("%s failed with %v, which is not ErrUnavailable", f.Doc.ID, f.Err)
				}
			}
			if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != tc.wantBulkTries {
				t.Errorf("%d _bulk requests, want %d (one batch's attempts)", n, tc.wantBulkTries)
			}
			if tc.heal != nil {
				tc.heal(srv)
			}
			// Templates found unavailable are not asked for again within TemplateBackoff.
			clock.Advance(essink.DefaultTemplateBackoff)
			if err := s.Write(bg, we.Docs()); err != nil {
				t.Fatalf("Write once it is back: %v", err)
			}
			assertStoredOnce(t, srv, docs)
		})
	}
}

// TestSlowAnswersTimeOut: an attempt longer than Timeout fails, and is retried; the write may
// have taken effect on the server (as on a real overloaded node), and writing again still
// leaves one copy.
func TestSlowAnswersTimeOut(t *testing.T) {
	srv := estest.Start(t)
	cfg := fastConfig(t, srv)
	cfg.Timeout = 20 * time.Millisecond
	cfg.RetryMax = 1
	s := newSink(t, cfg)
	if err := s.EnsureTemplates(bg); err != nil {
		t.Fatal(err)
	}
	docs := violatorDocs(t, "run-1", 3)
	srv.SetLatency(time.Second)
	err := s.Write(bg, docs)
	we := writeErr(t, err)
	if len(we.Failed) != 3 || !errors.Is(we.Failed[0].Err, essink.ErrUnavailable) || !strings.Contains(err.Error(), "giving up after 2 attempts") {
		t.Fatalf("Write = %v", err)
	}
	srv.SetLatency(0)
	if err := s.Write(bg, we.Docs()); err != nil {
		t.Fatal(err)
	}
	assertStoredOnce(t, srv, docs)
}

// TestCancelledContext: a call whose context has ended sends nothing and reports every document.
func TestCancelledContext(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	if err := s.EnsureTemplates(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	docs := violatorDocs(t, "run-1", 3)
	err := s.Write(ctx, docs)
	if we := writeErr(t, err); len(we.Failed) != 3 || !errors.Is(we.Failed[0].Err, context.Canceled) {
		t.Fatalf("Write = %v", err)
	}
	if srv.Count(document.DefaultViolatorIndex) != 0 {
		t.Error("documents were written")
	}
}

// TestMalformedDocumentFailsAlone: a document _bulk cannot express (no op, no index, no id)
// is reported unsent instead of failing its whole batch.
func TestMalformedDocumentFailsAlone(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	docs := violatorDocs(t, "run-1", 3)
	noOp, noID := docs[0], docs[1]
	noOp.ID, noOp.Op = "x-1", ""
	noID.ID = ""
	err := s.Write(bg, []document.Document{noOp, docs[2], noID})
	we := writeErr(t, err)
	if len(we.Failed) != 2 || we.Failed[0].Doc.ID != "x-1" || we.Failed[1].Doc.ID != "" || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("Write = %v", err)
	}
	assertStoredOnce(t, srv, docs[2:])
}
