// Package testworld builds the standard multi-region world the sweep's integration tests run
// against in moto: three regions with canaries, holding every kind of instance the policy must
// tell apart, and one region without a canary. Home's violators span two Availability Zones, and
// the eldest violators (one per canary region) are older than every other instance, so a limit
// has an unambiguous oldest few to act on.
package testworld

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/internal/mototest"
)

// Regions of the world. Home is where IAM, STS and region discovery are called.
const (
	Home      = "us-east-1"
	West      = "us-west-2"
	Europe    = "eu-west-1"
	NoCanary  = "ap-southeast-2"
	Scheme    = "created_by,department,project"
	GraceMins = 10
)

// CanaryRegions are the regions that hold a canary.
var CanaryRegions = []string{Home, West, Europe}

// All are every region of the world, canary-less included.
var All = []string{Home, West, Europe, NoCanary}

// Instance is one instance of the world and what the policy makes of it.
type Instance struct {
	Name, Region, ID string
	// Verdict is what Decide must say at World.Now under the standard policy (grace 10 minutes).
	Verdict          string
	AvailabilityZone string
	// LaunchTime is as moto reports it: whole seconds of its clock.
	LaunchTime time.Time
	// Eldest marks the violators launched first, in an earlier second than any other instance
	// but the canaries.
	Eldest bool
}

// World is the built world.
type World struct {
	Instances []Instance
	// Canaries maps region to its canary's id.
	Canaries map[string]string
	// Now is the clock to sweep at: the in-grace instances are 1 s short of their grace period,
	// every other instance is past it.
	Now time.Time
}

// ID returns the id of the instance named name in region.
func (w *World) ID(region, name string) string {
	for _, in := range w.Instances {
		if in.Region == region && in.Name == name {
			return in.ID
		}
	}
	panic("testworld: no instance " + name + " in " + region)
}

// Eldest returns the eldest violators: one per canary region, launched in an earlier second than
// every other instance (canaries aside).
func (w *World) Eldest() []Instance {
	var out []Instance
	for _, in := range w.Instances {
		if in.Eldest {
			out = append(out, in)
		}
	}
	return out
}

// ByVerdict returns the instances with verdict v.
func (w *World) ByVerdict(v string) []Instance {
	var out []Instance
	for _, in := range w.Instances {
		if in.Verdict == v {
			out = append(out, in)
		}
	}
	return out
}

type spec struct {
	name, verdict string
	// zone is the Availability Zone's letter; empty is moto's default, "a".
	zone        string
	eldest      bool
	tags        []string
	protectTerm bool
	protectStop bool
	stop        bool
	asg         bool
}

