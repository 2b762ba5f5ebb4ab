package enforcer_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
)

var hGoodTags = []string{"created_by", "alice", "department", "eng", "project", "checkout"}

const (
	iA = "i-0aaaaaaaaaaaaaaa1"
	iB = "i-0bbbbbbbbbbbbbbb2"
	iC = "i-0ccccccccccccccc3"
)

func TestHandlerDecidesActsAndDocuments(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	now := w.clock.Now()
	w.ec2.add(iA, now, hGoodTags...)
	w.ec2.add(iB, now, "project", "checkout")
	w.ec2.add(iC, now, "aws:autoscaling:groupName", "web")
	w.mustHandle(t, w.hEvent("ev-1", iA, iB, iC))

	if s := w.ec2.state(iA) + " " + w.ec2.state(iB) + " " + w.ec2.state(iC); s != "running terminated running" {
		t.Fatalf("states %s", s)
	}
	v := w.violator(t, "ev-1", iB)
	for k, want := range map[string]any{"outcome": "terminated", "verdict": "violator", "source": "event", "run_id": "ev-1",
		"creator": "alice", "creator_type": "IAMUser", "account": "acme-prod", "account_id": hAccount, "action": "terminate"} {
		if v[k] != want {
			t.Errorf("violator %s = %v, want %v", k, v[k], want)
		}
	}
	if _, ok := v["creator_matches_tag"]; ok {
		t.Error("creator_matches_tag set without IAM checks")
	}
	if got := v["missing_tags"].([]any); len(got) != 2 {
		t.Errorf("missing_tags %v", got)
	}
	m := w.violator(t, "ev-1", iC)
	if m["outcome"] != "reported" || m["verdict"] != "managed" {
		t.Errorf("managed instance: %v %v", m["outcome"], m["verdict"])
	}
	r := w.rollup(t, "ev-1")
	if !reflect.DeepEqual(hCounts(r, "verdicts"), map[string]int{"compliant": 1, "violator": 1, "managed": 1}) ||
		!reflect.DeepEqual(hCounts(r, "outcomes"), map[string]int{"terminated": 1, "reported": 1}) ||
		r["instance_count"] != 3.0 || r["violator_count"] != 2.0 || r["creator"] != "alice" || r["source"] != "event" {
		t.Errorf("rollup %v", r)
	}
	if got := r["regions_verified"].([]any); len(got) != 1 || got[0] != hRegion {
		t.Errorf("regions_verified %v", got)
	}
	if w.sink.len() != 3 || len(w.queue.take()) != 0 {
		t.Errorf("%d documents; messages sent", w.sink.len())
	}
	if w.stats.Actions != 1 || w.stats.Records != 1 || w.stats.Failed != 0 || w.stats.Dropped != 0 {
		t.Errorf("stats %+v", w.stats)
	}
}

// TestHandlerGraceDelays: any grace period works; the DelaySeconds sent is min(ceil(remaining),
// max delay), and a long grace period is a chain of rechecks ending in the decision.
func TestHandlerGraceDelays(t *testing.T) {
	tests := []struct {
		name     string
		grace    time.Duration
		age      time.Duration
		maxDelay time.Duration
		want     []int32
	}{
		{"grace 0", 0, 0, 900 * time.Second, nil},
		{"grace 5 min", 5 * time.Minute, 0, 900 * time.Second, []int32{300}},
		{"grace 5 min, half gone, rounded up", 5 * time.Minute, 150*time.Second + 400*time.Millisecond, 900 * time.Second, []int32{150}},
		{"grace 2 h", 2 * time.Hour, 0, 900 * time.Second, []int32{900, 900, 900, 900, 900, 900, 900, 900}},
		{"grace 2 h, short max delay", 2 * time.Hour, 2*time.Hour - 7*time.Second, 3 * time.Second, []int32{3, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, tt.grace, enforcer.ActionTerminate))
			w.h.MaxDelay = tt.maxDelay
			w.ec2.add(iB, w.clock.Now().Add(-tt.age), "project", "checkout")
			body := w.hEvent("ev-grace", iB)
			var delays []int32
			for range 20 {
				w.mustHandle(t, body)
				sent := w.queue.take()
				if len(sent) == 0 {
					break
				}
				if len(sent) != 1 {
					t.Fatalf("%d messages sent", len(sent))
				}
				delays = append(delays, sent[0].DelaySeconds)
				if w.ec2.state(iB) != "running" {
					t.Fatalf("acted during the grace period")
				}
				// SQS holds the recheck for its delay.
				w.clock.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
				body = aws.ToString(sent[0].MessageBody)
			}
			if !slices.Equal(delays, tt.want) {
				t.Fatalf("delays %v, want %v", delays, tt.want)
			}
			if w.ec2.state(iB) != "terminated" || w.violator(t, "ev-grace", iB)["outcome"] != "terminated" {
				t.Fatalf("not terminated after the grace period")
			}
			if r := w.rollup(t, "ev-grace"); r["violator_count"] != 1.0 {
				t.Fatalf("rollup %v", r)
			}
		})
	}
}

