package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
	"github.com/awsaudit/awsaudit/internal/testworld"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// world builds the standard world in a fresh moto and points the process's SDK environment at
// endpoint (moto, or a proxy in front of it).
type cliWorld struct {
	srv   *mototest.Server
	world *testworld.World
	proxy *faultproxy.Proxy
}

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	srv := mototest.Shared(t)
	srv.Reset(t)
	w := &cliWorld{srv: srv}
	w.world = testworld.Build(t, func(r string) aws.Config { return srv.AWSConfig(t, r) })
	w.proxy = faultproxy.Start(t, srv.URL)
	for _, kv := range srv.Env(testworld.Home) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL", w.proxy.URL)
	return w
}

// sweepCLI runs the command line at the world's clock and returns code, stdout, stderr.
func (w *cliWorld) sweepCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Now: func() time.Time { return w.world.Now }}
	code := Run(context.Background(), args, env)
	return code, stdout.String(), stderr.String()
}

func readNDJSON(t *testing.T, path string) []document.Document {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := document.ReadBulk(f)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// The original tool's invocation still works, and every exit code says what happened.
func TestSweepCommandLine(t *testing.T) {
	w := newCLIWorld(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.ndjson")

	// Report over every region: the canary-less region is unverified, exit 3.
	code, stdout, stderr := w.sweepCLI(t, "-r", strings.Join(testworld.All, ","), "-t", testworld.Scheme, "-g", "10", "--ndjson", out, "--output", "table", "--stats")
	if code != ExitUnverified {
		t.Fatalf("report sweep exit %d, want 3; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "region ap-southeast-2 unverified, nothing in it acted on") {
		t.Errorf("stderr lacks the unverified region:\n%s", stderr)
	}
	for _, want := range []string{"REGION", w.world.ID(testworld.Home, "violator"), "missing project", "report-only (managed by autoscaling)",
		"verified us-east-1, us-west-2, eu-west-1 | unverified ap-southeast-2", "api calls: 6 |"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	docs := readNDJSON(t, out)
	if len(docs) != 12 { // 10 violators + 1 managed + the rollup
		t.Errorf("%d documents, want 12", len(docs))
	}
	if !strings.Contains(stderr, "12 document(s) written to "+out) {
		t.Errorf("stderr does not say where the documents went:\n%s", stderr)
	}

	// Terminate, the original's way, in the verified regions with a limit: exit 0 and a warning.
	code, stdout, stderr = w.sweepCLI(t, "-r", strings.Join(testworld.CanaryRegions, ","), "-t", testworld.Scheme, "-g", "10", "--terminate", "--max-actions", "2", "--output", "json")
	if code != ExitOK {
		t.Fatalf("limited terminate exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "WARNING: the action limit (2) deferred 7 violator(s)") {
		t.Errorf("no loud warning about the limit:\n%s", stderr)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--output json: %v\n%s", err, stdout)
	}
	if rep.Rollup.Outcomes["terminated"] != 2 || rep.Rollup.Outcomes["skipped_limit"] != 7 {
		t.Errorf("outcomes %v", rep.Rollup.Outcomes)
	}
}

// A failed action is exit 4; with an unverified region too, 4 wins and both are printed.
func TestSweepFailedActionExit4(t *testing.T) {
	w := newCLIWorld(t)
	bad := w.world.ID(testworld.Home, "violator")
	w.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances", Match: faultproxy.InstanceID(bad), Respond: faultproxy.APIError(400, "UnauthorizedOperation", "You are not authorized to perform this operation.")})
	code, _, stderr := w.sweepCLI(t, "-r", strings.Join(testworld.All, ","), "-t", testworld.Scheme, "-g", "10", "-k")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 4; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"1 action(s) failed", "region ap-southeast-2 unverified", "(exit 3)", "(exit 4)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got := mototest.State(t, w.srv.AWSConfig(t, testworld.Home), bad); got != "running" {
		t.Errorf("the instance whose termination failed is %s", got)
	}
}

// Documents to stdout: the report goes to stderr, stdout is pure NDJSON.
func TestSweepNDJSONToStdout(t *testing.T) {
	w := newCLIWorld(t)
	code, stdout, stderr := w.sweepCLI(t, "-r", testworld.Home, "-t", testworld.Scheme, "-g", "10", "--ndjson", "-", "--output", "table")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	docs, err := document.ReadBulk(strings.NewReader(stdout))
	if err != nil || len(docs) != 9 {
		t.Fatalf("stdout is not the documents (%d, %v):\n%s", len(docs), err, stdout)
	}
	if !strings.Contains(stderr, "REGION") {
		t.Errorf("the table did not go to stderr")
	}
}

// Elasticsearch down for a whole sweep: exit 4, every document spooled to a file the error names,
// and `awsaudit ship` lands them later, exactly once.
func TestSweepElasticsearchDownSpoolsThenShips(t *testing.T) {
	w := newCLIWorld(t)
	es := estest.Start(t)
	es.Down()
	dir := t.TempDir()
	code, _, stderr := w.sweepCLI(t, "-r", strings.Join(testworld.CanaryRegions, ","), "-t", testworld.Scheme, "-g", "10", "-k",
		"--es-url", es.URL, "--spool-dir", dir, "--output", "json")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 4; stderr:\n%s", code, stderr)
	}
	m := regexp.MustCompile(`(\d+) document\(s\) spooled to (\S+) \(send them later with: awsaudit ship (\S+)\)`).FindStringSubmatch(stderr)
	if m == nil || m[2] != m[3] || !strings.HasPrefix(m[2], dir) {
		t.Fatalf("stderr does not name the spool file:\n%s", stderr)
	}
	spooled := readNDJSON(t, m[2])
	if len(spooled) != 11 || m[1] != "11" { // 9 violators + 1 managed + the rollup
		t.Fatalf("%d documents spooled (message says %s), want 11", len(spooled), m[1])
	}
	// The instances were terminated all the same: acting does not wait for Elasticsearch.
	if got := mototest.State(t, w.srv.AWSConfig(t, testworld.Home), w.world.ID(testworld.Home, "violator")); got != "terminated" {
		t.Errorf("violator is %s", got)
	}

	es.Up()
	for range 2 {
		code, stdout, stderr := w.sweepCLI(t, "ship", "--es-url", es.URL, m[2])
		if code != ExitOK && !strings.Contains(stderr, "already shipped") {
			t.Fatalf("ship: exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	if got := es.Count(document.DefaultViolatorIndex) + es.Count(document.DefaultAuditIndex); got != 11 {
		t.Fatalf("%d documents in Elasticsearch after shipping twice, want 11", got)
	}
	for _, d := range spooled {
		if _, ok := es.Doc(d.Index, d.ID); !ok {
			t.Errorf("%s/%s did not land", d.Index, d.ID)
		}
	}
}
