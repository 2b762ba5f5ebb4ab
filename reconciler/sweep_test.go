package reconciler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
	"github.com/awsaudit/awsaudit/internal/testworld"
	"github.com/awsaudit/awsaudit/reconciler"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// env is one test's moto world, reached through a fault-injecting proxy.
type env struct {
	t       *testing.T
	srv     *mototest.Server
	proxy   *faultproxy.Proxy
	world   *testworld.World
	counter *awsapi.Counter
}

// direct is the SDK config straight to moto (for building and inspecting the world).
func (e *env) direct(region string) aws.Config { return e.srv.AWSConfig(e.t, region) }

// viaProxy is the SDK config the sweep uses, through the proxy, counting calls.
func (e *env) viaProxy(region string) aws.Config {
	cfg := mototest.Config(e.proxy.URL, region)
	e.counter.Attach(&cfg)
	return cfg
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := mototest.Shared(t)
	srv.Reset(t)
	e := &env{t: t, srv: srv, proxy: faultproxy.Start(t, srv.URL), counter: awsapi.NewCounter()}
	e.world = testworld.Build(t, e.direct)
	e.proxy.ResetCalls()
	return e
}

// policy is the standard policy: the original's three keys, grace 10 minutes.
func policy(t *testing.T, action enforcer.Action, mutate ...func(*enforcer.Policy)) *enforcer.Policy {
	t.Helper()
	p := enforcer.New(strings.Split(testworld.Scheme, ",")...)
	p.Grace = testworld.GraceMins * time.Minute
	p.Action = action
	p.Regions = testworld.All
	for _, m := range mutate {
		m(p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	rep       *reconciler.Report
	docs      []document.Document
	violators map[string]map[string]any // by instance id
	rollup    map[string]any
}

func (e *env) sweeper(p *enforcer.Policy, buf *bytes.Buffer) *reconciler.Sweeper {
	// EC2 clients are built as the binaries build them: awsapi.Clients, DescribeInstances decoded
	// by ec2xml.
	home := e.viaProxy(testworld.Home)
	sw := &reconciler.Sweeper{
		Policy:     p,
		EC2:        func(region string) reconciler.RegionAPI { return awsapi.NewClients(e.viaProxy(region)).EC2(region) },
		HomeRegion: testworld.Home,
		Account:    &enforcer.AccountCache{STS: sts.NewFromConfig(home), IAM: iam.NewFromConfig(home), Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		IAM:        iam.NewFromConfig(home),
		Sink:       document.NewNDJSON(buf),
		Indices:    document.DefaultIndices(),
		Now:        func() time.Time { return e.world.Now },
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return sw
}

func (e *env) sweep(p *enforcer.Policy, mutate ...func(*reconciler.Sweeper)) *result {
	e.t.Helper()
	var buf bytes.Buffer
	sw := e.sweeper(p, &buf)
	for _, m := range mutate {
		m(sw)
	}
	rep, err := sw.Run(context.Background())
	if err != nil {
		e.t.Fatalf("sweep: %v", err)
	}
	docs, err := document.ReadBulk(&buf)
	if err != nil {
		e.t.Fatalf("reading the NDJSON documents: %v", err)
	}
	r := &result{rep: rep, docs: docs, violators: map[string]map[string]any{}}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			e.t.Fatal(err)
		}
		switch d.Index {
		case document.DefaultViolatorIndex:
			if d.ID != document.ViolatorID(rep.RunID, m["id"].(string)) || d.Op != document.OpIndex {
				e.t.Errorf("violator document id %q op %q", d.ID, d.Op)
			}
			r.violators[m["id"].(string)] = m
		case document.DefaultAuditIndex:
			if r.rollup != nil {
				e.t.Error("two rollups")
			}
			r.rollup = m
		default:
			e.t.Errorf("document in index %q", d.Index)
		}
	}
	if r.rollup == nil {
		e.t.Fatal("no rollup document")
	}
	return r
}

// state returns an instance's state now.
func (e *env) state(region, name string) string {
	return mototest.State(e.t, e.direct(region), e.world.ID(region, name))
}

// outcome returns the outcome in the violator document of an instance, or "" when it has none.
func (r *result) outcome(w *testworld.World, region, name string) string {
	d, ok := r.violators[w.ID(region, name)]
	if !ok {
		return ""
	}
	return d["outcome"].(string)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// initial states of the world, as built.
func initialState(in testworld.Instance) string {
	if in.Name == "stopped" {
		return "stopped"
	}
	return "running"
}

// expect asserts every instance of the world: its state in EC2 now and the outcome of its
// violator document ("" for none), as want says.
func (e *env) expect(r *result, want func(in testworld.Instance) (state, outcome string)) {
	e.t.Helper()
	for _, in := range e.world.Instances {
		state, outcome := want(in)
		if got := e.state(in.Region, in.Name); got != state {
			e.t.Errorf("%s/%s (%s) is %s, want %s", in.Region, in.Name, in.Verdict, got, state)
		}
		if got := r.outcome(e.world, in.Region, in.Name); got != outcome {
			e.t.Errorf("%s/%s (%s) outcome %q, want %q", in.Region, in.Name, in.Verdict, got, outcome)
		}
	}
}

// protection returns an instance's protection flag as EC2 has it now.
func (e *env) protection(region, name string, attr types.InstanceAttributeName) bool {
	e.t.Helper()
	out, err := ec2.NewFromConfig(e.direct(region)).DescribeInstanceAttribute(context.Background(), &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(e.world.ID(region, name)), Attribute: attr})
	if err != nil {
		e.t.Fatalf("reading %s of %s/%s: %v", attr, region, name, err)
	}
	switch attr {
	case types.InstanceAttributeNameDisableApiTermination:
		return aws.ToBool(out.DisableApiTermination.Value)
	default:
		return aws.ToBool(out.DisableApiStop.Value)
	}
}

// flags returns the protection flags a violator document recorded, as "termination/stop".
func flags(d map[string]any) string {
	return fmt.Sprintf("%v/%v", d["disable_api_termination"], d["disable_api_stop"])
}

func TestSweepReportChangesNothingAndReportsEverything(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionReport))

	for _, in := range e.world.Instances {
		if got := e.state(in.Region, in.Name); got != initialState(in) {
			t.Errorf("%s/%s is %s after a report sweep", in.Region, in.Name, got)
		}
		_, documented := r.violators[in.ID]
		if want := in.Verdict == "violator" || in.Verdict == "managed"; documented != want {
			t.Errorf("%s/%s (%s): violator document %v, want %v", in.Region, in.Name, in.Verdict, documented, want)
		}
	}
	for id, d := range r.violators {
		if d["outcome"] != "reported" {
			t.Errorf("%s outcome %v, want reported", id, d["outcome"])
		}
	}
	// The documents say exactly what is wrong.
	v := r.violators[e.world.ID(testworld.Home, "violator")]
	if strings.Join(strs(v["missing_tags"]), ",") != "project" || v["verdict"] != "violator" || v["source"] != "sweep" || v["account_id"] != mototest.AccountID {
		t.Errorf("violator document %v", v)
	}
	blank := r.violators[e.world.ID(testworld.Home, "blank")]
	if strings.Join(strs(blank["invalid_tags"]), ",") != "department=  " {
		t.Errorf("blank document invalid_tags %v", blank["invalid_tags"])
	}
	if got := r.violators[e.world.ID(testworld.Home, "expired")]["exemption_error"]; got == nil || !strings.Contains(got.(string), "expired") {
		t.Errorf("expired exemption error %v", got)
	}
	if got := r.violators[e.world.ID(testworld.Home, "toolong")]["exemption_error"]; got == nil || !strings.Contains(got.(string), "beyond the maximum") {
		t.Errorf("too-long exemption error %v", got)
	}
	if asg := r.violators[e.world.ID(testworld.Home, "asg")]; asg["verdict"] != "managed" || asg["managed_by"] != "autoscaling" {
		t.Errorf("auto scaling member document %v", asg)
	}

	ro := r.rollup
	if got := strs(ro["regions_verified"]); strings.Join(got, ",") != "us-east-1,us-west-2,eu-west-1" {
		t.Errorf("regions_verified %v", got)
	}
	if got := strs(ro["regions_unverified"]); strings.Join(got, ",") != testworld.NoCanary {
		t.Errorf("regions_unverified %v", got)
	}
	verdicts := ro["verdicts"].(map[string]any)
	for v, n := range map[string]float64{"compliant": 5, "violator": 10, "managed": 1, "in_grace": 2, "exempt": 1, "canary": 3} {
		if verdicts[v] != n {
			t.Errorf("verdicts[%s] = %v, want %v (all %v)", v, verdicts[v], n, verdicts)
		}
	}
	if ro["violator_count"] != 11.0 || ro["instance_count"] != 22.0 || ro["tag_scheme"] != testworld.Scheme {
		t.Errorf("rollup counts: violators %v instances %v scheme %v", ro["violator_count"], ro["instance_count"], ro["tag_scheme"])
	}
	if len(r.rep.Unverified) != 1 || !strings.Contains(r.rep.Unverified[testworld.NoCanary], "no canary") {
		t.Errorf("unverified %v", r.rep.Unverified)
	}
}