func TestHandlerTagAddedDuringGrace(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 5*time.Minute, enforcer.ActionTerminate))
	w.ec2.add(iA, w.clock.Now(), hGoodTags...)
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	w.mustHandle(t, w.hEvent("ev-tag", iA, iB))
	sent := w.queue.take()
	if len(sent) != 1 || sent[0].DelaySeconds != 300 {
		t.Fatalf("sent %v", sent)
	}
	m, err := enforcer.ParseMessage(aws.ToString(sent[0].MessageBody))
	if err != nil || !slices.Equal(m.Recheck.Pending, []string{iB}) || m.Recheck.Rollup.Verdicts["compliant"] != 1 {
		t.Fatalf("recheck %+v, %v", m.Recheck, err)
	}
	w.ec2.setTag(iB, "created_by", "bob")
	w.ec2.setTag(iB, "department", "ops")
	w.clock.Advance(300 * time.Second)
	w.mustHandle(t, aws.ToString(sent[0].MessageBody))
	if w.ec2.state(iB) != "running" || w.ec2.count("TerminateInstances") != 0 {
		t.Fatal("acted on an instance tagged during its grace period")
	}
	r := w.rollup(t, "ev-tag")
	if !reflect.DeepEqual(hCounts(r, "verdicts"), map[string]int{"compliant": 2}) || r["violator_count"] != 0.0 || w.sink.len() != 1 {
		t.Fatalf("rollup %v, %d documents", r, w.sink.len())
	}
}

func TestHandlerWaitsForAnInstanceEC2DoesNotShowYet(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	body := w.hEvent("ev-late", iA)
	w.mustHandle(t, body)
	sent := w.queue.take()
	if len(sent) != 1 || sent[0].DelaySeconds != 30 {
		t.Fatalf("sent %v", sent)
	}
	// It appears: decided on the recheck.
	w.clock.Advance(30 * time.Second)
	w.ec2.add(iA, w.clock.Now().Add(-10*time.Second), "project", "checkout")
	w.mustHandle(t, aws.ToString(sent[0].MessageBody))
	if w.ec2.state(iA) != "terminated" {
		t.Fatal("not acted on once visible")
	}

	// Another never appears: dropped once the allowance has passed.
	w.stats = enforcer.BatchStats{}
	body = w.hEvent("ev-never", iC)
	w.mustHandle(t, body)
	for range 20 {
		sent = w.queue.take()
		if len(sent) == 0 {
			break
		}
		w.clock.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
		w.mustHandle(t, aws.ToString(sent[0].MessageBody))
	}
	if w.stats.Dropped != 1 || w.stats.Records != 11 {
		t.Fatalf("stats %+v: want 10 waits of 30 s in the 5 min allowance, then a drop", w.stats)
	}
	if w.sink.len() != 2 {
		t.Fatalf("%d documents: a dropped event writes none", w.sink.len())
	}
}

