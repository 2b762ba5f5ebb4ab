package enforcer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/awsaudit/awsaudit/internal/document"
)

// fakeInstance is one instance in fakeEC2.
type fakeInstance struct {
	zone, state   string
	tags          []Tag
	protectTerm   bool
	protectStop   bool
	failTerminate error // TerminateInstances naming this instance fails with this
	failStop      error // StopInstances naming this instance fails with this
	failModify    error
}

// fakeEC2 models AWS (not moto): a TerminateInstances call naming a protected instance fails as a
// whole, spares the instances in that instance's Availability Zone, and still terminates those
// in other zones; stop protection blocks termination too. An instance id it does not hold is
// InvalidInstanceID.NotFound, and fails a stop or terminate call whole; so does stopping an
// instance shutting down or terminated (IncorrectInstanceState).
type fakeEC2 struct {
	EC2API
	mu        sync.Mutex
	instances map[string]*fakeInstance
	calls     []string
	failRead  error
	// hidden instances are left out of DescribeInstances answers (a listing that lags).
	hidden map[string]bool
	// before, when set, runs (under the lock) at the start of every call but DescribeInstances,
	// with the ids it names: it changes the world between the reads and the action.
	before func(op string, ids []string)
	// loseAnswers, when set, is what a stop or terminate call answers after it has acted: the
	// action happened, its answer was lost.
	loseAnswers error
}

func newFakeEC2() *fakeEC2 { return &fakeEC2{instances: map[string]*fakeInstance{}} }

func (f *fakeEC2) add(id, zone, state string, kv ...string) *fakeInstance {
	in := &fakeInstance{zone: zone, state: state, tags: tags(kv...)}
	f.instances[id] = in
	return in
}

func (f *fakeEC2) record(op string, ids ...string) {
	f.calls = append(f.calls, op+" "+strings.Join(ids, ","))
	if f.before != nil && op != "DescribeInstances" {
		f.before(op, ids)
	}
}

// missing returns the error AWS answers for the first of ids that names no instance.
func (f *fakeEC2) missing(ids []string) error {
	for _, id := range ids {
		if _, ok := f.instances[id]; !ok {
			return apiErr("InvalidInstanceID.NotFound")
		}
	}
	return nil
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DescribeInstances")
	if in.InstanceIds != nil {
		return nil, errors.New("use the instance-id filter, not InstanceIds")
	}
	if f.failRead != nil {
		return nil, f.failRead
	}
	var out []types.Instance
	for _, flt := range in.Filters {
		if aws.ToString(flt.Name) != "instance-id" {
			continue
		}
		for _, id := range flt.Values {
			fi, ok := f.instances[id]
			if !ok || f.hidden[id] {
				continue
			}
			var ts []types.Tag
			for _, t := range fi.tags {
				ts = append(ts, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
			}
			out = append(out, types.Instance{
				InstanceId: aws.String(id), State: &types.InstanceState{Name: types.InstanceStateName(fi.state)},
				Placement: &types.Placement{AvailabilityZone: aws.String(fi.zone)}, LaunchTime: aws.Time(now.Add(-time.Hour)), Tags: ts,
			})
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: out}}}, nil
}

func (f *fakeEC2) DescribeInstanceAttribute(_ context.Context, in *ec2.DescribeInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.InstanceId)
	f.record("DescribeInstanceAttribute:"+string(in.Attribute), id)
	if err := f.missing([]string{id}); err != nil {
		return nil, err
	}
	fi := f.instances[id]
	out := &ec2.DescribeInstanceAttributeOutput{InstanceId: in.InstanceId}
	switch in.Attribute {
	case types.InstanceAttributeNameDisableApiTermination:
		out.DisableApiTermination = &types.AttributeBooleanValue{Value: aws.Bool(fi.protectTerm)}
	case types.InstanceAttributeNameDisableApiStop:
		out.DisableApiStop = &types.AttributeBooleanValue{Value: aws.Bool(fi.protectStop)}
	}
	return out, nil
}

