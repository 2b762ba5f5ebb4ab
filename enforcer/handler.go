package enforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// QueueAPI is the SQS call the handler sends rechecks and spooled documents with.
type QueueAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// DefaultIAMTTL is how long the event path trusts an IAM user lookup: a user created or deleted
// since is seen within this time.
const DefaultIAMTTL = 5 * time.Minute

// DefaultSpoolReserve is Handler.SpoolReserve's default.
const DefaultSpoolReserve = 10 * time.Second

// MaxActionRetries is how often an action that failed transiently (throttled, a 5xx) is tried
// again through a recheck before its failure is recorded.
const MaxActionRetries = 3

// Handler handles the enforcer queue's messages, one SQS batch at a time: the Lambda calls
// HandleSQS directly, the `awsaudit enforce` worker with the batches it receives. Build one per
// process; it is safe for concurrent use.
//
// For each CloudTrail RunInstances event (and each recheck of one) it reads the instances, waits
// for those EC2 does not show yet (up to NotFoundAllowance after the event) and for those in
// their grace period by sending itself a recheck, decides the others with Decide, acts on
// violators through the Actor (second read, protection handling) after checking the region's
// canary, and writes one violator document per reportable instance and, once every instance of
// the event is decided, the event's rollup. Documents are written with create: the first outcome
// recorded wins, so a redelivered message never overwrites one, and a redelivery does not call
// gone a violator an earlier delivery may have acted on (eventRun.earlierAction). Documents the sink does not
// take are sent to the queue as a documents message, so none is lost once an action happened.
//
// When the context has a deadline (a Lambda invocation's), documents are written with a context
// that ends SpoolReserve (at most half the time left) before it, and the documents not written
// by then are spooled with what is left, in a context not canceled with the record's: an
// invocation that runs out of time after acting still leaves its documents on the queue
// instead of losing them to a redelivery that would record the instances as gone.
//
// A message that cannot be handled (PoisonError) is logged and acknowledged; a record that failed
// for any other reason is returned in BatchItemFailures, for SQS to deliver again (and the DLQ to
// keep, if it never succeeds). Nothing is acted on in a record that failed before acting.
//
// Launches the RunInstances rule does not see — CreateFleet and Spot Fleet launches, instances
// started again, tags deleted after the grace period — are left to the nightly sweep.
type Handler struct {
	Policy *Policy
	// EC2 returns the client of a region (a cached factory).
	EC2 func(region string) EC2API
	// Users checks IAM users; nil when the policy checks none. Give it a TTL (DefaultIAMTTL).
	Users *Users
	// Canary checks a region's canary before anything destructive there; required unless the
	// action is report.
	Canary *CanaryChecker
	// Account names the account, for the documents and the allow-list.
	Account *AccountCache
	// Queue and QueueURL are where rechecks and spooled documents are sent.
	Queue    QueueAPI
	QueueURL string
	Sink     document.Sink
	Indices  document.Indices
	Now      func() time.Time
	Log      *slog.Logger
	// DryRun records what stop or terminate would do (outcome dry_run) and changes nothing.
	DryRun bool
	// MaxDelay caps a recheck's delay (SQS: 900 s).
	MaxDelay time.Duration
	// NotFoundAllowance is how long after the event an instance EC2 does not show is waited for.
	NotFoundAllowance time.Duration
	// RetryDelay is the delay of a recheck sent while waiting for an instance to appear or after a
	// transient action failure, and of a documents message.
	RetryDelay time.Duration
	// SpoolReserve is how much of the time to the context's deadline is kept for spooling the
	// documents the sink did not take: writes end SpoolReserve (at most half the time left)
	// before the deadline, and spooling has up to SpoolReserve, even when the record's context
	// has ended. Zero is DefaultSpoolReserve.
	SpoolReserve time.Duration
	// Concurrency bounds the records of one batch handled at once (default 4).
	Concurrency int
	// BatchSize is the most instances in one stop or terminate call.
	BatchSize int
	// Metrics, when set, is called at the end of each HandleSQS with what the batch did.
	Metrics func(ctx context.Context, s BatchStats)

	locks keyedLocks
}

