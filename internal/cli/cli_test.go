package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// run runs the command line with a fake environment and returns the code, stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := Run(context.Background(), args, e)
	return code, stdout.String(), stderr.String()
}

// awsRecorder points the SDK at a server that counts requests, so a test can prove none was made.
func awsRecorder(t *testing.T) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	return &n
}

// TestInvalidInputIsRefusedBeforeAnyAWSCall: exit 2, one clear line naming the problem, and no
// request reaches AWS.
func TestInvalidInputIsRefusedBeforeAnyAWSCall(t *testing.T) {
	calls := awsRecorder(t)
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("tags: [created_by\n"), 0o600)
	unknownField := filepath.Join(dir, "typo.yaml")
	os.WriteFile(unknownField, []byte("tags: [created_by]\ngrase: 5\n"), 0o600)

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"empty key", []string{"-t", "created_by,,project"}, nil, `tags: entry 2 of "created_by,,project" is empty`},
		{"trailing comma", []string{"-t", "created_by,project,"}, nil, "entry 3"},
		{"case duplicate", []string{"-t", "created_by,Created_By"}, nil, `key "Created_By" duplicates "created_by"`},
		{"non-numeric grace", []string{"-t", "created_by", "-g", "abc"}, nil, `grace: "abc" is not a number of minutes`},
		{"negative grace", []string{"-t", "created_by", "--grace", "-5"}, nil, `grace: "-5" is negative`},
		{"unknown action", []string{"-t", "created_by", "--action", "nuke"}, nil, `unknown action "nuke"`},
		{"-k contradicts --action", []string{"-t", "created_by", "-k", "--action", "stop"}, nil, "-k/--terminate contradicts --action stop"},
		{"malformed region", []string{"-t", "created_by", "-r", "us-east-1,mars"}, nil, `region "mars" is not a region name`},
		{"empty region", []string{"-t", "created_by", "-r", "us-east-1,"}, nil, "regions: entry 2"},
		{"unreadable policy", []string{"--policy", filepath.Join(dir, "missing.yaml")}, nil, "reading policy file"},
		{"malformed policy", []string{"--policy", badYAML}, nil, "bad.yaml"},
		{"policy typo", []string{"--policy", unknownField}, nil, "field grase not found"},
		{"canary disagrees", []string{"-t", "created_by,owner"}, nil, "the canary"},
		{"confirm without created_by", []string{"-t", "project", "-c"}, nil, "-c/--confirm checks the created_by tag"},
		{"max actions", []string{"-t", "created_by", "--max-actions", "x"}, nil, "--max-actions"},
		{"max percent", []string{"-t", "created_by", "--max-actions-percent", "200"}, nil, "--max-actions-percent"},
		{"unknown flag", []string{"-t", "created_by", "--frobnicate"}, nil, "flag provided but not defined: -frobnicate"},
		{"half the keys", []string{"-t", "created_by", "-a", "AKIA"}, nil, "go together"},
		{"bad output", []string{"-t", "created_by", "--output", "xml"}, nil, `--output: "xml"`},
		{"bad log format", []string{"-t", "created_by", "--log-format", "xml"}, nil, `--log-format: "xml" is not text or json`},
		{"bad es url", []string{"-t", "created_by", "--es-url", "ftp://x"}, nil, "--es-url"},
		{"bad es env", []string{"-t", "created_by"}, map[string]string{"AWSAUDIT_ES_URL": "not a url"}, "AWSAUDIT_ES_URL"},
		{"bad index", []string{"-t", "created_by", "--audit-index", "Audit"}, nil, "must be lower case"},
		{"stray argument", []string{"-t", "created_by", "extra"}, nil, `unexpected argument "extra"`},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.env, tc.args...)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitInvalid, stderr)
			}
			if n := strings.Count(stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", n, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty (it may be a document stream):\n%s", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
			if !strings.HasPrefix(stderr, "awsaudit: ") {
				t.Errorf("stderr %q does not start with the program name", stderr)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d AWS request(s) were made for invalid input", n)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"sweep", "-h"}, {"help"}, {"policy", "check", "-h"}} {
		code, stdout, _ := run(t, nil, args...)
		if code != ExitOK || !strings.Contains(stdout, "Usage") && !strings.Contains(stdout, "awsaudit") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	code, stdout, _ := run(t, nil, "-h")
	for _, f := range []string{"-r, --regions", "-t, --tags", "-g, --grace", "-k, --terminate", "-c, --confirm", "-a, --aws_access_key", "--policy", "--ndjson"} {
		if !strings.Contains(stdout, f) {
			t.Errorf("help lacks %q", f)
		}
	}
	_ = code
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, nil, "version")
	if code != ExitOK || !strings.HasPrefix(stdout, "awsaudit ") {
		t.Fatalf("version: exit %d, %q", code, stdout)
	}
}

func TestPolicyCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(path, []byte(`
tags:
  - key: created_by
    iam_user: true
  - key: department
    values: [engineering, sysops]
  - key: project
    pattern: '[a-z]+'
grace: 45
action: terminate
limits: {max_actions: 5}
`), 0o600)
	code, stdout, stderr := run(t, nil, "policy", "check", path)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"valid", "must name an existing IAM user", "one of: engineering, sysops", "not anchored", "45m0s", "terminate violators", "at most 5 action(s) per run", "report-only"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("policy check output lacks %q:\n%s", want, stdout)
		}
	}
	os.WriteFile(path, []byte("tags: [created_by, Created_By]\n"), 0o600)
	if code, _, stderr := run(t, nil, "policy", "check", path); code != ExitInvalid || !strings.Contains(stderr, "duplicates") {
		t.Fatalf("invalid policy: exit %d, %q", code, stderr)
	}
}

func TestExitPrecedence(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{nil, ExitOK},
		{[]int{ExitUnverified}, ExitUnverified},
		{[]int{ExitUnverified, ExitFailed}, ExitFailed},
		{[]int{ExitFailed, ExitError, ExitUnverified}, ExitError},
		{[]int{ExitUnverified, ExitError, ExitInvalid, ExitFailed}, ExitInvalid},
	} {
		var o outcome
		for _, c := range tc.codes {
			o.add(c, "cause %d", c)
		}
		var buf bytes.Buffer
		if got := o.print(&buf); got != tc.want {
			t.Errorf("codes %v: exit %d, want %d", tc.codes, got, tc.want)
		}
		if n := strings.Count(buf.String(), "\n"); n != len(tc.codes) {
			t.Errorf("codes %v: printed %d causes, want every one", tc.codes, n)
		}
	}
}

// An unreachable AWS is exit 1 (anything else), after the policy is accepted.
func TestAWSUnreachableIsExit1(t *testing.T) {
	calls := awsRecorder(t)
	code, _, stderr := run(t, nil, "-t", "created_by", "-r", "us-east-1")
	if code != ExitError || !strings.Contains(stderr, "identifying the account") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if calls.Load() == 0 {
		t.Fatal("no AWS request was made")
	}
}

func TestAccessKeyFlagsWarn(t *testing.T) {
	awsRecorder(t)
	_, _, stderr := run(t, nil, "-t", "created_by", "-r", "us-east-1", "-a", "AKIAEXAMPLE", "-s", "secret")
	if !strings.Contains(stderr, "other users of this machine can read them") {
		t.Fatalf("no warning about -a/-s: %q", stderr)
	}
	if strings.Contains(stderr, "secret") && strings.Contains(stderr, "=secret") {
		t.Fatalf("the secret key was printed: %q", stderr)
	}
}
