// Package document defines the two documents both awsaudit paths write — one rollup per run into
// the audit index, one document per violator into the violator index — their outcome vocabulary,
// their Elasticsearch mappings, their _bulk NDJSON form, and the Sink interface every destination
// (NDJSON file, Elasticsearch, a spool) implements.
//
// The original tool's fields keep their names and meanings: @timestamp, account, tag_scheme,
// violator_count, violators[] and, per violator, id, region, state, tags ("key=value" strings)
// and age (minutes since launch, a float).
package document

import (
	"encoding/json"
	"time"
)

// Outcome is what happened to a violator. The vocabulary is fixed here and nowhere else.
type Outcome string

// The outcomes.
const (
	// Reported: the policy only reports (or the instance is managed or unknown).
	Reported Outcome = "reported"
	// DryRun: the policy would act, but this run was a dry run.
	DryRun Outcome = "dry_run"
	// Stopped and Terminated: the action was taken (or the instance was already in that state;
	// Note says so).
	Stopped    Outcome = "stopped"
	Terminated Outcome = "terminated"
	// NowCompliant: the second read just before acting found the instance no longer a violator.
	NowCompliant Outcome = "now_compliant"
	// Gone: the instance was terminated, shutting down or absent before awsaudit acted on it (found
	// by the second read, by the re-read after a failed batch, or by EC2 answering that it is gone).
	Gone Outcome = "gone"
	// SkippedLimit: deferred by the per-run action limit.
	SkippedLimit Outcome = "skipped_limit"
	// SkippedUnverified: its region's canary check failed, so nothing there is acted on.
	SkippedUnverified Outcome = "skipped_unverified"
	// SkippedAccount: the account is not on the policy's allow-list.
	SkippedAccount Outcome = "skipped_account"
	// Failed: the action failed; Error says why.
	Failed Outcome = "failed"
)

// Outcomes lists every outcome in a fixed order, for counting and printing.
var Outcomes = []Outcome{Reported, DryRun, Stopped, Terminated, NowCompliant, Gone, SkippedLimit, SkippedUnverified, SkippedAccount, Failed}

// Source says which path wrote a document.
type Source string

// The sources.
const (
	SourceSweep Source = "sweep"
	SourceEvent Source = "event"
)

// Time is a timestamp that encodes as RFC 3339 in UTC with milliseconds, as Elasticsearch's
// date type reads it.
type Time struct{ time.Time }

// At wraps t.
func At(t time.Time) Time { return Time{t} }

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON encodes the time in UTC with milliseconds; the zero time encodes as null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 time or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	t.Time = v
	return err
}

// Header is what both documents say about the run.
type Header struct {
	Timestamp Time   `json:"@timestamp"`
	RunID     string `json:"run_id"`
	Source    Source `json:"source"`
	// Account is the account alias, or the account id when it has none (the original's field).
	Account   string `json:"account"`
	AccountID string `json:"account_id"`
	// TagScheme is the required keys, comma separated (the original's field).
	TagScheme string `json:"tag_scheme"`
	// Action is what the policy asks for: report, stop or terminate.
	Action string `json:"action"`
}

// Violator is one instance that breaks the tag scheme (or could not be decided), after its grace
// period, and what was done about it.
type Violator struct {
	Header
	ID               string   `json:"id"`
	Region           string   `json:"region"`
	AvailabilityZone string   `json:"availability_zone,omitempty"`
	State            string   `json:"state"`
	Tags             []string `json:"tags"`
	// Age is minutes since launch (since the primary network interface's attachment).
	Age        float64 `json:"age"`
	LaunchTime Time    `json:"launch_time"`
	// Verdict is violator, managed or unknown.
	Verdict     string   `json:"verdict"`
	MissingTags []string `json:"missing_tags"`
	// InvalidTags are the present required tags whose values are not allowed, as "key=value".
	InvalidTags []string `json:"invalid_tags"`
	// Problems says in words what is wrong, one line per missing or invalid tag.
	Problems        []string `json:"problems,omitempty"`
	UnknownIAMUsers []string `json:"unknown_iam_users,omitempty"`
	ManagedBy       string   `json:"managed_by,omitempty"`
	ExemptionError  string   `json:"exemption_error,omitempty"`
	// Reason explains an unknown verdict.
	Reason string `json:"reason,omitempty"`
	// Creator is who launched the instance, from CloudTrail, when known: the AWS service when
	// one made the call (InvokedBy).
	Creator     string `json:"creator,omitempty"`
	CreatorType string `json:"creator_type,omitempty"`
	// InvokedBy is the AWS service that made the launch call (CloudTrail's invokedBy), such as
	// autoscaling.amazonaws.com.
	InvokedBy string `json:"invoked_by,omitempty"`
	// CreatorMatchesTag says, on the event path with IAM checks, whether the created_by tag names
	// the caller that launched the instance.
	CreatorMatchesTag *bool   `json:"creator_matches_tag,omitempty"`
	Outcome           Outcome `json:"outcome"`
	Error             string  `json:"error,omitempty"`
	Note              string  `json:"note,omitempty"`
	// The protection flags as they were before awsaudit acted, when it read them.
	DisableAPITermination *bool `json:"disable_api_termination,omitempty"`
	DisableAPIStop        *bool `json:"disable_api_stop,omitempty"`
}