// BatchStats is what one HandleSQS call did.
type BatchStats struct {
	Records int
	// Failed counts the records returned as batch item failures.
	Failed int
	// Dropped counts the records acknowledged without being handled, poison included.
	Dropped int
	// Actions counts the instances stopped or terminated; ActionFailures the actions recorded
	// as failed.
	Actions, ActionFailures int
	// Spooled counts the documents sent to the queue because the sink did not take them.
	Spooled int
}

// Add adds o to s.
func (s *BatchStats) Add(o BatchStats) {
	s.Records += o.Records
	s.Failed += o.Failed
	s.Dropped += o.Dropped
	s.Actions += o.Actions
	s.ActionFailures += o.ActionFailures
	s.Spooled += o.Spooled
}

// recordResult is what handling one record did.
type recordResult struct {
	failed, dropped         bool
	actions, actionFailures int
	spooled                 int
}

// HandleSQS handles a batch and returns, as BatchItemFailures, exactly the records that failed and
// should be delivered again. Its error is always nil: a record's failure is reported in the
// response, never by failing the batch.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	results := make([]recordResult, len(ev.Records))
	n := h.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range ev.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = h.handleRecord(ctx, &ev.Records[i])
		}()
	}
	wg.Wait()
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	stats := BatchStats{Records: len(ev.Records)}
	for i, r := range results {
		if r.failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
			stats.Failed++
		}
		if r.dropped {
			stats.Dropped++
		}
		stats.Actions += r.actions
		stats.ActionFailures += r.actionFailures
		stats.Spooled += r.spooled
	}
	if h.Metrics != nil {
		h.Metrics(ctx, stats)
	}
	return resp, nil
}

// handleRecord handles one record; a panic fails the record instead of the whole batch.
func (h *Handler) handleRecord(ctx context.Context, rec *events.SQSMessage) (res recordResult) {
	log := h.Log.With(logkey.MessageID, rec.MessageId)
	redelivered := false
	if n := rec.Attributes["ApproximateReceiveCount"]; n != "" {
		log = log.With(logkey.ReceiveCount, n)
		c, err := strconv.Atoi(n)
		redelivered = err == nil && c > 1
	}
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(ctx, "handling the message panicked; SQS will deliver it again", logkey.Error, fmt.Sprint(p))
			res = recordResult{failed: true}
		}
	}()
	msg, err := ParseMessage(rec.Body)
	if err != nil {
		pe, _ := IsPoison(err)
		return h.drop(ctx, log, pe)
	}
	if msg.Kind == KindDocuments {
		return h.handleDocuments(ctx, log, msg.Documents)
	}
	return h.handleEvent(ctx, log, msg.Kind, msg.Recheck, redelivered)
}

// drop logs why a message is acknowledged without being handled.
func (h *Handler) drop(ctx context.Context, log *slog.Logger, pe *PoisonError) recordResult {
	lvl := slog.LevelWarn
	switch pe.Reason {
	case DropFailedCall, DropRegion:
		lvl = slog.LevelInfo
	case DropRecheckTooLarge:
		// Instances of the event are left undecided until the sweep.
		lvl = slog.LevelError
	}
	log.Log(ctx, lvl, "message dropped", logkey.Reason, string(pe.Reason), logkey.Detail, pe.Detail)
	return recordResult{dropped: true}
}

// fail logs why a record is left for SQS to deliver again.
func (h *Handler) fail(ctx context.Context, log *slog.Logger, err error) recordResult {
	retry := "transient"
	if !awsapi.IsTransient(err) {
		retry = "not transient: it may end in the DLQ"
	}
	log.ErrorContext(ctx, "message failed; SQS will deliver it again", logkey.Error, err.Error(), "failure", retry)
	return recordResult{failed: true}
}

