//go:build linux

// Package lambdatest runs a Lambda function's bootstrap under AWS's runtime interface emulator
// (aws-lambda-rie) for tests and benchmarks: find the emulator, build the bootstrap for the host
// with the deployment's tags, start it on free loopback ports, invoke it.
package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// RIEVersion is the emulator's version the project tests with.
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// RIEModule is what installs it: go install RIEModule.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@" + RIEVersion

// Find returns the emulator's path: on PATH, or in $(go env GOPATH)/bin.
func Find(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("aws-lambda-rie not found: go install " + RIEModule)
}

// FindRIE is Find for a test: missing, the test is skipped, or fails when
// AWSAUDIT_REQUIRE_INTEGRATION=1.
func FindRIE(t *testing.T) string {
	t.Helper()
	p, err := Find(t.Context())
	if err == nil {
		return p
	}
	if os.Getenv(mototest.EnvRequireIntegration) == "1" {
		t.Fatalf("%v (%s=1 requires integration tests to run)", err, mototest.EnvRequireIntegration)
	}
	t.Skip(err.Error())
	return ""
}

// BuildBootstrap builds the package pkg as a Lambda bootstrap for the host, with the deployment's
// tags (functions/package_test.go checks the static arm64 build; this one shares the build cache).
func BuildBootstrap(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the bootstrap: %v\n%s", err, b)
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

// Emulator is a running aws-lambda-rie with a bootstrap.
type Emulator struct {
	url string
	out *lockedBuffer
	cmd *exec.Cmd
}

// Output is what the emulator and the function printed so far.
func (e *Emulator) Output() string { return e.out.String() }

// Launch starts rie with both addresses on free loopback ports (without them it listens on
// 0.0.0.0:8080) and the environment env, and returns once it listens. Stop stops it and the
// bootstrap.
func Launch(ctx context.Context, rie, bootstrap string, env []string) (*Emulator, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &Emulator{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &lockedBuffer{}}
	e.cmd = exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	e.cmd.Dir, e.cmd.Env = filepath.Dir(bootstrap), env
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	// Its own process group, so the bootstrap it starts goes with it.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", rie, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return e, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			e.Stop()
			return nil, fmt.Errorf("the emulator does not listen: %v\n%s", err, e.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the emulator and the bootstrap.
func (e *Emulator) Stop() {
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	e.cmd.Wait()
}

// StartEmulator is Launch for a test: the emulator is stopped at cleanup, and its output logged
// when the test failed.
func StartEmulator(t *testing.T, rie, bootstrap string, env []string) *Emulator {
	t.Helper()
	e, err := Launch(t.Context(), rie, bootstrap, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.Output())
		}
	})
	return e
}

// Post posts an event and returns the body: rie answers 200 even when the handler fails.
func (e *Emulator) Post(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Invoke is Post for a test, with the event encoded as JSON.
func (e *Emulator) Invoke(t *testing.T, event any) []byte {
	t.Helper()
	b, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	body, err := e.Post(t.Context(), b)
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
