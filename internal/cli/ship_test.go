package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

var shipT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// sweepDocs returns a sweep's documents as the reconciler builds them: n violators with the
// index action and deterministic ids, and the rollup.
func sweepDocs(t *testing.T, runID string, n int) []document.Document {
	t.Helper()
	h := document.Header{Timestamp: document.At(shipT0), RunID: runID, Source: document.SourceSweep,
		Account: "example-prod", AccountID: "123456789012", TagScheme: "created_by,project", Action: "terminate"}
	r := document.NewRollup(h)
	var docs []document.Document
	for i := range n {
		v := &document.Violator{Header: h, ID: fmt.Sprintf("i-%04d", i), Region: "us-east-1", State: "running",
			Tags: []string{"created_by=bob"}, Age: 42.5, LaunchTime: document.At(shipT0.Add(-time.Hour)),
			Verdict: "violator", MissingTags: []string{"project"}, InvalidTags: []string{}, Outcome: document.Terminated}
		r.AddViolator(v)
		docs = append(docs, shipDoc(t, document.DefaultViolatorIndex, document.ViolatorID(runID, v.ID), document.OpIndex, v))
	}
	return append(docs, shipDoc(t, document.DefaultAuditIndex, document.RollupID(runID), document.OpIndex, r))
}

// eventDocs returns an event's rollup, written with create as the event path writes it.
func eventDocs(t *testing.T, eventID string) []document.Document {
	t.Helper()
	r := document.NewRollup(document.Header{Timestamp: document.At(shipT0), RunID: eventID, Source: document.SourceEvent})
	return []document.Document{shipDoc(t, document.DefaultAuditIndex, document.RollupID(eventID), document.OpCreate, r)}
}