func (f *fakeEC2) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.InstanceId)
	fi := f.instances[id]
	if in.DisableApiTermination != nil {
		f.record("Modify:term="+strings.ToLower(aws.ToString(boolStr(in.DisableApiTermination.Value))), id)
		if err := f.missing([]string{id}); err != nil {
			return nil, err
		}
		if fi.failModify != nil {
			return nil, fi.failModify
		}
		fi.protectTerm = aws.ToBool(in.DisableApiTermination.Value)
	}
	if in.DisableApiStop != nil {
		f.record("Modify:stop="+strings.ToLower(aws.ToString(boolStr(in.DisableApiStop.Value))), id)
		if err := f.missing([]string{id}); err != nil {
			return nil, err
		}
		if fi.failModify != nil {
			return nil, fi.failModify
		}
		fi.protectStop = aws.ToBool(in.DisableApiStop.Value)
	}
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

func boolStr(b *bool) *string {
	if aws.ToBool(b) {
		return aws.String("true")
	}
	return aws.String("false")
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("TerminateInstances", in.InstanceIds...)
	if err := f.missing(in.InstanceIds); err != nil {
		return nil, err
	}
	var blockedZones []string
	var err error
	for _, id := range in.InstanceIds {
		fi := f.instances[id]
		switch {
		case fi.failTerminate != nil:
			err = fi.failTerminate
			blockedZones = append(blockedZones, fi.zone)
		case fi.protectTerm || fi.protectStop:
			err = apiErr("OperationNotPermitted")
			blockedZones = append(blockedZones, fi.zone)
		}
	}
	for _, id := range in.InstanceIds {
		fi := f.instances[id]
		if !slices.Contains(blockedZones, fi.zone) {
			fi.state = "shutting-down"
		}
	}
	if err != nil {
		return nil, err
	}
	if f.loseAnswers != nil {
		return nil, f.loseAnswers
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopInstances", in.InstanceIds...)
	if err := f.missing(in.InstanceIds); err != nil {
		return nil, err
	}
	for _, id := range in.InstanceIds {
		fi := f.instances[id]
		switch {
		case fi.failStop != nil:
			return nil, fi.failStop
		case fi.protectStop:
			return nil, apiErr("OperationNotPermitted")
		case fi.state == "shutting-down" || fi.state == "terminated":
			return nil, apiErr("IncorrectInstanceState")
		}
	}
	for _, id := range in.InstanceIds {
		f.instances[id].state = "stopping"
	}
	if f.loseAnswers != nil {
		return nil, f.loseAnswers
	}
	return &ec2.StopInstancesOutput{}, nil
}

func (f *fakeEC2) called(prefix string) []string {
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func actor() *Actor {
	p := New("created_by", "project")
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return &Actor{Policy: p, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func target(id, zone string) Target {
	return Target{Instance: Instance{ID: id, Region: "us-east-1", AvailabilityZone: zone, State: "running"}, Decision: Decision{Verdict: Violator}}
}

func outcomes(rs []Result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Instance.ID+"="+string(r.Outcome))
	}
	return strings.Join(s, " ")
}

func TestActTerminateHandlesEveryCase(t *testing.T) {
	f := newFakeEC2()
	f.add("i-plain", "us-east-1a", "running", "created_by=bob")
	f.add("i-fixed", "us-east-1a", "running", "created_by=bob", "project=web") // tagged since the first read
	f.add("i-ending", "us-east-1a", "shutting-down")
	f.add("i-term", "us-east-1a", "running").protectTerm = true
	f.add("i-stopprot", "us-east-1b", "stopped").protectStop = true
	a := actor()
	rs := a.Act(context.Background(), f, "us-east-1", ActionTerminate, []Target{
		target("i-plain", "us-east-1a"), target("i-fixed", "us-east-1a"), target("i-gone", "us-east-1a"),
		target("i-ending", "us-east-1a"), target("i-term", "us-east-1a"), target("i-stopprot", "us-east-1b"),
	})
	want := "i-plain=terminated i-fixed=now_compliant i-gone=gone i-ending=gone i-term=terminated i-stopprot=terminated"
	if got := outcomes(rs); got != want {
		t.Fatalf("outcomes\n got %s\nwant %s", got, want)
	}
	if !aws.ToBool(rs[4].DisableAPITermination) || aws.ToBool(rs[4].DisableAPIStop) {
		t.Errorf("i-term prior protection = %v/%v, want termination on, stop off", aws.ToBool(rs[4].DisableAPITermination), aws.ToBool(rs[4].DisableAPIStop))
	}
	if !aws.ToBool(rs[5].DisableAPIStop) {
		t.Errorf("i-stopprot prior stop protection not recorded")
	}
	if rs[0].DisableAPITermination == nil || rs[0].DisableAPIStop == nil {
		t.Errorf("unprotected instance's flags were not recorded")
	}
	// One batch per zone, the instances that were not acted on left out.
	if got := f.called("TerminateInstances"); strings.Join(got, "|") != "TerminateInstances i-plain,i-term|TerminateInstances i-stopprot" {
		t.Errorf("terminate calls = %q", got)
	}
	for _, id := range []string{"i-fixed", "i-gone", "i-ending"} {
		if len(f.called("DescribeInstanceAttribute:disableApiTermination "+id)) != 0 {
			t.Errorf("%s: protection read although it was not acted on", id)
		}
	}
	if f.instances["i-fixed"].state != "running" {
		t.Error("the instance tagged since the first read was terminated")
	}
	if !strings.HasPrefix(f.calls[0], "DescribeInstances") {
		t.Errorf("first call = %s, want the second read", f.calls[0])
	}
}

func TestActStopNeedsOnlyStopProtectionOff(t *testing.T) {
	f := newFakeEC2()
	f.add("i-run", "us-east-1a", "running").protectTerm = true
	f.add("i-sp", "us-east-1a", "running").protectStop = true
	f.add("i-stopped", "us-east-1a", "stopped")
	rs := actor().Act(context.Background(), f, "us-east-1", ActionStop, []Target{target("i-run", "us-east-1a"), target("i-sp", "us-east-1a"), target("i-stopped", "us-east-1a")})
	if got := outcomes(rs); got != "i-run=stopped i-sp=stopped i-stopped=reported" {
		t.Fatalf("outcomes %s", got)
	}
	if rs[2].Note == "" || !strings.Contains(rs[2].Note, "already stopped") {
		t.Errorf("already-stopped note = %q", rs[2].Note)
	}
	// Both flags are read and recorded, in stop mode too; only stop protection is changed.
	if len(f.called("Modify:term")) != 0 {
		t.Errorf("stopping changed termination protection: %q", f.calls)
	}
	for _, id := range []string{"i-run", "i-sp"} {
		for _, attr := range []string{"disableApiTermination", "disableApiStop"} {
			if n := len(f.called("DescribeInstanceAttribute:" + attr + " " + id)); n != 1 {
				t.Errorf("%s: %s read %d times, want once", id, attr, n)
			}
		}
	}
	if len(f.called("DescribeInstanceAttribute:disableApiTermination i-stopped")) != 0 {
		t.Error("protection read for an instance already stopped")
	}
	if !aws.ToBool(rs[0].DisableAPITermination) || aws.ToBool(rs[0].DisableAPIStop) {
		t.Errorf("i-run recorded termination %v stop %v, want true/false", rs[0].DisableAPITermination, rs[0].DisableAPIStop)
	}
	if rs[1].DisableAPITermination == nil || aws.ToBool(rs[1].DisableAPITermination) {
		t.Errorf("i-sp recorded termination protection %v, want false", rs[1].DisableAPITermination)
	}
	if rs[2].DisableAPITermination != nil || rs[2].DisableAPIStop != nil {
		t.Error("flags recorded for an instance not acted on")
	}
	if !f.instances["i-run"].protectTerm {
		t.Error("termination protection was turned off for a stop")
	}
	if got := f.called("StopInstances"); strings.Join(got, "|") != "StopInstances i-run,i-sp" {
		t.Errorf("stop calls %q", got)
	}
	// The stopped instance's owner's stop protection goes back on.
	if !f.instances["i-sp"].protectStop || !aws.ToBool(rs[1].DisableAPIStop) {
		t.Error("stop protection not turned back on after a successful stop")
	}
}

// When a batch call fails, AWS still acts in the other zones: states are read again and each
// instance that did not change is tried on its own; protection turned off for a failed one is
// turned back on.
func TestActFailedBatchGetsRealOutcomes(t *testing.T) {
	f := newFakeEC2()
	f.add("i-a1", "us-east-1a", "running")
	bad := f.add("i-a2", "us-east-1a", "running")
	bad.protectTerm = true
	bad.failTerminate = apiErr("InternalError")
	f.add("i-a3", "us-east-1a", "running")
	rs := actor().Act(context.Background(), f, "us-east-1", ActionTerminate, []Target{target("i-a1", "us-east-1a"), target("i-a2", "us-east-1a"), target("i-a3", "us-east-1a")})
	if got := outcomes(rs); got != "i-a1=terminated i-a2=failed i-a3=terminated" {
		t.Fatalf("outcomes %s", got)
	}
	if rs[1].Err == nil || !strings.Contains(rs[1].Err.Error(), "InternalError") {
		t.Errorf("failed instance error = %v", rs[1].Err)
	}
	if !bad.protectTerm {
		t.Error("termination protection left off after the failed termination")
	}
	if got := f.called("TerminateInstances"); len(got) != 4 {
		t.Errorf("terminate calls %q, want the batch then each instance on its own", got)
	}
}

func TestActBatchesBySizeAndZone(t *testing.T) {
	f := newFakeEC2()
	var ts []Target
	for _, id := range []string{"i-1", "i-2", "i-3", "i-4", "i-5"} {
		zone := "us-east-1a"
		if id == "i-5" {
			zone = "us-east-1c"
		}
		f.add(id, zone, "running")
		ts = append(ts, target(id, zone))
	}
	a := actor()
	a.BatchSize = 2
	a.Act(context.Background(), f, "us-east-1", ActionTerminate, ts)
	if got := strings.Join(f.called("TerminateInstances"), "|"); got != "TerminateInstances i-1,i-2|TerminateInstances i-3,i-4|TerminateInstances i-5" {
		t.Fatalf("batches %s", got)
	}
}

func TestActSecondReadFailureActsOnNothing(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "us-east-1a", "running")
	f.failRead = apiErr("RequestLimitExceeded")
	rs := actor().Act(context.Background(), f, "us-east-1", ActionTerminate, []Target{target("i-1", "us-east-1a")})
	if rs[0].Outcome != document.Failed || !strings.Contains(rs[0].Err.Error(), "second read") {
		t.Fatalf("result %+v", rs[0])
	}
	if len(f.called("TerminateInstances")) != 0 || f.instances["i-1"].state != "running" {
		t.Fatal("acted without a second read")
	}
}

func TestActProtectionChangeFailureRestores(t *testing.T) {
	f := newFakeEC2()
	in := f.add("i-1", "us-east-1a", "running")
	in.protectTerm, in.protectStop = true, true
	a := actor()
	// Turning termination protection off works, turning stop protection off fails: termination
	// protection must be turned back on.
	calls := 0
	wrapped := &modifyFailsOnce{fakeEC2: f, failOn: "stop", count: &calls}
	rs := a.Act(context.Background(), wrapped, "us-east-1", ActionTerminate, []Target{target("i-1", "us-east-1a")})
	if rs[0].Outcome != document.Failed {
		t.Fatalf("outcome %s", rs[0].Outcome)
	}
	if !in.protectTerm || !in.protectStop || in.state != "running" {
		t.Fatalf("instance left term=%v stop=%v state=%s", in.protectTerm, in.protectStop, in.state)
	}
}

// modifyFailsOnce fails ModifyInstanceAttribute calls that turn the named protection off.
type modifyFailsOnce struct {
	*fakeEC2
	failOn string
	count  *int
}

func (m *modifyFailsOnce) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, o ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	if m.failOn == "stop" && in.DisableApiStop != nil && !aws.ToBool(in.DisableApiStop.Value) {
		return nil, apiErr("UnauthorizedOperation")
	}
	return m.fakeEC2.ModifyInstanceAttribute(ctx, in, o...)
}

