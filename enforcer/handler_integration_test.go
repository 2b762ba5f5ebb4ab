package enforcer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
	"github.com/awsaudit/awsaudit/internal/worker"
)

// The event path end to end on moto_server: a real EventBridge rule with the RunInstances pattern
// and an SQS target (a delay queue with a DLQ), instances launched with RunInstances, the
// matching CloudTrail events injected with PutEvents (moto never emits them), the worker
// running the handler until the queue is empty, and the documents in the Elasticsearch test
// server, written by the Elasticsearch sink (templates installed, strict mappings). The
// handler's EC2 calls go through a fault proxy. Each scenario runs in parallel in a region of its
// own (moto keeps regions apart), on one moto_server.

// itEventPattern is the rule's pattern, as terraform/ deploys it: failed calls are filtered out
// there already (the handler drops them too).
const itEventPattern = `{"source":["aws.ec2"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["ec2.amazonaws.com"],"eventName":["RunInstances"],"errorCode":[{"exists":false}]}}`

// recordingQueue forwards to SQS and records every message the handler sends. onSend runs
// before the message is sent, so a test can move the clock or the world before it can arrive.
type recordingQueue struct {
	next   enforcer.QueueAPI
	mu     sync.Mutex
	sent   []sqs.SendMessageInput
	onSend func(kind string, in *sqs.SendMessageInput)
	// fail, when set, may fail a send instead of sending it.
	fail func(kind string) error
}

func (q *recordingQueue) SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	kind := "other"
	if m, err := enforcer.ParseMessage(aws.ToString(in.MessageBody)); err == nil {
		kind = string(m.Kind)
	}
	q.mu.Lock()
	fail := q.fail
	q.mu.Unlock()
	if fail != nil {
		if err := fail(kind); err != nil {
			return nil, err
		}
	}
	q.mu.Lock()
	q.sent = append(q.sent, *in)
	on := q.onSend
	q.mu.Unlock()
	if on != nil {
		on(kind, in)
	}
	return q.next.SendMessage(ctx, in, optFns...)
}

// delays returns the DelaySeconds of the messages of kind sent so far.
func (q *recordingQueue) delays(kind string) []int32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []int32
	for _, in := range q.sent {
		if strings.Contains(aws.ToString(in.MessageBody), `"awsaudit":"`+kind+`"`) {
			out = append(out, in.DelaySeconds)
		}
	}
	return out
}

// itScenario is one region's world: queue, DLQ, rule, canary, handler and worker.
type itScenario struct {
	t        *testing.T
	region   string
	moto     *mototest.Server
	cfg      aws.Config // straight to moto
	proxy    *faultproxy.Proxy
	sqs      *sqs.Client
	queueURL string
	dlqURL   string
	clock    *hClock // a fixed base moved only by the test: grace periods pass in no time
	queue    *recordingQueue
	es       *estest.Server
	h        *enforcer.Handler
	// handle is what the worker calls; tests may wrap it.
	handle worker.HandlerFunc
	stats  enforcer.BatchStats
	mu     sync.Mutex
}

