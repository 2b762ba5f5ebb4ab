package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/bench/seed"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// Issue 7's targets.
var (
	targetRatio        = Target{"=", 1}
	targetCPUPerInst   = Target{"<=", 0.15} // ms: 6× below a Python engine's 0.9 ms
	targetRSS100k      = Target{"<", 150}   // MB at 100,000 instances, 1% violators
	targetEventP99     = Target{"<", 1000}  // ms
	targetInit         = Target{"<", 50}    // ms
	targetZip          = Target{"<", 10}    // MB
	targetPerCompliant = Target{"<", 0.1}   // KB of RSS per compliant instance: none kept
)

// motoSweeps sweeps moto_server fleets of each size in three regions with the awsaudit binary
// (part 2: its CPU and peak RSS; part 1: its calls against the minimum).
func (h *harness) motoSweeps(ctx context.Context) error {
	srv, err := h.startMoto(ctx)
	if err != nil {
		return err
	}
	regions := h.mode.motoRegions
	// The baseline: the same sweep of the canaries alone, what a sweep costs before it lists
	// anything (process start, configuration, account, the report).
	if err := srv.ResetContext(ctx); err != nil {
		return err
	}
	if _, err := seed.Seed(ctx, mototest.Config(srv.URL, regions[0]), fleet.Even(regions, 1, 0, time.Now()), seed.Options{}); err != nil {
		return err
	}
	base, err := h.sweep(ctx, "moto-baseline", srv.URL, false, "sweep", "-r", strings.Join(regions, ","), "-t", fleet.Scheme, "-g", "0")
	if err != nil {
		return err
	}
	h.res.Add(2, "moto.baseline.cpu", fmt.Sprintf("sweep CPU with nothing to list but the canaries, moto 1×%d", len(regions)), base.cpuMS(), "ms")
	h.res.Add(2, "moto.baseline.rss", fmt.Sprintf("sweep peak RSS with nothing to list but the canaries, moto 1×%d", len(regions)), base.rssMB(), "MB")
	var rows []map[string]any
	for _, n := range h.mode.motoSizes {
		if err := srv.ResetContext(ctx); err != nil {
			return err
		}
		total := n * len(regions)
		violators := max(len(regions), total/100)
		f := fleet.Even(regions, n, violators, time.Now())
		t0 := time.Now()
		seeded, err := seed.Seed(ctx, mototest.Config(srv.URL, regions[0]), f, seed.Options{})
		if err != nil {
			return err
		}
		h.logf("moto: seeded %d×%d instances in %s", n, len(regions), time.Since(t0).Round(time.Millisecond))
		label := fmt.Sprintf("moto-%d", n)
		run, err := h.sweep(ctx, label, srv.URL, false, "sweep", "-r", strings.Join(regions, ","), "-t", fleet.Scheme, "-g", "0")
		if err != nil {
			return err
		}
		if err := checkSweep(&run.report, total, violators, len(regions)); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		// moto's MaxResults counts reservations: the listing's minimum is one page per 1,000
		// reservations per region. Regions are given, so discovery is not in the minimum.
		pages := 0
		for _, r := range seeded {
			pages += max(1, (r.Reservations+999)/1000)
		}
		minimum := pages + 2
		calls := run.report.calls()
		ratio := float64(run.report.total()) / float64(minimum)
		key := fmt.Sprintf("moto.%dx%d", n, len(regions))
		where := fmt.Sprintf("moto %d×%d", n, len(regions))
		h.res.AddTarget(2, key+".cpu_per_instance", "sweep CPU per listed instance, "+where, run.cpuMS()/float64(total), "ms", targetCPUPerInst)
		h.res.Add(2, key+".cpu_per_instance_marginal", "  less the baseline: CPU per listed instance, "+where, (run.cpuMS()-base.cpuMS())/float64(total-len(regions)), "ms")
		h.res.Add(2, key+".cpu", "sweep CPU (user+sys), "+where, run.cpuMS(), "ms")
		h.res.Add(2, key+".rss", "sweep peak RSS, "+where, run.rssMB(), "MB")
		h.res.Add(2, key+".wall", "sweep wall time (moto listing), "+where, run.wallS(), "s")
		h.logf("%s: cpu %.0f ms (%.3f ms/instance), rss %.1f MB, wall %.1f s, calls %d (minimum %d) %v",
			where, run.cpuMS(), run.cpuMS()/float64(total), run.rssMB(), run.wallS(), run.report.total(), minimum, calls)
		if n == slices.Max(h.mode.motoSizes) {
			h.res.AddTarget(1, key+".report_calls_ratio", "report-mode calls / minimum, "+where+", regions given", ratio, "ratio", targetRatio)
			h.res.Note(key+".report_calls_ratio", fmt.Sprintf("%d calls, minimum %d (%d listing pages + STS + IAM); %s", run.report.total(), minimum, pages, formatCalls(calls)))
		}
		rows = append(rows, map[string]any{
			"instances_per_region": n, "regions": regions, "instances": total, "violators": violators,
			"reservations": reservations(seeded), "seed_seconds": round(time.Since(t0).Seconds() - run.wallS()),
			"cpu_ms": run.cpuMS(), "user_ms": run.UserMS, "sys_ms": run.SysMS, "maxrss_kb": run.MaxRSSKB, "wall_ms": run.WallMS,
			"api_calls": calls, "api_calls_total": run.report.total(), "minimum_calls": minimum,
		})
	}
	h.res.Detail("moto_sweeps", rows)
	h.res.Detail("moto_baseline", map[string]any{"regions": regions, "cpu_ms": base.cpuMS(), "maxrss_kb": base.MaxRSSKB, "wall_ms": base.WallMS})
	return nil
}