// TestHandlerDropOrRetry: poison is acknowledged; transient and other failures are returned as
// batch item failures, for exactly the records that failed.
func TestHandlerDropOrRetry(t *testing.T) {
	throttled, unavailable, denied := hAPIErr("RequestLimitExceeded"), hAPIErr("InternalError"), hAPIErr("UnauthorizedOperation")
	failOn := func(op string, err error) func(string, []string) error {
		return func(o string, _ []string) error {
			if o == op {
				return err
			}
			return nil
		}
	}
	tests := []struct {
		name    string
		setup   func(w *hWorld)
		body    func(w *hWorld) string
		failed  bool
		dropped bool
		acted   bool
		alone   bool
		recheck bool
	}{
		{name: "not JSON", body: func(*hWorld) string { return "RunInstances i-0aaaaaaaaaaaaaaa1" }, dropped: true},
		{name: "wrong kind", body: func(*hWorld) string {
			return `{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{}}`
		}, dropped: true},
		{name: "unsupported version", body: func(*hWorld) string { return `{"awsaudit":"recheck","version":9}` }, dropped: true},
		{name: "failed call", body: func(w *hWorld) string {
			return strings.Replace(w.hEvent("ev", iB), `"eventName"`, `"errorCode":"Client.InstanceLimitExceeded","eventName"`, 1)
		}, dropped: true},
		{name: "region not audited", setup: func(w *hWorld) { w.h.Policy.Regions = []string{"eu-west-1"} }, dropped: true, alone: true},
		{name: "another account", body: func(w *hWorld) string {
			return strings.Replace(w.hEvent("ev", iB), `"recipientAccountId":"123456789012"`, `"recipientAccountId":"210987654321"`, 1)
		}, dropped: true},
		{name: "read throttled", setup: func(w *hWorld) { w.ec2.fail = failOn("DescribeInstances", throttled) }, failed: true},
		{name: "read 5xx", setup: func(w *hWorld) { w.ec2.fail = failOn("DescribeInstances", unavailable) }, failed: true},
		{name: "read denied", setup: func(w *hWorld) { w.ec2.fail = failOn("DescribeInstances", denied) }, failed: true},
		{name: "canary check throttled", setup: func(w *hWorld) { w.ec2.fail = failOn("DescribeInstances:canary", throttled) }, failed: true, alone: true},
		{name: "account unknown", setup: func(w *hWorld) { w.sts.fail = unavailable }, failed: true, alone: true},
		{name: "sink down, queue up: spooled", setup: func(w *hWorld) { w.sink.failNext = 1 }, acted: true, alone: true},
		{name: "sink and queue down", setup: func(w *hWorld) { w.sink.failNext = 1; w.queue.fail = unavailable }, failed: true, acted: true, alone: true},
		{name: "second read throttled: retried by a recheck", setup: func(w *hWorld) {
			n := 0
			w.ec2.fail = func(op string, _ []string) error {
				if op == "DescribeInstances" {
					if n++; n == 2 {
						return throttled
					}
				}
				return nil
			}
		}, recheck: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
			w.ec2.add(iB, w.clock.Now(), "project", "checkout")
			w.ec2.add(iA, w.clock.Now(), "project", "checkout")
			if tt.setup != nil {
				tt.setup(w)
			}
			body := w.hEvent("ev", iB)
			if tt.body != nil {
				body = tt.body(w)
			}
			// A batch also carries a healthy record, which must succeed whatever the other does
			// (unless the failure is one every record shares).
			if f := w.ec2.fail; f != nil {
				w.ec2.fail = func(op string, ids []string) error {
					if slices.Contains(ids, iA) {
						return nil
					}
					return f(op, ids)
				}
			}
			var failed []string
			if tt.alone {
				failed = w.handle(t, body)
			} else {
				failed = w.handle(t, body, w.hEvent("ev-healthy", iA))
				if w.ec2.state(iA) != "terminated" {
					t.Errorf("the healthy record was not handled")
				}
			}
			want := []string{}
			if tt.failed {
				want = []string{"m0"}
			}
			if !slices.Equal(failed, want) {
				t.Fatalf("batch item failures %v, want %v", failed, want)
			}
			if tt.dropped != (w.stats.Dropped == 1) {
				t.Fatalf("dropped %d", w.stats.Dropped)
			}
			if acted := w.ec2.state(iB) == "terminated"; acted != tt.acted {
				t.Fatalf("acted: %t", acted)
			}
			rechecks := 0
			for _, m := range w.queue.take() {
				if strings.Contains(aws.ToString(m.MessageBody), `"awsaudit":"recheck"`) {
					rechecks++
				}
			}
			if (rechecks == 1) != tt.recheck {
				t.Fatalf("%d rechecks sent", rechecks)
			}
		})
	}
}

