package enforcer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// hFlakyQueue accepts messages until the failAt-th (from 1), which fails, as do all after it.
type hFlakyQueue struct {
	mu     sync.Mutex
	failAt int
	calls  int
	sent   []*sqs.SendMessageInput
}

func (q *hFlakyQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.calls >= q.failAt {
		return nil, errors.New("network down")
	}
	q.sent = append(q.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprint(q.calls))}, nil
}

// hLostIDs returns the ids of the documents logged as not written, in the order logged.
func hLostIDs(t *testing.T, logged string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(logged, "\n") {
		if !strings.Contains(line, "DOCUMENT NOT WRITTEN") {
			continue
		}
		_, rest, ok := strings.Cut(line, " doc_id=")
		if !ok {
			t.Fatalf("no doc_id in %q", line)
		}
		id, _, _ := strings.Cut(rest, " ")
		ids = append(ids, id)
	}
	return ids
}

// hLogLine returns the first line of logged holding want.
func hLogLine(logged, want string) string {
	for _, line := range strings.Split(logged, "\n") {
		if strings.Contains(line, want) {
			return line
		}
	}
	return ""
}

// TestSpoolDocumentsLogsWhatItDidNotSend: when a send fails partway, SpoolDocuments returns the
// error and logs in full exactly the documents it did not send (those of the failed message
// and of the messages after it), not those already on the queue. A delay of 0 is sent as 1 s.
func TestSpoolDocumentsLogsWhatItDidNotSend(t *testing.T) {
	// Two documents of 100 kB fit in one message: six make three messages.
	var docs []document.Document
	for i := range 6 {
		body := fmt.Sprintf(`{"n":%d,"note":%q}`, i, strings.Repeat("x", 100_000))
		docs = append(docs, document.Document{Index: document.DefaultViolatorIndex, ID: fmt.Sprintf("run:d%d", i), Op: document.OpCreate, Body: json.RawMessage(body)})
	}
	q := &hFlakyQueue{failAt: 2}
	var logged strings.Builder
	err := enforcer.SpoolDocuments(t.Context(), q, "https://sqs.example/q", 0, "run", docs, hTextLogger(&logged))
	if err == nil || !strings.Contains(err.Error(), "network down") || !strings.Contains(err.Error(), "4 of 6 not sent") {
		t.Fatalf("SpoolDocuments = %v", err)
	}
	if len(q.sent) != 1 || q.sent[0].DelaySeconds != 1 {
		t.Fatalf("%d messages sent (delay %d)", len(q.sent), q.sent[0].DelaySeconds)
	}
	m, err := enforcer.ParseMessage(aws.ToString(q.sent[0].MessageBody))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Documents.Docs(); len(got) != 2 || got[0].ID != "run:d0" || got[1].ID != "run:d1" {
		t.Fatalf("the message sent holds %v", got)
	}
	lost := hLostIDs(t, logged.String())
	if want := []string{"run:d2", "run:d3", "run:d4", "run:d5"}; strings.Join(lost, ",") != strings.Join(want, ",") {
		t.Fatalf("logged as not written: %v, want %v", lost, want)
	}
	if !strings.Contains(logged.String(), `\"n\":5`) {
		t.Fatal("the documents are not logged in full")
	}
}

// TestHandlerSpoolFailureLogsEachDocumentOnce: the handler leaves the logging of unsent documents
// to SpoolDocuments: each is logged once, and the record fails for SQS to deliver again.
func TestHandlerSpoolFailureLogsEachDocumentOnce(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	var logged strings.Builder
	w.h.Log = hTextLogger(&logged)
	w.h.Queue = &hFlakyQueue{failAt: 1}
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	w.sink.failNext = 1
	if failed := w.handle(t, w.hEvent("ev-lost-once", iB)); len(failed) != 1 {
		t.Fatalf("failed %v", failed)
	}
	if lost := hLostIDs(t, logged.String()); strings.Join(lost, ",") != "ev-lost-once:"+iB+",ev-lost-once" {
		t.Fatalf("logged as not written: %v", lost)
	}
}