// handleDocuments writes spooled documents; when that fails again the record fails, for SQS to
// deliver again (and the DLQ to keep, if it never succeeds). A redelivery rewrites every
// document: those already written answer 409 to create, which counts as written.
func (h *Handler) handleDocuments(ctx context.Context, log *slog.Logger, m *DocumentsMessage) recordResult {
	log = log.With(logkey.Kind, string(KindDocuments), logkey.RunID, m.RunID, logkey.Count, len(m.Documents))
	// Ending the write before the deadline answers for the batch's other records in time.
	wctx, cancel := h.writeContext(ctx)
	defer cancel()
	if err := h.Sink.Write(wctx, m.Docs()); err != nil {
		return h.fail(ctx, log, fmt.Errorf("writing spooled documents: %w", err))
	}
	log.InfoContext(ctx, "spooled documents written")
	return recordResult{}
}

// wait is an instance left for a recheck, and how long to wait for it.
type wait struct {
	id    string
	delay time.Duration
}

// entry is one instance decided in this record.
type entry struct {
	in  Instance
	d   Decision
	doc *document.Violator
	// retry: the action failed transiently and the instance goes into the recheck.
	retry bool
	// earlier: a violator found gone on a redelivery, which an earlier delivery of the message
	// may have acted on: this record cannot know its outcome (see eventRun.earlierAction).
	earlier bool
}

// eventRun is one record's handling of an event.
type eventRun struct {
	h   *Handler
	log *slog.Logger
	st  *Recheck
	// redelivered: SQS delivered this message before (ApproximateReceiveCount > 1), so an
	// earlier delivery may have acted and then failed.
	redelivered bool
	acct        Account
	now         time.Time
	api         EC2API
	hdr         document.Header
	waits       []wait
	lost        []string
	entries     []entry
	// canaryErr is the canary check's answer; canaryChecked says whether it was asked.
	canaryChecked bool
	canaryErr     error
	res           recordResult
}

// handleEvent handles an event or a recheck of one.
func (h *Handler) handleEvent(ctx context.Context, log *slog.Logger, kind MessageKind, st *Recheck, redelivered bool) recordResult {
	log = log.With(logkey.Kind, string(kind), logkey.EventID, st.EventID, logkey.Region, st.Region, logkey.Attempt, st.Attempt)
	if len(h.Policy.Regions) > 0 && !slices.Contains(h.Policy.Regions, st.Region) {
		return h.drop(ctx, log, poison(DropRegion, "region %s is not audited (%s)", st.Region, strings.Join(h.Policy.Regions, ", ")))
	}
	// Two deliveries of one event (a duplicate, a redelivery) in this process take turns, so the
	// second sees what the first did.
	defer h.locks.lock(st.EventID)()

	acct, err := h.Account.Get(ctx)
	if err != nil {
		return h.fail(ctx, log, err)
	}
	if st.AccountID != "" && st.AccountID != acct.ID {
		return h.drop(ctx, log, poison(DropAccount, "the event is from account %s; this enforcer acts in %s", st.AccountID, acct.ID))
	}
	r := &eventRun{h: h, log: log, st: st, redelivered: redelivered, acct: acct, now: h.Now(), api: h.EC2(st.Region)}
	r.hdr = document.Header{
		Timestamp: document.At(r.now), RunID: st.EventID, Source: document.SourceEvent,
		Account: acct.Name(), AccountID: acct.ID, TagScheme: h.Policy.Scheme(), Action: string(h.Policy.Action),
	}
	if err := r.decide(ctx); err != nil {
		return h.fail(ctx, log, err)
	}
	if len(r.entries) == 0 && len(r.waits) == 0 && decided(st) == 0 {
		return h.drop(ctx, log, poison(DropNotFound, "instance(s) %s not found %s after the event (allowance %s)",
			strings.Join(r.lost, ", "), r.now.Sub(st.EventTime).Round(time.Second), h.NotFoundAllowance))
	}
	if err := r.classify(ctx); err != nil {
		return h.fail(ctx, log, err)
	}
	r.act(ctx)
	if err := r.write(ctx); err != nil {
		return h.fail(ctx, log, err)
	}
	if err := r.recheck(ctx); err != nil {
		if pe, ok := IsPoison(err); ok {
			// What was decided is written; what the recheck would carry is the sweep's.
			res := r.res
			res.dropped = h.drop(ctx, log, pe).dropped
			return res
		}
		return h.fail(ctx, log, err)
	}
	return r.res
}

