package testworld_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/mototest"
	"github.com/awsaudit/awsaudit/internal/testworld"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// The world is what its tests rely on: every instance decided as its Verdict says at World.Now,
// the eldest violators older than everything else, Home's violators in two zones.
func TestBuild(t *testing.T) {
	srv := mototest.Shared(t)
	srv.Reset(t)
	w := testworld.Build(t, func(r string) aws.Config { return srv.AWSConfig(t, r) })

	p := enforcer.New(strings.Split(testworld.Scheme, ",")...)
	p.Grace = testworld.GraceMins * time.Minute
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	byID := map[string]enforcer.Instance{}
	for _, r := range testworld.All {
		out, err := ec2.NewFromConfig(srv.AWSConfig(t, r)).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range out.Reservations {
			for i := range res.Instances {
				in := enforcer.FromEC2(r, &res.Instances[i])
				byID[in.ID] = in
			}
		}
	}
	zones := map[string]bool{}
	for _, in := range w.Instances {
		got, ok := byID[in.ID]
		if !ok {
			t.Fatalf("%s/%s not listed", in.Region, in.Name)
		}
		if d := enforcer.Decide(&got, p, nil, w.Now); string(d.Verdict) != in.Verdict {
			t.Errorf("%s/%s decided %s at World.Now, want %s", in.Region, in.Name, d.Verdict, in.Verdict)
		}
		if !got.LaunchTime.Equal(in.LaunchTime) || got.AvailabilityZone != in.AvailabilityZone || in.AvailabilityZone == "" {
			t.Errorf("%s/%s recorded %v in %q, moto says %v in %q", in.Region, in.Name, in.LaunchTime, in.AvailabilityZone, got.LaunchTime, got.AvailabilityZone)
		}
		if in.Region == testworld.Home && in.Verdict == "violator" {
			zones[in.AvailabilityZone] = true
		}
	}
	if len(zones) != 2 {
		t.Errorf("Home's violators are in zones %v, want two", zones)
	}
	eldest := w.Eldest()
	if len(eldest) != len(testworld.CanaryRegions) {
		t.Fatalf("eldest %v, want one per canary region", eldest)
	}
	for _, e := range eldest {
		if e.Verdict != "violator" {
			t.Errorf("eldest %s/%s is %s", e.Region, e.Name, e.Verdict)
		}
		for _, in := range w.Instances {
			if !in.Eldest && !in.LaunchTime.After(e.LaunchTime) {
				t.Errorf("%s/%s (launched %v) is not younger than eldest %s/%s (%v)", in.Region, in.Name, in.LaunchTime, e.Region, e.Name, e.LaunchTime)
			}
		}
	}
}