// checkSweep fails when a sweep did not see the fleet it swept: the figures would be of
// something else.
func checkSweep(r *sweepReport, instances, violators, regions int) error {
	ro := &r.Rollup
	switch {
	case ro.InstanceCount != instances:
		return fmt.Errorf("the sweep listed %d instances, the fleet has %d", ro.InstanceCount, instances)
	case ro.ViolatorCount != violators:
		return fmt.Errorf("the sweep found %d violators, the fleet has %d", ro.ViolatorCount, violators)
	case len(ro.RegionsVerified) != regions || len(ro.RegionsUnverified)+len(ro.RegionsUnreached) > 0:
		return fmt.Errorf("regions verified %v, unverified %v, unreached %v; want %d verified", ro.RegionsVerified, ro.RegionsUnverified, ro.RegionsUnreached, regions)
	}
	return nil
}

func reservations(rs []seed.Region) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.Name] = r.Reservations
	}
	return out
}

func formatCalls(calls map[string]int) string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(calls)) {
		s = append(s, fmt.Sprintf("%s %d", k, calls[k]))
	}
	return strings.Join(s, ", ")
}

// terminateMode measures the calls terminate mode makes per violator and per protected
// violator: the same world twice (one region each), once without protection and once with some
// violators termination- or stop-protected; each swept in report mode, then terminate mode.
func (h *harness) terminateMode(ctx context.Context) error {
	srv, err := h.startMoto(ctx)
	if err != nil {
		return err
	}
	if err := srv.ResetContext(ctx); err != nil {
		return err
	}
	const plain, guarded = "us-east-1", "us-west-2"
	n, v, m := h.mode.termInstances, h.mode.termViolators, h.mode.termProtected
	f := fleet.Fleet{Base: time.Now(), Regions: []fleet.Region{{Name: plain, Instances: n, Violators: v}, {Name: guarded, Instances: n, Violators: v}}}
	// One reservation per violator, so each can be protected on its own.
	seeded, err := seed.Seed(ctx, mototest.Config(srv.URL, plain), f, seed.Options{ViolatorBatch: 1})
	if err != nil {
		return err
	}
	client := ec2.NewFromConfig(mototest.Config(srv.URL, guarded))
	for i, id := range seeded[1].Violators[:m] {
		if err := seed.Protect(ctx, client, id, i%2 == 0, i%2 == 1); err != nil {
			return err
		}
	}
	sweep := func(region, action string) (*sweepRun, error) {
		r, err := h.sweep(ctx, "terminate-"+region+"-"+action, srv.URL, false, "sweep", "-r", region, "-t", fleet.Scheme, "-g", "0", "--action", action)
		if err != nil {
			return nil, err
		}
		if err := checkSweep(&r.report, n, v, 1); err != nil {
			return nil, fmt.Errorf("%s %s: %w", action, region, err)
		}
		if got := r.report.Rollup.Outcomes["terminated"]; action == "terminate" && got != v {
			return nil, fmt.Errorf("terminate %s: %d terminated, want %d (outcomes %v)", region, got, v, r.report.Rollup.Outcomes)
		}
		return r, nil
	}
	var runs [4]*sweepRun
	for i, s := range []struct{ region, action string }{{plain, "report"}, {plain, "terminate"}, {guarded, "report"}, {guarded, "terminate"}} {
		if runs[i], err = sweep(s.region, s.action); err != nil {
			return err
		}
	}
	perViolator := diff(runs[1].report.calls(), runs[0].report.calls())
	perProtected := diff(diff(runs[3].report.calls(), runs[2].report.calls()), perViolator)
	pv := float64(runs[1].report.total()-runs[0].report.total()) / float64(v)
	pp := float64((runs[3].report.total()-runs[2].report.total())-(runs[1].report.total()-runs[0].report.total())) / float64(m)
	h.res.Add(1, "terminate.calls_per_violator", "terminate mode: API calls per violator", pv, "calls")
	h.res.Note("terminate.calls_per_violator", fmt.Sprintf("%d violators of %d instances: %s", v, n, formatCalls(perViolator)))
	h.res.Add(1, "terminate.calls_per_protected", "terminate mode: extra API calls per protected violator", pp, "calls")
	h.res.Note("terminate.calls_per_protected", fmt.Sprintf("%d of %d violators protected (half termination, half stop): %s", m, v, formatCalls(perProtected)))
	h.logf("terminate: %.2f calls per violator (%s); %.2f more per protected one (%s)", pv, formatCalls(perViolator), pp, formatCalls(perProtected))
	h.res.Detail("terminate_mode", map[string]any{
		"instances_per_region": n, "violators": v, "protected": m,
		"report_calls": runs[0].report.calls(), "terminate_calls": runs[1].report.calls(),
		"report_calls_protected": runs[2].report.calls(), "terminate_calls_protected": runs[3].report.calls(),
		"extra_calls_for_violators": perViolator, "extra_calls_for_protection": perProtected,
	})
	return nil
}

// diff returns a − b by key, leaving out zeros.
func diff(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range a {
		if d := n - b[k]; d != 0 {
			out[k] = d
		}
	}
	for k, n := range b {
		if _, ok := a[k]; !ok && n != 0 {
			out[k] = -n
		}
	}
	return out
}
