package enforcer_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
)

func TestParseMessageKinds(t *testing.T) {
	t.Run("event", func(t *testing.T) {
		m, err := enforcer.ParseMessage(string(evFixture(t, "event-multi.json")))
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != enforcer.KindEvent || m.Recheck.EventID != "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a05" ||
			m.Recheck.InstanceCount != 3 || len(m.Recheck.Pending) != 3 || m.Recheck.Attempt != 0 || m.Recheck.Rollup != nil {
			t.Fatalf("got %+v", m.Recheck)
		}
	})
	t.Run("recheck round trip", func(t *testing.T) {
		r := &enforcer.Recheck{
			EventID: "ev-1", EventTime: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Region: "eu-west-1", AccountID: "123456789012",
			Creator:       enforcer.Caller{Type: "IAMUser", Name: "alice", UserNames: []string{"alice"}},
			InstanceCount: 2, Pending: []string{"i-0123456789abcdef0"}, Attempt: 3, Acted: 1,
			Retries: map[string]int{"i-0123456789abcdef0": 1},
			Rollup:  document.NewRollup(document.Header{RunID: "ev-1", Source: document.SourceEvent}),
		}
		r.Rollup.Verdicts["compliant"] = 1
		body, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(body, `{"awsaudit":"recheck","version":1,`) {
			t.Fatalf("body does not start with the marker: %s", body)
		}
		m, err := enforcer.ParseMessage(body)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != enforcer.KindRecheck {
			t.Fatalf("kind %s", m.Kind)
		}
		again, _ := m.Recheck.Encode()
		evJSONEqual(t, []byte(again), []byte(body))
		if m.Recheck.Rollup.Verdicts["compliant"] != 1 || m.Recheck.Retries["i-0123456789abcdef0"] != 1 {
			t.Fatalf("state lost: %+v", m.Recheck)
		}
	})
	t.Run("documents round trip", func(t *testing.T) {
		docs := []document.Document{
			{Index: "aws-tag-violator", ID: "ev-1:i-0123456789abcdef0", Op: document.OpCreate, Body: json.RawMessage(`{"id":"i-0123456789abcdef0","outcome":"terminated"}`)},
			{Index: "aws-tag-audit", ID: "ev-1", Op: document.OpCreate, Body: json.RawMessage(`{"run_id":"ev-1"}`)},
		}
		bodies, tooLarge, err := enforcer.EncodeDocuments("ev-1", docs)
		if err != nil || len(bodies) != 1 || len(tooLarge) != 0 {
			t.Fatalf("bodies %d, too large %d, err %v", len(bodies), len(tooLarge), err)
		}
		evJSONEqual(t, []byte(bodies[0]), []byte(`{"awsaudit":"documents","version":1,"run_id":"ev-1","documents":[
			{"index":"aws-tag-violator","id":"ev-1:i-0123456789abcdef0","op":"create","body":{"id":"i-0123456789abcdef0","outcome":"terminated"}},
			{"index":"aws-tag-audit","id":"ev-1","op":"create","body":{"run_id":"ev-1"}}]}`))
		m, err := enforcer.ParseMessage(bodies[0])
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != enforcer.KindDocuments || !reflect.DeepEqual(m.Documents.Docs(), docs) {
			t.Fatalf("got %+v", m.Documents.Docs())
		}
	})
}

func TestEncodeDocumentsSplitsBySize(t *testing.T) {
	big := `{"note":"` + strings.Repeat("x", 60_000) + `"}`
	var docs []document.Document
	for i := range 10 {
		docs = append(docs, document.Document{Index: "aws-tag-violator", ID: "ev:" + string(rune('a'+i)), Op: document.OpCreate, Body: json.RawMessage(big)})
	}
	huge := document.Document{Index: "aws-tag-audit", ID: "ev", Op: document.OpCreate, Body: json.RawMessage(`{"note":"` + strings.Repeat("y", enforcer.MaxMessageBytes) + `"}`)}
	bodies, tooLarge, err := enforcer.EncodeDocuments("ev", append(docs, huge))
	if err != nil {
		t.Fatal(err)
	}
	if len(tooLarge) != 1 || tooLarge[0].ID != "ev" {
		t.Fatalf("too large: %v", tooLarge)
	}
	var back []document.Document
	for _, b := range bodies {
		if len(b) > enforcer.MaxMessageBytes {
			t.Fatalf("a message of %d bytes", len(b))
		}
		m, err := enforcer.ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, m.Documents.Docs()...)
	}
	if len(bodies) < 3 || !reflect.DeepEqual(back, docs) {
		t.Fatalf("%d messages carrying %d documents", len(bodies), len(back))
	}
}

