package enforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// Target is a violator chosen for action, as the deciding read saw it.
type Target struct {
	Instance Instance
	Decision Decision
}

// Result is what happened to one target.
type Result struct {
	// Instance and Decision are of one read: the second read when it decided the instance again,
	// otherwise the first (an instance found gone keeps the first read's tags, with its latest
	// state).
	Instance Instance
	Decision Decision
	Outcome  document.Outcome
	// Err is why the action failed (Outcome Failed).
	Err error
	// Note says what a reader of the document should know, such as "already stopped".
	Note string
	// The protection flags as they were before awsaudit touched them; nil when not read.
	DisableAPITermination, DisableAPIStop *bool
}

// Actor takes the safe actions. Before acting it reads each instance again and decides it again;
// it records both protection flags, turns them off only as far as the action needs, and turns
// them back on if the action then fails; it acts in small per-Availability-Zone batches and, when
// a batch call fails, reads the states again and retries each instance that did not change on its
// own, so every instance gets its real outcome and one failure never stops the others. An
// instance that disappears on the way (terminated by someone else, no longer listed) is gone, not
// failed.
type Actor struct {
	Policy *Policy
	// Users checks IAM users when re-deciding; nil when the policy checks none.
	Users *Users
	Now   func() time.Time
	Log   *slog.Logger
	// BatchSize is the most instances in one stop or terminate call (default 50).
	BatchSize int
	// RestoreBy, when set, bounds turning protection back on, which runs on a context of its own
	// (the action's has often ended, which is why it failed) for at most restoreTimeout: an
	// invocation keeps the time it needs after acting (to write, spool and log). Restoring gets
	// at least minRestore even when RestoreBy has passed.
	RestoreBy func() time.Time
}

const defaultBatchSize = 50

// Act stops or terminates the targets, all in region, and returns one result per target in the
// targets' order. action must be stop or terminate.
func (a *Actor) Act(ctx context.Context, api EC2API, region string, action Action, targets []Target) []Result {
	results := make([]Result, len(targets))
	for i, t := range targets {
		results[i] = Result{Instance: t.Instance, Decision: t.Decision}
	}
	if !action.Destructive() {
		for i := range results {
			results[i].Outcome, results[i].Err = document.Failed, fmt.Errorf("action %q does not act", action)
		}
		return results
	}
	if len(targets) == 0 {
		return results
	}
	live := a.secondRead(ctx, api, region, action, results)
	ready := a.unprotect(ctx, api, action, results, live)
	a.execute(ctx, api, region, action, results, ready)
	for _, i := range ready {
		r := &results[i]
		switch {
		case r.Outcome == document.Failed:
			a.restore(ctx, api, action, r)
		case r.Outcome == document.Stopped && aws.ToBool(r.DisableAPIStop):
			// The instance lives on, stopped: its owner's stop protection goes back on.
			a.restoreStopProtection(ctx, api, r)
		}
	}
	for i := range results {
		r := &results[i]
		lvl := slog.LevelInfo
		if r.Outcome == document.Failed {
			lvl = slog.LevelError
		}
		attrs := []any{logkey.Region, region, logkey.InstanceID, r.Instance.ID, logkey.Action, string(action), logkey.Outcome, string(r.Outcome)}
		if r.Err != nil {
			attrs = append(attrs, logkey.Error, r.Err.Error())
		}
		a.Log.Log(ctx, lvl, "acted on violator", attrs...)
	}
	return results
}

