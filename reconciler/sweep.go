// Package reconciler is the sweep: it lists every instance in every audited region, checks every
// region's canary in that same listing before acting anywhere, decides each instance with the
// enforcer's Decide, acts through the enforcer's safe actions within the policy's limits, and
// writes the same documents as the event path. It catches what the event path missed.
package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// RegionAPI is the EC2 API of one region, as the sweep uses it.
type RegionAPI interface {
	enforcer.EC2API
	RegionsAPI
}

// Sweeper runs sweeps. Build one per process; Run may be called more than once.
type Sweeper struct {
	Policy *enforcer.Policy
	// EC2 returns the client for a region (a cached factory).
	EC2 func(region string) RegionAPI
	// HomeRegion is where regions are discovered.
	HomeRegion string
	// Account names the account (STS, and IAM for its alias).
	Account *enforcer.AccountCache
	// IAM looks up the users the policy's IAM user tags name; each run keeps its own answers, so
	// a run asks once per distinct name and never reuses an earlier run's answer.
	IAM     enforcer.GetUserAPI
	Sink    document.Sink
	Indices document.Indices
	Now     func() time.Time
	Log     *slog.Logger
	// DryRun records what a stop or terminate policy would do (outcome dry_run) and changes
	// nothing.
	DryRun bool
	// Concurrency bounds the regions listed or acted on at once (default 4).
	Concurrency int
	// StartBy, when set, is the latest time a region's listing may start; regions not started by
	// then are reported unreached (the Lambda's remaining time).
	StartBy func() time.Time
	// StopBy, when set, is when listing and acting stop, leaving the rest of the time to write
	// the documents: a listing still running is cut off (its region is unreached), a region not
	// yet acted on is not acted on (its violators are reported, with a note), and actions under
	// way fail and have their protection restored.
	StopBy func() time.Time
	// WriteBy, when set, is when writing the documents stops: the documents not written by then
	// are in Report.WriteErr, and the caller has the time left to spool them (the Lambda's
	// deadline, less a margin). Without it the write has no deadline.
	WriteBy func() time.Time
	// BatchSize is the most instances in one stop or terminate call.
	BatchSize int
	// PageSize is DescribeInstances' MaxResults (default 1000, the most EC2 allows).
	PageSize int32

	// users is this run's IAM answers (set by Run on its copy of the Sweeper).
	users *enforcer.Users
}

// Report is what a sweep did.
type Report struct {
	RunID  string
	Rollup *document.Rollup
	// Violators are the violator documents, in region and instance order.
	Violators []*document.Violator
	// Unverified maps each unverified region to why.
	Unverified map[string]string
	// Unreached maps each region not swept to why.
	Unreached map[string]string
	// Deferred counts the violators the action limit deferred; Limit is the limit applied.
	Deferred, Limit int
	// ActionFailures counts the violators whose action failed.
	ActionFailures int
	// NotActed counts the violators of regions the run stopped before acting on (StopBy, a
	// canceled context); they are reported with a note.
	NotActed int
	// WriteErr is the sink's error, when documents were not all written.
	WriteErr error
	// Documents are every document the sweep produced, in the order written.
	Documents []document.Document
	// Regions summarises each region, in the order swept, then regions not enabled.
	Regions []RegionSummary
}

// Region statuses.
const (
	RegionVerified   = "verified"
	RegionUnverified = "unverified"
	RegionUnreached  = "unreached"
)

// RegionSummary is one region's part of a sweep, for logs and metrics.
type RegionSummary struct {
	Region string `json:"region"`
	// Status is verified, unverified or unreached.
	Status    string `json:"status"`
	Instances int    `json:"instances"`
	// Outcomes counts the region's violator documents by outcome.
	Outcomes map[string]int `json:"outcomes"`
}

// entry is one reportable instance kept from a listing: memory grows with violators, not with
// the fleet.
type entry struct {
	in  enforcer.Instance
	d   enforcer.Decision
	doc *document.Violator
}

// regionSweep is one region's listing.
type regionSweep struct {
	region    string
	probe     *enforcer.CanaryProbe
	kept      []entry
	verdicts  map[enforcer.Verdict]int
	listErr   error
	unreached string
}

// Run sweeps once. Its error means the sweep could not run at all (no account identity, no
// region list); everything else is in the report.
func (s *Sweeper) Run(ctx context.Context) (*Report, error) {
	run := *s
	run.users = nil
	if s.Policy.NeedsIAM() {
		run.users = enforcer.NewUsers(s.IAM, 0, s.Now)
	}
	return run.run(ctx)
}