func TestSweepTerminate(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionTerminate))

	e.expect(r, func(in testworld.Instance) (string, string) {
		switch {
		case in.Verdict == "violator" && in.Region == testworld.NoCanary:
			return initialState(in), "skipped_unverified"
		case in.Verdict == "violator":
			return "terminated", "terminated"
		case in.Verdict == "managed":
			return initialState(in), "reported"
		}
		return initialState(in), ""
	})
	for id, d := range r.violators {
		if d["outcome"] == "terminated" && d["state"] != "shutting-down" && d["state"] != "terminated" {
			t.Errorf("%s: terminated, but its document says state %v", id, d["state"])
		}
	}
	for r0, id := range e.world.Canaries {
		if got := mototest.State(t, e.direct(r0), id); got != "stopped" {
			t.Errorf("canary in %s is %s", r0, got)
		}
	}
	// Protection was read, recorded as it was, and turned off only to terminate.
	tp := r.violators[e.world.ID(testworld.Home, "termprot")]
	if tp["disable_api_termination"] != true || tp["disable_api_stop"] != false {
		t.Errorf("termprot prior protection %v / %v", tp["disable_api_termination"], tp["disable_api_stop"])
	}
	sp := r.violators[e.world.ID(testworld.Home, "stopprot")]
	if sp["disable_api_stop"] != true || sp["disable_api_termination"] != false {
		t.Errorf("stopprot prior protection %v / %v", sp["disable_api_termination"], sp["disable_api_stop"])
	}
	if r.rep.ActionFailures != 0 {
		t.Errorf("%d action failures", r.rep.ActionFailures)
	}
	// Every call the sweep made is one the reconciler's IAM role grants.
	for _, c := range e.counter.Snapshot() {
		action, known := awsapi.ActionFor(c.Service, c.Operation)
		if !known || !slices.Contains(awsapi.ReconcilerActions, action) {
			t.Errorf("the sweep called %s (%s.%s), which awsapi.ReconcilerActions does not list", action, c.Service, c.Operation)
		}
	}
}