// TestHandlerLargeLaunchRecheckFits: a launch whose decided violators make a rollup larger than
// a queue message still sends its recheck (the rollup lists fewer violators, counting the
// others as omitted), and the event's rollup ends with every count right.
func TestHandlerLargeLaunchRecheckFits(t *testing.T) {
	const n = 1500
	w := newHWorld(t, hPolicy(t, time.Hour, enforcer.ActionReport))
	old := w.clock.Now().Add(-2 * time.Hour)
	ids := make([]string, 0, n+1)
	for i := range n {
		id := fmt.Sprintf("i-%017x", i+1)
		w.ec2.add(id, old, "project", "checkout", "Name", fmt.Sprintf("batch-worker-%d-", i)+strings.Repeat("n", 100), "team", strings.Repeat("t", 100))
		ids = append(ids, id)
	}
	late := "i-0fffffffffffffff0"
	w.ec2.add(late, w.clock.Now(), "project", "checkout")
	ids = append(ids, late)

	w.mustHandle(t, w.hEvent("ev-large", ids...))
	sent := w.queue.take()
	if len(sent) != 1 {
		t.Fatalf("%d messages sent", len(sent))
	}
	body := aws.ToString(sent[0].MessageBody)
	if len(body) > enforcer.MaxMessageBytes {
		t.Fatalf("recheck of %d bytes", len(body))
	}
	m, err := enforcer.ParseMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	if ru := m.Recheck.Rollup; ru.ViolatorCount != n || len(ru.Violators) >= document.MaxRollupViolators || len(ru.Violators)+ru.ViolatorsOmitted != n {
		t.Fatalf("recheck rollup: count %d, %d listed, %d omitted", ru.ViolatorCount, len(ru.Violators), ru.ViolatorsOmitted)
	}

	w.clock.Advance(time.Hour)
	w.mustHandle(t, body)
	r := w.rollup(t, "ev-large")
	listed, omitted := len(r["violators"].([]any)), int(r["violators_omitted"].(float64))
	if r["violator_count"] != float64(n+1) || listed+omitted != n+1 || hCounts(r, "outcomes")["reported"] != n+1 {
		t.Fatalf("rollup: violator_count %v, %d listed, %d omitted, outcomes %v", r["violator_count"], listed, omitted, r["outcomes"])
	}
	if w.sink.len() != n+2 {
		t.Fatalf("%d documents, want a violator document each and the rollup", w.sink.len())
	}
}

// TestHandlerDropsARecheckTooLarge: a launch of more instances in their grace period than one
// recheck can name writes what it decided and is acknowledged with an error log, instead of
// failing until the DLQ; the instances are the sweep's.
func TestHandlerDropsARecheckTooLarge(t *testing.T) {
	const n = 12_000
	w := newHWorld(t, hPolicy(t, time.Hour, enforcer.ActionTerminate))
	var logged strings.Builder
	w.h.Log = hTextLogger(&logged)
	ids := make([]string, 0, n+1)
	for i := range n {
		id := fmt.Sprintf("i-%017x", i+1)
		w.ec2.add(id, w.clock.Now(), "project", "checkout")
		ids = append(ids, id)
	}
	decided := "i-0fffffffffffffff0"
	w.ec2.add(decided, w.clock.Now().Add(-2*time.Hour), "project", "checkout")
	ids = append(ids, decided)

	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m0", Body: w.hEvent("ev-huge", ids...)}}}
	resp, err := w.h.HandleSQS(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("HandleSQS = %+v, %v", resp, err)
	}
	if len(w.queue.take()) != 0 || w.stats.Dropped != 1 || w.stats.Actions != 1 {
		t.Fatalf("stats %+v", w.stats)
	}
	if v := w.violator(t, "ev-huge", decided); v["outcome"] != "terminated" {
		t.Fatalf("the decided instance's document: %v", v)
	}
	if line := hLogLine(logged.String(), "reason=recheck_too_large"); !strings.Contains(line, `level=ERROR msg="message dropped"`) {
		t.Fatalf("no error log for the dropped recheck: %d bytes:\n%s", logged.Len(), logged.String()[max(0, logged.Len()-3000):])
	}
}