func (s *Sweeper) run(ctx context.Context) (*Report, error) {
	start := s.Now()
	acct, err := s.Account.Get(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		RunID:      "sweep-" + acct.ID + "-" + start.UTC().Format("20060102T150405.000Z"),
		Unverified: map[string]string{},
		Unreached:  map[string]string{},
		Limit:      enforcer.NoLimit,
	}
	log := s.Log.With(logkey.RunID, rep.RunID)
	hdr := document.Header{
		Timestamp: document.At(start), RunID: rep.RunID, Source: document.SourceSweep,
		Account: acct.Name(), AccountID: acct.ID, TagScheme: s.Policy.Scheme(), Action: string(s.Policy.Action),
	}

	pl, err := planRegions(ctx, s.EC2(s.HomeRegion), s.HomeRegion, s.Policy.Regions)
	if err != nil {
		return nil, err
	}
	for r, why := range pl.unverified {
		rep.Unverified[r] = why
	}

	work := ctx
	if s.StopBy != nil {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, s.StopBy())
		defer cancel()
	}
	sweeps := s.listAll(work, log, pl.sweep)

	// Preflight: every region's canary, from the same listing, before any action anywhere.
	var verified []string
	verifiedInstances := 0
	for _, rs := range sweeps {
		switch {
		case rs.unreached != "":
			rep.Unreached[rs.region] = rs.unreached
		case rs.listErr != nil:
			rep.Unverified[rs.region] = rs.listErr.Error()
		case rs.probe.Err() != nil:
			rep.Unverified[rs.region] = rs.probe.Err().Error()
		default:
			verified = append(verified, rs.region)
			verifiedInstances += rs.probe.Instances
		}
	}
	for r, why := range rep.Unverified {
		log.Error("region unverified: nothing in it is acted on", logkey.Region, r, logkey.Reason, why)
	}

	targets := s.classify(sweeps, hdr, rep, acct.Allowed(s.Policy))
	s.limit(log, rep, &targets, verifiedInstances)
	s.act(work, log, sweeps, targets, rep)

	rollup := document.NewRollup(hdr)
	for _, rs := range sweeps {
		if rs.unreached != "" {
			continue
		}
		rollup.InstanceCount += rs.probe.Instances
		for v, n := range rs.verdicts {
			rollup.Verdicts[string(v)] += n
		}
		for _, e := range rs.kept {
			rollup.AddViolator(e.doc)
			rep.Violators = append(rep.Violators, e.doc)
		}
	}
	rep.Regions = summarise(sweeps, rep)
	rollup.RegionsVerified = append(rollup.RegionsVerified, verified...)
	rollup.RegionsUnverified = sortedKeys(rep.Unverified)
	rollup.RegionsUnreached = sortedKeys(rep.Unreached)
	for _, r := range rollup.RegionsUnverified {
		rollup.RegionErrors = append(rollup.RegionErrors, r+": "+rep.Unverified[r])
	}
	for _, r := range rollup.RegionsUnreached {
		rollup.RegionErrors = append(rollup.RegionErrors, r+": "+rep.Unreached[r])
	}
	if rep.Deferred > 0 {
		rollup.Errors = append(rollup.Errors, fmt.Sprintf("action limit %d reached: %d violator(s) deferred", rep.Limit, rep.Deferred))
	}
	if rep.NotActed > 0 {
		rollup.Errors = append(rollup.Errors, fmt.Sprintf("%d violator(s) not acted on: the run stopped (%v) before their region's turn", rep.NotActed, context.Cause(work)))
	}
	rollup.DurationSeconds = math.Round(s.Now().Sub(start).Seconds()*1000) / 1000
	rep.Rollup = rollup

	docs, err := s.documents(rep)
	if err != nil {
		return nil, err
	}
	rep.Documents = docs
	// Whatever happened to the run's context, what was done is written, until WriteBy.
	wctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if s.WriteBy != nil {
		wctx, cancel = context.WithDeadline(wctx, s.WriteBy())
	}
	defer cancel()
	if err := s.Sink.Write(wctx, docs); err != nil {
		rep.WriteErr = err
		log.Error("documents not written", logkey.Error, err.Error())
	}
	return rep, nil
}

func (s *Sweeper) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return 4
}

