package main

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/awsaudit/awsaudit/bench/endpoint"
	"github.com/awsaudit/awsaudit/bench/fleet"
)

// scaleFleet is one rendered fleet and the sweeps of it.
type scaleFleet struct {
	instances, violators int
	runs                 []scaleRun
}

// scaleRun is one sweep of the at-scale endpoint.
type scaleRun struct {
	label string
	// given passes the regions with -r; otherwise the sweep discovers them.
	given   bool
	profile bool
}

// atScale sweeps fleets served by the in-process endpoint with the awsaudit binary as a child:
// 100,000 instances in 17 regions with 1% violators (CPU per instance, peak RSS, calls against
// the minimum with regions discovered and given, and a CPU profile), and the memory growth runs:
// 0.1% and 5% violators at the same size, and a quarter, half and twice the instances with the
// same violators. Each fleet is rendered once and dropped before the next.
func (h *harness) atScale(ctx context.Context) error {
	n := h.mode.scaleInstances
	regions := fleet.Regions17[:h.mode.scaleRegions]
	oneIn100 := n / 100
	fleets := []scaleFleet{{n, oneIn100, []scaleRun{{label: "main"}, {label: "given", given: true}, {label: "profile", profile: true}}}}
	if h.mode.growth {
		fleets = append(fleets,
			scaleFleet{n, max(1, n/1000), []scaleRun{{label: "low"}}},
			scaleFleet{n, n / 20, []scaleRun{{label: "high"}}},
			scaleFleet{n / 4, oneIn100, []scaleRun{{label: "quarter"}}},
			scaleFleet{n / 2, oneIn100, []scaleRun{{label: "half"}}},
			scaleFleet{2 * n, oneIn100, []scaleRun{{label: "double"}}},
		)
	}
	size := fmt.Sprintf("%s in %d regions", count(n), len(regions))
	rss := map[string]*sweepRun{}
	for _, fl := range fleets {
		f := fleet.Spread(regions, fl.instances, fl.violators, time.Now().UTC())
		t0 := time.Now()
		srv, err := endpoint.Start(f)
		if err != nil {
			return err
		}
		perInstance := float64(srv.RenderedBytes()) / float64(f.Instances())
		h.logf("endpoint: rendered %s instances (%d violators, %.0f bytes each) in %s", count(f.Instances()), f.Violators(), perInstance, time.Since(t0).Round(time.Millisecond))
		for _, r := range fl.runs {
			srv.ResetCalls()
			args := []string{"sweep", "-t", fleet.Scheme, "-g", "30"}
			if r.given {
				args = append(args, "-r", strings.Join(f.RegionNames(), ","))
			}
			label := fmt.Sprintf("scale-%s-%d-%d", r.label, f.Instances(), f.Violators())
			run, err := h.sweep(ctx, label, srv.URL, r.profile, args...)
			if err != nil {
				srv.Close()
				return err
			}
			if err := checkSweep(&run.report, f.Instances(), f.Violators(), len(regions)); err != nil {
				srv.Close()
				return fmt.Errorf("%s: %w", label, err)
			}
			served := srv.Calls()
			if c := run.report.calls(); !maps.Equal(c, served) {
				h.res.Fail(fmt.Errorf("%s: the sweep counted %v, the endpoint answered %v", label, c, served))
			}
			pages := 0
			for _, reg := range f.Regions {
				pages += (reg.Instances + endpoint.MaxPage - 1) / endpoint.MaxPage
			}
			minimum := pages + 2
			if !r.given {
				minimum++ // DescribeRegions
			}
			ratio := float64(run.report.total()) / float64(minimum)
			// Attempts beyond one per page are retries: the SDK counts each attempt.
			retries := run.report.calls()["EC2.DescribeInstances"] - pages
			cpuPer := run.cpuMS() / float64(f.Instances())
			h.logf("%s: cpu %.0f ms (%.4f ms/instance), rss %.1f MB, wall %.1f s, calls %d (minimum %d), %.1f MB served",
				label, run.cpuMS(), cpuPer, run.rssMB(), run.wallS(), run.report.total(), minimum, float64(srv.BytesServed())/1e6)
			h.res.Detail("scale_"+r.label, map[string]any{
				"instances": f.Instances(), "violators": f.Violators(), "regions": f.RegionNames(), "regions_given": r.given,
				"rendered_bytes_per_instance": round(perInstance), "bytes_served": srv.BytesServed(),
				"cpu_ms": run.cpuMS(), "user_ms": run.UserMS, "sys_ms": run.SysMS, "maxrss_kb": run.MaxRSSKB, "wall_ms": run.WallMS,
				"api_calls": run.report.calls(), "api_calls_total": run.report.total(), "minimum_calls": minimum, "pages": pages,
				"describe_instances_retries": retries, "heap": run.heap,
			})
			rss[r.label] = run
			switch r.label {
			case "main":
				h.res.AddTarget(2, "scale.cpu_per_instance", "sweep CPU per listed instance, "+size+" (endpoint)", cpuPer, "ms", targetCPUPerInst)
				h.res.Add(2, "scale.cpu", "sweep CPU (user+sys), "+size, run.cpuMS(), "ms")
				h.res.AddTarget(2, "scale.rss", "sweep peak RSS, "+size+", 1% violators", run.rssMB(), "MB", targetRSS100k)
				h.res.Add(2, "scale.wall", "sweep wall time, "+size+" (endpoint, no AWS latency)", run.wallS(), "s")
				h.res.Add(2, "scale.xml_bytes_per_instance", "DescribeInstances XML per instance (as EC2 indents it)", perInstance, "bytes")
				h.res.AddTarget(1, "scale.report_calls_ratio.discovered", "report-mode calls / minimum, "+size+", regions discovered", ratio, "ratio", targetRatio)
				h.res.Note("scale.report_calls_ratio.discovered", fmt.Sprintf("%d calls, minimum %d (%d pages + STS + IAM + DescribeRegions); %s", run.report.total(), minimum, pages, formatCalls(run.report.calls())))
				h.res.Add(1, "scale.describe_instances_retries", "DescribeInstances attempts beyond one per page (retries), "+size, float64(retries), "calls")
			case "given":
				h.res.AddTarget(1, "scale.report_calls_ratio.given", "report-mode calls / minimum, "+size+", regions given", ratio, "ratio", targetRatio)
				h.res.Note("scale.report_calls_ratio.given", fmt.Sprintf("%d calls, minimum %d (%d pages + STS + IAM); %s", run.report.total(), minimum, pages, formatCalls(run.report.calls())))
			case "profile":
				if err := h.profile(ctx, run, f.Instances()); err != nil {
					h.res.Fail(fmt.Errorf("profile: %w", err))
				}
			}
		}
		srv.Close()
		runtime.GC()
		debug.FreeOSMemory()
	}
	if h.mode.growth {
		low, high := rss["low"], rss["high"]
		vLow, vHigh := max(1, n/1000), n/20
		h.res.Add(2, "growth.rss_0.1pct", fmt.Sprintf("peak RSS, %s, 0.1%% violators (%s)", size, count(vLow)), low.rssMB(), "MB")
		h.res.Add(2, "growth.rss_5pct", fmt.Sprintf("peak RSS, %s, 5%% violators (%s)", size, count(vHigh)), high.rssMB(), "MB")
		for _, g := range []struct {
			label string
			n     int
		}{{"quarter", n / 4}, {"half", n / 2}, {"double", 2 * n}} {
			h.res.Add(2, "growth.rss_"+g.label, fmt.Sprintf("peak RSS, %s instances, %s violators", count(g.n), count(oneIn100)), rss[g.label].rssMB(), "MB")
		}
		perViolator := float64(high.MaxRSSKB-low.MaxRSSKB) / float64(vHigh-vLow)
		// From half to double the fleet: at a quarter the smaller regions never fill a page, and
		// peak memory follows the pages in flight (a few regions at once), not the instances.
		perCompliant := float64(rss["double"].MaxRSSKB-rss["half"].MaxRSSKB) / float64(2*n-n/2)
		h.res.Add(2, "growth.kb_per_violator", "peak RSS growth per violator (0.1% → 5%)", perViolator, "KB")
		h.res.AddTarget(2, "growth.kb_per_compliant", fmt.Sprintf("peak RSS growth per compliant instance (%s → %s, same violators)", count(n/2), count(2*n)), perCompliant, "KB", targetPerCompliant)
		h.res.Note("growth.kb_per_compliant", "memory may grow with violators, not with compliant instances; keeping an instance would cost well over 0.1 KB, so below it none is kept and the rest is noise")
	}
	return nil
}

