package enforcer

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// tags parses "k=v" pairs.
func tags(kv ...string) []Tag {
	out := make([]Tag, len(kv))
	for i, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		out[i] = Tag{Key: k, Value: v}
	}
	return out
}

// running returns a running instance in us-east-1 launched age ago.
func running(age time.Duration, kv ...string) Instance {
	return Instance{ID: "i-1", Region: "us-east-1", AvailabilityZone: "us-east-1a", State: "running", LaunchTime: now.Add(-age), Tags: tags(kv...)}
}

func withState(in Instance, s string) Instance         { in.State = s; return in }
func withAttach(in Instance, d time.Duration) Instance { in.AttachTime = now.Add(-d); return in }

var ok3 = []string{"created_by=bob", "department=sysops", "project=web"}

func with(extra ...string) []string { return append(append([]string{}, ok3...), extra...) }

// testPolicy requires created_by (an IAM user), department (engineering or sysops) and project
// (a pattern), with a 5-minute grace.
func testPolicy() *Policy {
	p := New()
	p.Tags = []TagRule{
		{Key: "created_by", IAMUser: true},
		{Key: "department", Values: []string{"engineering", "sysops"}},
		{Key: "project", Pattern: regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 -]*$`)},
	}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return p
}

var bobExists = &Facts{Users: map[string]UserLookup{"bob": UserExists}}

func TestDecide(t *testing.T) {
	enforced := testPolicy()
	enforced.EnforceManaged = true
	zeroGrace := testPolicy()
	zeroGrace.Grace = 0
	canary := func(region, state string) Instance {
		in := running(30*24*time.Hour, "Name=api-canary-"+region, "created_by=cody", "project=API canary", "department=sysops")
		in.Region, in.State = region, state
		return in
	}
	exempt := func(v string) []string { return append([]string{"awsaudit:exempt=" + v}, "created_by=bob") }

	for _, tc := range []struct {
		name    string
		in      Instance
		p       *Policy // default testPolicy()
		facts   *Facts  // default bobExists
		verdict Verdict
		detail  string // problems, exemption or reason, as Decision.Problems / ExemptionError / Reason show
	}{
		{name: "compliant", in: running(time.Hour, ok3...), verdict: Compliant},
		{name: "mixed-case keys", in: running(time.Hour, "Created_By=bob", "DEPARTMENT=sysops", "Project=web"), verdict: Compliant},
		{name: "spaced keys and values", in: running(time.Hour, " created_by = bob ", "department= sysops ", "project =web"), verdict: Compliant},
		{name: "value compared like keys", in: running(time.Hour, "created_by=bob", "department=SysOps", "project=web"), verdict: Compliant},
		{name: "missing key", in: running(time.Hour, "created_by=bob", "department=sysops"), verdict: Violator, detail: "missing project"},
		{name: "no tags at all", in: running(time.Hour), verdict: Violator, detail: "missing created_by|missing department|missing project"},
		{name: "blank value", in: running(time.Hour, "created_by=bob", "department=  ", "project=web"), verdict: Violator, detail: `department="  ": blank value`},
		{name: "empty value", in: running(time.Hour, "created_by=bob", "department=", "project=web"), verdict: Violator, detail: `department="": blank value`},
		{name: "value not allowed", in: running(time.Hour, "created_by=bob", "department=marketing", "project=web"), verdict: Violator, detail: `department="marketing": not one of engineering, sysops`},
		{name: "pattern not matched", in: running(time.Hour, "created_by=bob", "department=sysops", "project=-x"), verdict: Violator, detail: `project="-x": does not match pattern`},
		{name: "one good variant of a key is enough", in: running(time.Hour, with("Project=")...), verdict: Compliant},
		{name: "in grace", in: running(2*time.Minute, "created_by=bob"), verdict: InGrace},
		{name: "grace ends at exactly 5m", in: running(5*time.Minute, "created_by=bob"), verdict: Violator, detail: "missing department|missing project"},
		{name: "grace 0", in: running(time.Second, "created_by=bob"), p: zeroGrace, verdict: Violator},
		{name: "attach time survives stop/start", in: withAttach(running(time.Minute, "created_by=bob"), time.Hour), verdict: Violator},
		{name: "attach time keeps young in grace", in: withAttach(running(time.Hour, "created_by=bob"), time.Minute), verdict: InGrace},
		{name: "stopped violator", in: withState(running(time.Hour), "stopped"), verdict: Violator},
		{name: "exempt", in: running(time.Hour, exempt("2026-12-31; migrating to ASG")...), verdict: Exempt},
		{name: "exempt datetime", in: running(time.Hour, exempt("2026-11-27T08:00:00Z;hotfix")...), verdict: Exempt},
		{name: "exempt expired", in: running(time.Hour, exempt("2026-11-01; old")...), verdict: Violator, detail: "expired at 2026-11-02T00:00:00Z"},
		{name: "exempt too long", in: running(time.Hour, exempt("2027-06-01; forever")...), verdict: Violator, detail: "beyond the maximum of 90d"},
		{name: "exempt unparseable", in: running(time.Hour, exempt("next week; soon")...), verdict: Violator, detail: "not an RFC 3339 date"},
		{name: "exempt no reason", in: running(time.Hour, exempt("2026-12-31")...), verdict: Violator, detail: "is not \"<RFC 3339"},
		{name: "exempt blank reason", in: running(time.Hour, exempt("2026-12-31;  ")...), verdict: Violator, detail: "gives no reason"},
		{name: "exempt key case-insensitive", in: running(time.Hour, "AWSAudit:Exempt=2026-12-31; x", "created_by=bob"), verdict: Exempt},
		{name: "exemption on a compliant instance", in: running(time.Hour, with("awsaudit:exempt=garbage")...), verdict: Compliant},
		{name: "auto scaling member", in: running(time.Hour, "aws:autoscaling:groupName=web-asg"), verdict: Managed, detail: "missing created_by|missing department|missing project"},
		{name: "karpenter node", in: running(time.Hour, "karpenter.sh/nodepool=default"), verdict: Managed},
		{name: "spot fleet", in: running(time.Hour, "aws:ec2spot:fleet-request-id=sfr-1"), verdict: Managed},
		{name: "compliant managed", in: running(time.Hour, with("aws:autoscaling:groupName=web-asg")...), verdict: Compliant},
		{name: "managed enforced", in: running(time.Hour, "aws:autoscaling:groupName=web-asg"), p: enforced, verdict: Violator},
		{name: "managed in grace", in: running(time.Minute, "aws:ec2:fleet-id=fleet-1"), verdict: InGrace},
		{name: "canary", in: canary("us-east-1", "stopped"), verdict: Canary},
		{name: "canary stopping", in: canary("us-east-1", "stopping"), verdict: Canary},
		{name: "running canary is ordinary", in: canary("us-east-1", "running"), facts: &Facts{Users: map[string]UserLookup{"cody": UserExists}}, verdict: Compliant},
		{name: "other region's canary name", in: func() Instance { c := canary("us-east-1", "stopped"); c.Region = "eu-west-1"; return c }(), facts: &Facts{Users: map[string]UserLookup{"cody": UserExists}}, verdict: Compliant},
		{name: "canary never needs IAM", in: canary("us-east-1", "stopped"), facts: &Facts{}, verdict: Canary},
		{name: "unknown IAM user", in: running(time.Hour, "created_by=mallory", "department=sysops", "project=web"), facts: &Facts{Users: map[string]UserLookup{"mallory": UserNotFound}}, verdict: Violator, detail: `created_by="mallory": no such IAM user`},
		{name: "IAM lookup failed", in: running(time.Hour, ok3...), facts: &Facts{}, verdict: Unknown, detail: "IAM user bob could not be checked"},
		{name: "IAM lookup failed, other tags missing", in: running(time.Hour, "created_by=bob"), facts: nil, verdict: Unknown, detail: "IAM user bob could not be checked"},
		{name: "not an IAM user name", in: running(time.Hour, "created_by=bob smith", "department=sysops", "project=web"), facts: &Facts{}, verdict: Violator, detail: "not a valid IAM user name"},
		{name: "no launch time", in: Instance{ID: "i-1", State: "running", Tags: tags(ok3...)}, verdict: Unknown, detail: "no launch time"},
		{name: "no state", in: withState(running(time.Hour, ok3...), ""), verdict: Unknown, detail: "no instance state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p == nil {
				p = testPolicy()
			}
			facts := tc.facts
			if facts == nil && !strings.Contains(tc.name, "IAM lookup failed") {
				facts = bobExists
			}
			d := Decide(&tc.in, p, facts, now)
			if d.Verdict != tc.verdict {
				t.Fatalf("verdict = %s, want %s (decision %+v)", d.Verdict, tc.verdict, d)
			}
			got := strings.Join(append(d.Problems(), d.ExemptionError, d.Reason), "|")
			for _, want := range strings.Split(tc.detail, "|") {
				if !strings.Contains(got, want) {
					t.Errorf("details %q lack %q", got, want)
				}
			}
		})
	}
}

func TestDecideAgeAndGrace(t *testing.T) {
	p := testPolicy()
	in := running(90*time.Second, "created_by=bob")
	d := Decide(&in, p, bobExists, now)
	if d.Verdict != InGrace || d.Age != 1.5 || !d.GraceUntil.Equal(now.Add(3*time.Minute+30*time.Second)) {
		t.Fatalf("decision = %+v, want in_grace, age 1.5, grace until +3m30s", d)
	}
	in = withAttach(running(time.Minute, ok3...), 3*time.Hour)
	if d := Decide(&in, p, bobExists, now); d.Age != 180 {
		t.Fatalf("age = %v, want 180 minutes from the network interface's attach time", d.Age)
	}
	in = running(2*time.Hour, "created_by=bob")
	in.Tags = append(in.Tags, Tag{Key: "awsaudit:exempt", Value: "2026-12-01; load test"})
	if d := Decide(&in, p, bobExists, now); d.Verdict != Exempt || d.ExemptReason != "load test" || !d.ExemptUntil.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("exemption = %+v, want until the end of 2026-12-01 for \"load test\"", d)
	}
}

func TestCaseSensitiveKeys(t *testing.T) {
	p := New("created_by", "Created_By")
	p.CaseSensitiveKeys = true
	p.Canary.Tags["Created_By"] = "cody"
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	in := running(time.Hour, "created_by=bob")
	if d := Decide(&in, p, nil, now); d.Verdict != Violator || strings.Join(d.Missing, ",") != "Created_By" {
		t.Fatalf("decision = %+v, want Created_By missing", d)
	}
}

func TestReportableVerdicts(t *testing.T) {
	for _, v := range Verdicts {
		d := Decision{Verdict: v}
		want := v == Violator || v == Managed || v == Unknown
		if d.Reportable() != want {
			t.Errorf("%s reportable = %v, want %v", v, d.Reportable(), want)
		}
	}
}

// The document package counts verdicts by name without importing this package.
func TestDocumentVerdictNamesMatch(t *testing.T) {
	if len(Verdicts) != len(document.VerdictNames) {
		t.Fatalf("enforcer has %d verdicts, document %d", len(Verdicts), len(document.VerdictNames))
	}
	for i, v := range Verdicts {
		if string(v) != document.VerdictNames[i] {
			t.Errorf("verdict %d: enforcer %q, document %q", i, v, document.VerdictNames[i])
		}
	}
	if document.VerdictUnknown != string(Unknown) {
		t.Errorf("document.VerdictUnknown = %q", document.VerdictUnknown)
	}
}

func TestIAMUserNames(t *testing.T) {
	p := testPolicy()
	got := p.IAMUserNames(tags("created_by=bob", "Created_By= bob ", "CREATED_BY=alice", "created_by=not valid", "department=x"))
	if strings.Join(got, ",") != "bob,alice" {
		t.Fatalf("IAMUserNames = %q, want bob,alice", got)
	}
}

func TestLimitDefersNewestFirst(t *testing.T) {
	mk := func(id string, age float64) Target {
		return Target{Instance: Instance{ID: id}, Decision: Decision{Age: age}}
	}
	ts := []Target{mk("i-new", 10), mk("i-old", 500), mk("i-mid", 100), mk("i-older", 900)}
	act, deferred := Limit(ts, 2)
	ids := func(ts []Target) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Instance.ID)
		}
		return strings.Join(s, ",")
	}
	if ids(act) != "i-older,i-old" || ids(deferred) != "i-mid,i-new" {
		t.Fatalf("act %s deferred %s", ids(act), ids(deferred))
	}
	if act, deferred := Limit(ts, NoLimit); len(act) != 4 || deferred != nil {
		t.Fatalf("no limit: act %d deferred %d", len(act), len(deferred))
	}
	if act, deferred := Limit(ts, 0); len(act) != 0 || len(deferred) != 4 {
		t.Fatalf("limit 0: act %d deferred %d", len(act), len(deferred))
	}
}
