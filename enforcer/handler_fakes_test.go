package enforcer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
)

// The handler's unit tests run against fakes of EC2, SQS, STS, IAM and the sink, built per
// test. Names here carry an "h" (or, in the integration test, "it"; in the parsing tests, "ev") prefix: the package's other test files are written in
// parallel by others.

const hAccount = "123456789012"

// hClock is an injected clock tests move by hand.
type hClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *hClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func hAPIErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

// hHost is one instance of hEC2.
type hHost struct {
	state      string
	zone       string
	launch     time.Time
	tags       map[string]string
	protectTrm bool
}

// hEC2 is one region's EC2. fail, when set, may fail any call: it gets the operation and the
// instance ids named.
type hEC2 struct {
	mu    sync.Mutex
	hosts map[string]*hHost
	calls []string
	fail  func(op string, ids []string) error
}

func newHEC2() *hEC2 { return &hEC2{hosts: map[string]*hHost{}} }

func (f *hEC2) add(id string, launch time.Time, kv ...string) *hHost {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &hHost{state: "running", zone: "us-east-1a", launch: launch, tags: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.tags[kv[i]] = kv[i+1]
	}
	f.hosts[id] = h
	return h
}

// addCanary adds region's canary, stopped and tagged as the default policy expects.
func (f *hEC2) addCanary(region string, launch time.Time) {
	h := f.add("i-0ca0a0a0a0a0a0a0a", launch, "created_by", "cody", "project", "API canary", "department", "sysops", "Name", "api-canary-"+region)
	h.state = "stopped"
}

func (f *hEC2) setTag(id, k, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[id].tags[k] = v
}

func (f *hEC2) state(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[id].state
}

func (f *hEC2) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op || strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

func (f *hEC2) call(op string, ids []string) error {
	f.calls = append(f.calls, strings.TrimSpace(op+" "+strings.Join(ids, ",")))
	if f.fail != nil {
		return f.fail(op, ids)
	}
	return nil
}

func (f *hEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	nameFilter := ""
	for _, flt := range in.Filters {
		switch aws.ToString(flt.Name) {
		case "instance-id":
			ids = flt.Values
		case "tag:Name":
			nameFilter = flt.Values[0]
		default:
			return nil, fmt.Errorf("fake: filter %s", aws.ToString(flt.Name))
		}
	}
	op := "DescribeInstances"
	if nameFilter != "" {
		op = "DescribeInstances:canary"
	}
	if err := f.call(op, ids); err != nil {
		return nil, err
	}
	var out []ec2types.Instance
	// By id, as EC2 answers; only the ids asked for, when there are some (a launch of thousands
	// is read 200 ids at a time).
	listed := slices.Sorted(maps.Keys(f.hosts))
	if ids != nil {
		listed = slices.Compact(slices.Sorted(slices.Values(ids)))
	}
	for _, id := range listed {
		h, ok := f.hosts[id]
		if !ok || nameFilter != "" && h.tags["Name"] != nameFilter {
			continue
		}
		var tags []ec2types.Tag
		for _, k := range slices.Sorted(maps.Keys(h.tags)) {
			tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(h.tags[k])})
		}
		out = append(out, ec2types.Instance{
			InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: ec2types.InstanceStateName(h.state)},
			Placement: &ec2types.Placement{AvailabilityZone: aws.String(h.zone)}, LaunchTime: aws.Time(h.launch), Tags: tags,
		})
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: out}}}, nil
}

func (f *hEC2) DescribeInstanceAttribute(_ context.Context, in *ec2.DescribeInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.InstanceId)
	if err := f.call("DescribeInstanceAttribute", []string{id}); err != nil {
		return nil, err
	}
	out := &ec2.DescribeInstanceAttributeOutput{InstanceId: in.InstanceId}
	v := &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}
	if in.Attribute == ec2types.InstanceAttributeNameDisableApiTermination {
		v.Value = aws.Bool(f.hosts[id].protectTrm)
		out.DisableApiTermination = v
	} else {
		out.DisableApiStop = v
	}
	return out, nil
}

func (f *hEC2) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.InstanceId)
	if err := f.call("ModifyInstanceAttribute", []string{id}); err != nil {
		return nil, err
	}
	if in.DisableApiTermination != nil {
		f.hosts[id].protectTrm = aws.ToBool(in.DisableApiTermination.Value)
	}
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

