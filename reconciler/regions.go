package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// RegionsAPI is the part of the EC2 API region discovery calls.
type RegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// Partition returns the partition a region belongs to, by its name.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

// enabledRegions returns the regions enabled for the account in home's partition: those that
// need no opt-in, or were opted in. DescribeRegions may list regions of other partitions and
// regions not opted in (moto does): both are filtered out.
func enabledRegions(ctx context.Context, api RegionsAPI, home string) ([]string, error) {
	out, err := api.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("listing regions from %s: %w", home, err)
	}
	part := Partition(home)
	var regions []string
	for _, r := range out.Regions {
		name := aws.ToString(r.RegionName)
		status := aws.ToString(r.OptInStatus)
		if Partition(name) != part || (status != "opt-in-not-required" && status != "opted-in") {
			continue
		}
		regions = append(regions, name)
	}
	slices.Sort(regions)
	return regions, nil
}

// plan is the regions a sweep audits, and those it cannot.
type plan struct {
	sweep []string
	// unverified maps a requested region that cannot be audited to the reason.
	unverified map[string]string
}

// planRegions decides which regions to sweep: the requested list when given, else every enabled
// region. A requested region is not looked up in DescribeRegions — that would cost a call per
// sweep for what the listing itself tells: a region that is not enabled fails its listing
// (OptInRequired, AuthFailure) and so is unverified, like any region whose listing cannot be
// trusted. Only a region of another partition than the home region is refused up front.
func planRegions(ctx context.Context, api RegionsAPI, home string, requested []string) (plan, error) {
	p := plan{unverified: map[string]string{}}
	if len(requested) == 0 {
		enabled, err := enabledRegions(ctx, api, home)
		if err != nil {
			return p, err
		}
		if len(enabled) == 0 {
			return p, fmt.Errorf("listing regions from %s: no enabled region", home)
		}
		p.sweep = enabled
		return p, nil
	}
	for _, r := range requested {
		if Partition(r) != Partition(home) {
			p.unverified[r] = fmt.Sprintf("region %s is not in the %s partition of the home region %s", r, Partition(home), home)
			continue
		}
		p.sweep = append(p.sweep, r)
	}
	return p, nil
}