func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// profileShares are the functions whose cumulative share of the sweep's CPU the harness reports.
var profileShares = []struct{ key, label, fn string }{
	{"ec2xml", "DescribeInstances answers read and decoded (ec2xml's deserializer)", "ec2xml.(*deserializer).HandleDeserialize"},
	{"ec2xml_decode", "  of which ec2xml.Decode", "ec2xml.Decode"},
	{"network", "  of which network reads", "net.(*conn).Read"},
	{"sdk_decode", "SDK DescribeInstances XML decoding (answers ec2xml leaves to it)", "ec2.(*awsEc2query_deserializeOpDescribeInstances).HandleDeserialize"},
	{"encoding_xml", "  of which encoding/xml tokenizing", "encoding/xml.(*Decoder).Token"},
	{"ring_buffer", "  of which smithy's copy of the response body", "smithy-go/io.(*RingBuffer).Write"},
	{"malloc", "  allocation (mallocgc, everywhere)", "runtime.mallocgc"},
	{"gc", "garbage collection (background marking)", "runtime.gcBgMarkWorker"},
	{"from_ec2", "enforcer.FromEC2", "enforcer.FromEC2"},
	{"decide", "enforcer.Decide", "enforcer.Decide"},
	{"documents", "documents (encode and write)", "reconciler.(*Sweeper).documents"},
	{"report", "CLI JSON report", "cli.printReport"},
}