func TestActRefusesReport(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "us-east-1a", "running")
	rs := actor().Act(context.Background(), f, "us-east-1", ActionReport, []Target{target("i-1", "us-east-1a")})
	if rs[0].Outcome != document.Failed || len(f.calls) != 0 {
		t.Fatalf("report acted: %+v %q", rs[0], f.calls)
	}
}

// A context that ends during the action (a Lambda deadline, Ctrl-C) must not leave protection
// off: restoring runs on a context of its own.
func TestActCanceledActionStillRestoresProtection(t *testing.T) {
	f := newFakeEC2()
	in := f.add("i-1", "us-east-1a", "running")
	in.protectTerm, in.protectStop = true, true
	ctx, cancel := context.WithCancel(context.Background())
	rs := actor().Act(ctx, &cancelOnTerminate{fakeEC2: f, cancel: cancel}, "us-east-1", ActionTerminate, []Target{target("i-1", "us-east-1a")})
	if rs[0].Outcome != document.Failed {
		t.Fatalf("outcome %s", rs[0].Outcome)
	}
	if !in.protectTerm || !in.protectStop {
		t.Fatalf("protection left off: term=%v stop=%v", in.protectTerm, in.protectStop)
	}
}

// Turning protection back on is bounded by RestoreBy (so an invocation keeps its time to write
// and spool), but always gets at least minRestore; without RestoreBy, restoreTimeout.
func TestActRestoreDeadline(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		name      string
		restoreBy func() time.Time
		min, max  time.Duration // the restore context's time left, measured from start
	}{
		{"no bound", nil, restoreTimeout - time.Second, restoreTimeout + time.Second},
		{"RestoreBy first", func() time.Time { return start.Add(10 * time.Second) }, 9 * time.Second, 11 * time.Second},
		{"RestoreBy passed", func() time.Time { return start.Add(-time.Minute) }, minRestore - time.Second, minRestore + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			f.add("i-1", "us-east-1a", "running").protectTerm = true
			f.instances["i-1"].failTerminate = apiErr("InternalError")
			rec := &deadlineRecorder{fakeEC2: f}
			a := actor()
			a.RestoreBy = tc.restoreBy
			rs := a.Act(context.Background(), rec, "us-east-1", ActionTerminate, []Target{target("i-1", "us-east-1a")})
			if rs[0].Outcome != document.Failed || !f.instances["i-1"].protectTerm {
				t.Fatalf("outcome %s, protection back on %v", rs[0].Outcome, f.instances["i-1"].protectTerm)
			}
			if rec.restore.IsZero() {
				t.Fatal("the restore had no deadline")
			}
			if left := rec.restore.Sub(start); left < tc.min || left > tc.max {
				t.Errorf("the restore's context ends %s after the start, want between %s and %s", left, tc.min, tc.max)
			}
		})
	}
}