func TestSweepStop(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionStop))
	e.expect(r, func(in testworld.Instance) (string, string) {
		switch {
		case in.Verdict == "violator" && in.Region == testworld.NoCanary:
			return initialState(in), "skipped_unverified"
		case in.Verdict == "violator" && in.Name == "stopped":
			return "stopped", "reported" // already where a stop puts it
		case in.Verdict == "violator":
			return "stopped", "stopped"
		case in.Verdict == "managed":
			return initialState(in), "reported"
		}
		return initialState(in), ""
	})
	for id, d := range r.violators {
		if d["outcome"] == "stopped" && d["state"] != "stopping" && d["state"] != "stopped" {
			t.Errorf("%s: stopped, but its document says state %v", id, d["state"])
		}
	}
	stopped := r.violators[e.world.ID(testworld.Home, "stopped")]
	if !strings.Contains(stopped["note"].(string), "already stopped") {
		t.Errorf("already-stopped violator note %v", stopped["note"])
	}
	// Both flags are read and recorded in stop mode too, as they were before the stop.
	if got := flags(r.violators[e.world.ID(testworld.Home, "stopprot")]); got != "false/true" {
		t.Errorf("stopprot recorded termination/stop protection %s, want false/true", got)
	}
	if got := flags(r.violators[e.world.ID(testworld.Home, "termprot")]); got != "true/false" {
		t.Errorf("termprot recorded termination/stop protection %s, want true/false", got)
	}
	if got := flags(r.violators[e.world.ID(testworld.Home, "violator")]); got != "false/false" {
		t.Errorf("violator recorded termination/stop protection %s, want false/false", got)
	}
	// Stopping needs only stop protection off, and it goes back on after the stop: the instance
	// lives on. Termination protection is never touched.
	if !e.protection(testworld.Home, "stopprot", types.InstanceAttributeNameDisableApiStop) {
		t.Error("stop protection not turned back on after the stop")
	}
	if !e.protection(testworld.Home, "termprot", types.InstanceAttributeNameDisableApiTermination) {
		t.Error("termination protection turned off by a stop")
	}
	if n := e.counter.ByOperation()["EC2.ModifyInstanceAttribute"]; n != 2 {
		t.Errorf("%d ModifyInstanceAttribute calls, want 2 (stopprot's stop protection off, then on)", n)
	}
	if r.rep.ActionFailures != 0 {
		t.Errorf("%d action failures", r.rep.ActionFailures)
	}
}

