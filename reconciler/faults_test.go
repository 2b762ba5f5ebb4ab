package reconciler_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/testworld"
	"github.com/awsaudit/awsaudit/reconciler"
)

// A region whose listing is empty, comes back without tags, or fails, is unverified: nothing in
// it is acted on, and the other regions go on.
func TestSweepBrokenListingsLeaveTheirRegionAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rule   faultproxy.Rule
		reason string
		region string
	}{
		{"empty listing", faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.West, Respond: faultproxy.EmptyDescribeInstances()}, "the listing is empty", testworld.West},
		{"listing without tags", faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.Europe, Respond: faultproxy.StripTags()}, "came back without any tags", testworld.Europe},
		{"listing keeps failing", faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.Europe, Respond: faultproxy.ServerError(503)}, "listing instances in eu-west-1", testworld.Europe},
		{"listing throttled", faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.West, Respond: faultproxy.Throttle()}, "RequestLimitExceeded", testworld.West},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.proxy.Add(tc.rule)
			r := e.sweep(policy(t, enforcer.ActionTerminate))
			if why := r.rep.Unverified[tc.region]; !strings.Contains(why, tc.reason) {
				t.Fatalf("unverified[%s] = %q, want %q (all: %v)", tc.region, why, tc.reason, r.rep.Unverified)
			}
			if got := e.state(tc.region, "violator"); got != "running" {
				t.Errorf("the violator in the unverified region is %s", got)
			}
			if got := e.state(testworld.Home, "violator"); got != "terminated" {
				t.Errorf("the violator in a verified region is %s", got)
			}
			if !strings.Contains(strings.Join(strs(r.rollup["region_errors"]), "\n"), tc.reason) {
				t.Errorf("region_errors %v", r.rollup["region_errors"])
			}
		})
	}
}

// Throttling the SDK's retryer rides out is no fault at all.
func TestSweepRidesOutBriefThrottling(t *testing.T) {
	e := newEnv(t)
	h := e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.Home, Times: 2, Respond: faultproxy.Throttle()})
	r := e.sweep(policy(t, enforcer.ActionReport))
	if h.Hits() != 2 || len(r.rep.Unverified) != 1 {
		t.Fatalf("hits %d, unverified %v", h.Hits(), r.rep.Unverified)
	}
	if n := e.counter.Snapshot(); len(n) == 0 {
		t.Fatal("no calls counted")
	}
	if got := e.counter.ByOperation()["EC2.DescribeInstances"]; got != 6 {
		t.Errorf("DescribeInstances attempts %d, want 4 pages + 2 throttled retries", got)
	}
}

// One instance that fails to terminate fails alone: the batch is retried one by one, the
// others are terminated, and the protection awsaudit turned off is turned back on.
func TestSweepOneTerminationFailure(t *testing.T) {
	e := newEnv(t)
	bad := e.world.ID(testworld.Home, "termprot")
	e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances", Match: faultproxy.InstanceID(bad), Respond: faultproxy.APIError(500, "InternalError", "An internal error has occurred")})
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Regions = testworld.CanaryRegions }))
	if got := r.outcome(e.world, testworld.Home, "termprot"); got != "failed" {
		t.Fatalf("outcome %q", got)
	}
	if msg := r.violators[bad]["error"]; msg == nil || !strings.Contains(msg.(string), "InternalError") {
		t.Errorf("error %v", msg)
	}
	if r.rep.ActionFailures != 1 {
		t.Errorf("ActionFailures %d", r.rep.ActionFailures)
	}
	for _, name := range []string{"violator", "blank", "stopprot", "stopped"} {
		if got := e.state(testworld.Home, name); got != "terminated" {
			t.Errorf("%s is %s", name, got)
		}
	}
	if got := e.state(testworld.Home, "termprot"); got != "running" {
		t.Errorf("termprot is %s", got)
	}
	out, err := ec2.NewFromConfig(e.direct(testworld.Home)).DescribeInstanceAttribute(context.Background(), &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(bad), Attribute: "disableApiTermination"})
	if err != nil || !aws.ToBool(out.DisableApiTermination.Value) {
		t.Fatalf("termination protection not restored: %v %v", out, err)
	}
}