func TestParseMessagePoison(t *testing.T) {
	const rc = `"event_id":"ev","event_time":"2026-11-26T10:00:00Z","region":"us-east-1","creator":{"type":"IAMUser","name":"a"}`
	tests := []struct {
		name, body string
		reason     enforcer.DropReason
	}{
		{"empty", "", enforcer.DropNotJSON},
		{"text", "hello", enforcer.DropNotJSON},
		{"array", "[1,2]", enforcer.DropNotJSON},
		{"truncated", `{"awsaudit":"recheck"`, enforcer.DropNotJSON},
		{"some other JSON", `{"Records":[]}`, enforcer.DropUnknownKind},
		{"unknown awsaudit kind", `{"awsaudit":"sweep","version":1}`, enforcer.DropUnknownKind},
		{"newer recheck", `{"awsaudit":"recheck","version":2,` + rc + `,"pending":["i-0123456789abcdef0"]}`, enforcer.DropUnsupportedVersion},
		{"recheck without version", `{"awsaudit":"recheck",` + rc + `,"pending":["i-0123456789abcdef0"]}`, enforcer.DropUnsupportedVersion},
		{"recheck without instances", `{"awsaudit":"recheck","version":1,` + rc + `,"pending":[]}`, enforcer.DropNoInstances},
		{"recheck with a bad id", `{"awsaudit":"recheck","version":1,` + rc + `,"pending":["vol-0123456789abcdef0"]}`, enforcer.DropMalformed},
		{"recheck without event", `{"awsaudit":"recheck","version":1,"pending":["i-0123456789abcdef0"]}`, enforcer.DropMalformed},
		{"recheck with a wrong type", `{"awsaudit":"recheck","version":1,` + rc + `,"pending":"i-0123456789abcdef0"}`, enforcer.DropMalformed},
		{"documents empty", `{"awsaudit":"documents","version":1,"documents":[]}`, enforcer.DropMalformed},
		{"documents delete", `{"awsaudit":"documents","version":1,"documents":[{"index":"a","id":"b","op":"delete","body":{}}]}`, enforcer.DropMalformed},
		{"documents body not object", `{"awsaudit":"documents","version":1,"documents":[{"index":"a","id":"b","op":"create","body":[1]}]}`, enforcer.DropMalformed},
		{"documents without id", `{"awsaudit":"documents","version":1,"documents":[{"index":"a","op":"create","body":{}}]}`, enforcer.DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enforcer.ParseMessage(tt.body)
			pe, ok := enforcer.IsPoison(err)
			if !ok || pe.Reason != tt.reason {
				t.Fatalf("err = %v, want poison %s", err, tt.reason)
			}
		})
	}
}

func TestRecheckDelay(t *testing.T) {
	const maxDelay = 900 * time.Second
	grace := func(g, age time.Duration) time.Duration { return g - age }
	tests := []struct {
		name     string
		wait     time.Duration
		maxDelay time.Duration
		want     int32
	}{
		// Never 0: the SDK omits DelaySeconds 0, and SQS then applies the queue's default delay.
		{"0: one second", 0, maxDelay, 1},
		{"grace 0: nothing to wait", grace(0, 0), maxDelay, 1},
		{"grace 5 min, just launched", grace(5*time.Minute, 0), maxDelay, 300},
		{"grace 5 min, 4m59.2s old: rounded up", grace(5*time.Minute, 4*time.Minute+59200*time.Millisecond), maxDelay, 1},
		{"grace 2 h, just launched: capped", grace(2*time.Hour, 0), maxDelay, 900},
		{"grace 2 h, chain step 2", grace(2*time.Hour, 900*time.Second), maxDelay, 900},
		{"grace 2 h, last step", grace(2*time.Hour, 2*time.Hour-100*time.Second), maxDelay, 100},
		{"short max delay", grace(2*time.Hour, 0), 2 * time.Second, 2},
		{"fractional max delay floors", 10 * time.Second, 2500 * time.Millisecond, 2},
		{"max delay above SQS's", time.Hour, time.Hour, 900},
		{"past", -time.Minute, maxDelay, 1},
		{"max delay 0", time.Minute, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := enforcer.RecheckDelay(tt.wait, tt.maxDelay); got != tt.want {
				t.Fatalf("RecheckDelay(%v, %v) = %d, want %d", tt.wait, tt.maxDelay, got, tt.want)
			}
		})
	}
	// A 2 h grace period is a chain of rechecks that ends exactly at the grace period's end.
	remaining, steps := 2*time.Hour, 0
	for remaining > 0 {
		d := enforcer.RecheckDelay(remaining, maxDelay)
		remaining -= time.Duration(d) * time.Second
		steps++
	}
	if steps != 8 || remaining != 0 {
		t.Fatalf("chain of %d steps leaves %v", steps, remaining)
	}
}