func TestHandlerSpoolsDocumentsWhenTheSinkFails(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	w.sink.failNext = 1
	w.mustHandle(t, w.hEvent("ev-spool", iB))
	if w.ec2.state(iB) != "terminated" || w.sink.len() != 0 || w.stats.Spooled != 2 {
		t.Fatalf("state %s, %d documents, stats %+v", w.ec2.state(iB), w.sink.len(), w.stats)
	}
	sent := w.queue.take()
	if len(sent) != 1 || sent[0].DelaySeconds != 30 {
		t.Fatalf("sent %v", sent)
	}
	body := aws.ToString(sent[0].MessageBody)

	// The documents message fails again: a batch item failure, for SQS to deliver it again.
	w.sink.failNext = 1
	if failed := w.handle(t, body); !slices.Equal(failed, []string{"m0"}) {
		t.Fatalf("failed %v", failed)
	}
	w.mustHandle(t, body)
	// Delivered once more (the delete was lost): create keeps the first.
	w.mustHandle(t, body)
	if v := w.violator(t, "ev-spool", iB); v["outcome"] != "terminated" {
		t.Fatalf("violator %v", v)
	}
	if w.rollup(t, "ev-spool")["violator_count"] != 1.0 || w.sink.len() != 2 {
		t.Fatal("rollup missing")
	}
}

func TestHandlerRedeliveryNeverActsTwice(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	body := w.hEvent("ev-dup", iB)
	w.mustHandle(t, body)
	w.clock.Advance(time.Minute)
	// Redelivered, and delivered again as a duplicate event (another envelope id, same eventID),
	// both in one batch.
	dup := strings.Replace(body, `"id":"env-ev-dup"`, `"id":"env-ev-dup-2"`, 1)
	w.mustHandle(t, body, dup)
	if n := w.ec2.count("TerminateInstances"); n != 1 {
		t.Fatalf("TerminateInstances called %d times", n)
	}
	if v := w.violator(t, "ev-dup", iB); v["outcome"] != "terminated" {
		t.Fatalf("the first outcome was overwritten: %v", v["outcome"])
	}
	if w.sink.attempts["aws-tag-violator/ev-dup:"+iB] != 3 || w.sink.len() != 2 {
		t.Fatalf("attempts %v", w.sink.attempts)
	}
}

func TestHandlerRetriesATransientActionFailure(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failures int
		want     string
	}{
		{"once", 1, "terminated"},
		{"always", 100, "failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
			w.ec2.add(iB, w.clock.Now(), "project", "checkout")
			n := 0
			w.ec2.fail = func(op string, _ []string) error {
				if op == "TerminateInstances" && n < tt.failures {
					n++
					return hAPIErr("RequestLimitExceeded")
				}
				return nil
			}
			body := w.hEvent("ev-retry", iB)
			var delays []int32
			for range 10 {
				w.mustHandle(t, body)
				sent := w.queue.take()
				if len(sent) == 0 {
					break
				}
				delays = append(delays, sent[0].DelaySeconds)
				w.clock.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
				body = aws.ToString(sent[0].MessageBody)
			}
			if tt.want == "failed" && len(delays) != enforcer.MaxActionRetries {
				t.Fatalf("%d retries", len(delays))
			}
			v := w.violator(t, "ev-retry", iB)
			if v["outcome"] != tt.want || w.rollup(t, "ev-retry")["violator_count"] != 1.0 {
				t.Fatalf("outcome %v", v["outcome"])
			}
			if tt.want == "failed" && (w.stats.ActionFailures != 1 || !strings.Contains(v["error"].(string), "RequestLimitExceeded")) {
				t.Fatalf("stats %+v, error %v", w.stats, v["error"])
			}
		})
	}
}