func newITScenario(t *testing.T, moto *mototest.Server, region string, policy *enforcer.Policy) *itScenario {
	t.Helper()
	ctx := t.Context()
	s := &itScenario{t: t, region: region, moto: moto, cfg: moto.AWSConfig(t, region), clock: &hClock{t: time.Now().UTC()}}
	s.proxy = faultproxy.Start(t, moto.URL)
	s.sqs = sqs.NewFromConfig(s.cfg)

	dlq, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	s.dlqURL = aws.ToString(dlq.QueueUrl)
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events"), Attributes: map[string]string{
		"DelaySeconds":  "1", // the grace period's first wait; the enforcer's rechecks do the rest
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:awsaudit-events-dlq","maxReceiveCount":"3"}`, region, mototest.AccountID),
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.queueURL = aws.ToString(q.QueueUrl)
	eb := eventbridge.NewFromConfig(s.cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("awsaudit-run-instances"), EventPattern: aws.String(itEventPattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("awsaudit-run-instances"), Targets: []ebtypes.Target{
		{Id: aws.String("queue"), Arn: aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:awsaudit-events", region, mototest.AccountID))},
	}}); err != nil {
		t.Fatal(err)
	}
	mototest.CreateCanary(t, s.cfg, region)

	s.es = estest.Start(t)
	// Fast retries: the handler's spooling is under test here, not the sink's patience.
	sink, err := essink.Open(ctx, essink.Config{URL: s.es.URL, RetryMax: 1, ItemRetryMax: 1, RetryWaitMin: 10 * time.Millisecond,
		RetryWaitMax: 20 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	s.queue = &recordingQueue{next: s.sqs}
	viaProxy := mototest.Config(s.proxy.URL, region)
	log := hTextLogger(hTestWriter{t})
	s.h = &enforcer.Handler{
		Policy: policy,
		EC2: func(r string) enforcer.EC2API {
			return ec2.NewFromConfig(viaProxy, func(o *ec2.Options) { o.Region = r })
		},
		Canary:            &enforcer.CanaryChecker{Policy: policy, TTL: time.Minute, Now: s.clock.Now},
		Account:           &enforcer.AccountCache{STS: sts.NewFromConfig(s.cfg), IAM: iam.NewFromConfig(s.cfg), Log: log},
		Queue:             s.queue,
		QueueURL:          s.queueURL,
		Sink:              sink,
		Indices:           document.DefaultIndices(),
		Now:               s.clock.Now,
		Log:               log,
		MaxDelay:          time.Second,
		NotFoundAllowance: 2 * time.Second,
		RetryDelay:        time.Second,
		Concurrency:       4,
		Metrics: func(_ context.Context, b enforcer.BatchStats) {
			s.mu.Lock()
			s.stats.Add(b)
			s.mu.Unlock()
		},
	}
	s.handle = s.h.HandleSQS
	return s
}

// itPolicy requires created_by, department and project.
func itPolicy(t *testing.T, grace time.Duration, action enforcer.Action) *enforcer.Policy {
	t.Helper()
	return hPolicy(t, grace, action)
}

var itTags = []mototest.Tag{{Key: "created_by", Value: "alice"}, {Key: "department", Value: "eng"}, {Key: "project", Value: "checkout"}}

// launch runs count instances with tags in region and returns their ids. The handler's clock
// is moved to the launch if it is behind it: an instance launched after "now" would be in its
// grace period for as long as the clock stands still.
func (s *itScenario) launch(region string, count int, tags ...mototest.Tag) []string {
	s.t.Helper()
	cfg := s.cfg
	cfg.Region = region
	ids := mototest.RunInstance(s.t, cfg, mototest.Spec{Count: count, Tags: tags})
	if d := time.Since(s.clock.Now()); d > 0 {
		s.clock.Advance(d)
	}
	return ids
}

// itCaller is a CloudTrail userIdentity.
type itCaller map[string]any

var itAlice = itCaller{"type": "IAMUser", "principalId": "AIDAALICE", "arn": "arn:aws:iam::123456789012:user/alice", "accountId": mototest.AccountID, "userName": "alice"}

var itBobRole = itCaller{"type": "AssumedRole", "principalId": "AROADEV:bob", "arn": "arn:aws:sts::123456789012:assumed-role/developer/bob", "accountId": mototest.AccountID,
	"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::123456789012:role/developer", "userName": "developer"}}}

// inject puts the CloudTrail record of a RunInstances call on the default bus of region (the
// region the event claims), as CloudTrail would.
func (s *itScenario) inject(region, eventID string, who itCaller, ids []string, extra map[string]any) {
	s.t.Helper()
	var items []map[string]any
	for _, id := range ids {
		items = append(items, map[string]any{"instanceId": id, "instanceState": map[string]any{"code": 0, "name": "pending"}})
	}
	detail := map[string]any{
		"eventVersion": "1.10", "userIdentity": who, "eventTime": s.clock.Now().Format(time.RFC3339),
		"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": region,
		"sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.22.0",
		"requestParameters": map[string]any{"instanceType": "t3.micro"},
		"responseElements":  map[string]any{"reservationId": "r-0123456789abcdef0", "ownerId": mototest.AccountID, "instancesSet": map[string]any{"items": items}},
		"eventID":           eventID, "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
		"recipientAccountId": mototest.AccountID, "eventCategory": "Management",
	}
	for k, v := range extra {
		detail[k] = v
	}
	b, _ := json.Marshal(detail)
	cfg := s.cfg
	cfg.Region = region
	out, err := eventbridge.NewFromConfig(cfg).PutEvents(s.t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.ec2"), DetailType: aws.String(enforcer.DetailTypeCloudTrail), Detail: aws.String(string(b)),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		s.t.Fatalf("PutEvents: %v %+v", err, out)
	}
}

// send puts a raw message on the queue.
func (s *itScenario) send(body string) {
	s.t.Helper()
	if _, err := s.sqs.SendMessage(s.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(s.queueURL), MessageBody: aws.String(body)}); err != nil {
		s.t.Fatal(err)
	}
}