// A batch call that acts but loses its answer (a 5xx after the action) gets the real outcome:
// the states read again show the instances terminated, so they are terminated, not failed, and
// none is tried again on its own. Home's violators are in two Availability Zones: one batch each.
func TestSweepLostAnswerGetsTheRealOutcome(t *testing.T) {
	e := newEnv(t)
	bad := e.world.ID(testworld.Home, "violator")
	var mu sync.Mutex
	var batches [][]string // every TerminateInstances request in Home, as the ids it named
	e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances", Region: testworld.Home,
		Match: func(form url.Values) bool {
			var ids []string
			for k, v := range form {
				if strings.HasPrefix(k, "InstanceId.") {
					ids = append(ids, v...)
				}
			}
			slices.Sort(ids)
			mu.Lock()
			batches = append(batches, ids)
			mu.Unlock()
			return slices.Contains(ids, bad)
		},
		Respond: faultproxy.AfterForward(faultproxy.ServerError(500))})
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Regions = testworld.CanaryRegions }))

	zoneOf := map[string][]string{}
	for _, in := range e.world.ByVerdict("violator") {
		if in.Region != testworld.Home {
			continue
		}
		zoneOf[in.AvailabilityZone] = append(zoneOf[in.AvailabilityZone], in.ID)
		if got := e.state(in.Region, in.Name); got != "terminated" {
			t.Errorf("%s is %s", in.Name, got)
		}
		d := r.violators[in.ID]
		if d["outcome"] != "terminated" || d["error"] != nil {
			t.Errorf("%s: outcome %v, error %v; want terminated, no error", in.Name, d["outcome"], d["error"])
		}
	}
	if r.rep.ActionFailures != 0 {
		t.Errorf("%d action failures", r.rep.ActionFailures)
	}
	if len(zoneOf) != 2 {
		t.Fatalf("Home's violators are in zones %v, want two", zoneOf)
	}
	// Every request was one zone's whole batch (the failed one sent again by the SDK's retries):
	// no instance was tried on its own.
	mu.Lock()
	defer mu.Unlock()
	sent := map[string]int{}
	for _, b := range batches {
		sent[strings.Join(b, ",")]++
	}
	for z, ids := range zoneOf {
		slices.Sort(ids)
		if sent[strings.Join(ids, ",")] == 0 {
			t.Errorf("no batch for %s %v; requests %v", z, ids, batches)
		}
		delete(sent, strings.Join(ids, ","))
	}
	if len(sent) != 0 {
		t.Errorf("requests other than the two zones' batches: %v", sent)
	}
}

// A region whose listing is cut off is unreached, and what it listed before the cut is left out
// whole: no document, no target, no share of the limit, nothing counted as not acted on.
func TestSweepCutOffListingIsNoTarget(t *testing.T) {
	e := newEnv(t)
	// Home's first page (5 of its 13 instances, violators among them) comes at once; the next
	// hangs until the run stops.
	e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.Home,
		Match: func(form url.Values) bool { return form.Get("NextToken") != "" }, Respond: faultproxy.Delay(30 * time.Second)})
	stopBy := time.Now().Add(3 * time.Second)
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Regions = testworld.CanaryRegions }),
		func(s *reconciler.Sweeper) {
			s.PageSize = 5
			s.StopBy = func() time.Time { return stopBy }
		})
	if why := r.rep.Unreached[testworld.Home]; !strings.Contains(why, "listing cut off") {
		t.Fatalf("unreached %v, unverified %v", r.rep.Unreached, r.rep.Unverified)
	}
	for _, in := range e.world.Instances {
		if in.Region == testworld.Home {
			if _, ok := r.violators[in.ID]; ok {
				t.Errorf("%s of the cut-off region has a document", in.Name)
			}
		}
	}
	// Only West's and Europe's violators were targets, not acted on since the run stopped.
	if r.rep.NotActed != 2 {
		t.Errorf("NotActed %d, want 2 (West's and Europe's violators)", r.rep.NotActed)
	}
	for _, rs := range r.rep.Regions {
		if rs.Region == testworld.Home && (rs.Status != reconciler.RegionUnreached || len(rs.Outcomes) != 0) {
			t.Errorf("Home's summary %+v", rs)
		}
	}
	if got := e.state(testworld.Home, "violator"); got != "running" {
		t.Errorf("violator in the cut-off region is %s", got)
	}
}

