package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// usage is what bench/cmd/rusage reports about a child.
type usage struct {
	ExitCode  int     `json:"exit_code"`
	UserMS    float64 `json:"user_ms"`
	SysMS     float64 `json:"sys_ms"`
	MaxRSSKB  int64   `json:"maxrss_kb"`
	WallMS    float64 `json:"wall_ms"`
	StartErr  string  `json:"start_error"`
	Signalled string  `json:"signal"`
}

func (u usage) cpuMS() float64 { return u.UserMS + u.SysMS }
func (u usage) rssMB() float64 { return float64(u.MaxRSSKB) / 1024 }
func (u usage) wallS() float64 { return u.WallMS / 1000 }
func (u usage) failed() bool   { return u.StartErr != "" || u.Signalled != "" }
func (u usage) describe() string {
	return fmt.Sprintf("exit %d %s%s", u.ExitCode, u.StartErr, u.Signalled)
}

// sweepReport is the part of `awsaudit sweep --output json --stats` the harness reads.
type sweepReport struct {
	RunID  string `json:"run_id"`
	Rollup struct {
		InstanceCount     int            `json:"instance_count"`
		ViolatorCount     int            `json:"violator_count"`
		Verdicts          map[string]int `json:"verdicts"`
		Outcomes          map[string]int `json:"outcomes"`
		RegionsVerified   []string       `json:"regions_verified"`
		RegionsUnverified []string       `json:"regions_unverified"`
		RegionsUnreached  []string       `json:"regions_unreached"`
	} `json:"rollup"`
	APICalls []struct {
		Service, Operation, Region string
		Count                      int
	} `json:"api_calls"`
}

// calls sums the API calls by "Service.Operation".
func (r *sweepReport) calls() map[string]int {
	out := map[string]int{}
	for _, c := range r.APICalls {
		out[c.Service+"."+c.Operation] += c.Count
	}
	return out
}

func (r *sweepReport) total() int {
	n := 0
	for _, c := range r.APICalls {
		n += c.Count
	}
	return n
}

// sweepRun is one sweep child.
type sweepRun struct {
	usage
	report sweepReport
	// heap is sweepprof's heap figures, when profiled.
	heap map[string]float64
	dir  string
}

// sweep runs `awsaudit <args> --stats --output json` against endpoint as a child (through
// rusage), checks that it completed with exit code 0 and returns what it reported. With profile
// it runs sweepprof instead, writing cpu.prof and heap.json into the run's directory.
func (h *harness) sweep(ctx context.Context, label, endpoint string, profile bool, args ...string) (*sweepRun, error) {
	dir := filepath.Join(h.tmp, "runs", label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args = append(args, "--stats", "--output", "json", "--log-level", "warn", "--ndjson", filepath.Join(dir, "documents.ndjson"))
	child := []string{h.bin["awsaudit"]}
	if profile {
		child = []string{h.bin["sweepprof"], "-cpuprofile", filepath.Join(dir, "cpu.prof"), "-heap", filepath.Join(dir, "heap.json"), "--"}
	}
	run := &sweepRun{dir: dir}
	if err := h.child(ctx, dir, h.childEnv(endpoint), &run.usage, append(child, args...)...); err != nil {
		return nil, err
	}
	if run.ExitCode != 0 {
		return run, fmt.Errorf("sweep %s: %s; stderr:\n%s", label, run.describe(), tail(filepath.Join(dir, "stderr"), 2000))
	}
	b, err := os.ReadFile(filepath.Join(dir, "stdout"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &run.report); err != nil {
		return nil, fmt.Errorf("sweep %s: reading its JSON report: %w", label, err)
	}
	if profile {
		if b, err := os.ReadFile(filepath.Join(dir, "heap.json")); err == nil {
			json.Unmarshal(b, &run.heap)
		}
	}
	return run, nil
}

// child runs argv through rusage with env, stdout and stderr into dir, and reads its usage.
func (h *harness) child(ctx context.Context, dir string, env []string, u *usage, argv ...string) error {
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	result := filepath.Join(dir, "rusage.json")
	cmd := exec.CommandContext(ctx, h.bin["rusage"], append([]string{"-o", result, "--"}, argv...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = env, stdout, stderr, dir
	// Interrupted, rusage passes SIGTERM on to the child rather than leaving it running.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s: %w", filepath.Base(argv[0]), err)
	}
	b, err := os.ReadFile(result)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, u); err != nil {
		return err
	}
	if u.failed() {
		return fmt.Errorf("%s: %s; stderr:\n%s", filepath.Base(argv[0]), u.describe(), tail(filepath.Join(dir, "stderr"), 2000))
	}
	return nil
}

// tail returns the last n bytes of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