// profile names what bounds a sweep: the top entries of its CPU profile, and the share of a few
// functions, cumulative.
func (h *harness) profile(ctx context.Context, run *sweepRun, instances int) error {
	prof := filepath.Join(run.dir, "cpu.prof")
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20", h.bin["sweepprof"], prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof -top: %w\n%s", err, top)
	}
	cum, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodefraction=0", "-nodecount=100000", h.bin["sweepprof"], prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof -top -cum: %w\n%s", err, cum)
	}
	lines := strings.Split(strings.TrimSpace(string(top)), "\n")
	h.res.Detail("profile_top", lines)
	shares := map[string]float64{}
	for _, s := range profileShares {
		pct := cumShare(string(cum), s.fn)
		shares[s.key] = pct
		h.res.Add(2, "profile."+s.key, "CPU share: "+s.label, pct, "%")
	}
	h.res.Detail("profile_shares_percent", shares)
	h.res.Add(2, "profile.cpu_per_instance", "sweep CPU per listed instance, profiled run", run.cpuMS()/float64(instances), "ms")
	h.logf("profile top entries:\n%s", strings.Join(lines, "\n"))
	return nil
}

var pprofRow = regexp.MustCompile(`^\s*\S+\s+\S+%\s+\S+%\s+\S+\s+(\S+)%\s+(.+)$`)

// cumShare returns the cumulative percent pprof -top -cum gives the first function whose name
// contains fn, or 0.
func cumShare(out, fn string) float64 {
	for _, line := range strings.Split(out, "\n") {
		m := pprofRow.FindStringSubmatch(line)
		if m != nil && strings.Contains(m[2], fn) {
			v, _ := strconv.ParseFloat(m[1], 64)
			return v
		}
	}
	return 0
}