// deadlineRecorder records the deadline of the context protection is turned back on with.
type deadlineRecorder struct {
	*fakeEC2
	restore time.Time
}

func (d *deadlineRecorder) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, o ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	if v := in.DisableApiTermination; v != nil && aws.ToBool(v.Value) {
		d.restore, _ = ctx.Deadline()
	}
	return d.fakeEC2.ModifyInstanceAttribute(ctx, in, o...)
}

// cancelOnTerminate cancels the context while TerminateInstances is in flight, and fails it.
type cancelOnTerminate struct {
	*fakeEC2
	cancel func()
}

func (c *cancelOnTerminate) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, o ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	c.cancel()
	return nil, context.Canceled
}

func (c *cancelOnTerminate) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, o ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.fakeEC2.ModifyInstanceAttribute(ctx, in, o...)
}

// Only an instance now compliant is now_compliant; one now exempt, in grace or undecidable is
// reported and left alone.
func TestActSecondReadOtherVerdicts(t *testing.T) {
	f := newFakeEC2()
	f.add("i-exempt", "us-east-1a", "running", "awsaudit:exempt=2026-12-01; migration")
	f.add("i-ok", "us-east-1a", "running", "created_by=bob", "project=web")
	rs := actor().Act(context.Background(), f, "us-east-1", ActionTerminate, []Target{target("i-exempt", "us-east-1a"), target("i-ok", "us-east-1a")})
	if got := outcomes(rs); got != "i-exempt=reported i-ok=now_compliant" {
		t.Fatalf("outcomes %s", got)
	}
	if !strings.Contains(rs[0].Note, "second read: exempt") {
		t.Errorf("note %q", rs[0].Note)
	}
	if len(f.called("TerminateInstances")) != 0 {
		t.Error("acted on an instance the second read did not find a violator")
	}
}