// decided counts the event's instances decided by earlier records.
func decided(st *Recheck) int {
	n := 0
	if st.Rollup != nil {
		for _, c := range st.Rollup.Verdicts {
			n += c
		}
	}
	return n
}

// decide reads the pending instances and decides those that can be: the others wait (not visible
// yet, in their grace period) or are lost (still not visible after the allowance).
func (r *eventRun) decide(ctx context.Context) error {
	h, st := r.h, r.st
	found, err := ReadInstances(ctx, r.api, st.Region, st.Pending)
	if err != nil {
		return err
	}
	for _, id := range st.Pending {
		in, ok := found[id]
		if !ok {
			if r.now.Sub(st.EventTime) < h.NotFoundAllowance {
				r.waits = append(r.waits, wait{id: id, delay: h.RetryDelay})
				r.log.InfoContext(ctx, "instance not visible yet; waiting for it", logkey.InstanceID, id)
			} else {
				r.lost = append(r.lost, id)
			}
			continue
		}
		facts, err := r.facts(ctx, &in)
		if err != nil {
			return err
		}
		d := Decide(&in, h.Policy, facts, r.now)
		if d.Verdict == InGrace && !in.Gone() {
			r.waits = append(r.waits, wait{id: id, delay: d.GraceUntil.Sub(r.now)})
			continue
		}
		r.entries = append(r.entries, entry{in: in, d: d})
	}
	return nil
}

// facts looks up the IAM users deciding in needs. A transient failure fails the record (nothing
// was acted on yet); any other leaves the users unchecked, so the instance is unknown.
func (r *eventRun) facts(ctx context.Context, in *Instance) (*Facts, error) {
	h := r.h
	if h.Users == nil || h.Policy.IsCanary(in) {
		return nil, nil
	}
	names := h.Policy.IAMUserNames(in.Tags)
	if len(names) == 0 {
		return nil, nil
	}
	facts, err := h.Users.Facts(ctx, names)
	if err != nil {
		if awsapi.IsTransient(err) || awsapi.Classify(err) == awsapi.Canceled {
			return nil, fmt.Errorf("checking IAM users of %s: %w", in.ID, err)
		}
		r.log.WarnContext(ctx, "IAM user check failed; instance left undecided", logkey.InstanceID, in.ID, logkey.Error, err.Error())
	}
	return facts, nil
}

// classify gives every reportable decided instance its document with the outcome it gets without
// acting, and marks the violators to act on. The canary of the region is checked first when
// there is one: a transient failure of that check fails the record (nothing was acted on yet).
func (r *eventRun) classify(ctx context.Context) error {
	h := r.h
	destructive := h.Policy.Action.Destructive()
	for i := range r.entries {
		e := &r.entries[i]
		if !e.d.Reportable() {
			continue
		}
		outcome, note := document.Reported, ""
		switch {
		case r.earlierAction(e):
			// Its document is written with create like every other: a document an earlier
			// delivery wrote first wins, and without one the violator still has its record.
			e.earlier = true
			outcome, note = document.Gone, "found "+e.in.State+" on a redelivery of the event; an earlier delivery may have "+string(success(h.Policy.Action))+" it"
			if !e.in.Gone() {
				outcome = document.Reported
			}
		case e.in.Gone():
			outcome, note = document.Gone, "already "+e.in.State
		case e.d.Verdict != Violator || !destructive:
		default:
			if err := r.checkCanary(ctx); err != nil {
				return err
			}
			switch {
			case r.canaryErr != nil:
				outcome = document.SkippedUnverified
			case !r.acct.Allowed(h.Policy):
				outcome = document.SkippedAccount
			case h.DryRun:
				outcome = document.DryRun
			default:
				outcome = "" // acted on below
			}
		}
		e.doc = ViolatorDocument(r.hdr, &e.in, &e.d, outcome)
		e.doc.Note = note
		r.creator(e.doc, e.in.Tags)
	}
	return nil
}