func (f *hEC2) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("StopInstances", in.InstanceIds); err != nil {
		return nil, err
	}
	for _, id := range in.InstanceIds {
		f.hosts[id].state = "stopped"
	}
	return &ec2.StopInstancesOutput{}, nil
}

func (f *hEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("TerminateInstances", in.InstanceIds); err != nil {
		return nil, err
	}
	for _, id := range in.InstanceIds {
		if f.hosts[id].protectTrm {
			return nil, hAPIErr("OperationNotPermitted")
		}
	}
	for _, id := range in.InstanceIds {
		f.hosts[id].state = "terminated"
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

// hQueue records what the handler sends.
type hQueue struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
	fail error
	// onSend runs after each message is recorded.
	onSend func(in *sqs.SendMessageInput)
}

func (q *hQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	if q.fail != nil {
		q.mu.Unlock()
		return nil, q.fail
	}
	q.sent = append(q.sent, in)
	on := q.onSend
	q.mu.Unlock()
	if on != nil {
		on(in)
	}
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprintf("sent-%d", len(q.sent)))}, nil
}

// take returns and forgets what was sent.
func (q *hQueue) take() []*sqs.SendMessageInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sent
	q.sent = nil
	return s
}

// hSink writes with Elasticsearch's create semantics: a document already there is kept, and
// that counts as written (a 409).
type hSink struct {
	mu       sync.Mutex
	docs     map[string]document.Document
	order    []string
	attempts map[string]int
	failNext int
}

func newHSink() *hSink {
	return &hSink{docs: map[string]document.Document{}, attempts: map[string]int{}}
}

func (s *hSink) Write(_ context.Context, docs []document.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		we := &document.WriteError{Sink: "fake"}
		for _, d := range docs {
			we.Failed = append(we.Failed, document.Failure{Doc: d, Err: fmt.Errorf("fake sink down")})
		}
		return we
	}
	for _, d := range docs {
		k := d.Index + "/" + d.ID
		s.attempts[k]++
		if _, ok := s.docs[k]; ok && d.Op == document.OpCreate {
			continue
		}
		if _, ok := s.docs[k]; !ok {
			s.order = append(s.order, k)
		}
		s.docs[k] = d
	}
	return nil
}

// get decodes a stored document.
func (s *hSink) get(t *testing.T, index, id string) map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[index+"/"+id]
	if !ok {
		t.Fatalf("no document %s/%s; have %v", index, id, s.order)
	}
	if d.Op != document.OpCreate {
		t.Fatalf("document %s/%s written with %s, want create", index, id, d.Op)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (s *hSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs)
}

type hSTS struct{ fail error }

func (f *hSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String(hAccount)}, nil
}

// hIAM knows the account alias and which users exist.
type hIAM struct {
	alias string
	users []string
}

func (f *hIAM) ListAccountAliases(context.Context, *iam.ListAccountAliasesInput, ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error) {
	out := &iam.ListAccountAliasesOutput{}
	if f.alias != "" {
		out.AccountAliases = []string{f.alias}
	}
	return out, nil
}

func (f *hIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	if slices.Contains(f.users, aws.ToString(in.UserName)) {
		return &iam.GetUserOutput{}, nil
	}
	return nil, hAPIErr("NoSuchEntity")
}

// hWorld is one handler with its fakes, in region us-east-1.
type hWorld struct {
	h     *enforcer.Handler
	ec2   *hEC2
	queue *hQueue
	sink  *hSink
	sts   *hSTS
	iam   *hIAM
	clock *hClock
	stats enforcer.BatchStats
}

const hRegion = "us-east-1"

// hPolicy is the policy of the tests: three required keys, grace and action as given.
func hPolicy(t *testing.T, grace time.Duration, action enforcer.Action) *enforcer.Policy {
	t.Helper()
	p := enforcer.New("created_by", "department", "project")
	p.Grace, p.Action = grace, action
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func newHWorld(t *testing.T, p *enforcer.Policy) *hWorld {
	t.Helper()
	w := &hWorld{ec2: newHEC2(), queue: &hQueue{}, sink: newHSink(), sts: &hSTS{}, iam: &hIAM{alias: "acme-prod"},
		clock: &hClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}}
	w.ec2.addCanary(hRegion, w.clock.t.Add(-24*time.Hour))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(hTestWriter{t}, nil))
	}
	w.h = &enforcer.Handler{
		Policy:            p,
		EC2:               func(string) enforcer.EC2API { return w.ec2 },
		Canary:            &enforcer.CanaryChecker{Policy: p, TTL: time.Minute, Now: w.clock.Now},
		Account:           &enforcer.AccountCache{STS: w.sts, IAM: w.iam, Log: log},
		Queue:             w.queue,
		QueueURL:          "https://sqs.us-east-1.amazonaws.com/123456789012/awsaudit-events",
		Sink:              w.sink,
		Indices:           document.DefaultIndices(),
		Now:               w.clock.Now,
		Log:               log,
		MaxDelay:          900 * time.Second,
		NotFoundAllowance: 5 * time.Minute,
		RetryDelay:        30 * time.Second,
		Metrics:           func(_ context.Context, s enforcer.BatchStats) { w.stats.Add(s) },
	}
	if p.NeedsIAM() {
		w.h.Users = enforcer.NewUsers(w.iam, enforcer.DefaultIAMTTL, w.clock.Now)
	}
	return w
}

func hTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

type hTestWriter struct{ t *testing.T }

func (w hTestWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// hAlice is the IAM user who launches the tests' instances.
var hAlice = map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice", "accountId": hAccount, "userName": "alice"}

// hAutoScaling is Auto Scaling launching a group's member, as CloudTrail records it: its
// service-linked role's session, invoked by the service.
var hAutoScaling = map[string]any{
	"type": "AssumedRole", "principalId": "AROAEXAMPLEASGROLE123:AutoScaling",
	"arn":       "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
	"accountId": hAccount, "invokedBy": "autoscaling.amazonaws.com",
	"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role",
		"arn":      "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
		"userName": "AWSServiceRoleForAutoScaling"}},
}

// hEvent returns the body of an EventBridge envelope of a RunInstances call by alice in the
// test region, at the world's current time.
func (w *hWorld) hEvent(eventID string, ids ...string) string {
	return w.hEventBy(hAlice, eventID, ids...)
}

// hEventBy is hEvent for a call by who (a CloudTrail userIdentity).
func (w *hWorld) hEventBy(who map[string]any, eventID string, ids ...string) string {
	var items []map[string]any
	for _, id := range ids {
		items = append(items, map[string]any{"instanceId": id})
	}
	now := w.clock.Now()
	detail := map[string]any{
		"eventVersion": "1.10",
		"userIdentity": who,
		"eventTime":    now.Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
		"awsRegion": hRegion, "eventID": eventID, "recipientAccountId": hAccount,
		"responseElements": map[string]any{"instancesSet": map[string]any{"items": items}},
	}
	d, _ := json.Marshal(detail)
	env := events.EventBridgeEvent{Version: "0", ID: "env-" + eventID, DetailType: enforcer.DetailTypeCloudTrail, Source: "aws.ec2",
		AccountID: hAccount, Time: now, Region: hRegion, Resources: []string{}, Detail: d}
	b, _ := json.Marshal(env)
	return string(b)
}

// handle runs one batch of bodies, each delivered for the first time, and returns the ids of
// the failed records (m0, m1, …).
func (w *hWorld) handle(t *testing.T, bodies ...string) []string {
	t.Helper()
	return w.handleDelivery(t, 1, bodies...)
}

// handleDelivery is handle for the receive-th delivery of each body (ApproximateReceiveCount).
func (w *hWorld) handleDelivery(t *testing.T, receive int, bodies ...string) []string {
	t.Helper()
	ev := events.SQSEvent{}
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receive)}})
	}
	resp, err := w.h.HandleSQS(t.Context(), ev)
	if err != nil {
		t.Fatalf("HandleSQS returned an error: %v", err)
	}
	failed := []string{}
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// mustHandle handles bodies and fails the test if a record failed.
func (w *hWorld) mustHandle(t *testing.T, bodies ...string) {
	t.Helper()
	if failed := w.handle(t, bodies...); len(failed) > 0 {
		t.Fatalf("records failed: %v", failed)
	}
}

// violator returns the violator document of the instance for the event.
func (w *hWorld) violator(t *testing.T, eventID, id string) map[string]any {
	t.Helper()
	return w.sink.get(t, document.DefaultViolatorIndex, eventID+":"+id)
}

func (w *hWorld) rollup(t *testing.T, eventID string) map[string]any {
	t.Helper()
	return w.sink.get(t, document.DefaultAuditIndex, eventID)
}

// hCounts reads a rollup's count map, without the zero counts.
func hCounts(m map[string]any, key string) map[string]int {
	out := map[string]int{}
	for k, v := range m[key].(map[string]any) {
		if n := int(v.(float64)); n != 0 {
			out[k] = n
		}
	}
	return out
}