// A limit acts on the oldest violators and defers the newest, across regions: the eldest
// violators (one per canary region, launched a second before everything else) are terminated;
// every other violator is deferred and left as it was; the canary-less region's is unverified.
func TestSweepLimitDefersNewest(t *testing.T) {
	e := newEnv(t)
	eldest := e.world.Eldest()
	p := policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Limits.MaxActions = len(eldest) })
	r := e.sweep(p)
	e.expect(r, func(in testworld.Instance) (string, string) {
		switch {
		case in.Eldest:
			return "terminated", "terminated"
		case in.Verdict == "violator" && in.Region == testworld.NoCanary:
			return initialState(in), "skipped_unverified"
		case in.Verdict == "violator":
			return initialState(in), "skipped_limit"
		case in.Verdict == "managed":
			return initialState(in), "reported"
		}
		return initialState(in), ""
	})
	// The eldest include the termination-protected violator: its protection was recorded.
	if got := flags(r.violators[e.world.ID(testworld.Home, "termprot")]); got != "true/false" {
		t.Errorf("termprot recorded %s", got)
	}
	if r.rep.Deferred != 6 || r.rep.Limit != 3 {
		t.Errorf("deferred %d, limit %d; want 6 and 3", r.rep.Deferred, r.rep.Limit)
	}
	if len(r.rep.Unverified) != 1 || r.rep.Unverified[testworld.NoCanary] == "" {
		t.Errorf("unverified %v", r.rep.Unverified)
	}
	if errs := r.rollup["errors"]; errs == nil || !strings.Contains(strs(errs)[0], "action limit 3 reached: 6 violator(s) deferred") {
		t.Errorf("rollup errors %v", errs)
	}
}

// A percentage limit counts the instances listed in verified regions (20 here, the canary-less
// region's 2 not among them) and still acts on the oldest first.
func TestSweepLimitPercentOfListedInstances(t *testing.T) {
	e := newEnv(t)
	p := policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) {
		p.Limits.MaxPercent = 10 // of 20 instances listed in verified regions: 2
	})
	r := e.sweep(p)
	if r.rep.Limit != 2 {
		t.Fatalf("limit %d, want 2", r.rep.Limit)
	}
	acted := 0
	e.expect(r, func(in testworld.Instance) (string, string) {
		switch {
		case in.Eldest && r.outcome(e.world, in.Region, in.Name) == "terminated":
			// Two of the three eldest, whichever two: they are the same age.
			acted++
			return "terminated", "terminated"
		case in.Verdict == "violator" && in.Region == testworld.NoCanary:
			return initialState(in), "skipped_unverified"
		case in.Verdict == "violator":
			return initialState(in), "skipped_limit"
		case in.Verdict == "managed":
			return initialState(in), "reported"
		}
		return initialState(in), ""
	})
	if acted != 2 || r.rollup["outcomes"].(map[string]any)["terminated"] != 2.0 {
		t.Errorf("%d of the eldest terminated, outcomes %v; want 2", acted, r.rollup["outcomes"])
	}
}

func TestSweepAccountAllowList(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Accounts = []string{"999999999999"} }))
	for _, in := range e.world.ByVerdict("violator") {
		if got := e.state(in.Region, in.Name); got == "terminated" {
			t.Errorf("%s/%s terminated in an account not on the allow-list", in.Region, in.Name)
		}
		want := "skipped_account"
		if in.Region == testworld.NoCanary {
			want = "skipped_unverified"
		}
		if got := r.outcome(e.world, in.Region, in.Name); got != want {
			t.Errorf("%s/%s outcome %q, want %s", in.Region, in.Name, got, want)
		}
	}
	// The account id stands in for the missing alias, and the allow-list takes ids.
	if r.rollup["account"] != mototest.AccountID {
		t.Errorf("account %v", r.rollup["account"])
	}
	r = e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Accounts = []string{mototest.AccountID} }))
	if got := r.outcome(e.world, testworld.Home, "violator"); got != "terminated" {
		t.Errorf("allowed account: outcome %q", got)
	}
}