// earlierAction reports whether an earlier delivery of this message may have acted on a
// violator: the message is a redelivery, the policy would have acted on it, and it is in the
// state the action leads to (stopped or stopping for a stop; shutting down, terminated or gone
// for a terminate).
//
// A delivery that acts and then fails (its recheck not sent, its invocation out of time) leaves
// SQS to deliver the same message again, which knows nothing of that action. The violator
// document the earlier delivery wrote with create (or spooled) holds the real outcome and wins
// over this record's, also written with create; when it never got written, this record's stands
// ("gone" or "reported", with a note saying an earlier delivery may have acted). The event's
// rollup does not count an outcome for it, which could contradict the earlier document: it
// counts the violator and says in its errors why its outcome is not counted.
func (r *eventRun) earlierAction(e *entry) bool {
	h := r.h
	return r.redelivered && e.d.Verdict == Violator && h.Policy.Action.Destructive() && !h.DryRun && r.acct.Allowed(h.Policy) &&
		(e.in.Gone() || reached(h.Policy.Action, e.in.State))
}

// checkCanary checks the region's canary once per record. An unverified region is an answer;
// an API error that is transient is returned; any other API error leaves the region unverified.
func (r *eventRun) checkCanary(ctx context.Context) error {
	if r.canaryChecked {
		return nil
	}
	if r.h.Canary == nil {
		return errors.New("the handler has no canary checker: nothing destructive can be done")
	}
	err := r.h.Canary.Check(ctx, r.api, r.st.Region)
	var unverified *ErrUnverified
	switch {
	case err == nil, errors.As(err, &unverified):
	case awsapi.IsTransient(err) || awsapi.Classify(err) == awsapi.Canceled:
		return err
	}
	r.canaryChecked, r.canaryErr = true, err
	if err != nil {
		r.log.ErrorContext(ctx, "region unverified: nothing in it is acted on", logkey.Reason, err.Error())
	}
	return nil
}

// creator records who launched the instance and, when the policy checks IAM users, whether the
// created_by-style tag names that caller.
func (r *eventRun) creator(v *document.Violator, tags []Tag) {
	v.Creator, v.CreatorType, v.InvokedBy = r.st.Creator.Name, r.st.Creator.Type, r.st.Creator.InvokedBy
	p := r.h.Policy
	if !p.NeedsIAM() {
		return
	}
	match := false
	for _, rule := range p.Tags {
		if !rule.IAMUser {
			continue
		}
		if value, ok := p.findTag(tags, rule.Key); ok && r.st.Creator.Matches(value) {
			match = true
		}
	}
	v.CreatorMatchesTag = &match
}

// act acts on the violators marked in classify, within the policy's per-run limit (for the event
// path: per event), and records the outcomes. An action that failed transiently is retried
// through the recheck, up to MaxActionRetries times, instead of being recorded as failed.
func (r *eventRun) act(ctx context.Context) {
	h, st := r.h, r.st
	var targets []Target
	byID := map[string]*entry{}
	for i := range r.entries {
		e := &r.entries[i]
		if e.doc != nil && e.doc.Outcome == "" {
			targets = append(targets, Target{Instance: e.in, Decision: e.d})
			byID[e.in.ID] = e
		}
	}
	if len(targets) == 0 {
		return
	}
	budget := NoLimit
	if m := h.Policy.Limits.MaxActions; m > 0 {
		budget = max(m-st.Acted, 0)
	}
	act, deferred := Limit(targets, budget)
	for _, t := range deferred {
		byID[t.Instance.ID].doc.Outcome = document.SkippedLimit
	}
	if len(deferred) > 0 {
		r.log.WarnContext(ctx, "ACTION LIMIT REACHED: violators of this event deferred to the sweep", logkey.Limit, h.Policy.Limits.MaxActions, logkey.Deferred, len(deferred))
	}
	if len(act) == 0 {
		return
	}
	actor := &Actor{Policy: h.Policy, Users: h.Users, Now: h.Now, Log: r.log, BatchSize: h.BatchSize}
	if deadline, ok := ctx.Deadline(); ok {
		// Protection goes back on while the invocation still has its spool reserve left.
		restoreBy := deadline.Add(-h.spoolReserve())
		actor.RestoreBy = func() time.Time { return restoreBy }
	}
	results := actor.Act(ctx, r.api, st.Region, h.Policy.Action, act)
	for k := range results {
		res := &results[k]
		e := byID[act[k].Instance.ID]
		if res.Outcome == document.Failed && isTransient(res.Err) && st.Retries[e.in.ID] < MaxActionRetries {
			if st.Retries == nil {
				st.Retries = map[string]int{}
			}
			st.Retries[e.in.ID]++
			e.retry = true
			r.waits = append(r.waits, wait{id: e.in.ID, delay: h.RetryDelay})
			r.log.WarnContext(ctx, "action failed transiently; retrying through a recheck", logkey.InstanceID, e.in.ID, logkey.Error, res.Err.Error())
			continue
		}
		res.Record(e.doc)
		r.creator(e.doc, res.Instance.Tags)
		switch res.Outcome {
		case document.Stopped, document.Terminated:
			st.Acted++
			r.res.actions++
		case document.Failed:
			r.res.actionFailures++
		}
	}
}