// RollupViolator is a violator's entry in the rollup: the original's fields and the outcome.
type RollupViolator struct {
	ID          string   `json:"id"`
	Region      string   `json:"region"`
	State       string   `json:"state"`
	Tags        []string `json:"tags"`
	Age         float64  `json:"age"`
	Verdict     string   `json:"verdict"`
	MissingTags []string `json:"missing_tags"`
	InvalidTags []string `json:"invalid_tags"`
	Outcome     Outcome  `json:"outcome"`
}

// VerdictUnknown is the verdict (enforcer.Unknown) of an instance that could not be decided: it
// gets a violator document but is not counted as a violator.
const VerdictUnknown = "unknown"

// MaxRollupViolators caps the rollup's violators list; ViolatorsOmitted counts the rest.
const MaxRollupViolators = 1000

// Rollup is one run: a sweep, or one CloudTrail event on the event path.
type Rollup struct {
	Header
	// InstanceCount is the instances audited (listed in reached regions, or in the event).
	InstanceCount int `json:"instance_count"`
	// ViolatorCount counts violators and managed violators (the original's field); unknown
	// instances are counted in Verdicts only.
	ViolatorCount    int              `json:"violator_count"`
	Violators        []RollupViolator `json:"violators"`
	ViolatorsOmitted int              `json:"violators_omitted"`
	// Verdicts and Outcomes count instances by verdict and violators by outcome; every key is
	// always present.
	Verdicts          map[string]int `json:"verdicts"`
	Outcomes          map[string]int `json:"outcomes"`
	RegionsVerified   []string       `json:"regions_verified"`
	RegionsUnverified []string       `json:"regions_unverified"`
	RegionsUnreached  []string       `json:"regions_unreached"`
	// RegionErrors says, one line per region, why it is unverified or unreached.
	RegionErrors []string `json:"region_errors,omitempty"`
	// Errors lists other problems of the run.
	Errors []string `json:"errors,omitempty"`
	// Creator is, on the event path, who made the call; InvokedBy the AWS service that made it,
	// if one did.
	Creator         string  `json:"creator,omitempty"`
	InvokedBy       string  `json:"invoked_by,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// AddViolator counts v in the rollup and lists it, up to MaxRollupViolators.
func (r *Rollup) AddViolator(v *Violator) {
	if r.Outcomes == nil {
		r.Outcomes = ZeroCounts(outcomeNames())
	}
	r.Outcomes[string(v.Outcome)]++
	if v.Verdict == VerdictUnknown {
		return
	}
	r.ViolatorCount++
	if len(r.Violators) >= MaxRollupViolators {
		r.ViolatorsOmitted++
		return
	}
	r.Violators = append(r.Violators, RollupViolator{
		ID: v.ID, Region: v.Region, State: v.State, Tags: v.Tags, Age: v.Age, Verdict: v.Verdict,
		MissingTags: v.MissingTags, InvalidTags: v.InvalidTags, Outcome: v.Outcome,
	})
}

// ZeroCounts returns a map with every name at zero.
func ZeroCounts(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for _, n := range names {
		m[n] = 0
	}
	return m
}

func outcomeNames() []string {
	s := make([]string, len(Outcomes))
	for i, o := range Outcomes {
		s[i] = string(o)
	}
	return s
}

// NewRollup returns a rollup for h with every count at zero and every list empty (not null), so
// the document always has the same shape.
func NewRollup(h Header) *Rollup {
	return &Rollup{
		Header:            h,
		Violators:         []RollupViolator{},
		Verdicts:          ZeroCounts(VerdictNames),
		Outcomes:          ZeroCounts(outcomeNames()),
		RegionsVerified:   []string{},
		RegionsUnverified: []string{},
		RegionsUnreached:  []string{},
	}
}