func shipDoc(t *testing.T, index, id string, op document.Op, body any) document.Document {
	t.Helper()
	d, err := document.New(index, id, op, body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// spoolOf writes docs to a spool file in dir, as the sweep does.
func spoolOf(t *testing.T, dir, runID string, docs []document.Document) string {
	t.Helper()
	path, err := document.WriteSpool(dir, runID, docs)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func readSpoolDocs(t *testing.T, path string) []document.Document {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := document.ReadBulk(f)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return docs
}

// copyFile copies a file, for shipping the same spool twice.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ship runs `awsaudit ship` against srv with ctx and returns the code, stdout and stderr.
func ship(t *testing.T, ctx context.Context, srv *estest.Server, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := map[string]string{config.EnvESURL: srv.URL}
	for k, v := range env {
		all[k] = v
	}
	e := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return all[k] }}
	code := Run(ctx, append([]string{"ship"}, args...), e)
	t.Logf("ship %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

// assertLandedOnce checks each document is stored exactly once, as written.
func assertLandedOnce(t *testing.T, srv *estest.Server, docs []document.Document) {
	t.Helper()
	per := map[string]int{}
	for _, d := range docs {
		per[d.Index]++
		got, ok := srv.Doc(d.Index, d.ID)
		if !ok {
			t.Errorf("%s/%s did not land", d.Index, d.ID)
			continue
		}
		var a, b any
		json.Unmarshal(got.Raw, &a)
		json.Unmarshal(d.Body, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s/%s landed as %s, want %s", d.Index, d.ID, got.Raw, d.Body)
		}
	}
	for index, n := range per {
		if got := srv.Count(index); got != n {
			t.Errorf("%s holds %d documents, want %d", index, got, n)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// forbidden is a bulk item failure that may pass later: the credentials lack the index
// privilege (until someone grants it).
func forbidden(reason string) *estest.ItemError {
	return &estest.ItemError{Status: http.StatusForbidden, Type: "security_exception", Reason: reason}
}

// withField returns d with one more top-level field in its body.
func withField(t *testing.T, d document.Document, name string, value any) document.Document {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatal(err)
	}
	body[name] = value
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	d.Body = raw
	return d
}

var spooledTo = regexp.MustCompile(`spooled to (\S+) \(send them later with: awsaudit ship (\S+)\)`)

// TestSpoolThenShip: Elasticsearch failing as the sweep writes leaves, through sinkSet.spool, a
// spool file holding exactly the unwritten documents and exit 4; `awsaudit ship` then lands
// them, and shipping the same documents again still leaves one copy of each.
func TestSpoolThenShip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     func(*estest.Server, []document.Document)
		heal      func(*estest.Server)
		unwritten func([]document.Document) []document.Document
	}{
		{"down", func(s *estest.Server, _ []document.Document) { s.Down() }, (*estest.Server).Up,
			func(d []document.Document) []document.Document { return d }},
		{"503 until the retries are spent", func(s *estest.Server, _ []document.Document) { s.FailNext(5, http.StatusServiceUnavailable) }, func(*estest.Server) {},
			func(d []document.Document) []document.Document { return d }},
		{"one document refused", func(s *estest.Server, d []document.Document) {
			s.RejectItems(func(index, id string, _ map[string]any) *estest.ItemError {
				if id == d[1].ID {
					return &estest.ItemError{Status: http.StatusBadRequest, Reason: "refused for the test"}
				}
				return nil
			})
		}, func(s *estest.Server) { s.RejectItems(nil) }, func(d []document.Document) []document.Document { return d[1:2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			sink, err := essink.New(essink.Config{URL: srv.URL, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
				Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := sink.EnsureTemplates(context.Background()); err != nil {
				t.Fatal(err)
			}
			sinks := &sinkSet{sink: sink, esURL: srv.URL}
			const runID = "sweep-123456789012-20261126T120000.000Z"
			docs := sweepDocs(t, runID, 4)
			tc.fault(srv, docs)

			// What runSweep does with the report's documents and write error.
			dir := t.TempDir()
			werr := sinks.sink.Write(context.Background(), docs)
			if werr == nil {
				t.Fatal("Write succeeded")
			}
			var out outcome
			var stderr bytes.Buffer
			sinks.spool(&stderr, runID, docs, werr, &out, dir)
			code := out.print(&stderr)
			t.Logf("the sweep's closing lines:\n%s", stderr.String())
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFailed, stderr.String())
			}
			m := spooledTo.FindStringSubmatch(stderr.String())
			if m == nil || m[1] != m[2] {
				t.Fatalf("stderr does not name the spool file:\n%s", stderr.String())
			}
			path := m[1]
			want := tc.unwritten(docs)
			if got := readSpoolDocs(t, path); !reflect.DeepEqual(got, want) {
				t.Fatalf("the spool holds %d documents, want exactly the %d unwritten", len(got), len(want))
			}
			spare := filepath.Join(dir, "again.ndjson")
			copyFile(t, path, spare)

			tc.heal(srv)
			if code, stdout, _ := ship(t, context.Background(), srv, nil, path); code != ExitOK ||
				!strings.Contains(stdout, fmt.Sprintf("%d of %d document(s) landed", len(want), len(want))) {
				t.Fatalf("ship: exit %d, stdout %q", code, stdout)
			}
			if exists(path) || !exists(path+".shipped") {
				t.Errorf("the shipped file was not renamed %s.shipped", path)
			}
			assertLandedOnce(t, srv, docs)
			if code, _, _ := ship(t, context.Background(), srv, nil, spare); code != ExitOK {
				t.Fatalf("shipping again: exit %d", code)
			}
			assertLandedOnce(t, srv, docs)
		})
	}
}

// TestShip: what ship does with each kind of file and failure.
func TestShip(t *testing.T) {
	t.Run("sweep and event spools land once, twice shipped", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		sweep, event := sweepDocs(t, "run-1", 3), eventDocs(t, "evt-1")
		a, b := spoolOf(t, dir, "run-1", sweep), spoolOf(t, dir, "evt-1", event)
		copyFile(t, a, filepath.Join(dir, "a-copy.ndjson"))
		copyFile(t, b, filepath.Join(dir, "b-copy.ndjson"))
		code, stdout, _ := ship(t, context.Background(), srv, nil, a, b)
		if code != ExitOK || !strings.Contains(stdout, a+": 4 of 4 document(s) landed") || !strings.Contains(stdout, b+": 1 of 1 document(s) landed") {
			t.Fatalf("ship: exit %d, stdout %q", code, stdout)
		}
		code, _, _ = ship(t, context.Background(), srv, nil, filepath.Join(dir, "a-copy.ndjson"), filepath.Join(dir, "b-copy.ndjson"), a+".shipped")
		if code != ExitOK {
			t.Fatalf("shipping again: exit %d", code)
		}
		assertLandedOnce(t, srv, append(sweep, event...))
		if d, _ := srv.Doc(document.DefaultAuditIndex, "evt-1"); d.Version != 1 {
			t.Errorf("the event's rollup is at version %d: the create was repeated", d.Version)
		}
		if !exists(a+".shipped") || exists(a+".shipped.shipped") {
			t.Error("a file shipped under its .shipped name was renamed again")
		}
	})

	t.Run("partial: the rest to a new spool, exit 4", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		docs := sweepDocs(t, "run-1", 3)
		path := spoolOf(t, dir, "run-1", docs)
		srv.RejectItems(func(index, id string, _ map[string]any) *estest.ItemError {
			if id == docs[2].ID {
				return forbidden("refused for the test")
			}
			return nil
		})
		code, stdout, stderr := ship(t, context.Background(), srv, nil, path)
		if code != ExitFailed || !strings.Contains(stdout, "3 of 4 document(s) landed") || !strings.Contains(stderr, "refused for the test") {
			t.Fatalf("ship: exit %d", code)
		}
		m := spooledTo.FindStringSubmatch(stderr)
		if m == nil || !strings.HasPrefix(filepath.Base(m[1]), "awsaudit-spool-run-1-") || filepath.Dir(m[1]) != dir {
			t.Fatalf("stderr does not name a new spool file beside the old one:\n%s", stderr)
		}
		if got := readSpoolDocs(t, m[1]); !reflect.DeepEqual(got, docs[2:3]) {
			t.Errorf("the new spool holds %v", got)
		}
		if exists(path) || !exists(path+".shipped") {
			t.Error("the original file was not renamed .shipped")
		}
		srv.RejectItems(nil)
		if code, _, _ := ship(t, context.Background(), srv, nil, m[1]); code != ExitOK {
			t.Fatalf("shipping the rest: exit %d", code)
		}
		assertLandedOnce(t, srv, docs)
	})

	t.Run("nothing lands: the file is left, exit 4", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		path := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 2))
		before, _ := os.ReadFile(path)
		srv.RejectItems(func(string, string, map[string]any) *estest.ItemError {
			return forbidden("no write privilege yet")
		})
		code, stdout, stderr := ship(t, context.Background(), srv, nil, path)
		if code != ExitFailed || !strings.Contains(stdout, "0 of 3") || !strings.Contains(stderr, "the file is left as it is") {
			t.Fatalf("ship: exit %d", code)
		}
		after, _ := os.ReadFile(path)
		entries, _ := os.ReadDir(dir)
		if !bytes.Equal(before, after) || len(entries) != 1 {
			t.Errorf("the file changed or a new one appeared: %v", entries)
		}
	})

	t.Run("rejected documents: listed, not spooled again, exit 4", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		docs := sweepDocs(t, "run-1", 3)
		// A field the strict violator mapping does not have: Elasticsearch rejects the document
		// (strict_dynamic_mapping_exception), however often it is sent.
		docs[0] = withField(t, docs[0], "unexpected_field", "x")
		path := spoolOf(t, dir, "run-1", docs)
		srv.RejectItems(func(index, id string, _ map[string]any) *estest.ItemError {
			if id == docs[1].ID {
				return forbidden("no write privilege yet")
			}
			return nil
		})
		code, stdout, stderr := ship(t, context.Background(), srv, nil, path)
		if code != ExitFailed || !strings.Contains(stdout, path+": 2 of 4 document(s) landed") {
			t.Fatalf("ship: exit %d, stdout %q", code, stdout)
		}
		if !strings.Contains(stdout, path+": rejected: index "+docs[0].Index+"/"+docs[0].ID+": 400 strict_dynamic_mapping_exception") ||
			!strings.Contains(stdout, "unexpected_field") {
			t.Errorf("stdout does not list the rejected document with its reason:\n%s", stdout)
		}
		if !strings.Contains(stderr, "1 document(s) not written") || !strings.Contains(stderr, "not spooled again") ||
			!strings.Contains(stderr, "("+path+".shipped keeps them)") {
			t.Errorf("stderr does not report the rejection:\n%s", stderr)
		}
		m := spooledTo.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("stderr names no spool file for the document that may land later:\n%s", stderr)
		}
		if got := readSpoolDocs(t, m[1]); !reflect.DeepEqual(got, docs[1:2]) {
			t.Fatalf("the new spool holds %d document(s), want only the one refused for now", len(got))
		}
		if exists(path) || !exists(path+".shipped") {
			t.Error("the original file was not renamed .shipped")
		}
		srv.RejectItems(nil)
		if code, _, _ := ship(t, context.Background(), srv, nil, m[1]); code != ExitOK {
			t.Fatalf("shipping the rest: exit %d", code)
		}
		assertLandedOnce(t, srv, docs[1:])
		if _, ok := srv.Doc(docs[0].Index, docs[0].ID); ok {
			t.Error("the rejected document landed")
		}
	})

	t.Run("every document rejected: no new spool, the file renamed, exit 4", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		docs := sweepDocs(t, "run-1", 1)
		for i := range docs {
			docs[i] = withField(t, docs[i], "unexpected_field", 1)
		}
		path := spoolOf(t, dir, "run-1", docs)
		code, stdout, stderr := ship(t, context.Background(), srv, nil, path)
		if code != ExitFailed || !strings.Contains(stdout, "0 of 2 document(s) landed") || strings.Count(stdout, ": rejected: ") != 2 {
			t.Fatalf("ship: exit %d, stdout %q", code, stdout)
		}
		if spooledTo.MatchString(stderr) || strings.Contains(stderr, "send them later") || strings.Contains(stderr, "the file is left as it is") {
			t.Errorf("rejected documents were offered for a later ship:\n%s", stderr)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != filepath.Base(path)+".shipped" {
			t.Errorf("the directory holds %v, want only the renamed file", entries)
		}
	})

	t.Run("documents for an index this run has no template for: exit 2, nothing sent", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		good := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 1))
		docs := sweepDocs(t, "run-2", 1)
		for i := range docs {
			docs[i].Index = strings.Replace(docs[i].Index, "aws-tag-", "legacy-tag-", 1)
		}
		other := spoolOf(t, dir, "run-2", docs)
		before, _ := os.ReadFile(other)
		code, _, stderr := ship(t, context.Background(), srv, nil, good, other)
		if code != ExitInvalid {
			t.Fatalf("ship: exit %d, want %d", code, ExitInvalid)
		}
		for _, want := range []string{other + `: documents for the index "legacy-tag-violator"`, `"legacy-tag-audit"`, "--audit-index", "--violator-index"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests reached Elasticsearch", n)
		}
		if after, _ := os.ReadFile(other); !bytes.Equal(before, after) || !exists(good) {
			t.Error("a file was changed or renamed")
		}

		// Named as the sweep had them, they land under awsaudit's strict templates.
		code, _, _ = ship(t, context.Background(), srv, nil, "--audit-index", "legacy-tag-audit", "--violator-index", "legacy-tag-violator", other)
		if code != ExitOK {
			t.Fatalf("ship with the sweep's indices: exit %d", code)
		}
		assertLandedOnce(t, srv, docs)
		for _, index := range []string{"legacy-tag-audit", "legacy-tag-violator"} {
			if got := srv.Mapping(index)["dynamic"]; got != "strict" {
				t.Errorf("%s was created with dynamic %v, want strict (its template)", index, got)
			}
		}
	})

	t.Run("Elasticsearch unreachable: nothing shipped, exit 4", func(t *testing.T) {
		srv := estest.Start(t)
		srv.Down()
		dir := t.TempDir()
		path := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 2))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		code, _, stderr := ship(t, ctx, srv, nil, path)
		if code != ExitFailed || !strings.Contains(stderr, "nothing shipped") || !exists(path) {
			t.Fatalf("ship: exit %d", code)
		}
	})

	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"malformed document", "{\"index\":{\"_index\":\"aws-tag-audit\",\"_id\":\"r\"}}\nnot json\n", ": line 2: document is not a JSON object"},
		{"malformed action", "{\"index\":{\"_index\":\"aws-tag-audit\",\"_id\":\"r\"}}\n{}\n{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n", `: line 3: action "update" is not index or create`},
		{"truncated", "{\"index\":{\"_index\":\"aws-tag-audit\",\"_id\":\"r\"}}\n", ": the last action line has no document"},
	} {
		t.Run(tc.name+": exit 2, nothing sent", func(t *testing.T) {
			srv := estest.Start(t)
			dir := t.TempDir()
			good := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 1))
			bad := filepath.Join(dir, "bad.ndjson")
			os.WriteFile(bad, []byte(tc.body), 0o600)
			code, _, stderr := ship(t, context.Background(), srv, nil, good, bad)
			if code != ExitInvalid || !strings.Contains(stderr, bad+tc.want) {
				t.Fatalf("ship: exit %d, stderr %q, want %q", code, stderr, bad+tc.want)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests reached Elasticsearch", n)
			}
		})
	}

	t.Run("input refused: exit 2", func(t *testing.T) {
		srv := estest.Start(t)
		dir := t.TempDir()
		shipped := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 1))
		os.Rename(shipped, shipped+".shipped")
		for _, c := range []struct {
			env  map[string]string
			args []string
			want string
		}{
			{nil, nil, "ship needs one or more spool files"},
			{nil, []string{filepath.Join(dir, "missing.ndjson")}, "missing.ndjson: no such file"},
			{nil, []string{shipped}, "already shipped (it is now " + shipped + ".shipped)"},
			{map[string]string{config.EnvESURL: ""}, []string{shipped + ".shipped"}, "give --es-url URL or set AWSAUDIT_ES_URL"},
			{nil, []string{"--es-url", "ftp://x", shipped + ".shipped"}, "--es-url"},
			{map[string]string{config.EnvESAPIKey: "a2V5"}, []string{"--es-url", "http://es.example.com:9200", shipped + ".shipped"},
				"--es-url: http://es.example.com:9200 is plain http: the Elasticsearch credentials would cross the network unencrypted"},
			{nil, []string{shipped + ".shipped", "--es-url", srv.URL}, `"--es-url" after a spool file: flags go before the spool files`},
		} {
			code, _, stderr := ship(t, context.Background(), srv, c.env, c.args...)
			if code != ExitInvalid || !strings.Contains(stderr, c.want) {
				t.Errorf("ship %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
			}
		}
	})

	t.Run("--es-url replaces a bad AWSAUDIT_ES_URL", func(t *testing.T) {
		srv := estest.Start(t)
		docs := sweepDocs(t, "run-1", 1)
		path := spoolOf(t, t.TempDir(), "run-1", docs)
		code, _, stderr := ship(t, context.Background(), srv, map[string]string{config.EnvESURL: "not a url"}, "--es-url", srv.URL, path)
		if code != ExitOK || strings.Contains(stderr, config.EnvESURL) {
			t.Fatalf("ship: exit %d, stderr %q", code, stderr)
		}
		assertLandedOnce(t, srv, docs)
	})

	t.Run("credentials refused: exit 2, the key not shown", func(t *testing.T) {
		srv := estest.StartWith(t, estest.Options{APIKey: "Z29vZDprZXk="})
		path := spoolOf(t, t.TempDir(), "run-1", sweepDocs(t, "run-1", 1))
		const wrong = "d3Jvbmc6a2V5LXRoYXQtaXMtd3Jvbmc="
		code, _, stderr := ship(t, context.Background(), srv, map[string]string{config.EnvESAPIKey: wrong}, path)
		if code != ExitInvalid || !strings.Contains(stderr, "refused the credentials (401 security_exception)") ||
			!strings.Contains(stderr, config.EnvESAPIKey) || strings.Contains(stderr, wrong) {
			t.Fatalf("ship: exit %d, stderr %q", code, stderr)
		}
		code, _, _ = ship(t, context.Background(), srv, map[string]string{config.EnvESAPIKey: "Z29vZDprZXk="}, path)
		if code != ExitOK {
			t.Fatalf("ship with the right key: exit %d", code)
		}
	})

	t.Run("TLS with --es-ca-file", func(t *testing.T) {
		srv := estest.StartWith(t, estest.Options{TLS: true})
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.pem")
		os.WriteFile(ca, srv.CACert(), 0o600)
		path := spoolOf(t, dir, "run-1", sweepDocs(t, "run-1", 1))
		if code, _, stderr := ship(t, context.Background(), srv, nil, path); code != ExitInvalid || !strings.Contains(stderr, "certificate") {
			t.Fatalf("ship without the CA: exit %d, stderr %q", code, stderr)
		}
		if code, _, _ := ship(t, context.Background(), srv, nil, "--es-ca-file", ca, path); code != ExitOK {
			t.Fatalf("ship with the CA: exit %d", code)
		}
	})
}

