package estest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	for _, status := range []int{429, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := Start(t)
			srv.FailNext(2, status)
			for i := 0; i < 2; i++ {
				r := call(t, srv, "POST", "/_bulk", ndjsonType, ndjson(`{"index":{"_index":"a","_id":"1"}}`, `{"f":1}`))
				wantError(t, r, status, defaultErrorType(status), "estest fault injection")
				if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
					t.Errorf("fault answer lacks the product header")
				}
			}
			if srv.Count("a") != 0 {
				t.Fatal("a failed request took effect")
			}
			r := bulk(t, srv, `{"index":{"_index":"a","_id":"1"}}`, `{"f":1}`)
			if r.body["errors"] != false || srv.Count("a") != 1 {
				t.Fatalf("third request: %s", r.raw)
			}
			var faults []string
			for _, req := range srv.Requests() {
				faults = append(faults, fmt.Sprintf("%d/%s", req.Status, req.Fault))
			}
			if got := strings.Join(faults, " "); got != fmt.Sprintf("%d/fail %d/fail 200/", status, status) {
				t.Errorf("log = %s", got)
			}
		})
	}
}

func TestFailNextOnPath(t *testing.T) {
	srv := Start(t)
	srv.FailNextOn("/_bulk", 1, 429)
	if r := call(t, srv, "GET", "/", "", ""); r.status != 200 {
		t.Fatalf("GET / = %d, want it untouched", r.status)
	}
	r := call(t, srv, "POST", "/_bulk", ndjsonType, ndjson(`{"index":{"_index":"a"}}`, `{}`))
	wantError(t, r, 429, "es_rejected_execution_exception", "rejected execution")
	if r := call(t, srv, "POST", "/_bulk", ndjsonType, ndjson(`{"index":{"_index":"a"}}`, `{}`)); r.status != 200 {
		t.Fatalf("second bulk = %d", r.status)
	}
}

func TestRejectItems(t *testing.T) {
	srv := Start(t)
	srv.RejectItems(func(index, id string, doc map[string]any) *ItemError {
		switch doc["kind"] {
		case "busy":
			return &ItemError{Status: 429}
		case "bad":
			return &ItemError{Status: 400, Type: "mapper_parsing_exception", Reason: "no"}
		}
		return nil
	})
	r := bulk(t, srv,
		`{"create":{"_index":"a","_id":"1"}}`, `{"kind":"busy"}`,
		`{"create":{"_index":"a","_id":"2"}}`, `{"kind":"fine"}`,
		`{"create":{"_index":"a"}}`, `{"kind":"bad"}`,
	)
	if r.body["errors"] != true {
		t.Fatalf("errors = %v", r.body["errors"])
	}
	for i, want := range []struct {
		status float64
		typ    string
	}{{429, "es_rejected_execution_exception"}, {201, ""}, {400, "mapper_parsing_exception"}} {
		item := get(t, r.body, fmt.Sprintf("items.%d.create", i)).(map[string]any)
		if item["status"] != want.status {
			t.Errorf("item %d = %v", i, item)
		}
		if want.typ != "" && get(t, item, "error.type") != want.typ {
			t.Errorf("item %d error = %v", i, item["error"])
		}
		if item["_id"] == nil || item["_id"] == "" {
			t.Errorf("item %d has no _id", i)
		}
	}
	if srv.Count("a") != 1 || srv.RejectedItems() != 2 {
		t.Errorf("count = %d, rejected = %d", srv.Count("a"), srv.RejectedItems())
	}
	// Retrying only the rejected item succeeds once the fault is lifted.
	srv.RejectItems(nil)
	r = bulk(t, srv, `{"create":{"_index":"a","_id":"1"}}`, `{"kind":"busy"}`)
	if r.body["errors"] != false {
		t.Errorf("retry = %s", r.raw)
	}
}

func TestLatency(t *testing.T) {
	srv := Start(t)
	srv.SetLatency(200 * time.Millisecond)
	// A patient client gets its answer.
	if r := call(t, srv, "GET", "/", "", ""); r.status != 200 {
		t.Fatalf("status = %d", r.status)
	}
	// An impatient one gives up, but its write still happened, as on a
	// real overloaded node. The long delay leaves no doubt that the client
	// left first.
	srv.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/slow/_doc/1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", jsonType)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("request outlived its deadline")
	}
	waitFor(t, func() bool { return srv.CountRequests("PUT", "/slow") == 1 })
	srv.SetLatency(0)
	if _, ok := srv.Doc("slow", "1"); !ok {
		t.Error("the write was lost")
	}
	if got := srv.Requests()[1].Fault; got != "client_gone" {
		t.Errorf("fault = %q", got)
	}
}

// waitFor polls cond, for effects that land after the client returned.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met")
}

func TestDropConnections(t *testing.T) {
	srv := Start(t)
	srv.DropConnections(1)
	req, _ := http.NewRequest("POST", srv.URL+"/_bulk", strings.NewReader(ndjson(`{"index":{"_index":"a"}}`, `{}`)))
	req.Header.Set("Content-Type", ndjsonType)
	if res, err := srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("dropped request answered %d", res.StatusCode)
	}
	if srv.Count("a") != 0 {
		t.Error("dropped request took effect")
	}
	if r := bulk(t, srv, `{"index":{"_index":"a"}}`, `{}`); r.body["errors"] != false {
		t.Fatalf("next request: %s", r.raw)
	}
	if log := srv.Requests(); log[0].Fault != "drop" || log[0].Status != 0 {
		t.Errorf("log = %+v", log[0])
	}
}

func TestDownUp(t *testing.T) {
	srv := Start(t)
	srv.Down()
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("POST", srv.URL+"/_bulk", strings.NewReader(ndjson(`{"index":{"_index":"a"}}`, `{}`)))
		req.Header.Set("Content-Type", ndjsonType)
		if res, err := srv.Client().Do(req); err == nil {
			res.Body.Close()
			t.Fatalf("down server answered %d", res.StatusCode)
		}
	}
	srv.Up()
	if r := call(t, srv, "GET", "/", "", ""); r.status != 200 {
		t.Fatalf("after Up = %d", r.status)
	}
	if n := srv.CountRequests("POST", "/_bulk"); n != 3 {
		t.Errorf("logged = %d", n)
	}
}

// TestConcurrentWritesAndFaults runs under -race in CI: writers, readers
// and fault changes at once.
func TestConcurrentWritesAndFaults(t *testing.T) {
	srv := Start(t)
	srv.FailNextOn("/_bulk", 5, 429)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				body := ndjson(fmt.Sprintf(`{"index":{"_index":"c","_id":"%d-%d"}}`, w, i), fmt.Sprintf(`{"n":%d}`, i))
				req, _ := http.NewRequest("POST", srv.URL+"/_bulk", strings.NewReader(body))
				req.Header.Set("Content-Type", ndjsonType)
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				_ = srv.Count("c")
				_ = srv.Requests()
			}
		}(w)
	}
	wg.Wait()
	if got := srv.Count("c"); got != 8*20-5 {
		t.Errorf("count = %d, want %d", got, 8*20-5)
	}
}
