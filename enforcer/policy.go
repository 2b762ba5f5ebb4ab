// Package enforcer owns what both awsaudit paths share: the policy model, the pure decision
// (Decide), the canary identity and check, the safe actions (stop and terminate with a second read
// and protection handling), CloudTrail event and queue message parsing, and the per-message
// handler of the event path. The sweep in package reconciler uses it for every decision, canary
// check and action, so both paths always agree on the same instance.
package enforcer

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Action is what the policy does to a violator after its grace period.
type Action string

// The actions. Report is the default: nothing is changed unless a policy asks for it.
const (
	ActionReport    Action = "report"
	ActionStop      Action = "stop"
	ActionTerminate Action = "terminate"
)

// ParseAction returns the action named s, or an error naming the valid ones.
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case ActionReport, ActionStop, ActionTerminate:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q: want report, stop or terminate", s)
}

// Destructive reports whether the action changes instances.
func (a Action) Destructive() bool { return a == ActionStop || a == ActionTerminate }

// Defaults of the policy, as in the original tool where it had one.
const (
	DefaultGrace            = 5 * time.Minute
	DefaultExemptionTag     = "awsaudit:exempt"
	DefaultMaxExemption     = 90 * 24 * time.Hour
	DefaultCanaryName       = "api-canary-{region}"
	CanaryRegionPlaceholder = "{region}"
	// NameTag is the tag key the canary's name is read from.
	NameTag = "Name"
)

// DefaultCanaryTags are the original tool's canary tags, apart from Name.
func DefaultCanaryTags() map[string]string {
	return map[string]string{"created_by": "cody", "project": "API canary", "department": "sysops"}
}

// DefaultCanaryStates are the states a canary may be in: a running instance with the canary's tags
// is an ordinary instance.
func DefaultCanaryStates() []string { return []string{"stopped", "stopping"} }

// TagRule is one required tag key and what its value may be.
type TagRule struct {
	// Key is the tag key, trimmed.
	Key string
	// Values, when not empty, lists the allowed values; they are compared the way keys are
	// (trimmed, and case-insensitively unless the policy's keys are case-sensitive).
	Values []string
	// Pattern, when set, is a regular expression the trimmed value must match, as written (it is
	// not anchored unless it says so).
	Pattern *regexp.Regexp
	// IAMUser requires the value to name an existing IAM user.
	IAMUser bool
}

// Exemption says how instances are exempted by tag.
type Exemption struct {
	// Tag is the tag key holding "<RFC 3339 date or datetime>; <reason>".
	Tag string
	// Max is the longest an exemption may run from now; later expiries are not exemptions.
	Max time.Duration
}

// CanaryIdentity is the identity of the stopped instance every audited region holds to prove that the
// EC2 API answers with real data.
type CanaryIdentity struct {
	// Tags the canary carries besides its name.
	Tags map[string]string
	// Name is the canary's Name tag; "{region}" is replaced by the region.
	Name string
	// States the canary may be in.
	States []string
}

// NameIn returns the canary's Name tag in region.
func (c CanaryIdentity) NameIn(region string) string {
	return strings.ReplaceAll(c.Name, CanaryRegionPlaceholder, region)
}

// Limits cap the actions of one run. Zero means no limit.
type Limits struct {
	// MaxActions is the most instances acted on in one run.
	MaxActions int
	// MaxPercent is the most instances acted on in one sweep, in percent of the instances
	// listed in the sweep's verified regions. It does not apply to the event path.
	MaxPercent float64
}

// Policy is the tag scheme and everything that says what to do about it. Build one with
// ParsePolicyFile or New, then call Validate; the zero Policy is not valid.
type Policy struct {
	// Tags are the required tags, in the order they were given.
	Tags []TagRule
	// CaseSensitiveKeys turns off case-insensitive key matching.
	CaseSensitiveKeys bool
	// Grace is how long a new instance may run untagged.
	Grace time.Duration
	// Action is what happens to a violator after its grace period.
	Action Action
	// Exemption describes exemption tags.
	Exemption Exemption
	// EnforceManaged acts on managed instances (Auto Scaling and other fleets) too. By default
	// they are report-only: terminating them only makes their manager launch another.
	EnforceManaged bool
	// ManagedTags maps system tag keys to the manager they reveal.
	ManagedTags map[string]string
	// Canary is the canary's identity.
	Canary CanaryIdentity
	// Accounts, when not empty, lists the account ids or aliases that may be acted on.
	Accounts []string
	// Limits cap the actions of one run.
	Limits Limits
	// Regions lists the regions to audit; empty means the account's enabled regions.
	Regions []string
}

// DefaultManagedTags are the system tags that managed instances carry.
func DefaultManagedTags() map[string]string {
	return map[string]string{
		"aws:autoscaling:groupName":        "autoscaling",
		"aws:ec2:fleet-id":                 "ec2-fleet",
		"aws:ec2spot:fleet-request-id":     "spot-fleet",
		"karpenter.sh/nodepool":            "karpenter",
		"karpenter.sh/provisioner-name":    "karpenter",
		"aws:elasticmapreduce:job-flow-id": "emr",
		"AWSBatchServiceTag":               "batch",
		"elasticbeanstalk:environment-id":  "elasticbeanstalk",
	}
}