// An instance that disappears between the second read and the action is gone, not failed: in
// stop mode one terminated meanwhile (AWS fails the whole StopInstances call with
// IncorrectInstanceState), in terminate mode one no longer listed (InvalidInstanceID.NotFound).
// The protection awsaudit turned off is not turned back on for an instance that is gone.
func TestActInstanceGoneBeforeTheActionIsGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action Action
		vanish func(f *fakeEC2, id string)
		want   string
		call   string
		calls  string // the action calls made, in order
	}{
		// The re-read shows i-b terminated: gone, with no call of its own.
		{"stop, terminated meanwhile", ActionStop, func(f *fakeEC2, id string) { f.instances[id].state = "terminated" },
			"i-a=stopped i-b=gone i-c=gone", "StopInstances", "StopInstances i-a,i-b|StopInstances i-a|StopInstances i-c"},
		// Absent from the re-read is not enough: i-b's own call answers NotFound.
		{"stop, no longer listed", ActionStop, func(f *fakeEC2, id string) { delete(f.instances, id) },
			"i-a=stopped i-b=gone i-c=gone", "StopInstances", "StopInstances i-a,i-b|StopInstances i-a|StopInstances i-b|StopInstances i-c"},
		{"terminate, no longer listed", ActionTerminate, func(f *fakeEC2, id string) { delete(f.instances, id) },
			"i-a=terminated i-b=gone i-c=gone", "TerminateInstances", "TerminateInstances i-a,i-b|TerminateInstances i-a|TerminateInstances i-b|TerminateInstances i-c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			f.add("i-a", "us-east-1a", "running")
			b := f.add("i-b", "us-east-1a", "running")
			b.protectTerm, b.protectStop = true, true
			f.add("i-c", "us-east-1b", "running").protectStop = true // alone in its batch
			f.before = func(op string, ids []string) {
				if op == tc.call && len(f.called(tc.call)) == 1 {
					// The first action call: i-b and i-c end between the reads and the action.
					tc.vanish(f, "i-b")
					tc.vanish(f, "i-c")
				}
			}
			rs := actor().Act(context.Background(), f, "us-east-1", tc.action, []Target{target("i-a", "us-east-1a"), target("i-b", "us-east-1a"), target("i-c", "us-east-1b")})
			if got := outcomes(rs); got != tc.want {
				t.Fatalf("outcomes\n got %s\nwant %s", got, tc.want)
			}
			for _, r := range rs[1:] {
				if r.Err != nil || r.Note == "" {
					t.Errorf("%s: err %v, note %q", r.Instance.ID, r.Err, r.Note)
				}
				// The flags were read before it went, and are recorded.
				if !aws.ToBool(r.DisableAPIStop) {
					t.Errorf("%s: stop protection as it was not recorded", r.Instance.ID)
				}
			}
			// The failed batch is read again; an instance it does not settle is tried on its own.
			if got := strings.Join(f.called(tc.call), "|"); got != tc.calls {
				t.Errorf("action calls\n got %s\nwant %s", got, tc.calls)
			}
			if got := f.called("Modify:stop=true"); len(got) != 0 {
				t.Errorf("protection turned back on for an instance that is gone: %q", got)
			}
		})
	}
}

