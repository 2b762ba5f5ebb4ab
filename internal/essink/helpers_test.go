package essink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fastConfig is a Config for srv whose retries wait milliseconds, logging to the test's log.
func fastConfig(t testing.TB, srv *estest.Server) essink.Config {
	t.Helper()
	return essink.Config{
		URL:          srv.URL,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 4 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// newSink returns a sink for cfg, closed when the test ends.
func newSink(t testing.TB, cfg essink.Config) *essink.Sink {
	t.Helper()
	s, err := essink.New(cfg)
	if err != nil {
		t.Fatalf("essink.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sweep is a sweep's documents built the way the reconciler builds them: real decisions on
// real instances, violator documents from enforcer.ViolatorDocument, and a rollup counting them.
type sweep struct {
	runID     string
	violators []*document.Violator
	rollup    *document.Rollup
	docs      []document.Document
}

func newSweep(t testing.TB, runID string, n int) *sweep {
	t.Helper()
	return newSweepAt(t, runID, t0, n)
}

// newSweepAt is newSweep for a sweep at now.
func newSweepAt(t testing.TB, runID string, now time.Time, n int) *sweep {
	t.Helper()
	policy := enforcer.New("created_by", "department", "project")
	policy.Action = enforcer.ActionTerminate
	h := document.Header{
		Timestamp: document.At(now), RunID: runID, Source: document.SourceSweep,
		Account: "example-prod", AccountID: "123456789012", TagScheme: policy.Scheme(), Action: string(policy.Action),
	}
	sw := &sweep{runID: runID, rollup: document.NewRollup(h)}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	outcomes := []document.Outcome{document.Terminated, document.DryRun, document.Failed, document.SkippedLimit}
	for i := range n {
		in := &enforcer.Instance{
			ID:               fmt.Sprintf("i-%017x", i+1),
			Region:           regions[i%len(regions)],
			AvailabilityZone: regions[i%len(regions)] + "a",
			State:            "running",
			LaunchTime:       now.Add(-time.Duration(30+i) * time.Minute).Add(-1500 * time.Millisecond),
			Tags:             []enforcer.Tag{{Key: "Name", Value: fmt.Sprintf("web-%d", i)}, {Key: "created_by", Value: "bob"}},
		}
		if i%2 == 0 {
			in.Tags = append(in.Tags, enforcer.Tag{Key: "department", Value: ""})
		}
		if i%5 == 0 {
			in.Tags = append(in.Tags, enforcer.Tag{Key: "aws:autoscaling:groupName", Value: "asg"})
		}
		d := enforcer.Decide(in, policy, nil, now)
		if !d.Reportable() {
			t.Fatalf("instance %s is %s, not a violator", in.ID, d.Verdict)
		}
		v := enforcer.ViolatorDocument(h, in, &d, outcomes[i%len(outcomes)])
		if v.Outcome == document.Failed {
			v.Error = "terminating: UnauthorizedOperation"
		}
		yes, no := true, false
		v.DisableAPITermination, v.DisableAPIStop = &no, &yes
		sw.rollup.Verdicts[v.Verdict]++
		sw.rollup.InstanceCount++
		sw.rollup.AddViolator(v)
		sw.violators = append(sw.violators, v)
	}
	sw.rollup.RegionsVerified = regions[:2]
	sw.rollup.RegionsUnverified = regions[2:]
	sw.rollup.RegionErrors = []string{"eu-west-1: canary check in eu-west-1: the listing is empty"}
	sw.rollup.DurationSeconds = 1.25
	idx := document.DefaultIndices()
	for _, v := range sw.violators {
		sw.docs = append(sw.docs, mustDoc(t, idx.Violator, document.ViolatorID(runID, v.ID), document.OpIndex, v))
	}
	sw.docs = append(sw.docs, mustDoc(t, idx.Audit, document.RollupID(runID), document.OpIndex, sw.rollup))
	return sw
}

func mustDoc(t testing.TB, index, id string, op document.Op, body any) document.Document {
	t.Helper()
	d, err := document.New(index, id, op, body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// violatorDocs returns n violator documents of one run.
func violatorDocs(t testing.TB, runID string, n int) []document.Document {
	t.Helper()
	sw := newSweep(t, runID, n)
	return sw.docs[:n]
}

// assertStoredOnce checks that every document is in the server exactly once, as written (one
// version per write when each was written once: versions above 1 come only from rewrites).
func assertStoredOnce(t *testing.T, srv *estest.Server, docs []document.Document) {
	t.Helper()
	perIndex := map[string]int{}
	for _, d := range docs {
		perIndex[d.Index]++
		got, ok := srv.Doc(d.Index, d.ID)
		if !ok {
			t.Errorf("document %s/%s is missing", d.Index, d.ID)
			continue
		}
		if !jsonEqual(t, got.Raw, d.Body) {
			t.Errorf("document %s/%s = %s, want %s", d.Index, d.ID, got.Raw, d.Body)
		}
	}
	for index, n := range perIndex {
		if got := srv.Count(index); got != n {
			t.Errorf("index %s holds %d documents, want %d", index, got, n)
		}
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// writeErr returns err's WriteError, failing the test when there is none.
func writeErr(t *testing.T, err error) *document.WriteError {
	t.Helper()
	we, ok := err.(*document.WriteError)
	if !ok {
		t.Fatalf("error %T %v is not a *document.WriteError", err, err)
	}
	return we
}

// ids returns "index/id" of each document.
func ids(docs []document.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Index + "/" + d.ID
	}
	return out
}

// search refreshes index, as a reader must before searching what was just written, then sends
// a _search body to it with the server's own client and returns the hits' sources, raw.
func search(t *testing.T, srv *estest.Server, index, query string) []json.RawMessage {
	t.Helper()
	ref, err := srv.Client().Post(srv.URL+"/"+index+"/_refresh", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref.Body.Close()
	if ref.StatusCode != http.StatusOK {
		t.Fatalf("_refresh %s answered %d", index, ref.StatusCode)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/"+index+"/_search", strings.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("_search %s answered %d: %s", query, res.StatusCode, data)
	}
	var got struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("decoding _search answer %s: %v", data, err)
	}
	out := make([]json.RawMessage, len(got.Hits.Hits))
	for i, h := range got.Hits.Hits {
		out[i] = h.Source
	}
	return out
}

// captureLog is a slog logger writing into a buffer, for asserting what was logged.
type captureLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *captureLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *captureLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *captureLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// writeFile writes data to a new file in the test's temporary directory and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var bg = context.Background()

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
