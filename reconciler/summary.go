package reconciler

import (
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/metrics"
)

// Summary is a sweep in one log line: counts per region and outcome, and what became of the
// documents.
type Summary struct {
	RunID      string          `json:"run_id"`
	Instances  int             `json:"instances"`
	Violators  int             `json:"violators"`
	Outcomes   map[string]int  `json:"outcomes"`
	Regions    []RegionSummary `json:"regions"`
	Unverified []string        `json:"regions_unverified"`
	Unreached  []string        `json:"regions_unreached"`
	// NotWritten counts the documents the sink did not take; Spooled those then spooled.
	NotWritten int `json:"documents_not_written"`
	Spooled    int `json:"documents_spooled"`
}

// Summary returns the sweep's summary; notWritten and spooled say what became of the documents
// the sink did not take.
func (r *Report) Summary(notWritten, spooled int) *Summary {
	return &Summary{
		RunID: r.RunID, Instances: r.Rollup.InstanceCount, Violators: r.Rollup.ViolatorCount,
		Outcomes: r.Rollup.Outcomes, Regions: r.Regions,
		Unverified: r.Rollup.RegionsUnverified, Unreached: r.Rollup.RegionsUnreached,
		NotWritten: notWritten, Spooled: spooled,
	}
}

// Troubled reports whether the sweep needs someone's attention: a region unverified or unreached,
// an action failed, a document not written, violators not acted on.
func (r *Report) Troubled(notWritten int) bool {
	return len(r.Rollup.RegionsUnverified) > 0 || len(r.Rollup.RegionsUnreached) > 0 ||
		r.ActionFailures > 0 || notWritten > 0 || r.NotActed > 0
}

// Metrics returns the sweep's CloudWatch metrics (the names terraform/alarms.tf uses).
func (r *Report) Metrics(notWritten int) []metrics.Metric {
	actions := r.Rollup.Outcomes[string(document.Stopped)] + r.Rollup.Outcomes[string(document.Terminated)]
	count := func(name string, v int) metrics.Metric {
		return metrics.Metric{Name: name, Unit: metrics.Count, Value: float64(v)}
	}
	return []metrics.Metric{
		count(metrics.Violators, r.Rollup.ViolatorCount),
		count(metrics.Actions, actions),
		count(metrics.ActionFailures, r.ActionFailures),
		count(metrics.UnverifiedRegions, len(r.Rollup.RegionsUnverified)),
		count(metrics.UnreachedRegions, len(r.Rollup.RegionsUnreached)),
		count(metrics.DocumentWriteFailures, notWritten),
	}
}
