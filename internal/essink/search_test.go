package essink_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// TestSweepReadBack: a sweep's documents, written through the sink, are found with the queries
// a dashboard runs (term and terms on keyword fields, a range on @timestamp) and read back
// field by field as they were decided.
func TestSweepReadBack(t *testing.T) {
	srv := estest.Start(t)
	s := newSink(t, fastConfig(t, srv))
	sw := newSweep(t, "sweep-123456789012-20261126T120000.000Z", 12)
	other := newSweepAt(t, "sweep-123456789012-20261125T120000.000Z", t0.Add(-24*time.Hour), 2)
	if err := s.Write(bg, append(slices.Clone(sw.docs), other.docs...)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	written := map[string]*document.Violator{}
	for _, v := range append(slices.Clone(sw.violators), other.violators...) {
		written[document.ViolatorID(v.RunID, v.ID)] = v
	}
	day := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	regionCount := func(regions ...string) int {
		n := 0
		for _, v := range sw.violators {
			if slices.Contains(regions, v.Region) {
				n++
			}
		}
		return n
	}

	for _, tc := range []struct {
		name  string
		query string
		want  int
	}{
		{"term on run_id", fmt.Sprintf(`{"term":{"run_id":%q}}`, sw.runID), len(sw.violators)},
		{"terms on region", fmt.Sprintf(`{"bool":{"filter":[{"term":{"run_id":%q}},{"terms":{"region":["us-east-1","eu-west-1"]}}]}}`, sw.runID),
			regionCount("us-east-1", "eu-west-1")},
		{"term on a tag", fmt.Sprintf(`{"bool":{"filter":[{"term":{"run_id":%q}},{"term":{"tags":"department="}}]}}`, sw.runID), 6},
		{"term on missing_tags", fmt.Sprintf(`{"bool":{"filter":[{"term":{"run_id":%q}},{"term":{"missing_tags":"project"}}]}}`, sw.runID), 12},
		{"term on outcome", fmt.Sprintf(`{"bool":{"filter":[{"term":{"run_id":%q}},{"term":{"outcome":"terminated"}}]}}`, sw.runID), 3},
		{"range on @timestamp", fmt.Sprintf(`{"range":{"@timestamp":{"gte":%q,"lt":%q}}}`, day(-time.Hour), day(time.Hour)), len(sw.violators)},
		{"range on @timestamp, before", fmt.Sprintf(`{"range":{"@timestamp":{"lt":%q}}}`, day(-time.Hour)), len(other.violators)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := search(t, srv, document.DefaultViolatorIndex, `{"size":100,"query":`+tc.query+`}`)
			if len(hits) != tc.want {
				t.Fatalf("%d hits, want %d", len(hits), tc.want)
			}
			for _, h := range hits {
				var got document.Violator
				if err := json.Unmarshal(h, &got); err != nil {
					t.Fatal(err)
				}
				want, ok := written[document.ViolatorID(got.RunID, got.ID)]
				if !ok {
					t.Fatalf("hit %s of %s was not written", got.ID, got.RunID)
				}
				compareFields(t, got.ID, want, h)
				if !got.LaunchTime.Equal(want.LaunchTime.Truncate(time.Millisecond)) || got.Age != want.Age {
					t.Errorf("%s: launch_time %v age %v, want %v %v", got.ID, got.LaunchTime, got.Age, want.LaunchTime, want.Age)
				}
			}
		})
	}

	t.Run("rollup", func(t *testing.T) {
		hits := search(t, srv, document.DefaultAuditIndex, fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"run_id":%q}},{"range":{"@timestamp":{"gte":"now-100y"}}}]}}}`, sw.runID))
		if len(hits) != 1 {
			t.Fatalf("%d rollups, want 1", len(hits))
		}
		compareFields(t, "rollup", sw.rollup, hits[0])
		var got document.Rollup
		if err := json.Unmarshal(hits[0], &got); err != nil {
			t.Fatal(err)
		}
		if got.ViolatorCount != 12 || len(got.Violators) != 12 || got.Violators[3].ID != sw.violators[3].ID || got.Outcomes["terminated"] != 3 {
			t.Errorf("rollup read back as %+v", got)
		}
	})
}

// compareFields compares the document as awsaudit decided it (want, encoded as the sinks encode
// it) with what Elasticsearch returned, one top-level field at a time, so a difference names
// its field.
func compareFields(t *testing.T, name string, want any, got json.RawMessage) {
	t.Helper()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var w, g map[string]any
	if err := json.Unmarshal(wantJSON, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	for k, wv := range w {
		if !reflect.DeepEqual(wv, g[k]) {
			t.Errorf("%s: field %s = %v, want %v", name, k, g[k], wv)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: unexpected field %s", name, k)
		}
	}
}
