package reconciler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/reconciler"
)

// benchRegion serves one region's fleet as decoded pages of 1,000 instances: the sweep's own
// work (conversion, canary probe, decisions, documents) without the SDK's XML decoding.
type benchRegion struct {
	reconciler.RegionAPI
	pages   []*ec2.DescribeInstancesOutput
	regions []string
}

func (r *benchRegion) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	n := 0
	if in.NextToken != nil {
		n, _ = strconv.Atoi(*in.NextToken)
	}
	if n >= len(r.pages) {
		return &ec2.DescribeInstancesOutput{}, nil
	}
	return r.pages[n], nil
}

func (r *benchRegion) DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	out := &ec2.DescribeRegionsOutput{}
	for _, name := range r.regions {
		out.Regions = append(out.Regions, types.Region{RegionName: aws.String(name), OptInStatus: aws.String("opt-in-not-required")})
	}
	return out, nil
}

type benchAccount struct{}

func (benchAccount) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String(fleet.AccountID)}, nil
}

func (benchAccount) ListAccountAliases(context.Context, *iam.ListAccountAliasesInput, ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error) {
	return &iam.ListAccountAliasesOutput{AccountAliases: []string{fleet.Alias}}, nil
}

type discardSink struct{ docs int }

func (s *discardSink) Write(_ context.Context, docs []document.Document) error {
	s.docs += len(docs)
	return nil
}

// BenchmarkSweepReport is one report-mode Sweeper.Run over 10,000 instances in three regions, 1%
// violators, from pages already decoded: what the sweep itself costs per listed instance, on top
// of the SDK (BenchmarkSDKDescribeInstancesPage in bench/endpoint).
func BenchmarkSweepReport(b *testing.B) {
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f := fleet.Spread([]string{"us-east-1", "us-west-2", "eu-west-1"}, 10000, 100, base)
	apis := map[string]*benchRegion{}
	for _, r := range f.Regions {
		api := &benchRegion{regions: f.RegionNames()}
		for from := 0; from < r.Instances; from += 1000 {
			page := &ec2.DescribeInstancesOutput{}
			for i := from; i < min(from+1000, r.Instances); i++ {
				in := f.Instance(r, i)
				page.Reservations = append(page.Reservations, types.Reservation{Instances: []types.Instance{in.EC2()}})
			}
			if from+1000 < r.Instances {
				page.NextToken = aws.String(strconv.Itoa(from/1000 + 1))
			}
			api.pages = append(api.pages, page)
		}
		apis[r.Name] = api
	}
	p := enforcer.New("created_by", "department", "project")
	p.Grace = 30 * time.Minute
	if err := p.Validate(); err != nil {
		b.Fatal(err)
	}
	sink := &discardSink{}
	sw := &reconciler.Sweeper{
		Policy:     p,
		EC2:        func(region string) reconciler.RegionAPI { return apis[region] },
		HomeRegion: "us-east-1",
		Account:    &enforcer.AccountCache{STS: benchAccount{}, IAM: benchAccount{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Sink:       sink,
		Indices:    document.DefaultIndices(),
		Now:        func() time.Time { return base },
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := sw.Run(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rollup.InstanceCount != f.Instances() || rep.Rollup.ViolatorCount != f.Violators() || len(rep.Unverified) > 0 {
			b.Fatal(errors.New("the sweep did not see the fleet"), rep.Rollup.InstanceCount, rep.Rollup.ViolatorCount, rep.Unverified)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(f.Instances()), "ns/instance")
}
