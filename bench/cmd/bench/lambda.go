package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/bench/seed"
	"github.com/awsaudit/awsaudit/internal/lambdatest"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// benchPolicy is the functions' policy, inline (AWSAUDIT_POLICY), so init makes no AWS call.
const benchPolicy = "tags: [created_by, department, project]\ngrace: 0\naction: report\nregions: [us-east-1]\n"

// lambda measures part 5: the functions' zip sizes as make package builds them (arm64), and init
// and first-invocation durations of host builds under aws-lambda-rie, pointed at moto.
func (h *harness) lambda(ctx context.Context) error {
	fns := []string{"enforcer"}
	if hasGoFiles(filepath.Join(h.root, "functions", "reconciler")) {
		fns = append(fns, "reconciler")
	} else {
		h.res.Skip(5, "reconciler.zip size and start", "functions/reconciler has no Go files yet")
	}
	arm := filepath.Join(h.tmp, "dist")
	if err := h.packageZips(ctx, arm, "", fns); err != nil {
		return err
	}
	host := filepath.Join(h.tmp, "dist-host")
	if err := h.packageZips(ctx, host, runtime.GOARCH, fns); err != nil {
		return err
	}
	for _, fn := range fns {
		st, err := os.Stat(filepath.Join(arm, fn+".zip"))
		if err != nil {
			return err
		}
		h.res.AddTarget(5, "zip."+fn, fn+".zip (arm64, as make package builds it)", float64(st.Size())/(1<<20), "MB", targetZip)
	}

	rie, err := lambdatest.Find(ctx)
	if err != nil {
		h.res.Skip(5, "init and first-invocation durations", err.Error())
		return nil
	}
	srv, err := h.startMoto(ctx)
	if err != nil {
		return err
	}
	if err := srv.ResetContext(ctx); err != nil {
		return err
	}
	cfg := mototest.Config(srv.URL, "us-east-1")
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-bench-lambda")})
	if err != nil {
		return err
	}
	if slices.Contains(fns, "reconciler") {
		// The reconciler sweeps us-east-1, which needs its canary.
		f := fleet.Even([]string{"us-east-1"}, 5, 1, time.Now())
		if _, err := seed.Seed(ctx, cfg, f, seed.Options{}); err != nil {
			return err
		}
	}
	env := h.childEnv(srv.URL, "AWSAUDIT_POLICY="+benchPolicy, "AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_MAX_ATTEMPTS=1",
		// The reconciler starts no region with less than the reserve left (default 3 minutes, at
		// least 30 s).
		"AWSAUDIT_TIME_RESERVE_SECONDS=30")
	events := map[string][]string{
		// Zero records, then one poison record (logged and acknowledged).
		"enforcer":   {`{"Records":[]}`, `{"Records":[{"messageId":"m-poison","receiptHandle":"r","body":"not json","attributes":{},"messageAttributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:awsaudit-bench-lambda","awsRegion":"us-east-1"}]}`},
		"reconciler": {`{"version":"0","id":"bench","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{}}`},
	}
	for _, fn := range fns {
		dir := filepath.Join(h.tmp, "lambda", fn)
		bootstrap, err := unzipBootstrap(filepath.Join(host, fn+".zip"), dir)
		if err != nil {
			return err
		}
		var inits, firsts, seconds, firstReports []float64
		for i := range h.mode.coldStarts {
			rl, bodies, err := h.coldStart(ctx, rie, bootstrap, env, events[fn], logPath(dir, i))
			if err != nil {
				return fmt.Errorf("%s cold start %d: %w", fn, i+1, err)
			}
			for k, b := range bodies {
				if bytes.Contains(b, []byte(`"errorMessage"`)) || bytes.Contains(b, []byte(`"errorType"`)) {
					return fmt.Errorf("%s invocation %d failed: %s", fn, k+1, b)
				}
			}
			if err := checkInvocation(fn, bodies); err != nil {
				return err
			}
			if rl.init < 0 || len(rl.invokes) < len(events[fn]) || len(rl.reports) < len(events[fn]) {
				return fmt.Errorf("%s: rie printed init %v, %d invocation(s) and %d REPORT line(s) for %d event(s); log %s",
					fn, rl.init, len(rl.invokes), len(rl.reports), len(events[fn]), logPath(dir, i))
			}
			inits = append(inits, rl.init)
			firsts = append(firsts, rl.invokes[0])
			firstReports = append(firstReports, rl.reports[0])
			if len(rl.invokes) > 1 {
				seconds = append(seconds, rl.invokes[1])
			}
		}
		n := len(inits)
		h.res.AddTarget(5, "lambda."+fn+".init", fmt.Sprintf("%s init duration (median of %d cold starts, %s)", fn, n, runtime.GOARCH), median(inits), "ms", targetInit)
		h.res.Add(5, "lambda."+fn+".first_invocation", fmt.Sprintf("%s first invocation (%s)", fn, firstWhat(fn)), median(firsts), "ms")
		h.res.Add(5, "lambda."+fn+".cold_report", fn+" cold start as rie's REPORT Duration (init + first invocation)", median(firstReports), "ms")
		if len(seconds) > 0 {
			h.res.Add(5, "lambda."+fn+".poison_invocation", fn+" second invocation (one poison record)", median(seconds), "ms")
		}
		h.res.Detail("lambda_"+fn, map[string]any{"init_ms": inits, "first_invocation_ms": firsts, "second_invocation_ms": seconds, "first_report_duration_ms": firstReports, "rie": rie})
	}
	return nil
}

