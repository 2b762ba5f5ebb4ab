// Package worker runs an SQS batch handler as a long-polling worker: `awsaudit enforce` runs the
// enforcer's handler with it, the same handler the Lambda runs, for people who don't use Lambda.
// It behaves like Lambda's SQS event source with ReportBatchItemFailures: records the handler
// reports as failed are left for SQS to deliver again (after a retry delay, so the DLQ's
// maxReceiveCount applies), the others are deleted.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// QueueAPI is the part of SQS the worker calls; *sqs.Client satisfies it.
type QueueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// HandlerFunc handles a batch as a Lambda SQS handler does, returning the records that failed.
type HandlerFunc func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Defaults of the worker's settings.
const (
	DefaultWaitTime          = 20 * time.Second
	DefaultVisibilityTimeout = 2 * time.Minute
	DefaultConcurrency       = 4
	// DefaultEmptyChecks is how many times in a row, each after a receive that found nothing, the
	// queue must look empty for --until-empty. One look is not proof: SQS's counts are
	// approximate and lag behind, and moto computes the three counts one after the other, so a
	// message whose delay or visibility timeout ends between two of them is in none.
	DefaultEmptyChecks = 2
	// maxBatch is SQS's most messages per ReceiveMessage.
	maxBatch = 10
)

// Worker polls one queue and hands what it receives to Handle.
type Worker struct {
	Queue    QueueAPI
	QueueURL string
	Handle   HandlerFunc
	Log      *slog.Logger
	// Concurrency bounds the messages being handled at once (default 4).
	Concurrency int
	// WaitTime is the long poll's WaitTimeSeconds (0 to 20 s; default 20 s).
	WaitTime time.Duration
	// VisibilityTimeout hides a received message while it is handled (default 2 min); a message
	// not handled within it is delivered again.
	VisibilityTimeout time.Duration
	// RetryDelay is how long a failed record stays hidden before SQS delivers it again.
	RetryDelay time.Duration
	// UntilEmpty stops the worker once no message is visible, in flight or delayed, checked
	// EmptyChecks times in a row (default DefaultEmptyChecks) after receives that found nothing.
	UntilEmpty  bool
	EmptyChecks int
	// Now is the clock the handler's time per batch is measured on (the "batch handled" debug
	// line); default time.Now.
	Now func() time.Time
}

// Stats counts what a run did.
type Stats struct {
	// Received counts messages received (a redelivered message counts each time).
	Received int
	// Deleted counts the messages acknowledged; Failed the handlings that failed, each leaving
	// its message for SQS to deliver again (a message that fails twice counts twice).
	Deleted, Failed int
	// Unresolved counts the messages whose last handling in this run failed: a transient
	// failure that a later delivery got past is not among them. When a run with UntilEmpty ends,
	// the queue is empty, so these are the messages SQS moved to the DLQ (or that another
	// consumer took).
	Unresolved int
}