// TestShipStopsWhenElasticsearchBecomesUnavailable: Elasticsearch becoming unavailable while ship
// works through its files stops it after the file that met the outage, which is dealt with as
// any file is; the files after it are named, left as they are and not sent, and ship lands
// everything later, once each.
func TestShipStopsWhenElasticsearchBecomesUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(srv *estest.Server, first []document.Document)
		// sent is how many of the first file's documents landed before the outage.
		sent int
	}{
		{"from the first request", func(srv *estest.Server, _ []document.Document) {
			srv.FailNextOn("/_bulk", essink.DefaultRetryMax+1, http.StatusServiceUnavailable)
		}, 0},
		{"midway through the first file", func(srv *estest.Server, first []document.Document) {
			// The first batch (two documents) lands; the connections are then cut.
			srv.RejectItems(func(_, id string, _ map[string]any) *estest.ItemError {
				if id == first[1].ID {
					srv.Down()
				}
				return nil
			})
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			sink, err := essink.New(essink.Config{URL: srv.URL, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond, BatchDocs: 2,
				Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := sink.EnsureTemplates(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			docs := [][]document.Document{sweepDocs(t, "run-1", 3), sweepDocs(t, "run-2", 1), sweepDocs(t, "run-3", 1)}
			var (
				files  []spoolFile
				before [][]byte
			)
			for i, d := range docs {
				f, err := readSpool(spoolOf(t, dir, fmt.Sprintf("run-%d", i+1), d))
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
				data, _ := os.ReadFile(f.path)
				before = append(before, data)
			}
			tc.fault(srv, docs[0])

			var (
				out            outcome
				stdout, stderr bytes.Buffer
			)
			shipFiles(context.Background(), sink, files, &stdout, &out)
			code := out.print(&stderr)
			t.Logf("stdout:\n%sstderr:\n%s", stdout.String(), stderr.String())
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d", code, ExitFailed)
			}
			want := fmt.Sprintf("stopped after %s (%v): not sent, left as they are (ship them again later): %s, %s",
				files[0].path, essink.ErrUnavailable, files[1].path, files[2].path)
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q", want)
			}
			for i := 1; i < len(files); i++ {
				if data, err := os.ReadFile(files[i].path); err != nil || !bytes.Equal(data, before[i]) {
					t.Errorf("%s was changed (%v)", files[i].path, err)
				}
				if strings.Contains(stdout.String(), files[i].path) {
					t.Errorf("%s was shipped:\n%s", files[i].path, stdout.String())
				}
				for _, d := range docs[i] {
					if _, ok := srv.Doc(d.Index, d.ID); ok {
						t.Errorf("%s/%s of %s landed", d.Index, d.ID, files[i].path)
					}
				}
			}

			// The first file as ship deals with any file: left as it is when nothing landed, else
			// renamed, with what did not land in a new spool file.
			rest := files[1:]
			if tc.sent == 0 {
				if data, _ := os.ReadFile(files[0].path); !bytes.Equal(data, before[0]) {
					t.Errorf("%s was changed though nothing landed", files[0].path)
				}
				if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != essink.DefaultRetryMax+1 {
					t.Errorf("%d _bulk requests, want the first file's %d attempts only", n, essink.DefaultRetryMax+1)
				}
				rest = files
			} else {
				m := spooledTo.FindStringSubmatch(stderr.String())
				if m == nil || exists(files[0].path) || !exists(files[0].path+".shipped") {
					t.Fatalf("the first file was not renamed with its rest spooled:\n%s", stderr.String())
				}
				if got := readSpoolDocs(t, m[1]); !reflect.DeepEqual(got, docs[0][tc.sent:]) {
					t.Errorf("the new spool holds %d document(s), want the %d not sent", len(got), len(docs[0])-tc.sent)
				}
				f, err := readSpool(m[1])
				if err != nil {
					t.Fatal(err)
				}
				rest = append([]spoolFile{f}, rest...)
			}

			srv.RejectItems(nil)
			srv.Up()
			var again outcome
			shipFiles(context.Background(), sink, rest, io.Discard, &again)
			if code := again.print(&stderr); code != ExitOK {
				t.Fatalf("shipping the rest: exit %d\n%s", code, stderr.String())
			}
			var all []document.Document
			for _, d := range docs {
				all = append(all, d...)
			}
			assertLandedOnce(t, srv, all)
		})
	}
}