func tags(kv ...string) []mototest.Tag {
	out := make([]mototest.Tag, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, mototest.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// Build builds the world in the moto server cfgFor points at (cfgFor returns the SDK config for
// a region). It takes a few seconds: the in-grace instances are launched in a later second than
// the rest, since moto's launch times are whole seconds of its own clock.
func Build(t testing.TB, cfgFor func(region string) aws.Config) *World {
	t.Helper()
	w := &World{Canaries: map[string]string{}}
	for _, r := range CanaryRegions {
		w.Canaries[r] = mototest.CreateCanary(t, cfgFor(r), r)
	}
	old := map[string][]spec{
		Home: {
			{name: "compliant", verdict: "compliant", tags: []string{"Name", "web-1", "created_by", "alice", "department", "eng", "project", "web"}},
			{name: "mixedcase", verdict: "compliant", tags: []string{"Created_By", "bob", "DEPARTMENT", "eng", " Project ", "api"}},
			{name: "violator", verdict: "violator", tags: []string{"created_by", "carol", "department", "eng"}},
			{name: "blank", verdict: "violator", zone: "b", tags: []string{"created_by", "dave", "department", "  ", "project", "x"}},
			{name: "exempt", verdict: "exempt", tags: []string{"created_by", "frank"}}, // exemption tag added below
			{name: "expired", verdict: "violator", tags: []string{"created_by", "frank", "awsaudit:exempt", "2020-01-01; long gone"}},
			{name: "toolong", verdict: "violator", tags: []string{"created_by", "frank"}}, // exemption tag added below
			{name: "asg", verdict: "managed", tags: []string{"created_by", "gina"}, asg: true},
			{name: "termprot", verdict: "violator", eldest: true, tags: []string{"created_by", "hank", "department", "eng"}, protectTerm: true},
			{name: "stopprot", verdict: "violator", zone: "b", tags: []string{"created_by", "ivan", "project", "x"}, protectStop: true},
			{name: "stopped", verdict: "violator", tags: []string{"department", "eng"}, stop: true},
		},
		West: {
			{name: "compliant", verdict: "compliant", tags: []string{"created_by", "alice", "department", "eng", "project", "web"}},
			{name: "violator", verdict: "violator", eldest: true, tags: []string{"Name", "scratch"}},
		},
		Europe: {
			{name: "compliant", verdict: "compliant", tags: []string{"created_by", "alice", "department", "eng", "project", "web"}},
			{name: "violator", verdict: "violator", eldest: true, tags: []string{"created_by", "jill", "project", "x"}},
		},
		NoCanary: {
			{name: "compliant", verdict: "compliant", tags: []string{"created_by", "alice", "department", "eng", "project", "web"}},
			{name: "violator", verdict: "violator", tags: []string{"created_by", "kim"}},
		},
	}
	young := map[string][]spec{
		Home: {{name: "ingrace", verdict: "in_grace", tags: []string{"created_by", "erin"}}},
		West: {{name: "ingrace", verdict: "in_grace", tags: nil}},
	}
	// The eldest violators first, then, in a later second of moto's clock (the same machine's),
	// the other old instances.
	for _, r := range All {
		for _, s := range old[r] {
			if s.eldest {
				w.launch(t, cfgFor(r), r, s)
			}
		}
	}
	last := w.Instances[len(w.Instances)-1]
	eldest := w.launchTime(t, cfgFor(last.Region), last.ID)
	for !time.Now().Truncate(time.Second).After(eldest) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range All {
		for _, s := range old[r] {
			if !s.eldest {
				w.launch(t, cfgFor(r), r, s)
			}
		}
	}
	// The young instances must launch at least two seconds of moto's clock after the old ones,
	// so that at World.Now (1 s short of their grace) every old instance is past its own.
	last = w.Instances[len(w.Instances)-1]
	lastOld := w.launchTime(t, cfgFor(last.Region), last.ID)
	for !time.Now().Truncate(time.Second).After(lastOld.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range All {
		for _, s := range young[r] {
			w.launch(t, cfgFor(r), r, s)
		}
	}
	w.placeAndDate(t, cfgFor)
	var youngest time.Time
	for _, in := range w.Instances {
		if in.LaunchTime.After(youngest) {
			youngest = in.LaunchTime
		}
		if !in.Eldest && !in.LaunchTime.After(eldest) {
			t.Fatalf("testworld: %s/%s launched at %v, not after the eldest violators (%v)", in.Region, in.Name, in.LaunchTime, eldest)
		}
	}
	w.Now = youngest.Add(GraceMins*time.Minute - time.Second)
	if !lastOld.Add(GraceMins * time.Minute).Before(w.Now) {
		t.Fatalf("testworld: old instances (launched %v) are not past their grace at %v", lastOld, w.Now)
	}
	// Exemptions are relative to the sweep's clock.
	mototestTag(t, cfgFor(Home), w.ID(Home, "exempt"), "awsaudit:exempt", w.Now.AddDate(0, 0, 30).Format(time.DateOnly)+"; migrating to an ASG")
	mototestTag(t, cfgFor(Home), w.ID(Home, "toolong"), "awsaudit:exempt", w.Now.AddDate(0, 0, 200).Format(time.DateOnly)+"; forever")
	return w
}

func (w *World) launch(t testing.TB, cfg aws.Config, region string, s spec) string {
	t.Helper()
	ms := mototest.Spec{Tags: tags(s.tags...)}
	if s.zone != "" {
		ms.AvailabilityZone = region + s.zone
	}
	var ids []string
	if s.asg {
		ids = mototest.RunAutoScalingMember(t, cfg, "web-asg", ms)
	} else {
		ids = mototest.RunInstance(t, cfg, ms)
	}
	id := ids[0]
	if s.protectTerm || s.protectStop {
		mototest.Protect(t, cfg, id, s.protectTerm, s.protectStop)
	}
	if s.stop {
		mototest.Stop(t, cfg, id)
	}
	w.Instances = append(w.Instances, Instance{Name: s.name, Region: region, ID: id, Verdict: s.verdict, Eldest: s.eldest})
	return id
}

// placeAndDate records every instance's Availability Zone and launch time as moto reports them,
// one listing per region.
func (w *World) placeAndDate(t testing.TB, cfgFor func(region string) aws.Config) {
	t.Helper()
	for _, r := range All {
		pages := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(cfgFor(r)), &ec2.DescribeInstancesInput{})
		seen := map[string]types.Instance{}
		for pages.HasMorePages() {
			page, err := pages.NextPage(context.Background())
			if err != nil {
				t.Fatalf("testworld: listing %s: %v", r, err)
			}
			for _, res := range page.Reservations {
				for _, in := range res.Instances {
					seen[aws.ToString(in.InstanceId)] = in
				}
			}
		}
		for i := range w.Instances {
			in := &w.Instances[i]
			if in.Region != r {
				continue
			}
			got, ok := seen[in.ID]
			if !ok {
				t.Fatalf("testworld: %s/%s (%s) not listed", r, in.Name, in.ID)
			}
			in.LaunchTime = aws.ToTime(got.LaunchTime)
			if got.Placement != nil {
				in.AvailabilityZone = aws.ToString(got.Placement.AvailabilityZone)
			}
		}
	}
}

func (w *World) launchTime(t testing.TB, cfg aws.Config, id string) time.Time {
	t.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) == 0 {
		t.Fatalf("testworld: describing %s: %v", id, err)
	}
	return aws.ToTime(out.Reservations[0].Instances[0].LaunchTime)
}

// mototestTag adds one tag to an instance.
func mototestTag(t testing.TB, cfg aws.Config, id, key, value string) {
	t.Helper()
	_, err := ec2.NewFromConfig(cfg).CreateTags(context.Background(), &ec2.CreateTagsInput{
		Resources: []string{id},
		Tags:      []types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	})
	if err != nil {
		t.Fatalf("testworld: tagging %s: %v", id, err)
	}
}