// An account with an alias (from IAM) is named by it in every document, its id beside it, and an
// allow-list may name it by its alias.
func TestSweepAccountAlias(t *testing.T) {
	e := newEnv(t)
	const alias = "acme-prod"
	if _, err := iam.NewFromConfig(e.direct(testworld.Home)).CreateAccountAlias(context.Background(), &iam.CreateAccountAliasInput{AccountAlias: aws.String(alias)}); err != nil {
		t.Fatal(err)
	}
	named := func(r *result) {
		t.Helper()
		if r.rollup["account"] != alias || r.rollup["account_id"] != mototest.AccountID {
			t.Errorf("rollup account %v (%v), want %s (%s)", r.rollup["account"], r.rollup["account_id"], alias, mototest.AccountID)
		}
		for id, d := range r.violators {
			if d["account"] != alias || d["account_id"] != mototest.AccountID {
				t.Errorf("%s: account %v (%v)", id, d["account"], d["account_id"])
			}
		}
	}

	// Another alias on the list: audited and reported, never acted on.
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Accounts = []string{"acme-staging"} }))
	named(r)
	for _, in := range e.world.ByVerdict("violator") {
		want := "skipped_account"
		if in.Region == testworld.NoCanary {
			want = "skipped_unverified"
		}
		if got := r.outcome(e.world, in.Region, in.Name); got != want {
			t.Errorf("%s/%s outcome %q, want %s", in.Region, in.Name, got, want)
		}
		if got := e.state(in.Region, in.Name); got != initialState(in) {
			t.Errorf("%s/%s is %s in an account not on the allow-list", in.Region, in.Name, got)
		}
	}

	// The alias on the list: acted on.
	r = e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Accounts = []string{"acme-staging", alias} }))
	named(r)
	for _, in := range e.world.ByVerdict("violator") {
		if in.Region == testworld.NoCanary {
			continue
		}
		if got := e.state(in.Region, in.Name); got != "terminated" {
			t.Errorf("%s/%s is %s with the account's alias on the allow-list", in.Region, in.Name, got)
		}
	}
}

func TestSweepDryRun(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionTerminate), func(s *reconciler.Sweeper) { s.DryRun = true })
	for _, in := range e.world.ByVerdict("violator") {
		if got := e.state(in.Region, in.Name); got != initialState(in) {
			t.Errorf("dry run changed %s/%s to %s", in.Region, in.Name, got)
		}
		want := "dry_run"
		if in.Region == testworld.NoCanary {
			want = "skipped_unverified"
		}
		if got := r.outcome(e.world, in.Region, in.Name); got != want {
			t.Errorf("%s/%s outcome %q, want %s", in.Region, in.Name, got, want)
		}
	}
	for _, c := range e.counter.Snapshot() {
		if c.Operation == "TerminateInstances" || c.Operation == "ModifyInstanceAttribute" {
			t.Errorf("dry run called %s", c.Operation)
		}
	}
}

// In report mode the sweep makes the minimum of calls: one DescribeInstances page per region
// (the canary comes from the same listing), plus account identity; with the regions given, no
// region discovery.
func TestSweepReportCallsAreTheMinimum(t *testing.T) {
	e := newEnv(t)
	e.sweep(policy(t, enforcer.ActionReport))
	got := e.counter.ByOperation()
	want := map[string]int{"EC2.DescribeInstances": 4, "STS.GetCallerIdentity": 1, "IAM.ListAccountAliases": 1}
	for op, n := range want {
		if got[op] != n {
			t.Errorf("%s called %d times, want %d", op, got[op], n)
		}
	}
	if total := e.counter.Total(); total != 6 {
		t.Errorf("%d calls in all (%v), want 6", total, got)
	}
}

func TestSweepPaginates(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionReport), func(s *reconciler.Sweeper) { s.PageSize = 5 })
	if r.rollup["instance_count"] != 22.0 {
		t.Fatalf("instance_count %v with 5 per page", r.rollup["instance_count"])
	}
	if n := e.counter.ByOperation()["EC2.DescribeInstances"]; n < 6 {
		t.Fatalf("%d DescribeInstances calls: the listing did not paginate", n)
	}
}

// In stop mode an instance already stopped is no target: it uses none of the action limit.
func TestSweepStopLimitIgnoresStoppedInstances(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionStop, func(p *enforcer.Policy) {
		p.Regions = testworld.CanaryRegions
		p.Limits.MaxActions = 2
	}))
	outcomes := r.rollup["outcomes"].(map[string]any)
	if outcomes["stopped"] != 2.0 || outcomes["skipped_limit"] != 6.0 || outcomes["reported"] != 2.0 {
		t.Fatalf("outcomes %v, want 2 stopped, 6 deferred, the stopped violator and the managed one reported", outcomes)
	}
	if got := r.outcome(e.world, testworld.Home, "stopped"); got != "reported" {
		t.Errorf("already-stopped violator outcome %q", got)
	}
}
