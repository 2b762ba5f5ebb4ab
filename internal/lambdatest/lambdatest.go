//go:build linux

// Package lambdatest runs a Lambda function's bootstrap under AWS's runtime interface emulator
// (aws-lambda-rie) for tests and benchmarks: find the emulator, build the bootstrap for the host
// with the deployment's tags, start it on free loopback ports, invoke it.
package lambdatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/mototest"
)

const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// FindRIE returns the emulator's path: on PATH, or in $(go env GOPATH)/bin. Missing, the test is
// skipped, or fails when AWSAUDIT_REQUIRE_INTEGRATION=1.
func FindRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := "aws-lambda-rie not found: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@" + RIEVersion
	if os.Getenv(mototest.EnvRequireIntegration) == "1" {
		t.Fatalf("%s (%s=1 requires integration tests to run)", msg, mototest.EnvRequireIntegration)
	}
	t.Skip(msg)
	return ""
}

// BuildBootstrap builds the package pkg as a Lambda bootstrap for the host, with the deployment's
// tags (functions/*/package_test.go check the static arm64 build; this one shares the build cache).
func BuildBootstrap(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the bootstrap: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the emulator's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// emulator is a running aws-lambda-rie with the bootstrap.
type Emulator struct {
	url string
	out *lockedBuffer
}

// Output is what the emulator and the function printed so far.
func (e *Emulator) Output() string { return e.out.String() }

// StartEmulator starts rie with both addresses on free loopback ports (without them it listens on
// 0.0.0.0:8080) and the environment env, and stops it and the bootstrap at cleanup.
func StartEmulator(t *testing.T, rie, bootstrap string, env []string) *Emulator {
	t.Helper()
	port := freePort(t)
	e := &Emulator{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &lockedBuffer{}}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = e.out, e.out
	// Its own process group, so the bootstrap it starts goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", rie, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.Output())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator does not listen: %v\n%s", err, e.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke posts an event and returns the body: rie answers 200 even when the handler fails.
func (e *Emulator) Invoke(t *testing.T, event any) []byte {
	t.Helper()
	b, _ := json.Marshal(event)
	resp, err := http.Post(e.url+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// Env is the function's environment: the test process's, without AWS settings, plus moto's
// (through endpoint) and the given variables.
func Env(srv *mototest.Server, endpoint string, vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS") {
			env = append(env, kv)
		}
	}
	env = append(env, srv.Env("us-east-1")...)
	env = append(env, "AWS_ENDPOINT_URL="+endpoint, "AWS_MAX_ATTEMPTS=1", "AWS_LAMBDA_LOG_FORMAT=JSON")
	return append(env, vars...)
}