// listAll lists every region, a few at a time, in the order given.
func (s *Sweeper) listAll(ctx context.Context, log *slog.Logger, regions []string) []*regionSweep {
	out := make([]*regionSweep, len(regions))
	sem := make(chan struct{}, s.concurrency())
	var wg sync.WaitGroup
	for i, r := range regions {
		out[i] = &regionSweep{region: r, probe: enforcer.NewCanaryProbe(s.Policy, r), verdicts: map[enforcer.Verdict]int{}}
		wg.Add(1)
		go func(rs *regionSweep) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rs.unreached = "not started: " + ctx.Err().Error()
				return
			}
			defer func() { <-sem }()
			if s.StartBy != nil && !s.Now().Before(s.StartBy()) {
				rs.unreached = "not started: too little time left"
				return
			}
			if err := ctx.Err(); err != nil {
				rs.unreached = "not started: " + err.Error()
				return
			}
			t0 := s.Now()
			s.listRegion(ctx, rs)
			log.Info("region listed", logkey.Region, rs.region, logkey.Count, rs.probe.Instances,
				logkey.Violators, len(rs.kept), logkey.Verified, rs.listErr == nil && rs.probe.Err() == nil,
				logkey.Duration, s.Now().Sub(t0).Milliseconds())
		}(out[i])
	}
	wg.Wait()
	return out
}

// listRegion lists one region with the SDK paginator over the listed states, deciding each
// instance as its page arrives and keeping only the reportable ones.
func (s *Sweeper) listRegion(ctx context.Context, rs *regionSweep) {
	size := s.PageSize
	if size == 0 {
		size = 1000
	}
	pages := ec2.NewDescribeInstancesPaginator(s.EC2(rs.region), &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: aws.String("instance-state-name"), Values: enforcer.ListedStates}},
		MaxResults: aws.Int32(size),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				rs.unreached = "listing cut off: " + context.Cause(ctx).Error()
				return
			}
			if awsapi.Classify(err) == awsapi.OptInRequired {
				rs.listErr = fmt.Errorf("region %s is not enabled for this account: %w", rs.region, err)
				return
			}
			rs.listErr = fmt.Errorf("listing instances in %s: %w", rs.region, err)
			return
		}
		for _, r := range page.Reservations {
			for i := range r.Instances {
				in := enforcer.FromEC2(rs.region, &r.Instances[i])
				rs.probe.Observe(&in)
				d := s.decide(ctx, &in)
				rs.verdicts[d.Verdict]++
				if d.Reportable() {
					rs.kept = append(rs.kept, entry{in: in, d: d})
				}
			}
		}
	}
}

func (s *Sweeper) decide(ctx context.Context, in *enforcer.Instance) enforcer.Decision {
	var facts *enforcer.Facts
	if s.users != nil && !s.Policy.IsCanary(in) {
		if names := s.Policy.IAMUserNames(in.Tags); len(names) > 0 {
			var err error
			facts, err = s.users.Facts(ctx, names)
			if err != nil {
				s.Log.Warn("IAM user check failed; instance left undecided", logkey.InstanceID, in.ID, logkey.Error, err.Error())
			}
		}
	}
	return enforcer.Decide(in, s.Policy, facts, s.Now())
}

// target is a violator to act on, pointing back at its entry.
type target struct {
	rs *regionSweep
	i  int
}

// classify builds every kept entry's document with the outcome it gets without acting, and
// returns the violators that may be acted on. A region whose listing was cut off (unreached) is
// left out whole: the part listed before the cut is no verified listing, so none of it is a
// target, takes a share of the limit, or gets a document.
func (s *Sweeper) classify(sweeps []*regionSweep, hdr document.Header, rep *Report, allowed bool) []target {
	destructive := s.Policy.Action.Destructive()
	var targets []target
	for _, rs := range sweeps {
		if rs.unreached != "" {
			continue
		}
		_, unverified := rep.Unverified[rs.region]
		for i := range rs.kept {
			e := &rs.kept[i]
			outcome, note := document.Reported, ""
			switch {
			case e.d.Verdict != enforcer.Violator || !destructive:
			case s.Policy.Action == enforcer.ActionStop && (e.in.State == "stopped" || e.in.State == "stopping"):
				// Already where a stop would put it: not a target, so it uses none of the limit.
				note = "already " + e.in.State + "; nothing to do"
			case unverified:
				outcome = document.SkippedUnverified
			case !allowed:
				outcome = document.SkippedAccount
			case s.DryRun:
				outcome = document.DryRun
			default:
				targets = append(targets, target{rs: rs, i: i})
			}
			e.doc = enforcer.ViolatorDocument(hdr, &e.in, &e.d, outcome)
			e.doc.Note = note
		}
	}
	return targets
}