// secondRead reads the targets again just before acting and decides them again. It returns the
// indexes of the results still to act on; the others have their outcome.
func (a *Actor) secondRead(ctx context.Context, api EC2API, region string, action Action, results []Result) []int {
	ids := make([]string, len(results))
	for i := range results {
		ids[i] = results[i].Instance.ID
	}
	fresh, err := ReadInstances(ctx, api, region, ids)
	if err != nil {
		for i := range results {
			results[i].Outcome, results[i].Err = document.Failed, fmt.Errorf("second read before acting: %w", err)
		}
		return nil
	}
	now := a.Now()
	var live []int
	for i := range results {
		r := &results[i]
		in, ok := fresh[r.Instance.ID]
		if !ok {
			r.Outcome, r.Note = document.Gone, "not found by the second read"
			continue
		}
		if in.Gone() {
			// Not decided again: the document keeps the first read's tags and verdict.
			r.Instance.State = in.State
			r.Outcome, r.Note = document.Gone, "already "+in.State
			continue
		}
		r.Instance = in
		var facts *Facts
		if a.Users != nil {
			facts, _ = a.Users.Facts(ctx, a.Policy.IAMUserNames(in.Tags))
		}
		r.Decision = Decide(&in, a.Policy, facts, now)
		switch r.Decision.Verdict {
		case Violator:
		case Compliant:
			r.Outcome, r.Note = document.NowCompliant, "tagged since the first read"
			continue
		default:
			// Exempt, in grace, managed, unknown (an IAM lookup failed) or the canary now: not
			// acted on, and not compliant either.
			r.Outcome, r.Note = document.Reported, "second read: "+string(r.Decision.Verdict)+"; not acted on"
			continue
		}
		if action == ActionStop && (in.State == "stopped" || in.State == "stopping") {
			r.Outcome, r.Note = document.Reported, "already "+in.State+"; nothing done"
			continue
		}
		live = append(live, i)
	}
	return live
}

// unprotect reads and records both protection flags of the live results, whatever the action,
// and turns off those the action needs off. It returns the indexes ready to act on.
func (a *Actor) unprotect(ctx context.Context, api EC2API, action Action, results []Result, live []int) []int {
	var ready []int
	for _, i := range live {
		r := &results[i]
		if a.readProtection(ctx, api, r) && a.lift(ctx, api, action, r) {
			ready = append(ready, i)
		}
	}
	return ready
}

// readProtection records both flags: the document says how the instance was protected before
// awsaudit touched it, in stop mode too. It reports whether r is still to act on.
func (a *Actor) readProtection(ctx context.Context, api EC2API, r *Result) bool {
	id := r.Instance.ID
	stop, err := readFlag(ctx, api, id, types.InstanceAttributeNameDisableApiStop)
	if err == nil {
		r.DisableAPIStop = aws.Bool(stop)
		var term bool
		if term, err = readFlag(ctx, api, id, types.InstanceAttributeNameDisableApiTermination); err == nil {
			r.DisableAPITermination = aws.Bool(term)
			return true
		}
	}
	if awsapi.IsInstanceNotFound(err) {
		r.Outcome, r.Note = document.Gone, "not found when its protection was read"
		return false
	}
	r.Outcome, r.Err = document.Failed, err
	return false
}

// lift turns off the protection the action needs off: terminating needs both off (stop
// protection also blocks termination), stopping needs stop protection off; termination
// protection stays as it is for a stop. It reports whether r is ready to act on.
func (a *Actor) lift(ctx context.Context, api EC2API, action Action, r *Result) bool {
	id := r.Instance.ID
	if action == ActionTerminate && aws.ToBool(r.DisableAPITermination) {
		if err := setFlag(ctx, api, id, types.InstanceAttributeNameDisableApiTermination, false); err != nil {
			a.abandon(ctx, api, action, r, err)
			return false
		}
	}
	if aws.ToBool(r.DisableAPIStop) {
		if err := setFlag(ctx, api, id, types.InstanceAttributeNameDisableApiStop, false); err != nil {
			a.abandon(ctx, api, action, r, err)
			return false
		}
	}
	return true
}

// abandon gives up on r after a failed protection change: gone when the instance is not found
// any more, otherwise failed. Either way the protection turned off so far goes back on, since
// the change may have been made although its answer was lost; for an instance truly gone that
// finds nothing, and its not-found answer is no error.
func (a *Actor) abandon(ctx context.Context, api EC2API, action Action, r *Result, err error) {
	if awsapi.IsInstanceNotFound(err) {
		r.Outcome, r.Note = document.Gone, "not found when its protection was changed"
	} else {
		r.Outcome, r.Err = document.Failed, err
	}
	a.restore(ctx, api, action, r)
}

// restoreTimeout bounds turning protection back on, which runs even when the action's context
// has ended: its end is often why the action failed. minRestore is the least it gets.
const (
	restoreTimeout = 30 * time.Second
	minRestore     = 3 * time.Second
)