// TestSweepRefusesRefusedCredentials: Elasticsearch refusing the credentials stops a sweep before
// any AWS call, with a clear message that does not show the key.
func TestSweepRefusesRefusedCredentials(t *testing.T) {
	calls := awsRecorder(t)
	srv := estest.StartWith(t, estest.Options{APIKey: "Z29vZDprZXk="})
	const wrong = "d3Jvbmc6a2V5LXRoYXQtaXMtd3Jvbmc="
	code, _, stderr := run(t, map[string]string{config.EnvESAPIKey: wrong}, "-t", "created_by", "--es-url", srv.URL)
	if code != ExitInvalid || !strings.Contains(stderr, "refused the credentials (401 security_exception)") || strings.Contains(stderr, wrong) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d AWS calls were made", n)
	}
}

// TestOpenSinksWithElasticsearchDown: Elasticsearch unreachable at start only warns; the sink is
// returned, and installs the templates before its first write once Elasticsearch is back.
func TestOpenSinksWithElasticsearchDown(t *testing.T) {
	t.Parallel()
	srv := estest.Start(t)
	srv.Down()
	var stderr bytes.Buffer
	log := slog.New(slog.NewTextHandler(&stderr, nil))
	sinks, err := openSinks(context.Background(), &outputFlags{}, config.ES{URL: srv.URL, Indices: document.DefaultIndices()}, Env{}, log)
	if err != nil {
		t.Fatalf("openSinks = %v, want a warning only", err)
	}
	defer sinks.close()
	if !strings.Contains(stderr.String(), "Elasticsearch is unreachable") {
		t.Errorf("no warning:\n%s", stderr.String())
	}
	srv.Up()
	docs := sweepDocs(t, "run-1", 2)
	if err := sinks.sink.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if len(srv.Templates()) != 2 {
		t.Errorf("templates = %v", srv.Templates())
	}
	assertLandedOnce(t, srv, docs)
}

