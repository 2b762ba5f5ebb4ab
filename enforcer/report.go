package enforcer

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/awsaudit/awsaudit/internal/document"
)

// Reportable reports whether a decision gets a violator document: violators, managed violators,
// and instances that could not be decided.
func (d *Decision) Reportable() bool {
	return d.Verdict == Violator || d.Verdict == Managed || d.Verdict == Unknown
}

// ViolatorDocument returns the violator document for in as decided by d, with outcome.
func ViolatorDocument(h document.Header, in *Instance, d *Decision, outcome document.Outcome) *document.Violator {
	v := &document.Violator{
		Header:           h,
		ID:               in.ID,
		Region:           in.Region,
		AvailabilityZone: in.AvailabilityZone,
		State:            in.State,
		Tags:             tagStrings(in.Tags),
		Age:              roundAge(d.Age),
		LaunchTime:       document.At(in.LaunchTime),
		Verdict:          string(d.Verdict),
		MissingTags:      orEmpty(d.Missing),
		InvalidTags:      []string{},
		Problems:         d.Problems(),
		UnknownIAMUsers:  d.UnknownUsers,
		ManagedBy:        d.ManagedBy,
		ExemptionError:   d.ExemptionError,
		Reason:           d.Reason,
		Outcome:          outcome,
	}
	for _, t := range d.Invalid {
		v.InvalidTags = append(v.InvalidTags, t.Key+"="+t.Value)
	}
	return v
}

// Record copies what acting found into the document: the read the result holds (state, tags and
// everything decided from them, so a document never shows the second read's tags beside the first
// read's missing tags), the outcome, the error, the note and the protection flags as they were.
// What acting does not know, such as the creator, is kept.
func (r *Result) Record(v *document.Violator) {
	if r.Decision.Verdict != "" {
		d := ViolatorDocument(v.Header, &r.Instance, &r.Decision, r.Outcome)
		v.AvailabilityZone, v.Tags, v.Age, v.LaunchTime = d.AvailabilityZone, d.Tags, d.Age, d.LaunchTime
		v.Verdict, v.MissingTags, v.InvalidTags, v.Problems = d.Verdict, d.MissingTags, d.InvalidTags, d.Problems
		v.UnknownIAMUsers, v.ManagedBy, v.ExemptionError, v.Reason = d.UnknownIAMUsers, d.ManagedBy, d.ExemptionError, d.Reason
	}
	v.State = r.Instance.State
	v.Outcome = r.Outcome
	if r.Err != nil {
		v.Error = r.Err.Error()
	}
	v.Note = r.Note
	v.DisableAPITermination = r.DisableAPITermination
	v.DisableAPIStop = r.DisableAPIStop
}

// tagStrings prints tags as the original did, "key=value", sorted so documents are stable.
func tagStrings(tags []Tag) []string {
	s := make([]string, len(tags))
	for i, t := range tags {
		s[i] = t.String()
	}
	slices.Sort(s)
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// roundAge keeps ages to the hundredth of a minute.
func roundAge(minutes float64) float64 { return math.Round(minutes*100) / 100 }

// NoLimit is the cap Limit takes for "no cap".
const NoLimit = -1

// Limit splits targets into those to act on and those deferred by a cap of n (NoLimit: no cap):
// the oldest are acted on first, so the newest violators are deferred.
func Limit(targets []Target, n int) (act, deferred []Target) {
	if n < 0 || len(targets) <= n {
		return targets, nil
	}
	sorted := slices.Clone(targets)
	slices.SortStableFunc(sorted, func(a, b Target) int {
		if c := cmp.Compare(b.Decision.Age, a.Decision.Age); c != 0 {
			return c
		}
		return strings.Compare(a.Instance.ID, b.Instance.ID)
	})
	return sorted[:n], sorted[n:]
}