// restoreContext returns the context protection is turned back on with: not canceled with ctx,
// ending after restoreTimeout or at RestoreBy, whichever is first, but not before minRestore.
func (a *Actor) restoreContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := restoreTimeout
	if a.RestoreBy != nil {
		d = max(min(d, time.Until(a.RestoreBy())), minRestore)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// restore turns back on the protection awsaudit turned off for a result whose action failed.
// An instance that no longer exists has nothing left to protect: its not-found answer is no
// error.
func (a *Actor) restore(ctx context.Context, api EC2API, action Action, r *Result) {
	ctx, cancel := a.restoreContext(ctx)
	defer cancel()
	var errs []error
	if action == ActionTerminate && aws.ToBool(r.DisableAPITermination) {
		if err := setFlag(ctx, api, r.Instance.ID, types.InstanceAttributeNameDisableApiTermination, true); err != nil && !awsapi.IsInstanceNotFound(err) {
			errs = append(errs, err)
		}
	}
	if aws.ToBool(r.DisableAPIStop) {
		if err := setFlag(ctx, api, r.Instance.ID, types.InstanceAttributeNameDisableApiStop, true); err != nil && !awsapi.IsInstanceNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		err := fmt.Errorf("restoring protection after the failed action: %w", errors.Join(errs...))
		r.Err = errors.Join(r.Err, err)
		a.Log.ErrorContext(ctx, "protection left off", logkey.InstanceID, r.Instance.ID, logkey.Error, err.Error())
	}
}

// restoreStopProtection turns stop protection back on after a successful stop.
func (a *Actor) restoreStopProtection(ctx context.Context, api EC2API, r *Result) {
	ctx, cancel := a.restoreContext(ctx)
	defer cancel()
	if err := setFlag(ctx, api, r.Instance.ID, types.InstanceAttributeNameDisableApiStop, true); err != nil && !awsapi.IsInstanceNotFound(err) {
		err = fmt.Errorf("turning stop protection back on after the stop: %w", err)
		r.Note = strings.TrimPrefix(r.Note+"; "+err.Error(), "; ")
		a.Log.ErrorContext(ctx, "stop protection left off", logkey.InstanceID, r.Instance.ID, logkey.Error, err.Error())
	}
}

func readFlag(ctx context.Context, api EC2API, id string, attr types.InstanceAttributeName) (bool, error) {
	out, err := api.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: attr})
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", attr, err)
	}
	var v *types.AttributeBooleanValue
	switch attr {
	case types.InstanceAttributeNameDisableApiTermination:
		v = out.DisableApiTermination
	case types.InstanceAttributeNameDisableApiStop:
		v = out.DisableApiStop
	}
	return v != nil && aws.ToBool(v.Value), nil
}

func setFlag(ctx context.Context, api EC2API, id string, attr types.InstanceAttributeName, on bool) error {
	in := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id)}
	v := &types.AttributeBooleanValue{Value: aws.Bool(on)}
	switch attr {
	case types.InstanceAttributeNameDisableApiTermination:
		in.DisableApiTermination = v
	case types.InstanceAttributeNameDisableApiStop:
		in.DisableApiStop = v
	}
	if _, err := api.ModifyInstanceAttribute(ctx, in); err != nil {
		return fmt.Errorf("setting %s to %t: %w", attr, on, err)
	}
	return nil
}

// execute acts on the ready results in per-Availability-Zone batches.
func (a *Actor) execute(ctx context.Context, api EC2API, region string, action Action, results []Result, ready []int) {
	size := a.BatchSize
	if size <= 0 {
		size = defaultBatchSize
	}
	byZone := map[string][]int{}
	var zones []string
	for _, i := range ready {
		z := results[i].Instance.AvailabilityZone
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], i)
	}
	slices.Sort(zones)
	for _, z := range zones {
		for batch := range slices.Chunk(byZone[z], size) {
			a.actBatch(ctx, api, region, action, results, batch)
		}
	}
}

