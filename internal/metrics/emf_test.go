package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEmitWritesOneEMFLine(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := &Emitter{Namespace: "awsaudit", Function: FunctionEnforcer, W: &buf, Now: func() time.Time { return at }}
	if err := e.Emit(
		Metric{Name: FailedRecords, Unit: Count, Value: 2},
		Metric{Name: DroppedRecords, Unit: Count, Value: 1},
		Metric{Name: Actions, Unit: Count, Value: 0},
		Metric{Name: ActionFailures, Unit: Count, Value: 0},
	); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	want := `{
	  "_aws": {"Timestamp": 1795687200000, "CloudWatchMetrics": [{
	    "Namespace": "awsaudit",
	    "Dimensions": [["Function"]],
	    "Metrics": [{"Name":"FailedRecords","Unit":"Count"},{"Name":"DroppedRecords","Unit":"Count"},
	                {"Name":"Actions","Unit":"Count"},{"Name":"ActionFailures","Unit":"Count"}]}]},
	  "Function": "enforcer",
	  "FailedRecords": 2, "DroppedRecords": 1, "Actions": 0, "ActionFailures": 0}`
	assertJSONEqual(t, out, want)
}

func TestEmitRefusesBadNames(t *testing.T) {
	tests := []struct {
		name    string
		metrics []Metric
	}{
		{"empty name", []Metric{{Name: "", Unit: Count}}},
		{"the dimension's name", []Metric{{Name: DimensionFunction, Unit: Count}}},
		{"the metadata key", []Metric{{Name: "_aws", Unit: Count}}},
		{"a duplicate", []Metric{{Name: Actions, Unit: Count}, {Name: Actions, Unit: Count}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := &Emitter{Namespace: "n", Function: FunctionReconciler, W: &buf, Now: time.Now}
			if err := e.Emit(tt.metrics...); err == nil {
				t.Fatal("Emit accepted it")
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %q", buf.String())
			}
		})
	}
}

func TestReconcilerNames(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{Namespace: "awsaudit", Function: FunctionReconciler, W: &buf, Now: time.Now}
	names := []string{Violators, Actions, ActionFailures, UnverifiedRegions, UnreachedRegions, DocumentWriteFailures}
	var ms []Metric
	for i, n := range names {
		ms = append(ms, Metric{Name: n, Unit: Count, Value: float64(i)})
	}
	if err := e.Emit(ms...); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if got[n] != float64(i) {
			t.Errorf("%s = %v, want %d", n, got[n], i)
		}
	}
	if got["Function"] != "reconciler" {
		t.Errorf("Function = %v", got["Function"])
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("got  %s\nwant %s", gb, wb)
	}
}
