package endpoint_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/bench/endpoint"
	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/enforcer"
)

var base = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// The endpoint's pages decode with the SDK into the fleet they render, paginate as EC2 does, and
// the policy makes of each instance what the fleet says it is.
func TestEndpointServesTheFleet(t *testing.T) {
	f := fleet.Fleet{Base: base, Regions: []fleet.Region{{Name: "us-east-1", Instances: 1234, Violators: 12}, {Name: "eu-west-1", Instances: 7, Violators: 1}}}
	srv, err := endpoint.Start(f)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := enforcer.New("created_by", "department", "project")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Regions {
		client := ec2.NewFromConfig(endpoint.Config(srv.URL, r.Name))
		pages := ec2.NewDescribeInstancesPaginator(client, &ec2.DescribeInstancesInput{
			Filters:    []types.Filter{{Name: aws.String("instance-state-name"), Values: enforcer.ListedStates}},
			MaxResults: aws.Int32(1000),
		})
		var got []enforcer.Instance
		calls := 0
		for pages.HasMorePages() {
			page, err := pages.NextPage(t.Context())
			if err != nil {
				t.Fatalf("%s page %d: %v", r.Name, calls, err)
			}
			calls++
			for _, res := range page.Reservations {
				for i := range res.Instances {
					got = append(got, enforcer.FromEC2(r.Name, &res.Instances[i]))
				}
			}
		}
		if want := (r.Instances + 999) / 1000; calls != want {
			t.Errorf("%s: %d pages, want %d", r.Name, calls, want)
		}
		if len(got) != r.Instances {
			t.Fatalf("%s: %d instances, want %d", r.Name, len(got), r.Instances)
		}
		counts := map[enforcer.Verdict]int{}
		for i := range got {
			want := f.Instance(r, i)
			in := &got[i]
			if in.ID != want.ID || in.State != want.State || !in.LaunchTime.Equal(want.LaunchTime) || !in.AttachTime.Equal(want.AttachTime) || in.AvailabilityZone != want.Zone {
				t.Fatalf("%s instance %d = %+v, want %+v", r.Name, i, in, want)
			}
			if n := len(in.Tags); want.Kind != fleet.Canary && (n < 5 || n > 10) {
				t.Errorf("%s instance %d has %d tags", r.Name, i, n)
			}
			counts[enforcer.Decide(in, p, nil, base).Verdict]++
		}
		if counts[enforcer.Violator] != r.Violators || counts[enforcer.Canary] != 1 || counts[enforcer.Compliant] != r.Instances-r.Violators-1 {
			t.Errorf("%s verdicts %v, want %d violators and one canary", r.Name, counts, r.Violators)
		}
	}

	small := ec2.NewFromConfig(endpoint.Config(srv.URL, "us-east-1"))
	out, err := small.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	if err != nil || len(out.Reservations) != 5 || out.NextToken == nil {
		t.Fatalf("MaxResults 5: %d reservations, token %v, %v", len(out.Reservations), out.NextToken, err)
	}
	if _, err := small.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"x"}}}}); err == nil {
		t.Error("a filter the endpoint does not serve was answered")
	}

	regions, err := small.DescribeRegions(t.Context(), &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil || len(regions.Regions) != len(f.Regions)+len(endpoint.NotOptedIn) {
		t.Fatalf("DescribeRegions: %+v %v", regions, err)
	}
	id, err := sts.NewFromConfig(endpoint.Config(srv.URL, "us-east-1")).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != fleet.AccountID {
		t.Fatalf("GetCallerIdentity: %+v %v", id, err)
	}
	al, err := iam.NewFromConfig(endpoint.Config(srv.URL, "us-east-1")).ListAccountAliases(t.Context(), &iam.ListAccountAliasesInput{})
	if err != nil || !slices.Equal(al.AccountAliases, []string{fleet.Alias}) {
		t.Fatalf("ListAccountAliases: %+v %v", al, err)
	}
	calls := srv.Calls()
	if calls["EC2.DescribeInstances"] != 2+1+2 || calls["STS.GetCallerIdentity"] != 1 || calls["IAM.ListAccountAliases"] != 1 || calls["EC2.DescribeRegions"] != 1 {
		t.Errorf("calls counted %v", calls)
	}
}

func TestSpreadAddsUp(t *testing.T) {
	for _, tc := range []struct{ total, violators int }{{100000, 1000}, {25000, 1000}, {1000, 10}, {100000, 100}} {
		f := fleet.Spread(fleet.Regions17, tc.total, tc.violators, base)
		if f.Instances() != tc.total || f.Violators() != tc.violators {
			t.Errorf("Spread(%d, %d) = %d instances, %d violators", tc.total, tc.violators, f.Instances(), f.Violators())
		}
	}
}