// evLargeRollup returns a recheck carrying the rollup of n violators, each with tags enough to
// take several hundred bytes in the rollup's list.
func evLargeRollup(n int) *enforcer.Recheck {
	r := &enforcer.Recheck{
		EventID: "ev-big", EventTime: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Region: "us-east-1",
		Creator:       enforcer.Caller{Type: "IAMUser", Name: "alice"},
		InstanceCount: n + 1, Pending: []string{"i-0ffffffffffffffff"}, Attempt: 1,
		Rollup: document.NewRollup(document.Header{RunID: "ev-big", Source: document.SourceEvent}),
	}
	for i := range n {
		v := &document.Violator{
			ID: fmt.Sprintf("i-%017x", i+1), Region: "us-east-1", State: "running", Verdict: "violator", Outcome: document.Terminated,
			Tags:        []string{"Name=web-" + fmt.Sprint(i), "project=checkout", "team=payments-platform-" + strings.Repeat("x", 40), "cost_center=cc-0001-" + strings.Repeat("y", 40)},
			MissingTags: []string{"created_by", "department"}, InvalidTags: []string{},
		}
		r.Rollup.Verdicts[v.Verdict]++
		r.Rollup.AddViolator(v)
	}
	return r
}

// TestRecheckEncodeTrimsTheRollupToFit: a launch with 2,000 violators carries a rollup whose
// violators list alone is larger than a queue message; Encode lists fewer of them, counts the
// rest in violators_omitted, keeps every other count, and the body round-trips.
func TestRecheckEncodeTrimsTheRollupToFit(t *testing.T) {
	const n = 2000
	r := evLargeRollup(n)
	listed := r.Rollup.Violators
	if b, _ := json.Marshal(r); len(b) <= enforcer.MaxMessageBytes {
		t.Fatalf("the test's recheck is %d bytes: too small to test trimming", len(b))
	}
	body, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > enforcer.MaxMessageBytes {
		t.Fatalf("recheck of %d bytes, more than %d", len(body), enforcer.MaxMessageBytes)
	}
	m, err := enforcer.ParseMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	ru := m.Recheck.Rollup
	if ru.ViolatorCount != n || ru.Outcomes["terminated"] != n || ru.Verdicts["violator"] != n {
		t.Fatalf("counts changed: violator_count %d, outcomes %v, verdicts %v", ru.ViolatorCount, ru.Outcomes, ru.Verdicts)
	}
	if len(ru.Violators) == 0 || len(ru.Violators) >= len(listed) || len(ru.Violators)+ru.ViolatorsOmitted != n {
		t.Fatalf("%d violators listed and %d omitted, want fewer than %d listed and %d in all", len(ru.Violators), ru.ViolatorsOmitted, len(listed), n)
	}
	if !reflect.DeepEqual(ru.Violators, listed[:len(ru.Violators)]) {
		t.Fatal("the violators kept are not the first ones listed")
	}
	if !reflect.DeepEqual(m.Recheck.Rollup, r.Rollup) || !reflect.DeepEqual(m.Recheck.Pending, r.Pending) {
		t.Fatal("the recheck sent is not the state Encode left in r")
	}
	again, err := m.Recheck.Encode()
	if err != nil || again != body {
		t.Fatalf("encoding the parsed recheck again: %v (same body: %t)", err, again == body)
	}
}

// TestRecheckEncodeTooLarge: a recheck whose pending list alone exceeds a queue message cannot
// be sent; Encode says so with a poison error, so the record is not retried into the DLQ.
func TestRecheckEncodeTooLarge(t *testing.T) {
	r := evLargeRollup(10)
	r.Pending = nil
	for i := range 12_000 {
		r.Pending = append(r.Pending, fmt.Sprintf("i-%017x", i+1))
	}
	_, err := r.Encode()
	pe, ok := enforcer.IsPoison(err)
	if !ok || pe.Reason != enforcer.DropRecheckTooLarge || !strings.Contains(err.Error(), "12000 instance(s) pending") {
		t.Fatalf("Encode = %v, want poison %s", err, enforcer.DropRecheckTooLarge)
	}
}
