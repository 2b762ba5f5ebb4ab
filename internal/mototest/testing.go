package mototest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// EnvRequireIntegration names the variable CI sets to 1 so that a missing
// moto_server fails the tests instead of skipping them.
const EnvRequireIntegration = "AWSAUDIT_REQUIRE_INTEGRATION"

const skipMessage = "moto_server not found: pip install 'moto[server]' (set " +
	EnvRequireIntegration + "=1 to make this a failure)"

// Start starts a moto_server owned by the calling test and stops it in
// t.Cleanup. Without moto_server on PATH the test is skipped, or fails when
// AWSAUDIT_REQUIRE_INTEGRATION=1. The server log lives in t.TempDir; its
// tail is logged only if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	requireBinary(t)
	srv, err := StartProcess(t.Context(), filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto_server log %s (tail):\n%s", srv.LogPath, srv.logTail())
		}
		if err := srv.Close(); err != nil {
			t.Errorf("stopping moto_server: %v", err)
		}
	})
	return srv
}

// requireBinary skips t, or fails it in CI, when moto_server is not on PATH.
func requireBinary(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(Binary); err == nil {
		return
	}
	// Test support reads this flag itself: there is no config package in
	// scope for test binaries, and the switch only decides skip vs fail.
	if os.Getenv(EnvRequireIntegration) == "1" {
		t.Fatalf("%v; %s=1 requires integration tests to run", ErrNotInstalled, EnvRequireIntegration)
	}
	t.Skip(skipMessage)
}

// shared is the one server a test binary's Shared callers use. It is package
// state on purpose: a test binary is one package, and starting moto costs far
// more than resetting it. A mutex rather than sync.Once lets StopShared
// followed by Shared start a fresh server.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the test binary's shared moto_server, starting it on first
// use (skipping or failing like Start when moto_server is missing). Stop it
// from TestMain with StopShared, or use Main. Shared does not reset the
// server: call srv.Reset(t) at the start of each test that needs a clean
// world. Tests that reset a shared server must not run in parallel with
// other tests using it.
func Shared(t testing.TB) *Server {
	t.Helper()
	requireBinary(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil && shared.srv.hasExited() {
		// A crashed server would fail every later test for the wrong
		// reason; start a new one instead.
		t.Logf("shared moto_server exited; restarting. Log %s:\n%s", shared.srv.LogPath, shared.srv.logTail())
		shared.srv.Close()
		shared.srv = nil
	}
	if shared.srv == nil && shared.err == nil {
		// Not t.Context(): the server outlives this test.
		shared.srv, shared.err = StartProcess(context.Background(), "")
	}
	if shared.err != nil {
		t.Fatalf("starting shared moto_server: %v", shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server if one was started. Call it from
// TestMain after m.Run.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	srv := shared.srv
	shared.srv, shared.err = nil, nil
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Main is a TestMain body for packages using Shared: it runs the tests,
// stops the shared server and exits with the tests' status. On failure it
// prints the shared server's log tail to stderr first.
//
//	func TestMain(m *testing.M) { mototest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if code != 0 && srv != nil {
		fmt.Fprintf(os.Stderr, "moto_server log %s (tail):\n%s\n", srv.LogPath, srv.logTail())
	}
	if err := StopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping shared moto_server: %v\n", err)
	}
	os.Exit(code)
}

// Reset wipes all state in the server so the test starts from an empty
// world.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	if err := s.ResetContext(t.Context()); err != nil {
		t.Fatal(err)
	}
}
