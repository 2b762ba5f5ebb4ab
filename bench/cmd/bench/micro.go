package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// benchResult is one line of go test -bench output.
type benchResult struct {
	Name       string             `json:"name"`
	Iterations int                `json:"iterations"`
	Metrics    map[string]float64 `json:"metrics"` // by unit: ns/op, B/op, allocs/op, custom
}

// microPackages are the go test benchmarks of part 3 (and the decoding figures of part 2).
var microPackages = []struct{ pkg, bench string }{
	{"./enforcer", "^Benchmark(Decide|FromEC2)$"},
	{"./internal/document", "^BenchmarkDocument$"},
	{"./reconciler", "^BenchmarkSweepReport$"},
	{"./bench/endpoint", "^Benchmark(SDK|Fast)DescribeInstancesPage$"},
}

// microFigures picks the figures from the benchmarks: name, metric, key, label, unit, scale.
var microFigures = []struct {
	bench, metric, key, label, unit string
	part                            int
	scale                           float64
}{
	{"BenchmarkDecide/compliant", "ns/op", "decide.compliant", "Decide, compliant instance (8 tags, 3 required keys)", "ns", 3, 1},
	{"BenchmarkDecide/violator", "ns/op", "decide.violator", "Decide, violator", "ns", 3, 1},
	{"BenchmarkDecide/violator", "allocs/op", "decide.violator.allocs", "Decide, violator: allocations", "allocs", 3, 1},
	{"BenchmarkDecide/iam/compliant", "ns/op", "decide.iam_compliant", "Decide with IAM facts, value list and pattern, compliant", "ns", 3, 1},
	{"BenchmarkDecide/iam/violator", "ns/op", "decide.iam_violator", "Decide with IAM facts, value list and pattern, violator", "ns", 3, 1},
	{"BenchmarkFromEC2", "ns/op", "from_ec2", "FromEC2 (SDK instance to enforcer.Instance)", "ns", 3, 1},
	{"BenchmarkDocument/new-violator", "ns/op", "document.new_violator", "document.New of a violator", "ns", 3, 1},
	{"BenchmarkDocument/new-violator", "B/op", "document.new_violator.bytes", "document.New of a violator: bytes allocated", "B", 3, 1},
	{"BenchmarkDocument/append-bulk", "ns/op", "document.append_bulk", "AppendBulk of a violator document", "ns", 3, 1},
	{"BenchmarkDocument/append-bulk", "allocs/op", "document.append_bulk.allocs", "AppendBulk: allocations", "allocs", 3, 1},
	{"BenchmarkDocument/new-rollup-1000", "ns/op", "document.new_rollup_1000", "document.New of a rollup with 1,000 violators", "µs", 3, 1e-3},
	{"BenchmarkDocument/new-rollup-1000", "body-bytes", "document.rollup_1000.bytes", "rollup with 1,000 violators: size", "KB", 3, 1.0 / 1024},
	{"BenchmarkSweepReport", "ns/instance", "sweep_loop.per_instance", "Sweeper.Run per instance, pages already decoded (10k, 1%)", "ns", 3, 1},
	{"BenchmarkSweepReport", "B/op", "sweep_loop.bytes", "Sweeper.Run of 10k instances: bytes allocated", "MB", 3, 1.0 / (1 << 20)},
	{"BenchmarkSDKDescribeInstancesPage/in-memory", "ns/instance", "sdk_decode.per_instance", "SDK DescribeInstances decoding alone, per instance (EC2-indented page)", "ms", 2, 1e-6},
	{"BenchmarkSDKDescribeInstancesPage/in-memory", "allocs/op", "sdk_decode.allocs_per_instance", "SDK decoding: allocations per instance", "allocs", 2, 1e-3},
	{"BenchmarkSDKDescribeInstancesPage/in-memory-compact", "ns/instance", "sdk_decode.compact_per_instance", "SDK decoding alone, same page without indentation (moto-like)", "ms", 2, 1e-6},
	{"BenchmarkSDKDescribeInstancesPage/http", "ns/instance", "sdk_decode.http_per_instance", "SDK DescribeInstances over loopback HTTP, per instance", "ms", 2, 1e-6},
	{"BenchmarkFastDescribeInstancesPage/in-memory", "ns/instance", "fast_decode.per_instance", "awsaudit's DescribeInstances decoding (ec2xml) alone, per instance (EC2-indented page)", "ms", 2, 1e-6},
	{"BenchmarkFastDescribeInstancesPage/in-memory", "allocs/op", "fast_decode.allocs_per_instance", "ec2xml decoding: allocations per instance", "allocs", 2, 1e-3},
	{"BenchmarkFastDescribeInstancesPage/in-memory-compact", "ns/instance", "fast_decode.compact_per_instance", "ec2xml decoding alone, same page without indentation (moto-like)", "ms", 2, 1e-6},
	{"BenchmarkFastDescribeInstancesPage/http", "ns/instance", "fast_decode.http_per_instance", "ec2xml DescribeInstances over loopback HTTP, per instance", "ms", 2, 1e-6},
}

// micro runs the go test benchmarks.
func (h *harness) micro(ctx context.Context) error {
	all := map[string]benchResult{}
	var failed []string
	for _, p := range microPackages {
		args := []string{"test", "-run", "^$", "-bench", p.bench, "-benchmem", "-benchtime", h.mode.benchtime, "-count", "1", "-cpu", strconv.Itoa(runtime.NumCPU()), p.pkg}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = h.root
		out, err := cmd.CombinedOutput()
		os.WriteFile(filepath.Join(h.tmp, "bench-"+strings.ReplaceAll(strings.Trim(p.pkg, "./"), "/", "-")+".txt"), out, 0o644)
		if err != nil {
			failed = append(failed, fmt.Sprintf("go %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 20)))
			continue
		}
		for _, r := range parseBench(out) {
			all[r.Name] = r
		}
	}
	var results []benchResult
	for _, f := range microFigures {
		r, ok := all[f.bench]
		if !ok {
			continue
		}
		if v, ok := r.Metrics[f.metric]; ok {
			h.res.Add(f.part, "micro."+f.key, f.label, v*f.scale, f.unit)
		}
	}
	for _, r := range all {
		results = append(results, r)
	}
	h.res.Detail("go_test_bench", results)
	if r, ok := all["BenchmarkDecide/compliant"]; ok {
		h.res.Add(3, "micro.decide.per_second", "decisions per second per core (compliant)", 1e9/r.Metrics["ns/op"], "/s")
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "\n"))
	}
	return nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+(.+)$`)
var benchMetric = regexp.MustCompile(`([-+0-9.eE]+)\s+(\S+)`)

func parseBench(out []byte) []benchResult {
	var rs []benchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		// go test names a benchmark with a -GOMAXPROCS suffix when GOMAXPROCS is not 1.
		name := m[1]
		if procs := runtime.NumCPU(); procs > 1 {
			name = strings.TrimSuffix(name, "-"+strconv.Itoa(procs))
		}
		r := benchResult{Name: name, Metrics: map[string]float64{}}
		r.Iterations, _ = strconv.Atoi(m[2])
		for _, mm := range benchMetric.FindAllStringSubmatch(m[3], -1) {
			v, err := strconv.ParseFloat(mm[1], 64)
			if err == nil {
				r.Metrics[mm[2]] = v
			}
		}
		rs = append(rs, r)
	}
	return rs
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