// isTransient reports whether an action's error is worth trying again: one of its AWS errors
// is transient.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if awsapi.IsTransient(err) {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return slices.ContainsFunc(j.Unwrap(), isTransient)
	}
	return false
}

// write adds this record's decisions to the event's rollup and writes the violator documents and,
// when no instance is left to decide, the rollup. Documents the sink does not take are spooled on
// the queue; only when that fails too does the record fail.
func (r *eventRun) write(ctx context.Context) error {
	h, st := r.h, r.st
	if st.Rollup == nil {
		st.Rollup = document.NewRollup(r.hdr)
	}
	ru := st.Rollup
	var docs []document.Document
	for i := range r.entries {
		e := &r.entries[i]
		if e.retry {
			continue
		}
		ru.Verdicts[string(e.d.Verdict)]++
		attrs := []any{logkey.InstanceID, e.in.ID, logkey.Verdict, string(e.d.Verdict)}
		if e.earlier {
			// Counted against the per-event limit as if acted on: it may have been.
			st.Acted++
			ru.ViolatorCount++
			ru.Errors = append(ru.Errors, fmt.Sprintf("instance %s found %s on a redelivery of the event: an earlier delivery may have acted on it, "+
				"so its outcome is not counted here (its violator document says what happened: the earlier delivery's when it wrote one)", e.in.ID, e.in.State))
			r.log.WarnContext(ctx, "violator already acted on at a redelivery: an earlier delivery may have done it; its outcome is not counted in the rollup",
				logkey.InstanceID, e.in.ID, logkey.Verdict, string(e.d.Verdict), "state", e.in.State)
		}
		if e.doc != nil {
			if !e.earlier {
				ru.AddViolator(e.doc)
			}
			d, err := document.New(h.Indices.Violator, document.ViolatorID(st.EventID, e.in.ID), document.OpCreate, e.doc)
			if err != nil {
				return err
			}
			docs = append(docs, d)
			attrs = append(attrs, logkey.Outcome, string(e.doc.Outcome))
		}
		r.log.InfoContext(ctx, "instance decided", attrs...)
	}
	if r.canaryChecked {
		if r.canaryErr == nil {
			ru.RegionsVerified = appendNew(ru.RegionsVerified, st.Region)
		} else {
			ru.RegionsUnverified = appendNew(ru.RegionsUnverified, st.Region)
			ru.RegionErrors = appendNew(ru.RegionErrors, st.Region+": "+r.canaryErr.Error())
		}
	}
	for _, id := range r.lost {
		after := r.now.Sub(st.EventTime).Round(time.Second)
		r.log.WarnContext(ctx, "instance not found after the allowance; not decided", logkey.InstanceID, id,
			logkey.Reason, string(DropNotFound), logkey.Detail, fmt.Sprintf("not found %s after the event (allowance %s)", after, r.h.NotFoundAllowance))
		ru.Errors = append(ru.Errors, fmt.Sprintf("instance %s not found %s after the event: not decided", id, after))
	}
	if len(r.waits) == 0 {
		ru.Header = r.hdr
		ru.InstanceCount = st.InstanceCount
		ru.Creator, ru.InvokedBy = st.Creator.Name, st.Creator.InvokedBy
		ru.DurationSeconds = math.Round(r.now.Sub(st.EventTime).Seconds()*1000) / 1000
		d, err := document.New(h.Indices.Audit, document.RollupID(st.EventID), document.OpCreate, ru)
		if err != nil {
			return err
		}
		docs = append(docs, d)
		r.log.InfoContext(ctx, "event decided", logkey.Count, st.InstanceCount, logkey.Violators, ru.ViolatorCount,
			logkey.Duration, r.now.Sub(st.EventTime).Milliseconds())
	}
	if len(docs) == 0 {
		return nil
	}
	wctx, cancel := h.writeContext(ctx)
	err := h.Sink.Write(wctx, docs)
	cancel()
	if err == nil {
		return nil
	}
	unwritten := document.Unwritten(err, docs)
	r.log.ErrorContext(ctx, "documents not written; spooling them on the queue", logkey.Count, len(unwritten), logkey.Error, err.Error())
	// SpoolDocuments logs in full every document it does not send.
	if serr := h.spool(ctx, r.log, st.EventID, unwritten); serr != nil {
		return fmt.Errorf("writing documents (%w) and spooling them (%w)", err, serr)
	}
	r.res.spooled += len(unwritten)
	return nil
}