// run runs the worker until the queue is empty.
func (s *itScenario) run() worker.Stats {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 90*time.Second)
	defer cancel()
	w := &worker.Worker{Queue: s.sqs, QueueURL: s.queueURL, Handle: s.handle, Log: s.h.Log, Concurrency: 4,
		WaitTime: time.Second, VisibilityTimeout: 30 * time.Second, RetryDelay: time.Second, UntilEmpty: true}
	st, err := w.Run(ctx)
	if err != nil {
		s.t.Fatalf("worker: %v", err)
	}
	if ctx.Err() != nil {
		s.t.Fatal("the worker did not finish: the queue never emptied")
	}
	return st
}

func (s *itScenario) state(region, id string) string {
	s.t.Helper()
	cfg := s.cfg
	cfg.Region = region
	return mototest.State(s.t, cfg, id)
}

// doc returns a stored document's source, failing when it is absent or was written more than
// once.
func (s *itScenario) doc(index, id string) map[string]any {
	s.t.Helper()
	d, ok := s.es.Doc(index, id)
	if !ok {
		s.t.Fatalf("no document %s/%s", index, id)
	}
	if d.Version != 1 {
		s.t.Fatalf("document %s/%s written %d times", index, id, d.Version)
	}
	return d.Source
}

func (s *itScenario) violator(eventID, id string) map[string]any {
	s.t.Helper()
	return s.doc(document.DefaultViolatorIndex, eventID+":"+id)
}

func (s *itScenario) rollup(eventID string) map[string]any {
	s.t.Helper()
	return s.doc(document.DefaultAuditIndex, eventID)
}