// An instance absent from the re-read after a failed batch is not gone on that alone: a listing
// can lag, and its protection is off. Its own call decides: here it still exists, and is
// terminated; a wrong "gone" would leave it running with its protection off.
func TestActInstanceMissingFromTheReReadIsTriedOnItsOwn(t *testing.T) {
	f := newFakeEC2()
	f.add("i-a", "us-east-1a", "running").failTerminate = apiErr("InternalError")
	f.add("i-b", "us-east-1a", "running").protectTerm = true
	f.before = func(op string, ids []string) {
		if op == "TerminateInstances" {
			f.hidden = map[string]bool{"i-b": true}
		}
	}
	rs := actor().Act(context.Background(), f, "us-east-1", ActionTerminate, []Target{target("i-a", "us-east-1a"), target("i-b", "us-east-1a")})
	if got := outcomes(rs); got != "i-a=failed i-b=terminated" {
		t.Fatalf("outcomes %s, want i-a=failed i-b=terminated", got)
	}
	if got := strings.Join(f.called("TerminateInstances"), "|"); got != "TerminateInstances i-a,i-b|TerminateInstances i-a|TerminateInstances i-b" {
		t.Errorf("action calls %s", got)
	}
	if st := f.instances["i-b"].state; st != "shutting-down" {
		t.Errorf("i-b is %s, want shutting-down", st)
	}
}

