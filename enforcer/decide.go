package enforcer

import (
	"fmt"
	"strings"
	"time"
)

// Instance is what a decision needs to know about one EC2 instance, as DescribeInstances returned
// it.
type Instance struct {
	ID               string
	Region           string
	AvailabilityZone string
	// State is the instance state name: pending, running, stopping, stopped, shutting-down,
	// terminated.
	State      string
	LaunchTime time.Time
	// AttachTime is when the primary network interface (device index 0) was attached; zero when
	// the API did not say. Unlike LaunchTime it survives a stop and start.
	AttachTime time.Time
	Tags       []Tag
}

// Since returns the time the instance's age runs from: the primary network interface's attach
// time when present, else its launch time.
func (in *Instance) Since() time.Time {
	if !in.AttachTime.IsZero() {
		return in.AttachTime
	}
	return in.LaunchTime
}

// Gone reports whether the instance is terminated or on its way there.
func (in *Instance) Gone() bool {
	return in.State == "shutting-down" || in.State == "terminated"
}

// UserLookup is what IAM said about a user name.
type UserLookup int

// What a user lookup found. UserUnchecked (the zero value) covers a lookup that failed or was not
// made: an instance depending on it is unknown, never acted on.
const (
	UserUnchecked UserLookup = iota
	UserExists
	UserNotFound
)

// Facts carries what I/O found that a decision needs.
type Facts struct {
	// Users holds IAM user lookups by name.
	Users map[string]UserLookup
}

func (f *Facts) user(name string) UserLookup {
	if f == nil {
		return UserUnchecked
	}
	return f.Users[name]
}

// Verdict is the outcome of a decision.
type Verdict string

// The verdicts. Only a Violator may be acted on.
const (
	// Compliant: the tags satisfy the policy.
	Compliant Verdict = "compliant"
	// InGrace: the tags do not satisfy the policy yet, but the instance is younger than the grace
	// period.
	InGrace Verdict = "in_grace"
	// Violator: past its grace period, the tags do not satisfy the policy.
	Violator Verdict = "violator"
	// Exempt: the tags do not satisfy the policy, but a valid exemption tag says why.
	Exempt Verdict = "exempt"
	// Managed: a violator whose manager (Auto Scaling, a fleet, …) would only replace it; reported,
	// never acted on unless the policy enforces managed instances.
	Managed Verdict = "managed"
	// Canary: the region's canary.
	Canary Verdict = "canary"
	// Unknown: the data to decide is missing (no state or launch time, an IAM lookup that
	// failed); never acted on.
	Unknown Verdict = "unknown"
)

// Verdicts lists every verdict in a fixed order, for counting and printing.
var Verdicts = []Verdict{Compliant, InGrace, Violator, Exempt, Managed, Canary, Unknown}

// Decision is the verdict on one instance and everything that led to it.
type Decision struct {
	Verdict Verdict
	// Age is in minutes, from Instance.Since to now.
	Age float64
	// GraceUntil is when the grace period ends (or ended).
	GraceUntil time.Time
	// Missing lists required keys the instance lacks, as the policy spells them.
	Missing []string
	// Invalid lists required tags present with values the policy does not allow.
	Invalid []InvalidTag
	// UnknownUsers lists IAM user names that do not exist.
	UnknownUsers []string
	// Exemption, for Exempt, is until when and why.
	ExemptUntil  time.Time
	ExemptReason string
	// ExemptionError says why an exemption tag that is present is not an exemption.
	ExemptionError string
	// ManagedBy names the instance's manager, such as "autoscaling", when it has one.
	ManagedBy string
	// Reason explains an Unknown verdict.
	Reason string
}

// Violates reports whether the tags break the scheme (whatever the verdict makes of it).
func (d *Decision) Violates() bool { return len(d.Missing) > 0 || len(d.Invalid) > 0 }

// Problems lists, one line each, what is wrong with the instance's tags.
func (d *Decision) Problems() []string {
	var out []string
	for _, k := range d.Missing {
		out = append(out, "missing "+k)
	}
	for _, in := range d.Invalid {
		out = append(out, in.String())
	}
	return out
}

// Decide returns the verdict on in under p at now, given facts found by I/O. It does no I/O.
func Decide(in *Instance, p *Policy, facts *Facts, now time.Time) Decision {
	var d Decision
	since := in.Since()
	switch {
	case in.ID == "":
		d.Verdict, d.Reason = Unknown, "no instance id"
		return d
	case in.State == "":
		d.Verdict, d.Reason = Unknown, "no instance state"
		return d
	case since.IsZero():
		d.Verdict, d.Reason = Unknown, "no launch time"
		return d
	}
	d.Age = now.Sub(since).Minutes()
	d.GraceUntil = since.Add(p.Grace)
	if p.IsCanary(in) {
		d.Verdict = Canary
		return d
	}
	e := p.evaluateTags(in.Tags, facts, false)
	d.Missing, d.Invalid, d.UnknownUsers = e.missing, e.invalid, e.unknownUsers
	d.ManagedBy = p.managedBy(in.Tags)
	if e.clean() {
		d.Verdict = Compliant
		return d
	}
	if now.Before(d.GraceUntil) {
		d.Verdict = InGrace
		return d
	}
	if raw, ok := p.findTag(in.Tags, p.Exemption.Tag); ok {
		until, reason, err := p.Exemption.Parse(raw, now)
		if err == nil {
			d.Verdict, d.ExemptUntil, d.ExemptReason = Exempt, until, reason
			return d
		}
		d.ExemptionError = err.Error()
	}
	if len(e.unchecked) > 0 {
		d.Verdict = Unknown
		d.Reason = fmt.Sprintf("IAM user %s could not be checked", strings.Join(e.unchecked, ", "))
		return d
	}
	if d.ManagedBy != "" && !p.EnforceManaged {
		d.Verdict = Managed
		return d
	}
	d.Verdict = Violator
	return d
}

// managedBy names the manager the instance's system tags reveal, or "".
func (p *Policy) managedBy(tags []Tag) string {
	for _, t := range tags {
		if m, ok := p.ManagedTags[t.Key]; ok {
			return m
		}
	}
	return ""
}

// IsCanary reports whether in is its region's canary: the canary's tags and name, and a canary
// state. A running instance with the same tags is an ordinary instance.
func (p *Policy) IsCanary(in *Instance) bool {
	if !p.isCanaryState(in.State) {
		return false
	}
	return p.hasCanaryTags(in)
}

func (p *Policy) isCanaryState(s string) bool {
	for _, c := range p.Canary.States {
		if s == c {
			return true
		}
	}
	return false
}

// hasCanaryTags reports whether in carries the canary's tags and name for its region.
func (p *Policy) hasCanaryTags(in *Instance) bool {
	if name, ok := p.findTag(in.Tags, NameTag); !ok || name != p.Canary.NameIn(in.Region) {
		return false
	}
	for k, want := range p.Canary.Tags {
		if got, ok := p.findTag(in.Tags, k); !ok || got != want {
			return false
		}
	}
	return true
}