func (s *itScenario) dlq() []string {
	s.t.Helper()
	out, err := s.sqs.ReceiveMessage(s.t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.dlqURL), MaxNumberOfMessages: 10})
	if err != nil {
		s.t.Fatal(err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	return bodies
}

func TestEventPathOnMoto(t *testing.T) {
	moto := mototest.Start(t)

	t.Run("compliant launch: no action", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "us-east-2", itPolicy(t, 0, enforcer.ActionTerminate))
		id := s.launch("us-east-2", 1, itTags...)[0]
		s.inject("us-east-2", "ev-compliant", itAlice, []string{id}, nil)
		s.run()
		if st := s.state("us-east-2", id); st != "running" {
			t.Fatalf("state %s", st)
		}
		r := s.rollup("ev-compliant")
		if got := hCounts(r, "verdicts"); len(got) != 1 || got["compliant"] != 1 || r["violator_count"] != 0.0 || r["creator"] != "alice" {
			t.Fatalf("rollup %v", r)
		}
		if n := s.es.Count(document.DefaultViolatorIndex); n != 0 {
			t.Fatalf("%d violator documents", n)
		}
		if s.proxy.Count("ec2", "TerminateInstances")+s.proxy.Count("ec2", "StopInstances") != 0 {
			t.Fatal("acted")
		}
	})

	t.Run("violating launch terminated after grace", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "us-west-1", itPolicy(t, 5*time.Minute, enforcer.ActionTerminate))
		ids := s.launch("us-west-1", 2)
		tagged := s.launch("us-west-1", 1, itTags...)[0]
		s.queue.onSend = func(kind string, _ *sqs.SendMessageInput) {
			if kind == "recheck" {
				s.clock.Advance(5 * time.Minute) // the recheck's delay, as the world sees it
			}
		}
		s.inject("us-west-1", "ev-violating", itBobRole, append(ids, tagged), nil)
		s.run()
		if got := s.queue.delays("recheck"); !slices.Equal(got, []int32{1}) {
			t.Fatalf("recheck delays %v, want [1] (min(300 s, max delay 1 s))", got)
		}
		for _, id := range ids {
			if st := s.state("us-west-1", id); st != "terminated" {
				t.Fatalf("%s is %s", id, st)
			}
			v := s.violator("ev-violating", id)
			for k, want := range map[string]any{"outcome": "terminated", "source": "event", "creator": "developer/bob", "creator_type": "AssumedRole",
				"run_id": "ev-violating", "disable_api_termination": false, "account_id": mototest.AccountID} {
				if v[k] != want {
					t.Errorf("%s: %s = %v, want %v", id, k, v[k], want)
				}
			}
		}
		if st := s.state("us-west-1", tagged); st != "running" {
			t.Fatalf("tagged instance %s", st)
		}
		r := s.rollup("ev-violating")
		if r["instance_count"] != 3.0 || r["violator_count"] != 2.0 || hCounts(r, "outcomes")["terminated"] != 2 || hCounts(r, "verdicts")["compliant"] != 1 {
			t.Fatalf("rollup %v", r)
		}
		if n := s.proxy.Count("ec2", "TerminateInstances"); n != 1 {
			t.Fatalf("%d TerminateInstances calls", n)
		}
	})

	t.Run("tag added during grace: no action", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "us-west-2", itPolicy(t, 5*time.Minute, enforcer.ActionTerminate))
		id := s.launch("us-west-2", 1, mototest.Tag{Key: "project", Value: "checkout"})[0]
		s.queue.onSend = func(kind string, _ *sqs.SendMessageInput) {
			if kind != "recheck" {
				return
			}
			if _, err := ec2.NewFromConfig(s.cfg).CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{
				{Key: aws.String("created_by"), Value: aws.String("alice")}, {Key: aws.String("department"), Value: aws.String("eng")},
			}}); err != nil {
				t.Error(err)
			}
			s.clock.Advance(5 * time.Minute)
		}
		s.inject("us-west-2", "ev-tagged-later", itAlice, []string{id}, nil)
		s.run()
		if st := s.state("us-west-2", id); st != "running" {
			t.Fatalf("state %s", st)
		}
		if got := hCounts(s.rollup("ev-tagged-later"), "verdicts"); len(got) != 1 || got["compliant"] != 1 {
			t.Fatalf("verdicts %v", got)
		}
		if s.es.Count(document.DefaultViolatorIndex) != 0 || s.proxy.Count("ec2", "TerminateInstances") != 0 {
			t.Fatal("acted or reported")
		}
	})

	t.Run("recheck chain: 2 h grace, short max delay", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "eu-west-1", itPolicy(t, 2*time.Hour, enforcer.ActionStop))
		s.h.MaxDelay = 2 * time.Second
		id := s.launch("eu-west-1", 1)[0]
		in, err := enforcer.ReadInstances(t.Context(), ec2.NewFromConfig(s.cfg), "eu-west-1", []string{id})
		if err != nil {
			t.Fatal(err)
		}
		// Half a second after the age starts: 7199.5 s of grace are left.
		inst := in[id]
		s.clock = &hClock{t: inst.Since().Add(500 * time.Millisecond)}
		s.h.Now, s.h.Canary.Now = s.clock.Now, s.clock.Now
		steps := []time.Duration{3600 * time.Second, 3599 * time.Second, time.Second}
		s.queue.onSend = func(kind string, _ *sqs.SendMessageInput) {
			if kind == "recheck" && len(steps) > 0 {
				s.clock.Advance(steps[0])
				steps = steps[1:]
			}
		}
		s.inject("eu-west-1", "ev-chain", itAlice, []string{id}, nil)
		s.run()
		// 7199.5 s left: capped at 2; 3599.5 s: capped at 2; 0.5 s: rounded up to 1.
		if got := s.queue.delays("recheck"); !slices.Equal(got, []int32{2, 2, 1}) {
			t.Fatalf("recheck delays %v, want [2 2 1]", got)
		}
		if st := s.state("eu-west-1", id); st != "stopped" {
			t.Fatalf("state %s", st)
		}
		if v := s.violator("ev-chain", id); v["outcome"] != "stopped" || v["age"].(float64) < 120 {
			t.Fatalf("violator %v", v)
		}
	})

	t.Run("poison dropped", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "eu-west-2", itPolicy(t, 0, enforcer.ActionTerminate))
		s.send("this is not JSON")
		s.send(`{"version":"0","id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0123456789abcdef0","state":"running"}}`)
		s.send(`{"awsaudit":"recheck","version":2,"event_id":"from-the-future"}`)
		// A failed call: the rule filters it out; sent straight to the queue, the handler drops it.
		s.inject("eu-west-2", "ev-failed-call", itAlice, nil, map[string]any{"errorCode": "Client.InstanceLimitExceeded", "responseElements": nil})
		s.send(`{"version":"0","id":"y","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","region":"eu-west-2","time":"2026-11-26T10:00:00Z",` +
			`"detail":{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"eu-west-2","eventID":"ev-failed-direct",` +
			`"eventTime":"2026-11-26T10:00:00Z","errorCode":"Server.InsufficientInstanceCapacity","userIdentity":{"type":"Root"}}}`)
		s.inject("eu-west-2", "ev-no-instances", itAlice, nil, nil)
		s.queue.onSend = func(kind string, _ *sqs.SendMessageInput) { s.clock.Advance(3 * time.Second) }
		s.inject("eu-west-2", "ev-ghost", itAlice, []string{"i-0123456789abcdef0"}, nil)
		st := s.run()
		if s.stats.Dropped != 6 || s.stats.Failed != 0 || st.Failed != 0 {
			t.Fatalf("stats %+v, worker %+v", s.stats, st)
		}
		if got := s.queue.delays("recheck"); !slices.Equal(got, []int32{1}) {
			t.Fatalf("the ghost instance was waited for with %v", got)
		}
		if d := s.dlq(); len(d) != 0 {
			t.Fatalf("DLQ holds %v", d)
		}
		if s.es.Count(document.DefaultAuditIndex)+s.es.Count(document.DefaultViolatorIndex) != 0 {
			t.Fatal("documents written for poison")
		}
	})

	t.Run("throttled: retried through a batch item failure, finally in the DLQ", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "eu-central-1", itPolicy(t, 0, enforcer.ActionTerminate))
		ids := s.launch("eu-central-1", 2)
		passing, stuck := ids[0], ids[1]
		// One handling's worth of attempts (the SDK retries 3 times) for the first, forever for
		// the second.
		s.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Match: faultproxy.ListContains("Filter.1.Value", passing), Times: 3, Respond: faultproxy.Throttle()})
		s.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Match: faultproxy.ListContains("Filter.1.Value", stuck), Respond: faultproxy.Throttle()})
		var failures []int
		s.handle = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			resp, err := s.h.HandleSQS(ctx, ev)
			s.mu.Lock()
			failures = append(failures, len(resp.BatchItemFailures))
			s.mu.Unlock()
			return resp, err
		}
		s.inject("eu-central-1", "ev-passing", itAlice, []string{passing}, nil)
		s.inject("eu-central-1", "ev-stuck", itAlice, []string{stuck}, nil)
		st := s.run()
		if got := s.state("eu-central-1", passing); got != "terminated" {
			t.Fatalf("the retried event's instance is %s", got)
		}
		if got := s.state("eu-central-1", stuck); got != "running" {
			t.Fatalf("the stuck event's instance is %s", got)
		}
		if s.violator("ev-passing", passing)["outcome"] != "terminated" {
			t.Fatal("no document")
		}
		dlq := s.dlq()
		if len(dlq) != 1 {
			t.Fatalf("DLQ holds %v", dlq)
		}
		if m, err := enforcer.ParseMessage(dlq[0]); err != nil || m.Recheck.EventID != "ev-stuck" {
			t.Fatalf("DLQ holds %v (%v)", dlq, err)
		}
		// ev-passing failed once, ev-stuck three times (maxReceiveCount); only ev-stuck's last
		// handling failed.
		if st.Failed != 4 || s.stats.Failed != 4 || st.Unresolved != 1 {
			t.Fatalf("worker %+v, handler %+v, failures per batch %v", st, s.stats, failures)
		}
	})

	t.Run("redelivery and a duplicated event: no double action", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "eu-west-3", itPolicy(t, 0, enforcer.ActionTerminate))
		id := s.launch("eu-west-3", 1)[0]
		// The first handling acts but its acknowledgement is lost, as when a worker dies after
		// acting: SQS delivers the message again.
		var once sync.Once
		s.handle = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			resp, err := s.h.HandleSQS(ctx, ev)
			once.Do(func() {
				for _, r := range ev.Records {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			})
			return resp, err
		}
		s.inject("eu-west-3", "ev-twice", itAlice, []string{id}, nil)
		s.inject("eu-west-3", "ev-twice", itAlice, []string{id}, nil) // CloudTrail delivers at least once
		st := s.run()
		if st.Received < 3 {
			t.Fatalf("worker %+v: want the duplicate and a redelivery", st)
		}
		if n := s.proxy.Count("ec2", "TerminateInstances"); n != 1 {
			t.Fatalf("%d TerminateInstances calls", n)
		}
		if v := s.violator("ev-twice", id); v["outcome"] != "terminated" {
			t.Fatalf("outcome %v: the first outcome must win", v["outcome"])
		}
		if r := s.rollup("ev-twice"); hCounts(r, "outcomes")["terminated"] != 1 {
			t.Fatalf("rollup %v", r)
		}
	})

	t.Run("redelivery after an action: the rollup does not call the terminated instance gone", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "ap-northeast-1", itPolicy(t, 0, enforcer.ActionTerminate))
		s.h.BatchSize = 1
		ids := s.launch("ap-northeast-1", 2)
		acted, retried := ids[0], ids[1]
		// The second instance's termination is throttled for one handling's attempts: it is
		// retried through a recheck, whose first send fails, so the record fails after the first
		// instance was terminated, and SQS delivers the event again.
		s.proxy.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances", Match: faultproxy.InstanceID(retried), Times: 3, Respond: faultproxy.Throttle()})
		var failedSends int
		s.queue.fail = func(kind string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if kind == "recheck" && failedSends == 0 {
				failedSends++
				return errors.New("queue unavailable")
			}
			return nil
		}
		s.inject("ap-northeast-1", "ev-redelivered", itAlice, ids, nil)
		st := s.run()
		for _, id := range ids {
			if got := s.state("ap-northeast-1", id); got != "terminated" {
				t.Fatalf("%s is %s", id, got)
			}
		}
		if st.Failed != 1 || failedSends != 1 {
			t.Fatalf("worker %+v, %d failed sends: want the event's first delivery failed", st, failedSends)
		}
		if v := s.violator("ev-redelivered", acted); v["outcome"] != "terminated" {
			t.Fatalf("violator %v", v)
		}
		if v := s.violator("ev-redelivered", retried); v["outcome"] != "terminated" {
			t.Fatalf("violator %v", v)
		}
		r := s.rollup("ev-redelivered")
		if got := hCounts(r, "outcomes"); len(got) != 1 || got["terminated"] != 1 || r["violator_count"] != 2.0 {
			t.Fatalf("rollup outcomes %v, violator_count %v: the terminated instance must not be gone", got, r["violator_count"])
		}
		if errs, _ := r["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(string), acted) {
			t.Fatalf("rollup errors %v", r["errors"])
		}
		if n := s.proxy.Count("ec2", "TerminateInstances"); n != 2+3 {
			t.Fatalf("%d TerminateInstances calls, want one per instance and 3 throttled", n)
		}
	})

	t.Run("Elasticsearch down after a termination: the documents arrive later, once", func(t *testing.T) {
		t.Parallel()
		s := newITScenario(t, moto, "eu-north-1", itPolicy(t, 0, enforcer.ActionTerminate))
		id := s.launch("eu-north-1", 1)[0]
		s.es.Down()
		// The first delivery of the documents message still finds Elasticsearch down (a batch
		// item failure); then it comes back.
		var docAttempts int
		s.handle = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			resp, err := s.h.HandleSQS(ctx, ev)
			for _, r := range ev.Records {
				if strings.Contains(r.Body, `"awsaudit":"documents"`) {
					s.mu.Lock()
					if docAttempts++; docAttempts == 1 {
						s.es.Up()
					}
					s.mu.Unlock()
				}
			}
			return resp, err
		}
		s.inject("eu-north-1", "ev-es-down", itAlice, []string{id}, nil)
		st := s.run()
		if got := s.state("eu-north-1", id); got != "terminated" {
			t.Fatalf("state %s", got)
		}
		if got := s.queue.delays("documents"); len(got) != 1 {
			t.Fatalf("documents messages %v", got)
		}
		if docAttempts != 2 || st.Failed != 1 || st.Unresolved != 0 {
			t.Fatalf("documents message handled %d times, worker %+v", docAttempts, st)
		}
		if v := s.violator("ev-es-down", id); v["outcome"] != "terminated" {
			t.Fatalf("violator %v", v)
		}
		if r := s.rollup("ev-es-down"); r["violator_count"] != 1.0 {
			t.Fatalf("rollup %v", r)
		}
		if n := s.proxy.Count("ec2", "TerminateInstances"); n != 1 {
			t.Fatalf("%d TerminateInstances calls", n)
		}
	})

	t.Run("another region's event through its forwarding rule", func(t *testing.T) {
		t.Parallel()
		const home, audited = "ap-southeast-1", "ap-southeast-2"
		p := itPolicy(t, 0, enforcer.ActionTerminate)
		p.Regions = []string{audited}
		s := newITScenario(t, moto, home, p)
		cfg := s.cfg
		cfg.Region = audited
		mototest.CreateCanary(t, cfg, audited)
		eb := eventbridge.NewFromConfig(cfg)
		if _, err := eb.PutRule(t.Context(), &eventbridge.PutRuleInput{Name: aws.String("awsaudit-forward"), EventPattern: aws.String(itEventPattern)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(t.Context(), &eventbridge.PutTargetsInput{Rule: aws.String("awsaudit-forward"), Targets: []ebtypes.Target{{
			Id: aws.String("home"), Arn: aws.String(fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", home, mototest.AccountID)),
			RoleArn: aws.String(fmt.Sprintf("arn:aws:iam::%s:role/awsaudit-forward", mototest.AccountID)),
		}}}); err != nil {
			t.Fatal(err)
		}
		id := s.launch(audited, 1)[0]
		s.inject(audited, "ev-forwarded", itAlice, []string{id}, nil)
		// The home region is not audited: its own launches are dropped.
		own := s.launch(home, 1)[0]
		s.inject(home, "ev-home", itAlice, []string{own}, nil)
		s.run()
		if got := s.state(audited, id); got != "terminated" {
			t.Fatalf("state %s", got)
		}
		if got := s.state(home, own); got != "running" {
			t.Fatalf("home instance %s", got)
		}
		if v := s.violator("ev-forwarded", id); v["region"] != audited {
			t.Fatalf("violator %v", v)
		}
		if s.stats.Dropped != 1 {
			t.Fatalf("stats %+v", s.stats)
		}
	})
}
