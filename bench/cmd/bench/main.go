// Command bench is awsaudit's benchmark harness, what `make bench` runs (scripts/bench.sh). It
// measures what issue 7 asks for and prints a table of the figures beside their targets:
//
//  1. sweep API efficiency: AWS calls by operation, report mode against the minimum, terminate
//     mode per violator and per protected instance;
//  2. sweep CPU and memory: the awsaudit binary's own CPU time and peak RSS sweeping moto_server
//     fleets, and 100,000 instances in 17 regions served by an in-process endpoint; a CPU profile
//     names what bounds it;
//  3. decision throughput: go test -bench of Decide, documents, the sweep loop and the SDK's
//     DescribeInstances decoding;
//  4. event path latency on moto: PutEvents to instance terminated and document written;
//  5. Lambda zip sizes, init and first invocation under aws-lambda-rie.
//
// It writes the figures as JSON to bench/results/<date>-<rev>.json. Timings never fail it; it
// exits non-zero only when the harness itself broke. -quick runs a subset; -smoke runs every
// path on tiny inputs in well under a minute, for CI. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/awsaudit/awsaudit/internal/mototest"
)

// mode sizes the measurements.
type mode struct {
	name string
	// moto sweeps: instances per region (canary included) in motoRegions.
	motoSizes   []int
	motoRegions []string
	// terminate world: instances and violators per region, protected violators.
	termInstances, termViolators, termProtected int
	// at scale: the main fleet, and the memory growth runs.
	scaleInstances int
	scaleRegions   int
	growth         bool
	// microbenchmarks' -benchtime.
	benchtime string
	// event path launches.
	launches int
	// Lambda cold starts.
	coldStarts int
}

var modes = map[string]mode{
	"full": {
		motoSizes: []int{300, 1000, 3000}, motoRegions: []string{"us-east-1", "us-west-2", "eu-west-1"},
		termInstances: 100, termViolators: 20, termProtected: 10,
		scaleInstances: 100000, scaleRegions: 17, growth: true,
		benchtime: "1s", launches: 60, coldStarts: 5,
	},
	"quick": {
		motoSizes: []int{300}, motoRegions: []string{"us-east-1", "us-west-2", "eu-west-1"},
		termInstances: 50, termViolators: 10, termProtected: 4,
		scaleInstances: 100000, scaleRegions: 17, growth: false,
		benchtime: "300ms", launches: 20, coldStarts: 3,
	},
	"smoke": {
		motoSizes: []int{20}, motoRegions: []string{"us-east-1", "eu-west-1"},
		termInstances: 8, termViolators: 3, termProtected: 2,
		scaleInstances: 1000, scaleRegions: 3, growth: true,
		benchtime: "3x", launches: 2, coldStarts: 1,
	},
}

type harness struct {
	mode mode
	root string
	tmp  string
	res  *Results
	log  io.Writer
	// bin holds the built binaries: awsaudit, rusage, sweepprof.
	bin  map[string]string
	moto *mototest.Server
}

