package reconciler

import (
	"testing"

	"github.com/awsaudit/awsaudit/internal/document"
)

func TestSummaryAndMetrics(t *testing.T) {
	ro := document.NewRollup(document.Header{RunID: "sweep-1"})
	ro.InstanceCount, ro.ViolatorCount = 40, 5
	ro.Outcomes["terminated"], ro.Outcomes["stopped"], ro.Outcomes["failed"] = 2, 1, 1
	ro.RegionsUnverified = []string{"eu-west-1"}
	rep := &Report{RunID: "sweep-1", Rollup: ro, ActionFailures: 1, Regions: []RegionSummary{{Region: "us-east-1", Status: RegionVerified, Instances: 40}}}

	s := rep.Summary(3, 3)
	if s.Instances != 40 || s.Violators != 5 || s.NotWritten != 3 || s.Spooled != 3 || len(s.Regions) != 1 || s.Unverified[0] != "eu-west-1" {
		t.Fatalf("summary %+v", s)
	}
	got := map[string]float64{}
	for _, m := range rep.Metrics(3) {
		got[m.Name] = m.Value
	}
	want := map[string]float64{"Violators": 5, "Actions": 3, "ActionFailures": 1, "UnverifiedRegions": 1, "UnreachedRegions": 0, "DocumentWriteFailures": 3}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("metric %s = %v, want %v", k, got[k], v)
		}
	}
	if !rep.Troubled(0) {
		t.Error("an unverified region is trouble")
	}
	ro.RegionsUnverified, rep.ActionFailures = nil, 0
	if rep.Troubled(0) || !rep.Troubled(1) {
		t.Error("Troubled")
	}
}