// limit applies the policy's action limits across all regions, oldest violators first.
func (s *Sweeper) limit(log *slog.Logger, rep *Report, targets *[]target, verifiedInstances int) {
	l := s.Policy.Limits
	n := enforcer.NoLimit
	if l.MaxActions > 0 {
		n = l.MaxActions
	}
	if l.MaxPercent > 0 {
		byPercent := int(math.Floor(l.MaxPercent / 100 * float64(verifiedInstances)))
		if n == enforcer.NoLimit || byPercent < n {
			n = byPercent
		}
	}
	rep.Limit = n
	ts := make([]enforcer.Target, len(*targets))
	index := make(map[string]target, len(*targets))
	for k, t := range *targets {
		e := &t.rs.kept[t.i]
		ts[k] = enforcer.Target{Instance: e.in, Decision: e.d}
		index[e.in.Region+"/"+e.in.ID] = t
	}
	act, deferred := enforcer.Limit(ts, n)
	if len(deferred) == 0 {
		return
	}
	rep.Deferred = len(deferred)
	for _, d := range deferred {
		t := index[d.Instance.Region+"/"+d.Instance.ID]
		t.rs.kept[t.i].doc.Outcome = document.SkippedLimit
	}
	kept := make([]target, len(act))
	for k, a := range act {
		kept[k] = index[a.Instance.Region+"/"+a.Instance.ID]
	}
	*targets = kept
	log.Warn("ACTION LIMIT REACHED: newest violators deferred to a later run",
		logkey.Limit, n, logkey.Deferred, len(deferred), "acting_on", len(act))
}

// act acts on the targets region by region, a few regions at a time.
func (s *Sweeper) act(ctx context.Context, log *slog.Logger, sweeps []*regionSweep, targets []target, rep *Report) {
	byRegion := map[*regionSweep][]int{}
	for _, t := range targets {
		byRegion[t.rs] = append(byRegion[t.rs], t.i)
	}
	// Protection goes back on before the write's end: after it, the invocation only spools and logs.
	actor := &enforcer.Actor{Policy: s.Policy, Users: s.users, Now: s.Now, Log: log, BatchSize: s.BatchSize, RestoreBy: s.WriteBy}
	sem := make(chan struct{}, s.concurrency())
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, rs := range sweeps {
		idx := byRegion[rs]
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				for _, i := range idx {
					d := rs.kept[i].doc
					d.Outcome, d.Note = document.Reported, "not acted on: the run stopped ("+context.Cause(ctx).Error()+") before this region's turn"
				}
				mu.Lock()
				rep.NotActed += len(idx)
				mu.Unlock()
				return
			}
			ts := make([]enforcer.Target, len(idx))
			for k, i := range idx {
				ts[k] = enforcer.Target{Instance: rs.kept[i].in, Decision: rs.kept[i].d}
			}
			results := actor.Act(ctx, s.EC2(rs.region), rs.region, s.Policy.Action, ts)
			failed := 0
			for k, i := range idx {
				results[k].Record(rs.kept[i].doc)
				if results[k].Outcome == document.Failed {
					failed++
				}
			}
			mu.Lock()
			rep.ActionFailures += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// documents encodes the violator documents and the rollup, the rollup last.
func (s *Sweeper) documents(rep *Report) ([]document.Document, error) {
	docs := make([]document.Document, 0, len(rep.Violators)+1)
	for _, v := range rep.Violators {
		d, err := document.New(s.Indices.Violator, document.ViolatorID(rep.RunID, v.ID), document.OpIndex, v)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	d, err := document.New(s.Indices.Audit, document.RollupID(rep.RunID), document.OpIndex, rep.Rollup)
	if err != nil {
		return nil, err
	}
	return append(docs, d), nil
}

// summarise returns the per-region summaries.
func summarise(sweeps []*regionSweep, rep *Report) []RegionSummary {
	var out []RegionSummary
	seen := map[string]bool{}
	for _, rs := range sweeps {
		seen[rs.region] = true
		s := RegionSummary{Region: rs.region, Status: RegionVerified, Outcomes: map[string]int{}}
		switch {
		case rep.Unreached[rs.region] != "":
			s.Status = RegionUnreached
		case rep.Unverified[rs.region] != "":
			s.Status = RegionUnverified
		}
		if s.Status != RegionUnreached {
			s.Instances = rs.probe.Instances
			for _, e := range rs.kept {
				s.Outcomes[string(e.doc.Outcome)]++
			}
		}
		out = append(out, s)
	}
	for _, r := range sortedKeys(rep.Unverified) {
		if !seen[r] {
			out = append(out, RegionSummary{Region: r, Status: RegionUnverified, Outcomes: map[string]int{}})
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
