package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// testQueue is a queue on the package's moto, with a DLQ taking messages received maxReceive
// times.
type testQueue struct {
	client   *sqs.Client
	url, dlq string
}

func newTestQueue(t *testing.T, maxReceive int) *testQueue {
	t.Helper()
	srv := mototest.Shared(t)
	c := sqs.NewFromConfig(srv.AWSConfig(t, "us-east-1"))
	name := strings.NewReplacer("/", "-", " ", "-", ",", "", ":", "").Replace(t.Name())
	dlq, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	arn, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn.Attributes["QueueArn"], maxReceive),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &testQueue{client: c, url: aws.ToString(q.QueueUrl), dlq: aws.ToString(dlq.QueueUrl)}
}

func (q *testQueue) send(t *testing.T, body string, delay int32) {
	t.Helper()
	if _, err := q.client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(body), DelaySeconds: delay}); err != nil {
		t.Fatal(err)
	}
}

// drain returns the bodies left in a queue.
func (q *testQueue) drain(t *testing.T, url string) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := q.client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			slices.Sort(bodies)
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
	}
}

// recorder is a handler that fails the records whose body starts with "fail", and those whose
// body starts with "once" the first time, and records what it saw.
type recorder struct {
	mu      sync.Mutex
	seen    map[string]int
	records []events.SQSMessage
	running int
	peak    int
	gate    chan struct{}
	ctxErr  []error
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (r *recorder) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	r.running += len(ev.Records)
	r.peak = max(r.peak, r.running)
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running -= len(ev.Records)
	r.ctxErr = append(r.ctxErr, ctx.Err())
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		r.seen[m.Body]++
		r.records = append(r.records, m)
		if strings.HasPrefix(m.Body, "fail") || strings.HasPrefix(m.Body, "once") && r.seen[m.Body] == 1 {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newWorker(q *testQueue, h HandlerFunc) *Worker {
	return &Worker{Queue: q.client, QueueURL: q.url, Handle: h, Log: quietLog(), Concurrency: 4,
		WaitTime: time.Second, VisibilityTimeout: 30 * time.Second, RetryDelay: 0, UntilEmpty: true}
}

func TestWorkerDeletesHandledAndRedeliversFailed(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 3)
	for _, b := range []string{"ok-1", "ok-2", "ok-3", "fail-1"} {
		q.send(t, b, 0)
	}
	rec := newRecorder()
	st, err := newWorker(q, rec.Handle).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ok-1", "ok-2", "ok-3"} {
		if rec.seen[b] != 1 {
			t.Errorf("%s handled %d times", b, rec.seen[b])
		}
	}
	if rec.seen["fail-1"] != 3 {
		t.Errorf("fail-1 handled %d times, want 3 (maxReceiveCount)", rec.seen["fail-1"])
	}
	if st.Received != 6 || st.Deleted != 3 || st.Failed != 3 || st.Unresolved != 1 {
		t.Errorf("stats %+v", st)
	}
	if got := q.drain(t, q.dlq); !slices.Equal(got, []string{"fail-1"}) {
		t.Errorf("DLQ holds %v", got)
	}
	if got := q.drain(t, q.url); len(got) != 0 {
		t.Errorf("queue holds %v", got)
	}
	// Records look like Lambda's.
	for _, m := range rec.records {
		if m.EventSource != "aws:sqs" || !strings.HasPrefix(m.EventSourceARN, "arn:aws:sqs:us-east-1:") || m.AWSRegion != "us-east-1" ||
			m.ReceiptHandle == "" || m.Attributes["ApproximateReceiveCount"] == "" {
			t.Fatalf("record %+v", m)
		}
	}
}

// TestWorkerUnresolvedCountsLastFailures: a message that failed and then succeeded is not
// unresolved; one that failed on every delivery, until SQS moved it to the DLQ, is.
func TestWorkerUnresolvedCountsLastFailures(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 2)
	for _, b := range []string{"ok", "once-1", "once-2", "fail"} {
		q.send(t, b, 0)
	}
	rec := newRecorder()
	st, err := newWorker(q, rec.Handle).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rec.seen["once-1"] != 2 || rec.seen["once-2"] != 2 || rec.seen["fail"] != 2 {
		t.Fatalf("seen %v", rec.seen)
	}
	if st.Failed != 4 || st.Deleted != 3 || st.Unresolved != 1 {
		t.Fatalf("stats %+v: want 4 failed handlings, 1 message unresolved", st)
	}
	if got := q.drain(t, q.dlq); !slices.Equal(got, []string{"fail"}) {
		t.Fatalf("DLQ holds %v", got)
	}
}

func TestWorkerUntilEmptyWaitsForDelayedAndInFlight(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 5)
	q.send(t, "delayed", 2)
	rec := newRecorder()
	w := newWorker(q, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		// A handler that sends another delayed message while it works, as rechecks do.
		if ev.Records[0].Body == "delayed" {
			q.send(t, "follow-up", 1)
		}
		return rec.Handle(ctx, ev)
	})
	if _, err := w.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec.seen["delayed"] != 1 || rec.seen["follow-up"] != 1 {
		t.Fatalf("seen %v", rec.seen)
	}
}