// -c: one GetUser per distinct name per run; NoSuchEntity makes a violator; any other error makes
// the instance unknown, never acted on.
func TestSweepIAMUsers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := iam.NewFromConfig(e.direct(testworld.Home)).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
	}
	// A second compliant instance of alice's, and one of an unknown user.
	extra := func(user string) string {
		out, err := ec2.NewFromConfig(e.direct(testworld.West)).RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			TagSpecifications: tagSpec("created_by", user, "department", "eng", "project", "x"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	extra("alice")
	nobody := extra("nobody")
	e.proxy.Add(faultproxy.Rule{Service: "iam", Action: "GetUser", Match: func(f url.Values) bool { return len(f["UserName"]) > 0 && f["UserName"][0] == "bob" }, Respond: faultproxy.ServerError(503)})
	p := policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) {
		p.Tags[0].IAMUser = true
		p.Regions = testworld.CanaryRegions
		p.Grace = 0 // the extra instances are young
	})
	r := e.sweep(p, func(s *reconciler.Sweeper) { s.Now = func() time.Time { return e.world.Now.Add(time.Hour) } })

	if d := r.violators[nobody]; d == nil || d["outcome"] != "terminated" || !strings.Contains(strings.Join(strs(d["unknown_iam_users"]), ","), "nobody") {
		t.Errorf("unknown user's instance: %v", d)
	}
	mixed := r.violators[e.world.ID(testworld.Home, "mixedcase")] // Created_By=bob, lookup fails
	if mixed == nil || mixed["verdict"] != "unknown" || mixed["outcome"] != "reported" {
		t.Errorf("instance whose IAM lookup failed: %v", mixed)
	}
	if got := e.state(testworld.Home, "mixedcase"); got != "running" {
		t.Errorf("instance whose IAM lookup failed is %s", got)
	}
	if got := e.state(testworld.Home, "compliant"); got != "running" {
		t.Errorf("alice's compliant instance is %s", got)
	}
	// Distinct names among non-canary instances with created_by: alice, bob, carol, dave,
	// frank, gina, hank, ivan, jill, erin, nobody. The canary's cody is never looked up.
	calls := e.proxy.Count("iam", "GetUser")
	if calls != 11+2 { // bob's lookup is retried by the SDK (3 attempts)
		t.Errorf("%d GetUser calls, want one per distinct name (11) plus bob's 2 retries", calls)
	}
}

func tagSpec(kv ...string) []types.TagSpecification {
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
}

// A requested region that is not enabled fails its listing (AWS answers OptInRequired; moto,
// which serves every region, answers with an empty listing): it is unverified either way, and no
// DescribeRegions call is spent finding out.
func TestSweepRegionNotEnabled(t *testing.T) {
	e := newEnv(t)
	e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: "ap-east-1",
		Respond: faultproxy.APIError(401, "OptInRequired", "You are not subscribed to this service. Please go to http://aws.amazon.com to subscribe.")})
	r := e.sweep(policy(t, enforcer.ActionReport, func(p *enforcer.Policy) { p.Regions = []string{testworld.Home, "ap-east-1", "me-south-1"} }))
	if why := r.rep.Unverified["ap-east-1"]; !strings.Contains(why, "region ap-east-1 is not enabled for this account") {
		t.Errorf("unverified %v", r.rep.Unverified)
	}
	if why := r.rep.Unverified["me-south-1"]; !strings.Contains(why, "the listing is empty") {
		t.Errorf("unverified %v", r.rep.Unverified)
	}
	if n := e.counter.ByOperation()["EC2.DescribeRegions"]; n != 0 {
		t.Errorf("%d DescribeRegions calls with the regions given", n)
	}
	if got := strs(r.rollup["regions_verified"]); strings.Join(got, ",") != testworld.Home {
		t.Errorf("verified %v", got)
	}
}