// New returns a policy requiring keys, with every other setting at its default.
func New(keys ...string) *Policy {
	p := &Policy{
		Grace:       DefaultGrace,
		Action:      ActionReport,
		Exemption:   Exemption{Tag: DefaultExemptionTag, Max: DefaultMaxExemption},
		ManagedTags: DefaultManagedTags(),
		Canary:      CanaryIdentity{Tags: DefaultCanaryTags(), Name: DefaultCanaryName, States: DefaultCanaryStates()},
	}
	for _, k := range keys {
		p.Tags = append(p.Tags, TagRule{Key: k})
	}
	return p
}

// Keys returns the required keys in order.
func (p *Policy) Keys() []string {
	keys := make([]string, len(p.Tags))
	for i, r := range p.Tags {
		keys[i] = r.Key
	}
	return keys
}

// Scheme is the tag scheme as the documents' tag_scheme field shows it: the required keys, comma
// separated, as the original's -t flag took them.
func (p *Policy) Scheme() string { return strings.Join(p.Keys(), ",") }

// foldKey returns the form keys are compared in.
func (p *Policy) foldKey(k string) string {
	k = strings.TrimSpace(k)
	if p.CaseSensitiveKeys {
		return k
	}
	return strings.ToLower(k)
}

// Rule returns the rule for key, matched as the policy matches keys.
func (p *Policy) Rule(key string) (TagRule, bool) {
	f := p.foldKey(key)
	for _, r := range p.Tags {
		if p.foldKey(r.Key) == f {
			return r, true
		}
	}
	return TagRule{}, false
}