// actBatch acts on one batch. When the call fails, AWS may still have acted on some of the
// instances (those in other zones, or all but the one it refused, or all of them when only the
// answer was lost), so the states are read again: an instance the action reached has its outcome,
// one no longer there is gone, and each of the others is tried on its own.
func (a *Actor) actBatch(ctx context.Context, api EC2API, region string, action Action, results []Result, batch []int) {
	ids := make([]string, len(batch))
	for k, i := range batch {
		ids[k] = results[i].Instance.ID
	}
	states, err := call(ctx, api, action, ids)
	if err == nil {
		for _, i := range batch {
			results[i].Outcome = success(action)
			results[i].setState(states)
		}
		return
	}
	a.Log.WarnContext(ctx, "batch action failed; reading states again", logkey.Region, region, logkey.Action, string(action), logkey.Count, len(ids), logkey.Error, err.Error())
	reread, rerr := ReadInstances(ctx, api, region, ids)
	for _, i := range batch {
		r := &results[i]
		if rerr == nil && r.settle(action, reread) {
			continue
		}
		err := err
		if len(batch) > 1 {
			var states map[string]string
			if states, err = call(ctx, api, action, []string{r.Instance.ID}); err == nil {
				r.Outcome = success(action)
				r.setState(states)
				continue
			}
		}
		// The error of a call for this instance alone says whether EC2 knows it any more.
		if a.vanished(ctx, api, region, r, err) {
			continue
		}
		r.Outcome, r.Err = document.Failed, fmt.Errorf("%s: %w", action, err)
	}
}

// settle gives r its outcome from the states read again after a failed batch call, when they
// tell it, and reports whether they did. A state the action leads to means it happened (our call
// did it, its answer lost); shutting down or terminated when we were stopping it means someone
// else ended it: gone. An instance absent from the read is not taken as gone on that alone (a
// listing can lag, and its protection may be off): its own call says, NotFound meaning gone.
func (r *Result) settle(action Action, reread map[string]Instance) bool {
	in, ok := reread[r.Instance.ID]
	switch {
	case !ok:
		return false
	case reached(action, in.State):
		r.Instance.State = in.State
		r.Outcome = success(action)
	case in.Gone():
		r.Instance.State = in.State
		r.Outcome, r.Note = document.Gone, in.State+" before it could be "+string(success(action))
	default:
		return false
	}
	return true
}

// vanished reports whether the error of r's own call says the instance is gone, and if so
// records it: the instance id is no longer found, or the instance is in the wrong state for the
// call and a read shows it shutting down, terminated or absent.
func (a *Actor) vanished(ctx context.Context, api EC2API, region string, r *Result, err error) bool {
	switch {
	case awsapi.IsInstanceNotFound(err):
		r.Outcome, r.Note = document.Gone, "not found when acted on"
		return true
	case awsapi.IsIncorrectState(err):
		fresh, rerr := ReadInstances(ctx, api, region, []string{r.Instance.ID})
		if rerr != nil {
			return false
		}
		in, ok := fresh[r.Instance.ID]
		switch {
		case !ok:
			r.Outcome, r.Note = document.Gone, "not found when acted on"
		case in.Gone():
			r.Instance.State = in.State
			r.Outcome, r.Note = document.Gone, "already "+in.State+" when acted on"
		default:
			return false
		}
		return true
	}
	return false
}

// setState records the state the action's answer reported for the instance.
func (r *Result) setState(states map[string]string) {
	if s, ok := states[r.Instance.ID]; ok && s != "" {
		r.Instance.State = s
	}
}

// call stops or terminates ids and returns the states the answer reports.
func call(ctx context.Context, api EC2API, action Action, ids []string) (map[string]string, error) {
	var changes []types.InstanceStateChange
	switch action {
	case ActionTerminate:
		out, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		if err != nil {
			return nil, err
		}
		changes = out.TerminatingInstances
	case ActionStop:
		out, err := api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
		if err != nil {
			return nil, err
		}
		changes = out.StoppingInstances
	}
	states := make(map[string]string, len(changes))
	for _, c := range changes {
		if c.CurrentState != nil {
			states[aws.ToString(c.InstanceId)] = string(c.CurrentState.Name)
		}
	}
	return states, nil
}

func success(action Action) document.Outcome {
	if action == ActionStop {
		return document.Stopped
	}
	return document.Terminated
}

// reached reports whether state shows the action happened.
func reached(action Action, state string) bool {
	if action == ActionStop {
		return state == "stopping" || state == "stopped"
	}
	return state == "shutting-down" || state == "terminated"
}