// An instance that disappears while its protection is read, or before the instance tried on its
// own after a failed batch is acted on, is gone too.
func TestActInstanceGoneOnItsOwnCallIsGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action Action
		call   string
		vanish func(f *fakeEC2, id string)
		want   string
	}{
		{"protection read, not found", ActionTerminate, "DescribeInstanceAttribute:disableApiTermination",
			func(f *fakeEC2, id string) { delete(f.instances, id) }, "i-a=terminated i-b=gone i-c=terminated"},
		{"protection change, not found", ActionTerminate, "Modify:stop=false",
			func(f *fakeEC2, id string) { delete(f.instances, id) }, "i-a=terminated i-b=gone i-c=terminated"},
		{"single stop, terminated meanwhile", ActionStop, "StopInstances",
			func(f *fakeEC2, id string) { f.instances[id].state = "shutting-down" }, "i-a=stopped i-b=gone i-c=failed"},
		{"single stop, not found", ActionStop, "StopInstances",
			func(f *fakeEC2, id string) { delete(f.instances, id) }, "i-a=stopped i-b=gone i-c=failed"},
		{"single terminate, not found", ActionTerminate, "TerminateInstances",
			func(f *fakeEC2, id string) { delete(f.instances, id) }, "i-a=terminated i-b=gone i-c=failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			f.add("i-a", "us-east-1a", "running")
			b := f.add("i-b", "us-east-1a", "running")
			b.protectTerm, b.protectStop = true, true
			c := f.add("i-c", "us-east-1a", "running")
			single := strings.HasSuffix(tc.call, "Instances")
			if single {
				// i-c fails the batch, so each instance is tried on its own; i-b ends just
				// before its own call.
				c.failStop, c.failTerminate = apiErr("InternalError"), apiErr("InternalError")
			}
			f.before = func(op string, ids []string) {
				if op == tc.call && slices.Contains(ids, "i-b") && (!single || len(ids) == 1) {
					tc.vanish(f, "i-b")
				}
			}
			rs := actor().Act(context.Background(), f, "us-east-1", tc.action, []Target{target("i-a", "us-east-1a"), target("i-b", "us-east-1a"), target("i-c", "us-east-1a")})
			if got := outcomes(rs); got != tc.want {
				t.Fatalf("outcomes\n got %s\nwant %s", got, tc.want)
			}
			if rs[1].Err != nil || rs[1].Note == "" {
				t.Errorf("i-b: err %v, note %q", rs[1].Err, rs[1].Note)
			}
			// Protection goes back on only where it was turned off before the instance went,
			// and the not-found answer that finds is no error.
			restored := len(f.called("Modify:term=true i-b")) + len(f.called("Modify:stop=true i-b"))
			if want := tc.call == "Modify:stop=false"; (restored > 0) != want {
				t.Errorf("protection restore attempted %v, want %v: %q", restored > 0, want, f.calls)
			}
			action := "StopInstances"
			if tc.action == ActionTerminate {
				action = "TerminateInstances"
			}
			if got := len(f.called(action + " i-b")); single != (got == 1) {
				t.Errorf("i-b tried on its own %d times (%q)", got, f.calls)
			}
		})
	}
}

