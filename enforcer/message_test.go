package enforcer_test

import (
	"encoding/json"
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
		{"grace 0: nothing to wait", grace(0, 0), maxDelay, 0},
		{"grace 5 min, just launched", grace(5*time.Minute, 0), maxDelay, 300},
		{"grace 5 min, 4m59.2s old: rounded up", grace(5*time.Minute, 4*time.Minute+59200*time.Millisecond), maxDelay, 1},
		{"grace 2 h, just launched: capped", grace(2*time.Hour, 0), maxDelay, 900},
		{"grace 2 h, chain step 2", grace(2*time.Hour, 900*time.Second), maxDelay, 900},
		{"grace 2 h, last step", grace(2*time.Hour, 2*time.Hour-100*time.Second), maxDelay, 100},
		{"short max delay", grace(2*time.Hour, 0), 2 * time.Second, 2},
		{"fractional max delay floors", 10 * time.Second, 2500 * time.Millisecond, 2},
		{"max delay above SQS's", time.Hour, time.Hour, 900},
		{"past", -time.Minute, maxDelay, 0},
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