func main() {
	smoke := flag.Bool("smoke", false, "run every path on tiny inputs (seconds), for CI; fails only if the harness breaks")
	quick := flag.Bool("quick", false, "run a quick subset: moto 300 per region, no memory growth runs, fewer launches")
	parts := flag.String("parts", "1,2,3,4,5", "which parts to run, comma separated")
	out := flag.String("out", "", "directory for the JSON result (default bench/results; a temporary directory with -smoke)")
	keep := flag.Bool("keep", false, "keep the work directory (logs, profiles, NDJSON) and print where it is")
	flag.Parse()

	name := "full"
	switch {
	case *smoke:
		name = "smoke"
	case *quick:
		name = "quick"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, name, *parts, *out, *keep)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, name, parts, outDir string, keep bool) int {
	start := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "awsaudit-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if keep {
		fmt.Fprintln(os.Stderr, "bench: work directory", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	h := &harness{mode: modes[name], root: root, tmp: tmp, log: os.Stderr, bin: map[string]string{}}
	h.res = &Results{Schema: 1, Date: start.UTC(), Mode: name, Details: map[string]any{}}
	h.res.GitRev, h.res.GitDirty = gitRev(ctx, root)
	h.res.Machine = machine(ctx)
	h.logf("mode %s, work directory %s", name, tmp)

	want := map[int]bool{}
	for _, p := range strings.Split(parts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 5 {
			fmt.Fprintf(os.Stderr, "bench: -parts: %q is not a part from 1 to 5\n", p)
			return 2
		}
		want[n] = true
	}

	if err := h.build(ctx); err != nil {
		h.res.Fail(err)
	} else {
		defer func() {
			if h.moto != nil {
				h.moto.Close()
			}
		}()
		steps := []struct {
			parts []int
			name  string
			fn    func(context.Context) error
		}{
			{[]int{3}, "microbenchmarks", h.micro},
			{[]int{1, 2}, "moto sweeps", h.motoSweeps},
			{[]int{1}, "terminate mode", h.terminateMode},
			{[]int{1, 2}, "at scale", h.atScale},
			{[]int{5}, "Lambda", h.lambda},
			{[]int{4}, "event path", h.eventPath},
		}
		for _, s := range steps {
			if !slices.ContainsFunc(s.parts, func(p int) bool { return want[p] }) {
				continue
			}
			if ctx.Err() != nil {
				break
			}
			t0 := time.Now()
			h.logf("== %s", s.name)
			if err := s.fn(ctx); err != nil {
				h.res.Fail(fmt.Errorf("%s: %w", s.name, err))
				h.logf("%s FAILED: %v", s.name, err)
			}
			h.logf("== %s done in %s", s.name, time.Since(t0).Round(time.Millisecond))
		}
	}
	h.res.DurationSeconds = round(time.Since(start).Seconds())
	h.res.Print(os.Stdout)
	if outDir == "" {
		outDir = filepath.Join(root, "bench", "results")
		if name == "smoke" {
			outDir = tmp
		}
	}
	if name == "smoke" && outDir == tmp && !keep {
		fmt.Printf("smoke run: result not kept (give -out DIR to keep it)\n")
	} else if path, err := h.res.Write(outDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing the result:", err)
		return 1
	} else {
		fmt.Printf("figures written to %s\n", path)
	}
	if ctx.Err() != nil {
		return 130
	}
	if len(h.res.Errors) > 0 {
		return 1
	}
	return 0
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root (run from inside the repository): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func gitRev(ctx context.Context, root string) (string, bool) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "norev", false
	}
	st, _ := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0
}

// build builds the binaries every part runs as children.
func (h *harness) build(ctx context.Context) error {
	for _, b := range []struct{ name, pkg, ldflags string }{
		{"awsaudit", "./cmd/awsaudit", "-s -w"}, // as `make build` builds it
		{"rusage", "./bench/cmd/rusage", "-s -w"},
		{"sweepprof", "./bench/cmd/sweepprof", ""},
	} {
		out := filepath.Join(h.tmp, "bin", b.name)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", b.ldflags, "-o", out, b.pkg)
		cmd.Dir = h.root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %w\n%s", b.pkg, err, msg)
		}
		h.bin[b.name] = out
	}
	return nil
}

// startMoto starts the harness's own moto_server once.
func (h *harness) startMoto(ctx context.Context) (*mototest.Server, error) {
	if h.moto != nil {
		return h.moto, nil
	}
	srv, err := mototest.StartProcess(ctx, filepath.Join(h.tmp, "moto.log"))
	if err != nil {
		return nil, err
	}
	h.moto = srv
	return srv, nil
}

// childEnv is the environment of a child that talks to AWS at endpoint: the harness's own,
// without any AWS or awsaudit setting, plus test credentials and the endpoint.
func (h *harness) childEnv(endpoint string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "AWSAUDIT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env,
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_ACCESS_KEY_ID="+mototest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+mototest.SecretAccessKey,
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(h.tmp, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(h.tmp, "no-aws-credentials"),
	), extra...)
}