func TestWorkerBoundsConcurrency(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 5)
	for i := range 12 {
		q.send(t, "ok-"+strconv.Itoa(i), 0)
	}
	rec := newRecorder()
	w := newWorker(q, rec.Handle)
	w.Concurrency = 3
	if _, err := w.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(rec.seen) != 12 || rec.peak > 3 {
		t.Fatalf("handled %d, peak %d records at once", len(rec.seen), rec.peak)
	}
}

func TestWorkerGracefulShutdown(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 5)
	q.send(t, "in-flight", 0)
	rec := newRecorder()
	rec.gate = make(chan struct{})
	w := newWorker(q, rec.Handle)
	w.UntilEmpty = false
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := w.Run(ctx)
		done <- err
	}()
	// Wait until the message is being handled, then ask the worker to stop. Each wait has a
	// deadline, so a worker that never receives the message, or never returns, fails the test
	// with what it was waiting for instead of hanging until go test's own timeout.
	const patience = 30 * time.Second
	deadline := time.Now().Add(patience)
	for {
		rec.mu.Lock()
		running := rec.running
		rec.mu.Unlock()
		if running > 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			close(rec.gate)
			t.Fatalf("the worker did not start handling the message within %v", patience)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	close(rec.gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(patience):
		t.Fatalf("Run did not return within %v of its context being cancelled with a message in flight", patience)
	}
	if rec.seen["in-flight"] != 1 || rec.ctxErr[0] != nil {
		t.Fatalf("seen %v, handler context error %v", rec.seen, rec.ctxErr)
	}
	if got := q.drain(t, q.url); len(got) != 0 {
		t.Fatalf("the in-flight message was not deleted: %v", got)
	}
}

func TestWorkerHandlerErrorFailsTheBatch(t *testing.T) {
	t.Parallel()
	q := newTestQueue(t, 1)
	q.send(t, "a", 0)
	n := 0
	w := newWorker(q, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		n++
		return events.SQSEventResponse{}, errors.New("boom")
	})
	st, err := w.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || st.Failed != 1 || st.Deleted != 0 || st.Unresolved != 1 {
		t.Fatalf("handled %d, stats %+v", n, st)
	}
	if got := q.drain(t, q.dlq); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("DLQ %v", got)
	}
}

func TestWorkerMissingQueue(t *testing.T) {
	t.Parallel()
	srv := mototest.Shared(t)
	c := sqs.NewFromConfig(srv.AWSConfig(t, "us-east-1"))
	w := &Worker{Queue: c, QueueURL: srv.URL + "/123456789012/nope", Handle: newRecorder().Handle, Log: quietLog(), UntilEmpty: true}
	_, err := w.Run(t.Context())
	if !awsapi.IsNotFound(err) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}

func TestQueueRegion(t *testing.T) {
	for url, want := range map[string]string{
		"https://sqs.eu-west-1.amazonaws.com/123456789012/q":     "eu-west-1",
		"https://sqs.us-gov-west-1.amazonaws.com/123456789012/q": "us-gov-west-1",
		"https://ap-south-1.queue.amazonaws.com/123456789012/q":  "ap-south-1",
		"http://127.0.0.1:5000/123456789012/q":                   "",
		"https://sqs.example.com/q":                              "",
	} {
		if got := QueueRegion(url); got != want {
			t.Errorf("QueueRegion(%q) = %q, want %q", url, got, want)
		}
	}
}

// flakyQueue answers like moto when a message's visibility timeout ends between two of the
// three counts: the queue looks empty once, then the message is there.
type flakyQueue struct {
	QueueAPI
	mu        sync.Mutex
	receives  int
	counts    int
	delivered bool
	deleted   int
}

func (q *flakyQueue) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if slices.Contains(in.AttributeNames, types.QueueAttributeNameQueueArn) {
		return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}, nil
	}
	q.counts++
	n := "0"
	if q.counts > 1 && !q.delivered {
		n = "1"
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"ApproximateNumberOfMessages": n, "ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0",
	}}, nil
}

func (q *flakyQueue) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.receives++
	// The message shows up on the second receive, after the first empty look.
	if q.receives == 2 && !q.delivered {
		q.delivered = true
		return &sqs.ReceiveMessageOutput{Messages: []types.Message{{MessageId: aws.String("m"), ReceiptHandle: aws.String("r"), Body: aws.String("late")}}}, nil
	}
	return &sqs.ReceiveMessageOutput{}, nil
}

func (q *flakyQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted += len(in.Entries)
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func TestWorkerOneEmptyLookIsNotProof(t *testing.T) {
	q := &flakyQueue{}
	rec := newRecorder()
	w := &Worker{Queue: q, QueueURL: "q", Handle: rec.Handle, Log: quietLog(), UntilEmpty: true}
	if _, err := w.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec.seen["late"] != 1 || q.deleted != 1 {
		t.Fatalf("the late message was not handled: seen %v, deleted %d", rec.seen, q.deleted)
	}
}