func TestHandlerSafetyRails(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(w *hWorld)
		outcomes []string
		canary   bool
	}{
		{"report mode: no canary check", func(w *hWorld) { w.h.Policy.Action = enforcer.ActionReport }, []string{"reported", "reported"}, false},
		{"canary missing", func(w *hWorld) { w.ec2.setTag("i-0ca0a0a0a0a0a0a0a", "Name", "renamed") }, []string{"skipped_unverified", "skipped_unverified"}, true},
		{"account not allowed", func(w *hWorld) { w.h.Policy.Accounts = []string{"999999999999"} }, []string{"skipped_account", "skipped_account"}, true},
		{"account allowed by alias", func(w *hWorld) { w.h.Policy.Accounts = []string{"acme-prod"} }, []string{"terminated", "terminated"}, true},
		{"dry run", func(w *hWorld) { w.h.DryRun = true }, []string{"dry_run", "dry_run"}, true},
		{"limit of one per event: oldest first", func(w *hWorld) { w.h.Policy.Limits.MaxActions = 1 }, []string{"skipped_limit", "terminated"}, true},
		{"stop", func(w *hWorld) { w.h.Policy.Action = enforcer.ActionStop }, []string{"stopped", "stopped"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
			w.ec2.add(iA, w.clock.Now(), "project", "checkout")
			w.ec2.add(iB, w.clock.Now().Add(-time.Minute), "project", "checkout")
			tt.setup(w)
			w.mustHandle(t, w.hEvent("ev-rails", iA, iB))
			got := []string{w.violator(t, "ev-rails", iA)["outcome"].(string), w.violator(t, "ev-rails", iB)["outcome"].(string)}
			if !slices.Equal(got, tt.outcomes) {
				t.Fatalf("outcomes %v, want %v", got, tt.outcomes)
			}
			if checked := w.ec2.count("DescribeInstances:canary") > 0; checked != tt.canary {
				t.Fatalf("canary checked: %t", checked)
			}
			r := w.rollup(t, "ev-rails")
			if tt.name == "canary missing" && len(r["regions_unverified"].([]any)) != 1 {
				t.Fatalf("rollup %v", r)
			}
		})
	}
}