// failingWriter is an NDJSON destination whose writes fail, like a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestSinksDescribe: the closing lines count what each sink actually took, from the write error
// the real sinks return, not the documents handed to them.
func TestSinksDescribe(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(t.Output(), nil))
	docs := sweepDocs(t, "run-1", 3)
	file := filepath.Join(t.TempDir(), "docs.ndjson")
	for _, tc := range []struct {
		name string
		// write returns what the sweep's sink returned, and the sinks described.
		write func(t *testing.T, srv *estest.Server) (*sinkSet, error)
		want  []string
	}{
		{"everything written", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			sink := esSink(t, srv, quiet)
			return &sinkSet{ndjson: file, esURL: srv.URL}, document.Multi{document.NewNDJSON(io.Discard), sink}.Write(context.Background(), docs)
		}, []string{"awsaudit: 4 document(s) written to " + file + "\n", "awsaudit: 4 document(s) written to Elasticsearch at "}},
		{"one document refused by Elasticsearch", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			sink := esSink(t, srv, quiet)
			srv.RejectItems(func(_, id string, _ map[string]any) *estest.ItemError {
				if id == docs[0].ID {
					return forbidden("refused for the test")
				}
				return nil
			})
			return &sinkSet{ndjson: file, esURL: srv.URL}, document.Multi{document.NewNDJSON(io.Discard), sink}.Write(context.Background(), docs)
		}, []string{"awsaudit: 4 document(s) written to " + file + "\n", "awsaudit: 3 of 4 document(s) written to Elasticsearch at "}},
		{"the file failed, Elasticsearch down", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			sink := esSink(t, srv, quiet)
			srv.Down()
			return &sinkSet{ndjson: file, esURL: srv.URL}, document.Multi{document.NewNDJSON(failingWriter{}), sink}.Write(context.Background(), docs)
		}, []string{"awsaudit: 0 of 4 document(s) written to " + file + "\n", "awsaudit: 0 of 4 document(s) written to Elasticsearch at "}},
		{"the file failed, Elasticsearch took everything", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			sink := esSink(t, srv, quiet)
			return &sinkSet{ndjson: file, esURL: srv.URL}, document.Multi{document.NewNDJSON(failingWriter{}), sink}.Write(context.Background(), docs)
		}, []string{"awsaudit: 0 of 4 document(s) written to " + file + "\n", "awsaudit: 4 document(s) written to Elasticsearch at "}},
		{"an error that lists no documents", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			return &sinkSet{esURL: srv.URL}, errors.New("the sweep's writer broke")
		}, []string{"awsaudit: 0 of 4 document(s) written to Elasticsearch at "}},
		{"no sink", func(t *testing.T, srv *estest.Server) (*sinkSet, error) {
			return &sinkSet{}, nil
		}, []string{"awsaudit: 4 document(s) not written anywhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := estest.Start(t)
			sinks, werr := tc.write(t, srv)
			var w bytes.Buffer
			sinks.describe(&w, len(docs), werr)
			for _, want := range tc.want {
				if !strings.Contains(w.String(), want) {
					t.Errorf("describe wrote:\n%s\nwant a line with %q", w.String(), want)
				}
			}
			if n := strings.Count(w.String(), "\n"); n != len(tc.want) {
				t.Errorf("describe wrote %d line(s), want %d:\n%s", n, len(tc.want), w.String())
			}
		})
	}
}