// Run polls until ctx is done (graceful shutdown: no new receive, messages being handled are
// finished with a context that is not canceled, and Run returns nil) or, with UntilEmpty, until
// the queue is empty. It returns an error when the queue cannot be polled (it does not exist, the
// credentials may not read it).
func (w *Worker) Run(ctx context.Context) (Stats, error) {
	conc := w.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	arn, err := w.queueARN(ctx)
	if err != nil {
		return Stats{}, err
	}
	var (
		st     Stats
		mu     sync.Mutex
		wg     sync.WaitGroup
		slots  = make(chan struct{}, conc)
		empty  int
		runErr error
		// last holds, per message id, its latest delivery handled: the one with the highest
		// receive count, so a late answer from an earlier delivery (its visibility change slow
		// while a redelivery was already handled) cannot overwrite it.
		last = map[string]handling{}
	)
	inFlight := func() int { return len(slots) }
	// Handling outlives a shutdown request: what was received is finished, not abandoned.
	handleCtx := context.WithoutCancel(ctx)
poll:
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break poll
		}
		n := 1
	grab:
		for n < maxBatch {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		msgs, err := w.receive(ctx, n)
		for range n - len(msgs) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !awsapi.IsTransient(err) {
				runErr = err
				break
			}
			w.Log.WarnContext(ctx, "receiving failed; trying again", logkey.Error, err.Error())
			sleep(ctx, time.Second)
			continue
		}
		if len(msgs) == 0 {
			if !w.UntilEmpty {
				continue
			}
			if inFlight() > 0 {
				empty = 0
				continue
			}
			isEmpty, err := w.queueEmpty(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				w.Log.WarnContext(ctx, "reading the queue's counts failed", logkey.Error, err.Error())
				continue
			}
			if !isEmpty {
				empty = 0
				continue
			}
			empty++
			if empty >= w.emptyChecks() {
				w.Log.InfoContext(ctx, "queue empty: no message visible, in flight or delayed")
				break
			}
			continue
		}
		empty = 0
		mu.Lock()
		st.Received += len(msgs)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			deleted, handled, failed := w.process(handleCtx, arn, msgs)
			receives := map[string]int{}
			for _, m := range msgs {
				receives[aws.ToString(m.MessageId)], _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			}
			mu.Lock()
			st.Deleted += deleted
			st.Failed += len(failed)
			for _, id := range handled {
				last[id] = last[id].later(handling{receive: receives[id]})
			}
			for _, id := range failed {
				last[id] = last[id].later(handling{receive: receives[id], failed: true})
			}
			mu.Unlock()
			for range msgs {
				<-slots
			}
		}()
	}
	wg.Wait()
	for _, h := range last {
		if h.failed {
			st.Unresolved++
		}
	}
	return st, runErr
}

// handling is how one delivery of a message ended.
type handling struct {
	receive int // SQS's ApproximateReceiveCount of the delivery
	failed  bool
}

// later returns whichever of h and o is the later delivery; o when they are the same one.
func (h handling) later(o handling) handling {
	if h.receive > o.receive {
		return h
	}
	return o
}

func (w *Worker) emptyChecks() int {
	if w.EmptyChecks > 0 {
		return w.EmptyChecks
	}
	return DefaultEmptyChecks
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func seconds(d time.Duration) int32 { return int32((d + time.Second - 1) / time.Second) }

// queueARN reads the queue's ARN, which Lambda puts in every record's eventSourceARN; it also
// proves the queue exists before anything is received.
func (w *Worker) queueARN(ctx context.Context) (string, error) {
	out, err := w.Queue.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(w.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("reading queue %s: %w", w.QueueURL, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

func (w *Worker) receive(ctx context.Context, n int) ([]types.Message, error) {
	wait, vis := w.WaitTime, w.VisibilityTimeout
	if wait < 0 {
		wait = 0
	}
	if vis <= 0 {
		vis = DefaultVisibilityTimeout
	}
	out, err := w.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(w.QueueURL),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             min(seconds(wait), 20),
		VisibilityTimeout:           seconds(vis),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, fmt.Errorf("receiving from %s: %w", w.QueueURL, err)
	}
	return out.Messages, nil
}

// queueEmpty reports whether no message is visible, in flight or delayed.
func (w *Worker) queueEmpty(ctx context.Context) (bool, error) {
	names := []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := w.Queue.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.QueueURL), AttributeNames: names})
	if err != nil {
		return false, fmt.Errorf("reading the counts of %s: %w", w.QueueURL, err)
	}
	total := 0
	for _, n := range names {
		v, ok := out.Attributes[string(n)]
		if !ok {
			return false, fmt.Errorf("reading the counts of %s: %s missing from the answer", w.QueueURL, n)
		}
		c, err := strconv.Atoi(v)
		if err != nil {
			return false, fmt.Errorf("reading the counts of %s: %s = %q", w.QueueURL, n, v)
		}
		total += c
	}
	return total == 0, nil
}