// confirmPolicy requires created_by (an IAM user, as -c checks it), department and project, with
// no grace, in report mode.
func confirmPolicy(t *testing.T) *enforcer.Policy {
	t.Helper()
	p := enforcer.New("created_by", "department", "project")
	p.Tags[0].IAMUser = true
	p.Grace, p.Action = 0, enforcer.ActionReport
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHandlerCreatorMatchesTagWithConfirm(t *testing.T) {
	w := newHWorld(t, confirmPolicy(t))
	w.iam.users = []string{"alice", "bob"}
	w.ec2.add(iA, w.clock.Now(), "created_by", "alice", "project", "checkout")
	w.ec2.add(iB, w.clock.Now(), "created_by", "bob", "project", "checkout")
	w.ec2.add(iC, w.clock.Now(), "created_by", "mallory", "department", "x", "project", "checkout")
	w.mustHandle(t, w.hEvent("ev-confirm", iA, iB, iC))
	for id, want := range map[string]bool{iA: true, iB: false, iC: false} {
		v := w.violator(t, "ev-confirm", id)
		if v["creator_matches_tag"] != want {
			t.Errorf("%s: creator_matches_tag = %v, want %t", id, v["creator_matches_tag"], want)
		}
	}
	if got := w.violator(t, "ev-confirm", iC)["unknown_iam_users"].([]any); len(got) != 1 || got[0] != "mallory" {
		t.Errorf("unknown users %v", got)
	}
}

func TestHandlerNeverActsOnTheCanary(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	w.mustHandle(t, w.hEvent("ev-canary", "i-0ca0a0a0a0a0a0a0a"))
	if w.ec2.state("i-0ca0a0a0a0a0a0a0a") != "stopped" || w.ec2.count("TerminateInstances") != 0 {
		t.Fatal("acted on the canary")
	}
	if got := hCounts(w.rollup(t, "ev-canary"), "verdicts"); !reflect.DeepEqual(got, map[string]int{"canary": 1}) {
		t.Fatalf("verdicts %v", got)
	}
}

func TestHandlerSpoolFailureKeepsDocumentsInTheLog(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
	var logged strings.Builder
	w.h.Log = hTextLogger(&logged)
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	w.sink.failNext = 1
	w.queue.fail = errors.New("network down")
	if failed := w.handle(t, w.hEvent("ev-lost", iB)); len(failed) != 1 {
		t.Fatal("not failed")
	}
	if !strings.Contains(logged.String(), "DOCUMENT NOT WRITTEN") || !strings.Contains(logged.String(), `\"outcome\":\"terminated\"`) {
		t.Fatalf("the documents are not in the log:\n%s", logged.String())
	}
}

// TestHandlerSendsToTheConfiguredQueue pins the SendMessage input.
func TestHandlerSendsToTheConfiguredQueue(t *testing.T) {
	w := newHWorld(t, hPolicy(t, time.Hour, enforcer.ActionTerminate))
	w.ec2.add(iB, w.clock.Now(), "project", "checkout")
	w.mustHandle(t, w.hEvent("ev-q", iB))
	sent := w.queue.take()
	want := &sqs.SendMessageInput{QueueUrl: aws.String(w.h.QueueURL), DelaySeconds: 900}
	if len(sent) != 1 || aws.ToString(sent[0].QueueUrl) != aws.ToString(want.QueueUrl) || sent[0].DelaySeconds != want.DelaySeconds {
		t.Fatalf("sent %+v", sent)
	}
	if !strings.HasPrefix(aws.ToString(sent[0].MessageBody), `{"awsaudit":"recheck","version":1,"event_id":"ev-q"`) {
		t.Fatalf("body %s", aws.ToString(sent[0].MessageBody))
	}
	_ = document.DefaultIndices
}

// TestHandlerRedeliveryAfterAnAction: a multi-instance event whose first delivery terminates one
// instance while the other is in its grace period, and then fails (its recheck cannot be sent).
// SQS delivers the event again: the terminated instance is gone now, but this event terminated
// it, so the rollup must not say gone, and its violator document keeps terminated.
func TestHandlerRedeliveryAfterAnAction(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 5*time.Minute, enforcer.ActionTerminate))
	now := w.clock.Now()
	w.ec2.add(iA, now.Add(-10*time.Minute), "project", "checkout")
	w.ec2.add(iB, now, "project", "checkout")
	body := w.hEvent("ev-redo", iA, iB)
	w.queue.fail = hAPIErr("InternalError")
	if failed := w.handle(t, body); !slices.Equal(failed, []string{"m0"}) {
		t.Fatalf("failed %v: the recheck could not be sent", failed)
	}
	if w.ec2.state(iA) != "terminated" || w.ec2.state(iB) != "running" {
		t.Fatalf("states %s %s", w.ec2.state(iA), w.ec2.state(iB))
	}
	w.queue.fail = nil

	w.clock.Advance(30 * time.Second)
	if failed := w.handleDelivery(t, 2, body); len(failed) != 0 {
		t.Fatalf("the redelivery failed: %v", failed)
	}
	sent := w.queue.take()
	if len(sent) != 1 {
		t.Fatalf("%d messages sent, want the recheck for %s", len(sent), iB)
	}
	w.clock.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
	w.mustHandle(t, aws.ToString(sent[0].MessageBody))

	if w.ec2.state(iB) != "terminated" || w.ec2.count("TerminateInstances") != 2 {
		t.Fatalf("B %s, %d TerminateInstances calls", w.ec2.state(iB), w.ec2.count("TerminateInstances"))
	}
	if v := w.violator(t, "ev-redo", iA); v["outcome"] != "terminated" {
		t.Fatalf("A's violator document says %v", v["outcome"])
	}
	// The redelivery writes its own with create too, which never replaces the first.
	if n := w.sink.attempts["aws-tag-violator/ev-redo:"+iA]; n != 2 || w.sink.docs["aws-tag-violator/ev-redo:"+iA].Op != document.OpCreate {
		t.Fatalf("A's violator document written %d times (want the first and the redelivery's create)", n)
	}
	r := w.rollup(t, "ev-redo")
	if got := hCounts(r, "outcomes"); !reflect.DeepEqual(got, map[string]int{"terminated": 1}) {
		t.Fatalf("rollup outcomes %v: A must not be counted gone", got)
	}
	if got := hCounts(r, "verdicts"); !reflect.DeepEqual(got, map[string]int{"violator": 2}) || r["violator_count"] != 2.0 {
		t.Fatalf("rollup verdicts %v, violator_count %v", got, r["violator_count"])
	}
	for _, v := range r["violators"].([]any) {
		if v.(map[string]any)["outcome"] == "gone" {
			t.Fatalf("rollup lists a gone violator: %v", v)
		}
	}
	errs, _ := r["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(errs[0].(string), iA) || !strings.Contains(errs[0].(string), "redelivery") {
		t.Fatalf("rollup errors %v", errs)
	}
}

