package awsapi

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Call names one API operation in one region.
type Call struct {
	Service, Operation, Region string
}

// CallCount is how often a call was made.
type CallCount struct {
	Call
	Count int
}

// Counter counts API call attempts (retries included, since each costs the account's rate
// budget) by service, operation and region. It is safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[Call]int
}

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{counts: map[Call]int{}} }

// Attach adds the counting middleware to every client built from cfg.
func (c *Counter) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("awsaudit/count",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.add(Call{
					Service:   awsmiddleware.GetServiceID(ctx),
					Operation: awsmiddleware.GetOperationName(ctx),
					Region:    awsmiddleware.GetRegion(ctx),
				})
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

func (c *Counter) add(k Call) {
	c.mu.Lock()
	c.counts[k]++
	c.mu.Unlock()
}

// Snapshot returns the counts sorted by service, operation and region.
func (c *Counter) Snapshot() []CallCount {
	c.mu.Lock()
	out := make([]CallCount, 0, len(c.counts))
	for k, n := range c.counts {
		out = append(out, CallCount{Call: k, Count: n})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b CallCount) int {
		return strings.Compare(a.Service+"\x00"+a.Operation+"\x00"+a.Region, b.Service+"\x00"+b.Operation+"\x00"+b.Region)
	})
	return out
}

// ByOperation returns the counts summed over regions, keyed "Service.Operation".
func (c *Counter) ByOperation() map[string]int {
	out := map[string]int{}
	for _, cc := range c.Snapshot() {
		out[cc.Service+"."+cc.Operation] += cc.Count
	}
	return out
}

// Total returns the number of attempts counted.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}
