package enforcer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// CanaryProbe gathers what one region's listing shows about its canary. An empty or broken API
// answer is never taken as truth: a region is verified only when its canary appears, with its
// tags and state, in the very listing the decisions are made from.
type CanaryProbe struct {
	policy *Policy
	Region string
	// Instances and Tagged count the instances seen, and those with any tag.
	Instances, Tagged int
	// Found is set once the canary is seen.
	Found bool
	// near describes an instance named like the canary that is not one.
	near string
}

// NewCanaryProbe returns a probe for region's canary under p.
func NewCanaryProbe(p *Policy, region string) *CanaryProbe {
	return &CanaryProbe{policy: p, Region: region}
}

// Observe looks at one listed instance.
func (c *CanaryProbe) Observe(in *Instance) {
	p := c.policy
	c.Instances++
	if len(in.Tags) > 0 {
		c.Tagged++
	}
	if c.Found {
		return
	}
	if p.IsCanary(in) {
		c.Found = true
		return
	}
	if c.near != "" {
		return
	}
	if name, ok := p.findTag(in.Tags, NameTag); ok && name == p.Canary.NameIn(c.Region) {
		switch {
		case !p.isCanaryState(in.State):
			c.near = fmt.Sprintf("instance %s is named %s but is %s (a canary is stopped)", in.ID, name, in.State)
		default:
			c.near = fmt.Sprintf("instance %s is named %s but lacks the canary's tags (%s)", in.ID, name, FormatTags(p.CanaryTags(c.Region)))
		}
	}
}

// Err returns why the region is unverified, or nil when its canary was found. A region where
// the policy's self-test fails is unverified too: a policy is self-tested against the regions it
// lists when it is loaded, but regions discovered at run time (or named on the command line after
// a policy check) are only known here, and the canary's Name tag names its region.
func (c *CanaryProbe) Err() error {
	if err := c.policy.selfTestIn(c.Region); err != nil {
		return fmt.Errorf("canary check in %s: %w", c.Region, err)
	}
	switch {
	case c.Found:
		return nil
	case c.Instances == 0:
		return fmt.Errorf("canary check in %s: the listing is empty, so it cannot be trusted", c.Region)
	case c.Tagged == 0:
		return fmt.Errorf("canary check in %s: the listing of %d instance(s) came back without any tags", c.Region, c.Instances)
	case c.near != "":
		return fmt.Errorf("canary check in %s: %s", c.Region, c.near)
	}
	return fmt.Errorf("canary check in %s: no canary (stopped, named %s) among %d instance(s)", c.Region, c.policy.Canary.NameIn(c.Region), c.Instances)
}

// CanaryChecker checks one region's canary for the event path, which has no listing of its own:
// it lists the instances named like the canary. Answers are kept for TTL per region; errors from
// the API are returned, not kept, so the caller can retry.
type CanaryChecker struct {
	Policy *Policy
	TTL    time.Duration
	Now    func() time.Time

	mu    sync.Mutex
	cache map[string]canaryAnswer
}

type canaryAnswer struct {
	err error
	at  time.Time
}

// ErrUnverified wraps a failed canary check.
type ErrUnverified struct{ Err error }

func (e *ErrUnverified) Error() string { return e.Err.Error() }
func (e *ErrUnverified) Unwrap() error { return e.Err }

// Check returns nil when region's canary is in place, an *ErrUnverified when it is not, and any
// other error when the API could not be asked.
func (c *CanaryChecker) Check(ctx context.Context, api DescribeAPI, region string) error {
	c.mu.Lock()
	if a, ok := c.cache[region]; ok && c.Now().Sub(a.at) < c.TTL {
		c.mu.Unlock()
		return a.err
	}
	c.mu.Unlock()

	probe := NewCanaryProbe(c.Policy, region)
	pages := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: aws.String("tag:" + NameTag), Values: []string{c.Policy.Canary.NameIn(region)}}},
		MaxResults: aws.Int32(1000),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("checking the canary in %s: %w", region, err)
		}
		for _, r := range page.Reservations {
			for i := range r.Instances {
				in := FromEC2(region, &r.Instances[i])
				probe.Observe(&in)
			}
		}
	}
	var err error
	if perr := probe.Err(); perr != nil {
		err = &ErrUnverified{Err: perr}
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]canaryAnswer{}
	}
	c.cache[region] = canaryAnswer{err: err, at: c.Now()}
	c.mu.Unlock()
	return err
}