// TestHandlerRedeliveryAfterAStop: in stop mode too, a violator an earlier delivery stopped is not
// recorded "reported, already stopped" by the redelivery, which would contradict its document.
// And when no earlier document exists (the earlier delivery died before writing), the
// redelivery's stands, saying an earlier delivery may have acted: no violator is left without one.
func TestHandlerRedeliveryAfterAStop(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 5*time.Minute, enforcer.ActionStop))
	now := w.clock.Now()
	w.ec2.add(iA, now.Add(-10*time.Minute), "project", "checkout").state = "stopped" // stopped by the earlier delivery
	if failed := w.handleDelivery(t, 2, w.hEvent("ev-stop", iA)); len(failed) != 0 {
		t.Fatalf("the redelivery failed: %v", failed)
	}
	if n := w.ec2.count("StopInstances"); n != 0 {
		t.Fatalf("%d StopInstances calls on a redelivery", n)
	}
	v := w.violator(t, "ev-stop", iA)
	if v["outcome"] != "reported" || !strings.Contains(fmt.Sprint(v["note"]), "an earlier delivery may have stopped it") {
		t.Fatalf("A's document: outcome %v, note %v", v["outcome"], v["note"])
	}
	r := w.rollup(t, "ev-stop")
	if got := hCounts(r, "outcomes"); len(got) != 0 || r["violator_count"] != 1.0 {
		t.Fatalf("rollup outcomes %v, violator_count %v: A's outcome must not be counted", got, r["violator_count"])
	}
	if errs, _ := r["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(string), "found stopped on a redelivery") {
		t.Fatalf("rollup errors %v", errs)
	}
}

// TestHandlerGoneOnAFirstDelivery: an instance terminated by someone else before the first
// delivery decides it is recorded as gone, as before; so is one found gone on a redelivery when
// nothing could have been acted on (a dry run).
func TestHandlerGoneOnAFirstDelivery(t *testing.T) {
	for _, tt := range []struct {
		name    string
		receive int
		dryRun  bool
	}{
		{"first delivery", 1, false},
		{"redelivery of a dry run", 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newHWorld(t, hPolicy(t, 0, enforcer.ActionTerminate))
			w.h.DryRun = tt.dryRun
			w.ec2.add(iA, w.clock.Now(), "project", "checkout").state = "terminated"
			if failed := w.handleDelivery(t, tt.receive, w.hEvent("ev-gone", iA)); len(failed) != 0 {
				t.Fatalf("failed %v", failed)
			}
			if v := w.violator(t, "ev-gone", iA); v["outcome"] != "gone" {
				t.Fatalf("outcome %v", v["outcome"])
			}
			if got := hCounts(w.rollup(t, "ev-gone"), "outcomes"); !reflect.DeepEqual(got, map[string]int{"gone": 1}) {
				t.Fatalf("outcomes %v", got)
			}
		})
	}
}