// esSink returns an essink.Sink on srv with its templates installed and short retry waits.
func esSink(t *testing.T, srv *estest.Server, log *slog.Logger) *essink.Sink {
	t.Helper()
	sink, err := essink.New(essink.Config{URL: srv.URL, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	if err := sink.EnsureTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sink
}

// TestSinksCloseClosesElasticsearch: close releases the Elasticsearch client as well as the
// NDJSON file; the client sends nothing afterwards.
func TestSinksCloseClosesElasticsearch(t *testing.T) {
	t.Parallel()
	srv := estest.Start(t)
	file := filepath.Join(t.TempDir(), "docs.ndjson")
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	sinks, err := openSinks(context.Background(), &outputFlags{ndjson: file}, config.ES{URL: srv.URL, Indices: document.DefaultIndices()}, Env{}, log)
	if err != nil {
		t.Fatal(err)
	}
	docs := sweepDocs(t, "run-1", 1)
	if err := sinks.sink.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	bulks := srv.CountRequests(http.MethodPost, "/_bulk")
	sinks.close()
	err = sinks.sink.Write(context.Background(), docs)
	if err == nil || !strings.Contains(err.Error(), "client is closed") {
		t.Fatalf("Write after close = %v, want the Elasticsearch client closed", err)
	}
	if got := srv.CountRequests(http.MethodPost, "/_bulk"); got != bulks {
		t.Errorf("%d _bulk request(s) after close", got-bulks)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
}