// regionPattern is the form of an AWS region name: us-east-1, us-gov-west-1, ap-southeast-2,
// cn-north-1, il-central-1, eusc-de-east-1. Whether a region is enabled is the sweep's business.
var regionPattern = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$`)

// CheckRegion returns an error when name is not of the form of a region name.
func CheckRegion(name string) error {
	if !regionPattern.MatchString(name) {
		return fmt.Errorf("region %q is not a region name (such as us-east-1)", name)
	}
	return nil
}

// ParseRegions splits a comma-separated region list, trimming and de-duplicating it, and refuses
// empty entries and names that are not of the form of a region.
func ParseRegions(list string) ([]string, error) {
	var out []string
	for i, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			return nil, fmt.Errorf("regions: entry %d of %q is empty", i+1, list)
		}
		if err := CheckRegion(r); err != nil {
			return nil, err
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseKeys splits a comma-separated list of required tag keys, as the -t flag takes it. Empty
// entries, including a trailing comma, are refused; so are duplicates (Validate checks those,
// since whether created_by and Created_By are duplicates depends on the policy).
func ParseKeys(list string) ([]string, error) {
	var keys []string
	for i, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("tags: entry %d of %q is empty", i+1, list)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// iamUserName is the form of an IAM user name: 1 to 64 of letters, digits and +=,.@_-.
var iamUserName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// ValidIAMUserName reports whether name could be an IAM user name. Values that could not are
// invalid without asking IAM.
func ValidIAMUserName(name string) bool { return iamUserName.MatchString(name) }

// maxTagKeyLen is EC2's limit on tag keys.
const maxTagKeyLen = 128

// Validate normalises the policy (trims keys and values) and returns every problem it has,
// joined, each naming what is wrong. It ends with the self-test: a policy under which the canary
// itself would be a violator is refused.
func (p *Policy) Validate() error {
	var errs []error
	if len(p.Tags) == 0 {
		errs = append(errs, errors.New("tags: no required tag keys (give -t or tags: in the policy file)"))
	}
	seen := map[string]string{}
	for i := range p.Tags {
		r := &p.Tags[i]
		r.Key = strings.TrimSpace(r.Key)
		switch {
		case r.Key == "":
			errs = append(errs, fmt.Errorf("tags: entry %d has an empty key", i+1))
			continue
		case len(r.Key) > maxTagKeyLen:
			errs = append(errs, fmt.Errorf("tags: key %q is longer than %d characters", r.Key, maxTagKeyLen))
		}
		if prev, dup := seen[p.foldKey(r.Key)]; dup {
			how := ""
			if !p.CaseSensitiveKeys && prev != r.Key {
				how = " (keys match case-insensitively; set case_sensitive_keys to tell them apart)"
			}
			errs = append(errs, fmt.Errorf("tags: key %q duplicates %q%s", r.Key, prev, how))
		}
		seen[p.foldKey(r.Key)] = r.Key
		for j, v := range r.Values {
			r.Values[j] = strings.TrimSpace(v)
			if r.Values[j] == "" {
				errs = append(errs, fmt.Errorf("tags: key %q: allowed value %d is blank (a blank value is always a violation)", r.Key, j+1))
			}
		}
		if len(r.Values) > 0 && r.Pattern != nil {
			errs = append(errs, fmt.Errorf("tags: key %q has both values and a pattern; give one", r.Key))
		}
	}
	if p.Grace < 0 {
		errs = append(errs, fmt.Errorf("grace: %v is negative", p.Grace))
	}
	if _, err := ParseAction(string(p.Action)); err != nil {
		errs = append(errs, fmt.Errorf("action: %w", err))
	}
	p.Exemption.Tag = strings.TrimSpace(p.Exemption.Tag)
	if p.Exemption.Tag == "" {
		errs = append(errs, errors.New("exemption: the tag key is empty"))
	} else if _, clash := p.Rule(p.Exemption.Tag); clash {
		errs = append(errs, fmt.Errorf("exemption: tag %q is also a required tag", p.Exemption.Tag))
	}
	if p.Exemption.Max <= 0 {
		errs = append(errs, fmt.Errorf("exemption: max_duration %v must be positive", p.Exemption.Max))
	}
	errs = append(errs, p.validateCanary()...)
	for i, a := range p.Accounts {
		p.Accounts[i] = strings.TrimSpace(a)
		if p.Accounts[i] == "" {
			errs = append(errs, fmt.Errorf("accounts: entry %d is empty", i+1))
		}
	}
	if p.Limits.MaxActions < 0 {
		errs = append(errs, fmt.Errorf("limits: max_actions %d is negative", p.Limits.MaxActions))
	}
	if !(p.Limits.MaxPercent >= 0 && p.Limits.MaxPercent <= 100) { // NaN too
		errs = append(errs, fmt.Errorf("limits: max_actions_percent %v is not between 0 and 100", p.Limits.MaxPercent))
	}
	var regions []string
	for _, r := range p.Regions {
		r = strings.TrimSpace(r)
		if err := CheckRegion(r); err != nil {
			errs = append(errs, fmt.Errorf("regions: %w", err))
			continue
		}
		if !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	p.Regions = regions
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return p.selfTest()
}

func (p *Policy) validateCanary() []error {
	var errs []error
	c := &p.Canary
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		errs = append(errs, errors.New("canary: name is empty"))
	}
	if len(c.States) == 0 {
		errs = append(errs, errors.New("canary: no states (the canary is a stopped instance)"))
	}
	for _, s := range c.States {
		switch s {
		case "stopped", "stopping":
		default:
			errs = append(errs, fmt.Errorf("canary: state %q: a canary must be stopped or stopping (a running instance with its tags is an ordinary instance)", s))
		}
	}
	trimmed := make(map[string]string, len(c.Tags))
	for k, v := range c.Tags {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || v == "" {
			errs = append(errs, fmt.Errorf("canary: tag %q=%q has an empty key or value", k, v))
			continue
		}
		if p.foldKey(k) == p.foldKey(NameTag) {
			errs = append(errs, errors.New("canary: give the Name tag as canary.name, not among canary.tags"))
			continue
		}
		trimmed[k] = v
	}
	c.Tags = trimmed
	return errs
}

// CanaryTags returns the tags the canary of region carries, Name included, sorted by key.
func (p *Policy) CanaryTags(region string) []Tag {
	tags := []Tag{{Key: NameTag, Value: p.Canary.NameIn(region)}}
	for k, v := range p.Canary.Tags {
		tags = append(tags, Tag{Key: k, Value: v})
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// selfTest refuses a policy under which the canary would be a violator, IAM checks aside: the
// scheme and the canary would disagree, and acting would be wrong everywhere.
func (p *Policy) selfTest() error {
	regions := p.Regions
	if len(regions) == 0 {
		regions = []string{"us-east-1"}
	}
	for _, r := range regions {
		if err := p.selfTestIn(r); err != nil {
			return err
		}
	}
	return nil
}

// selfTestIn checks the canary of one region (its Name tag names the region).
func (p *Policy) selfTestIn(region string) error {
	e := p.evaluateTags(p.CanaryTags(region), nil, true)
	if len(e.missing) == 0 && len(e.invalid) == 0 {
		return nil
	}
	var why []string
	if len(e.missing) > 0 {
		why = append(why, "missing "+strings.Join(e.missing, ", "))
	}
	for _, in := range e.invalid {
		why = append(why, in.String())
	}
	return fmt.Errorf("canary: the canary (%s) would violate this policy: %s; the tag scheme and the canary must agree (tag the canaries or change canary: in the policy)",
		FormatTags(p.CanaryTags(region)), strings.Join(why, "; "))
}

// String describes the exemption settings in one line.
func (e Exemption) String() string {
	return fmt.Sprintf("tag %s = \"<RFC 3339 date or datetime>; <reason>\", at most %s ahead", e.Tag, FormatDuration(e.Max))
}

// LogValue is the policy as logs show it: what it requires and what it does.
func (p *Policy) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("action", string(p.Action)),
		slog.String("tag_scheme", p.Scheme()),
		slog.String("grace", p.Grace.String()),
		slog.Any("regions", p.Regions),
		slog.Int("max_actions", p.Limits.MaxActions),
		slog.Float64("max_actions_percent", p.Limits.MaxPercent),
		slog.Any("accounts", p.Accounts),
		slog.Bool("enforce_managed", p.EnforceManaged),
	)
}

// FormatDuration prints d in days when it is a whole number of days, else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