func TestSweepRefusesRegionsOfAnotherPartition(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionReport, func(p *enforcer.Policy) { p.Regions = []string{testworld.Home, "cn-north-1"} }))
	if why := r.rep.Unverified["cn-north-1"]; !strings.Contains(why, "not in the aws partition") {
		t.Fatalf("unverified %v", r.rep.Unverified)
	}
	if n := e.counter.ByOperation()["EC2.DescribeInstances"]; n != 1 {
		t.Errorf("listed a region of another partition: %v", e.counter.ByOperation())
	}
}

func TestSweepDiscoversEnabledRegions(t *testing.T) {
	e := newEnv(t)
	p := policy(t, enforcer.ActionReport, func(p *enforcer.Policy) { p.Regions = nil })
	r := e.sweep(p, func(s *reconciler.Sweeper) { s.Concurrency = 8 })
	verified := strs(r.rollup["regions_verified"])
	if strings.Join(verified, ",") != "eu-west-1,us-east-1,us-west-2" {
		t.Errorf("verified %v", verified)
	}
	for region, why := range r.rep.Unverified {
		if strings.HasPrefix(region, "cn-") || strings.HasPrefix(region, "us-gov-") || region == "ap-east-1" {
			t.Errorf("discovered %s, which is of another partition or not opted in", region)
		}
		if !strings.Contains(why, "empty") && region != testworld.NoCanary {
			t.Errorf("%s: %s", region, why)
		}
	}
	if _, ok := r.rep.Unverified[testworld.NoCanary]; !ok {
		t.Errorf("the canary-less region is not unverified")
	}
}

func TestSweepOutOfTimeLeavesRegionsUnreached(t *testing.T) {
	e := newEnv(t)
	r := e.sweep(policy(t, enforcer.ActionTerminate), func(s *reconciler.Sweeper) {
		s.StartBy = func() time.Time { return e.world.Now.Add(-time.Second) }
	})
	if got := strs(r.rollup["regions_unreached"]); len(got) != 4 {
		t.Fatalf("unreached %v", got)
	}
	if got := e.state(testworld.Home, "violator"); got != "running" {
		t.Errorf("acted in an unreached region: %s", got)
	}
}

// A run that must stop (the Lambda's time, Ctrl-C) stops listing and acting, and still writes
// what it has: regions cut off are unreached, violators not acted on are reported with a note.
func TestSweepStopByCutsOffAndStillWrites(t *testing.T) {
	e := newEnv(t)
	// The West listing hangs until the run stops; every other region answers at once.
	e.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: testworld.West, Respond: faultproxy.Delay(30 * time.Second)})
	stopBy := time.Now().Add(5 * time.Second)
	r := e.sweep(policy(t, enforcer.ActionTerminate, func(p *enforcer.Policy) { p.Regions = testworld.CanaryRegions }),
		func(s *reconciler.Sweeper) { s.StopBy = func() time.Time { return stopBy } })
	if why := r.rep.Unreached[testworld.West]; !strings.Contains(why, "listing cut off") {
		t.Fatalf("unreached %v, unverified %v", r.rep.Unreached, r.rep.Unverified)
	}
	// Stopped before any action: the verified regions' violators are reported, not terminated.
	if got := e.state(testworld.Home, "violator"); got != "running" {
		t.Errorf("violator is %s", got)
	}
	d := r.violators[e.world.ID(testworld.Home, "violator")]
	if d["outcome"] != "reported" || !strings.Contains(d["note"].(string), "not acted on: the run stopped") {
		t.Errorf("document %v", d)
	}
	if r.rep.NotActed == 0 || r.rollup == nil {
		t.Errorf("not acted %d", r.rep.NotActed)
	}
}