// writeContext returns the context documents are written with: ctx, ending SpoolReserve before
// ctx's deadline when it has one, so the documents not written are spooled in time. The reserve
// is at most half the time left, so that a short invocation still tries to write.
func (h *Handler) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	// A context's deadline is on the wall clock, not on h.Now.
	reserve := max(min(h.spoolReserve(), time.Until(deadline)/2), 0)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

func (h *Handler) spoolReserve() time.Duration {
	if h.SpoolReserve > 0 {
		return h.SpoolReserve
	}
	return DefaultSpoolReserve
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// spool sends docs to the queue as documents messages. Acting is done by now: the documents are
// spooled even when ctx has ended (the deadline passed during the write, a shutdown), within
// SpoolReserve.
func (h *Handler) spool(ctx context.Context, log *slog.Logger, runID string, docs []document.Document) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.spoolReserve())
	defer cancel()
	return SpoolDocuments(sctx, h.Queue, h.QueueURL, RecheckDelay(h.RetryDelay, h.MaxDelay), runID, docs, log)
}

// RecheckDelay is the DelaySeconds of a message that should wait d: d rounded up to whole
// seconds, at most maxDelay (and SQS's 900 s), at least 1. Never 0: the SDK omits a zero
// DelaySeconds, and SQS then applies the queue's default delay (the grace period, up to 900 s)
// instead of none.
func RecheckDelay(d, maxDelay time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	s = min(s, math.Floor(maxDelay.Seconds()), 900)
	return int32(max(s, 1))
}

// recheck sends the event's recheck when instances are left to decide, with the shortest delay
// any of them needs.
func (r *eventRun) recheck(ctx context.Context) error {
	if len(r.waits) == 0 {
		return nil
	}
	h, st := r.h, r.st
	ids := make([]string, len(r.waits))
	shortest := r.waits[0].delay
	for i, w := range r.waits {
		ids[i] = w.id
		shortest = min(shortest, w.delay)
	}
	st.Pending = ids
	st.Attempt++
	listed := 0
	if st.Rollup != nil {
		listed = len(st.Rollup.Violators)
	}
	body, err := st.Encode()
	if err != nil {
		return err
	}
	if st.Rollup != nil && len(st.Rollup.Violators) < listed {
		r.log.WarnContext(ctx, "the recheck's rollup lists fewer violators to fit in a queue message; the others are counted in violators_omitted",
			"violators_listed", len(st.Rollup.Violators), "violators_omitted", st.Rollup.ViolatorsOmitted)
	}
	delay := RecheckDelay(shortest, h.MaxDelay)
	if _, err := h.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(h.QueueURL),
		MessageBody:  aws.String(body),
		DelaySeconds: delay,
	}); err != nil {
		return fmt.Errorf("sending the recheck of event %s: %w", st.EventID, err)
	}
	r.log.InfoContext(ctx, "recheck sent", logkey.InstanceIDs, ids, logkey.Delay, delay, "next_attempt", st.Attempt)
	return nil
}

// keyedLocks serialises work on the same key.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu    sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