// TestHandlerLogsEachInstanceNotFound: when some instances of an event were decided, each one
// still missing after the allowance gets a warning with reason instance_not_found, besides its
// line in the rollup's errors.
func TestHandlerLogsEachInstanceNotFound(t *testing.T) {
	w := newHWorld(t, hPolicy(t, 0, enforcer.ActionReport))
	var logged strings.Builder
	w.h.Log = hTextLogger(&logged)
	w.ec2.add(iA, w.clock.Now(), hGoodTags...)
	body := w.hEvent("ev-missing", iA, iB, iC)
	for range 20 {
		w.mustHandle(t, body)
		sent := w.queue.take()
		if len(sent) == 0 {
			break
		}
		w.clock.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
		body = aws.ToString(sent[0].MessageBody)
	}
	if w.stats.Dropped != 0 {
		t.Fatalf("stats %+v: the event had a decided instance, it is not dropped", w.stats)
	}
	var lines []string
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "reason=instance_not_found") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "instance_id="+iB) || !strings.Contains(lines[1], "instance_id="+iC) {
		t.Fatalf("warnings %q, want one per missing instance:\n%s", lines, logged.String())
	}
	r := w.rollup(t, "ev-missing")
	if errs := r["errors"].([]any); len(errs) != 2 || !strings.Contains(errs[0].(string), iB) {
		t.Fatalf("rollup errors %v", errs)
	}
	if got := hCounts(r, "verdicts"); !reflect.DeepEqual(got, map[string]int{"compliant": 1}) {
		t.Fatalf("verdicts %v", got)
	}
}

// TestHandlerAutoScalingLaunch: an Auto Scaling launch is recorded as the service's, and its
// session name "AutoScaling" never matches a created_by tag.
func TestHandlerAutoScalingLaunch(t *testing.T) {
	w := newHWorld(t, confirmPolicy(t))
	w.iam.users = []string{"AutoScaling"}
	w.ec2.add(iA, w.clock.Now(), "created_by", "AutoScaling", "aws:autoscaling:groupName", "web")
	w.mustHandle(t, w.hEventBy(hAutoScaling, "ev-asg", iA))
	v := w.violator(t, "ev-asg", iA)
	for k, want := range map[string]any{"creator": "autoscaling.amazonaws.com", "creator_type": "AssumedRole",
		"invoked_by": "autoscaling.amazonaws.com", "creator_matches_tag": false, "managed_by": "autoscaling"} {
		if v[k] != want {
			t.Errorf("violator %s = %v, want %v", k, v[k], want)
		}
	}
	r := w.rollup(t, "ev-asg")
	if r["creator"] != "autoscaling.amazonaws.com" || r["invoked_by"] != "autoscaling.amazonaws.com" {
		t.Errorf("rollup creator %v, invoked_by %v", r["creator"], r["invoked_by"])
	}
	// A person's launch carries no invoked_by.
	w.ec2.add(iB, w.clock.Now(), "created_by", "alice", "project", "checkout")
	w.iam.users = append(w.iam.users, "alice")
	w.mustHandle(t, w.hEvent("ev-alice", iB))
	if v := w.violator(t, "ev-alice", iB); v["creator"] != "alice" || v["creator_matches_tag"] != true || v["invoked_by"] != nil {
		t.Errorf("alice's launch: creator %v, matches %v, invoked_by %v", v["creator"], v["creator_matches_tag"], v["invoked_by"])
	}
}
