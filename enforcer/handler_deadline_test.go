package enforcer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
)

// hSlowSink is a sink that does not answer before its context ends (Elasticsearch hanging), then
// fails. It records the deadline it was given.
type hSlowSink struct {
	mu       sync.Mutex
	deadline time.Time
	started  chan struct{}
	once     sync.Once
}

func (s *hSlowSink) Write(ctx context.Context, _ []document.Document) error {
	s.mu.Lock()
	s.deadline, _ = ctx.Deadline()
	s.mu.Unlock()
	s.once.Do(func() { close(s.started) })
	<-ctx.Done()
	return ctx.Err()
}

// hTimedQueue records, for each message, whether the context it was sent with had ended and when
// it was sent.
type hTimedQueue struct {
	*hQueue
	mu      sync.Mutex
	ctxErrs []error
	at      []time.Time
}

func (q *hTimedQueue) SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	q.ctxErrs = append(q.ctxErrs, ctx.Err())
	q.at = append(q.at, time.Now())
	q.mu.Unlock()
	return q.hQueue.SendMessage(ctx, in, optFns...)
}

// TestHandlerSpoolsBeforeTheDeadline: in an invocation with a deadline, a sink that does not
// answer is given up SpoolReserve before the deadline, and the documents of the instance just
// terminated are spooled on the queue before the deadline, even when the record's context has
// ended by then.
func TestHandlerSpoolsBeforeTheDeadline(t *testing.T) {
	tests := []struct {
		name    string
		left    time.Duration // until the invocation's deadline
		reserve time.Duration
		// cancel cancels the invocation's context once the sink is waited for.
		cancel bool
	}{
		{"the sink hangs until the write's deadline", 3 * time.Second, time.Second, false},
		{"less time left than twice the reserve: half of it kept", 2 * time.Second, 0, false},
		{"the invocation's context is canceled during the write", 30 * time.Second, 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
			sink := &hSlowSink{started: make(chan struct{})}
			queue := &hTimedQueue{hQueue: w.queue}
			w.h.Sink, w.h.Queue, w.h.SpoolReserve = sink, queue, tt.reserve
			w.ec2.add(iB, w.clock.Now(), "project", "checkout")

			deadline := time.Now().Add(tt.left)
			ctx, cancel := context.WithDeadline(t.Context(), deadline)
			defer cancel()
			if tt.cancel {
				go func() {
					<-sink.started
					cancel()
				}()
			}
			resp, err := w.h.HandleSQS(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m0", Body: w.hEvent("ev-late", iB)}}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("HandleSQS = %+v, %v", resp, err)
			}
			if w.ec2.state(iB) != "terminated" {
				t.Fatalf("state %s", w.ec2.state(iB))
			}
			if tt.reserve != 0 {
				if want := deadline.Add(-tt.reserve); !sink.deadline.Equal(want) {
					t.Errorf("the sink's deadline is %v, want %v (the invocation's less the reserve)", sink.deadline, want)
				}
			} else if !sink.deadline.Before(deadline) || sink.deadline.Before(deadline.Add(-tt.left/2)) {
				t.Errorf("the sink's deadline is %v before the invocation's, want at most half of the %v left", deadline.Sub(sink.deadline), tt.left)
			}
			sent := w.queue.take()
			if len(sent) != 1 || w.stats.Spooled != 2 {
				t.Fatalf("%d messages sent, stats %+v", len(sent), w.stats)
			}
			if queue.ctxErrs[0] != nil || !queue.at[0].Before(deadline) {
				t.Fatalf("spooled with an ended context (%v) or after the deadline (%v)", queue.ctxErrs[0], queue.at[0].Sub(deadline))
			}
			m, err := enforcer.ParseMessage(aws.ToString(sent[0].MessageBody))
			if err != nil || m.Kind != enforcer.KindDocuments {
				t.Fatalf("spooled %s: %v", aws.ToString(sent[0].MessageBody), err)
			}
			docs := m.Documents.Docs()
			if len(docs) != 2 || docs[0].ID != "ev-late:"+iB || !strings.Contains(string(docs[0].Body), `"outcome":"terminated"`) || docs[1].ID != "ev-late" {
				t.Fatalf("spooled documents %v", docs)
			}
		})
	}
}