// process hands msgs to the handler as one batch, deletes the records it handled and leaves the
// failed ones to come back after RetryDelay. It returns how many were deleted and the ids of the
// messages handled and of those that failed. (SQS keeps a message's id across deliveries.)
func (w *Worker) process(ctx context.Context, arn string, msgs []types.Message) (deleted int, handled, failed []string) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	region := regionOf(arn)
	for i, m := range msgs {
		ev.Records[i] = events.SQSMessage{
			MessageId:      aws.ToString(m.MessageId),
			ReceiptHandle:  aws.ToString(m.ReceiptHandle),
			Body:           aws.ToString(m.Body),
			Md5OfBody:      aws.ToString(m.MD5OfBody),
			Attributes:     m.Attributes,
			EventSource:    "aws:sqs",
			EventSourceARN: arn,
			AWSRegion:      region,
		}
	}
	handleCtx := ctx
	if w.VisibilityTimeout > 0 {
		// A handler still busy when the message would reappear is not useful work. The deletes
		// below keep the outer context: a slow handler must not make them fail too.
		var cancel context.CancelFunc
		handleCtx, cancel = context.WithTimeout(ctx, w.VisibilityTimeout)
		defer cancel()
	}
	now := w.Now
	if now == nil {
		now = time.Now
	}
	failedIDs := map[string]bool{}
	start := now()
	resp, err := w.Handle(handleCtx, ev)
	took := now().Sub(start)
	if err != nil {
		w.Log.ErrorContext(ctx, "the handler failed the whole batch", logkey.Count, len(msgs), logkey.Error, err.Error())
		for _, r := range ev.Records {
			failedIDs[r.MessageId] = true
		}
	}
	for _, f := range resp.BatchItemFailures {
		failedIDs[f.ItemIdentifier] = true
	}
	var del []types.DeleteMessageBatchRequestEntry
	var retry []types.ChangeMessageVisibilityBatchRequestEntry
	for i, r := range ev.Records {
		id := strconv.Itoa(i)
		if failedIDs[r.MessageId] {
			failed = append(failed, r.MessageId)
			retry = append(retry, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(id), ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: seconds(w.RetryDelay)})
			continue
		}
		handled = append(handled, r.MessageId)
		del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(id), ReceiptHandle: aws.String(r.ReceiptHandle)})
	}
	if len(del) > 0 {
		out, err := w.Queue.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(w.QueueURL), Entries: del})
		switch {
		case err != nil:
			// The messages come back after their visibility timeout; the handler is idempotent.
			w.Log.ErrorContext(ctx, "deleting handled messages failed; they will be delivered again", logkey.Count, len(del), logkey.Error, err.Error())
		default:
			deleted = len(out.Successful)
			for _, f := range out.Failed {
				w.Log.ErrorContext(ctx, "deleting a handled message failed; it will be delivered again", logkey.MessageID, messageID(ev, f.Id), logkey.Error, aws.ToString(f.Code)+": "+aws.ToString(f.Message))
			}
		}
	}
	if len(retry) > 0 {
		if _, err := w.Queue.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(w.QueueURL), Entries: retry}); err != nil {
			// They come back after the visibility timeout instead.
			w.Log.WarnContext(ctx, "shortening the visibility of failed messages failed", logkey.Count, len(retry), logkey.Error, err.Error())
		}
	}
	w.Log.DebugContext(ctx, "batch handled", logkey.Count, len(msgs), "deleted", deleted, "failed", len(failed),
		"started", start, logkey.Duration, float64(took.Microseconds())/1000)
	return deleted, handled, failed
}

func messageID(ev events.SQSEvent, entryID *string) string {
	i, err := strconv.Atoi(aws.ToString(entryID))
	if err != nil || i < 0 || i >= len(ev.Records) {
		return aws.ToString(entryID)
	}
	return ev.Records[i].MessageId
}

// regionOf reads the region from a queue ARN, arn:aws:sqs:REGION:ACCOUNT:NAME.
func regionOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

// QueueRegion returns the region of an AWS queue URL (https://sqs.REGION.amazonaws.com/…, or the
// legacy https://REGION.queue.amazonaws.com/…), or "" for any other host (an emulator).
func QueueRegion(queueURL string) string {
	host := queueURL
	if _, after, ok := strings.Cut(host, "://"); ok {
		host = after
	}
	host, _, _ = strings.Cut(host, "/")
	if r, ok := strings.CutPrefix(host, "sqs."); ok {
		if r, _, ok := strings.Cut(r, ".amazonaws.com"); ok && !strings.Contains(r, ".") {
			return r
		}
	}
	if r, _, ok := strings.Cut(host, ".queue.amazonaws.com"); ok && !strings.Contains(r, ".") {
		return r
	}
	return ""
}