// A batch call whose answer is lost (the action happened, the call failed) gets the real
// outcome from the states read again, without trying any instance again; stop protection still
// goes back on after the stop.
func TestActLostAnswerGetsTheRealOutcome(t *testing.T) {
	for _, tc := range []struct {
		action Action
		call   string
		want   string
	}{
		{ActionTerminate, "TerminateInstances", "i-a=terminated i-p=terminated"},
		{ActionStop, "StopInstances", "i-a=stopped i-p=stopped"},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			f := newFakeEC2()
			f.add("i-a", "us-east-1a", "running")
			p := f.add("i-p", "us-east-1a", "running")
			p.protectTerm, p.protectStop = true, true
			f.loseAnswers = apiErr("InternalError")
			rs := actor().Act(context.Background(), f, "us-east-1", tc.action, []Target{target("i-a", "us-east-1a"), target("i-p", "us-east-1a")})
			if got := outcomes(rs); got != tc.want {
				t.Fatalf("outcomes\n got %s\nwant %s", got, tc.want)
			}
			for _, r := range rs {
				if r.Err != nil {
					t.Errorf("%s: error %v", r.Instance.ID, r.Err)
				}
			}
			if got := f.called(tc.call); len(got) != 1 {
				t.Errorf("%s calls %q, want the one batch and no instance tried again", tc.call, got)
			}
			if got := f.called("Modify:term=true"); len(got) != 0 {
				t.Errorf("termination protection turned back on: %q", got)
			}
			if want := tc.action == ActionStop; p.protectStop != want {
				t.Errorf("stop protection on = %v after the %s, want %v", p.protectStop, tc.action, want)
			}
		})
	}
}

// A document records the read the result holds: an instance tagged since the first read shows
// its new tags with no missing tags or problems left over from the first read.
func TestRecordRederivesTheDocumentFromTheSecondRead(t *testing.T) {
	f := newFakeEC2()
	f.add("i-fixed", "us-east-1a", "running", "created_by=bob", "project=web")
	f.add("i-worse", "us-east-1a", "running", "project=web")
	a := actor()
	first := func(id string, kv ...string) Target {
		in := Instance{ID: id, Region: "us-east-1", AvailabilityZone: "us-east-1a", State: "running", LaunchTime: now.Add(-time.Hour), Tags: tags(kv...)}
		return Target{Instance: in, Decision: Decide(&in, a.Policy, nil, now)}
	}
	ts := []Target{first("i-fixed", "created_by=bob"), first("i-worse", "created_by=bob", "project=web")}
	if ts[0].Decision.Verdict != Violator {
		t.Fatalf("first read verdict %s", ts[0].Decision.Verdict)
	}
	hdr := document.Header{RunID: "run-1"}
	docs := []*document.Violator{
		ViolatorDocument(hdr, &ts[0].Instance, &ts[0].Decision, document.Reported),
		ViolatorDocument(hdr, &ts[1].Instance, &ts[1].Decision, document.Reported),
	}
	docs[0].Creator = "arn:aws:iam::123456789012:user/bob"
	rs := a.Act(context.Background(), f, "us-east-1", ActionTerminate, ts)
	for i := range rs {
		rs[i].Record(docs[i])
	}
	fixed := docs[0]
	if fixed.Outcome != document.NowCompliant || fixed.Verdict != string(Compliant) {
		t.Errorf("fixed: outcome %s verdict %s", fixed.Outcome, fixed.Verdict)
	}
	if strings.Join(fixed.Tags, ",") != "created_by=bob,project=web" || len(fixed.MissingTags) != 0 || len(fixed.Problems) != 0 {
		t.Errorf("fixed: tags %q missing %q problems %q", fixed.Tags, fixed.MissingTags, fixed.Problems)
	}
	if fixed.Creator == "" || fixed.RunID != "run-1" {
		t.Errorf("fixed: what acting does not know was lost: creator %q run %q", fixed.Creator, fixed.RunID)
	}
	worse := docs[1]
	if worse.Outcome != document.Terminated || strings.Join(worse.MissingTags, ",") != "created_by" || strings.Join(worse.Problems, ",") != "missing created_by" {
		t.Errorf("worse: outcome %s missing %q problems %q", worse.Outcome, worse.MissingTags, worse.Problems)
	}
}