// checkInvocation fails when a function's answer says it did not do what it was asked: the
// enforcer answers no batch item failures; the reconciler sweeps its 5 instances in us-east-1.
func checkInvocation(fn string, bodies [][]byte) error {
	switch fn {
	case "enforcer":
		for k, b := range bodies {
			var resp struct {
				Failures []any `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(b, &resp); err != nil || len(resp.Failures) > 0 {
				return fmt.Errorf("enforcer invocation %d answered %s", k+1, b)
			}
		}
	case "reconciler":
		var s struct {
			Instances  int      `json:"instances"`
			Unverified []string `json:"regions_unverified"`
			Unreached  []string `json:"regions_unreached"`
		}
		if err := json.Unmarshal(bodies[0], &s); err != nil || s.Instances != 5 || len(s.Unverified)+len(s.Unreached) > 0 {
			return fmt.Errorf("the reconciler's sweep answered %s; want 5 instances in us-east-1, verified", bodies[0])
		}
	}
	return nil
}

func logPath(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("rie-%d.log", i)) }

func firstWhat(fn string) string {
	if fn == "enforcer" {
		return "SQS event with zero records"
	}
	return "a scheduled sweep of us-east-1 on moto"
}

func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// packageZips builds the functions with scripts/package.sh into dist: for the script's default
// (arm64) when arch is "", else for arch, which must be the host's (the script also runs a
// helper with go run, which GOARCH would cross-compile).
func (h *harness) packageZips(ctx context.Context, dist, arch string, fns []string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(h.root, "scripts", "package.sh")}, fns...)...)
	cmd.Dir = h.root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOARCH=") && !strings.HasPrefix(kv, "DIST=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "DIST="+dist)
	if arch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+arch)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/package.sh %s (GOARCH=%s): %w\n%s", strings.Join(fns, " "), arch, err, out)
	}
	return nil
}

func unzipBootstrap(zipPath, dir string) (string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != "bootstrap" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		rc, err := f.Open()
		if err != nil {
			return "", err
		}
		defer rc.Close()
		out := filepath.Join(dir, "bootstrap")
		w, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(w, rc); err != nil {
			w.Close()
			return "", err
		}
		return out, w.Close()
	}
	return "", fmt.Errorf("%s holds no bootstrap", zipPath)
}

// rieLog is what the emulator's output says about one cold start. This rie runs init lazily
// inside the first invocation: its REPORT line's "Init Duration" is near zero and its first
// "Duration" includes init, so the figures come from the runtime's own lines, "INIT
// REPORT(durationMs: …)" and "INVOKE RTDONE(…, duration: …ms)".
type rieLog struct {
	// init is the runtime's init duration, -1 when not printed.
	init float64
	// invokes are the handler's durations, one per invocation.
	invokes []float64
	// reports are the REPORT lines' durations (the first includes init).
	reports []float64
}

var (
	reInitReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reRTDone     = regexp.MustCompile(`INVOKE RTDONE\(status: (\w+), [^)]*duration: ([0-9.]+)ms\)`)
	reReport     = regexp.MustCompile(`^REPORT .*\tDuration: ([0-9.]+) ms`)
)

func parseRIE(out string) rieLog {
	l := rieLog{init: -1}
	for _, line := range strings.Split(out, "\n") {
		if m := reInitReport.FindStringSubmatch(line); m != nil {
			l.init, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := reRTDone.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			l.invokes = append(l.invokes, v)
		}
		if m := reReport.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			l.reports = append(l.reports, v)
		}
	}
	return l
}

// coldStart starts a fresh emulator with the bootstrap, invokes it with each event in turn, stops
// it, and returns its REPORT lines and the invocation bodies; the log goes to logPath.
func (h *harness) coldStart(ctx context.Context, rie, bootstrap string, env, events []string, logPath string) (rieLog, [][]byte, error) {
	emu, err := lambdatest.Launch(ctx, rie, bootstrap, env)
	if err != nil {
		return rieLog{}, nil, err
	}
	var bodies [][]byte
	defer func() {
		emu.Stop()
		os.WriteFile(logPath, []byte(emu.Output()+"\n--- invocation bodies ---\n"+string(bytes.Join(bodies, []byte("\n")))+"\n"), 0o644)
	}()
	for _, ev := range events {
		b, err := emu.Post(ctx, []byte(ev))
		if err != nil {
			return rieLog{}, nil, err
		}
		bodies = append(bodies, b)
	}
	// rie prints REPORT after answering; give it a moment.
	for range 100 {
		if len(parseRIE(emu.Output()).reports) >= len(events) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return parseRIE(emu.Output()), bodies, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
