package enforcer

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestCanaryProbe(t *testing.T) {
	p := New("created_by", "department", "project")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	canary := func(state string, kv ...string) Instance {
		in := running(time.Hour, append([]string{"Name=api-canary-us-east-1", "created_by=cody", "project=API canary", "department=sysops"}, kv...)...)
		in.State = state
		return in
	}
	for _, tc := range []struct {
		name      string
		instances []Instance
		want      string // "" = verified
	}{
		{"found", []Instance{running(time.Hour, ok3...), canary("stopped")}, ""},
		{"stopping counts", []Instance{canary("stopping")}, ""},
		{"extra tags are fine", []Instance{canary("stopped", "owner=ops")}, ""},
		{"empty listing", nil, "the listing is empty"},
		{"no tags at all", []Instance{running(time.Hour), running(time.Hour)}, "came back without any tags"},
		{"canary running", []Instance{running(time.Hour, ok3...), canary("running")}, "is named api-canary-us-east-1 but is running"},
		{"canary lacks a tag", []Instance{withState(running(time.Hour, "Name=api-canary-us-east-1", "created_by=cody", "project=API canary"), "stopped")}, "lacks the canary's tags"},
		{"wrong value", []Instance{withState(running(time.Hour, "Name=api-canary-us-east-1", "created_by=cody", "project=API canary", "department=eng"), "stopped")}, "lacks the canary's tags"},
		{"no canary", []Instance{running(time.Hour, ok3...)}, "no canary (stopped, named api-canary-us-east-1) among 1 instance(s)"},
		{"another region's canary", []Instance{withState(running(time.Hour, "Name=api-canary-eu-west-1", "created_by=cody", "project=API canary", "department=sysops"), "stopped")}, "no canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := NewCanaryProbe(p, "us-east-1")
			for i := range tc.instances {
				probe.Observe(&tc.instances[i])
			}
			err := probe.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unverified: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// A policy is self-tested at load time against the regions it lists (us-east-1 when it lists
// none). A region found at run time whose canary would violate the policy is unverified, even with
// its canary in place: the scheme and the canary disagree there.
func TestCanaryProbeSelfTestsItsRegion(t *testing.T) {
	p := New("created_by", "department", "project")
	p.Tags = append(p.Tags, TagRule{Key: NameTag, Pattern: regexp.MustCompile(`^api-canary-us-`)})
	if err := p.Validate(); err != nil {
		t.Fatalf("the policy passes its load-time self-test (us-east-1): %v", err)
	}
	for _, tc := range []struct {
		region string
		want   string // "" = verified
	}{
		{"us-west-2", ""},
		{"eu-west-1", "canary check in eu-west-1: canary: the canary (" + "Name=api-canary-eu-west-1"},
	} {
		canary := withState(running(time.Hour, "Name=api-canary-"+tc.region, "created_by=cody", "project=API canary", "department=sysops"), "stopped")
		canary.Region = tc.region
		probe := NewCanaryProbe(p, tc.region)
		probe.Observe(&canary)
		if !probe.Found {
			t.Fatalf("%s: the canary was not recognised", tc.region)
		}
		err := probe.Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unverified: %v", tc.region, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.region, err, tc.want)
		}
	}
}

// The event path's checker keeps an answer for its TTL and asks again after it.
func TestCanaryCheckerCaches(t *testing.T) {
	f := newFakeEC2()
	p := New("created_by", "department", "project")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	clock := now
	c := &CanaryChecker{Policy: p, TTL: time.Minute, Now: func() time.Time { return clock }}
	ctx := context.Background()
	err := c.Check(ctx, &nameFilterEC2{f}, "us-east-1")
	var unverified *ErrUnverified
	if !asUnverified(err, &unverified) {
		t.Fatalf("no canary: %v, want *ErrUnverified", err)
	}
	f.add("i-canary", "us-east-1a", "stopped", "Name=api-canary-us-east-1", "created_by=cody", "project=API canary", "department=sysops")
	if err := c.Check(ctx, &nameFilterEC2{f}, "us-east-1"); err == nil {
		t.Fatal("the unverified answer was not kept for its TTL")
	}
	clock = clock.Add(2 * time.Minute)
	if err := c.Check(ctx, &nameFilterEC2{f}, "us-east-1"); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	if n := len(f.called("DescribeInstances")); n != 2 {
		t.Fatalf("%d DescribeInstances calls, want 2", n)
	}
}

func asUnverified(err error, target **ErrUnverified) bool { return errors.As(err, target) }

// nameFilterEC2 answers the tag:Name filter the canary checker uses.
type nameFilterEC2 struct{ *fakeEC2 }

func (n *nameFilterEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, o ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	var ids []string
	for _, flt := range in.Filters {
		if aws.ToString(flt.Name) != "tag:Name" {
			continue
		}
		for id, fi := range n.instances {
			for _, t := range fi.tags {
				if t.Key == "Name" && slices.Contains(flt.Values, t.Value) {
					ids = append(ids, id)
				}
			}
		}
	}
	return n.fakeEC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids}}}, o...)
}

// The primary interface is device 0 on network card 0; its attach time is the instance's age.
func TestFromEC2PrimaryInterface(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	in := types.Instance{
		InstanceId: aws.String("i-1"), LaunchTime: at(time.Minute), State: &types.InstanceState{Name: "running"},
		NetworkInterfaces: []types.InstanceNetworkInterface{
			{Attachment: &types.InstanceNetworkInterfaceAttachment{DeviceIndex: aws.Int32(0), NetworkCardIndex: aws.Int32(1), AttachTime: at(time.Minute)}},
			{Attachment: &types.InstanceNetworkInterfaceAttachment{DeviceIndex: aws.Int32(1), NetworkCardIndex: aws.Int32(0), AttachTime: at(time.Minute)}},
			{Attachment: &types.InstanceNetworkInterfaceAttachment{DeviceIndex: aws.Int32(0), NetworkCardIndex: aws.Int32(0), AttachTime: at(3 * time.Hour)}},
		},
	}
	got := FromEC2("us-east-1", &in)
	if !got.AttachTime.Equal(now.Add(-3 * time.Hour)) {
		t.Fatalf("attach time %v, want the primary interface's", got.AttachTime)
	}
}
