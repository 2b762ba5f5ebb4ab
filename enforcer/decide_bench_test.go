package enforcer_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/enforcer"
)

var benchNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// benchInstance is an instance with 8 tags of a one-region fleet: kind picks a compliant instance
// (Name, the three keys and four others) or a violator (department blank).
func benchInstance(b *testing.B, kind fleet.Kind) enforcer.Instance {
	b.Helper()
	f := fleet.Fleet{Base: benchNow, Regions: []fleet.Region{{Name: "us-east-1", Instances: 101, Violators: 10}}}
	for i := 1; i < 101; i++ {
		in := f.Instance(f.Regions[0], i)
		if in.Kind == kind && len(in.Tags) == 8 {
			ec := in.EC2()
			return enforcer.FromEC2("us-east-1", &ec)
		}
	}
	b.Fatalf("no instance of kind %v with 8 tags", kind)
	return enforcer.Instance{}
}

// BenchmarkDecide is one decision. plain is the original tool's policy (three required keys);
// iam checks created_by against IAM facts (found by I/O beforehand), department against a list
// and project against a pattern.
func BenchmarkDecide(b *testing.B) {
	plain := enforcer.New("created_by", "department", "project")
	rich := enforcer.New()
	rich.Tags = []enforcer.TagRule{
		{Key: "created_by", IAMUser: true},
		{Key: "department", Values: []string{"engineering", "sysops", "data", "finance", "marketing", "security"}},
		{Key: "project", Pattern: regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 -]*$`)},
	}
	for _, p := range []*enforcer.Policy{plain, rich} {
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
	}
	compliant, violator := benchInstance(b, fleet.Compliant), benchInstance(b, fleet.Violator)
	facts := &enforcer.Facts{Users: map[string]enforcer.UserLookup{}}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "jill", "kim", "liam", "mona", "nick", "olga", "pete", "quinn", "rosa", "sam", "tara"} {
		facts.Users[u] = enforcer.UserExists
	}
	for _, tc := range []struct {
		name  string
		in    enforcer.Instance
		p     *enforcer.Policy
		facts *enforcer.Facts
		want  enforcer.Verdict
	}{
		{"compliant", compliant, plain, nil, enforcer.Compliant},
		{"violator", violator, plain, nil, enforcer.Violator},
		{"iam/compliant", compliant, rich, facts, enforcer.Compliant},
		{"iam/violator", violator, rich, facts, enforcer.Violator},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var d enforcer.Decision
			for b.Loop() {
				d = enforcer.Decide(&tc.in, tc.p, tc.facts, benchNow)
			}
			if d.Verdict != tc.want {
				b.Fatalf("verdict %s, want %s (%+v)", d.Verdict, tc.want, d)
			}
		})
	}
}

// BenchmarkFromEC2 is the conversion of one decoded instance (8 tags) into what Decide reads.
func BenchmarkFromEC2(b *testing.B) {
	f := fleet.Fleet{Base: benchNow, Regions: []fleet.Region{{Name: "us-east-1", Instances: 10}}}
	src := f.Instance(f.Regions[0], 7)
	ec := src.EC2()
	b.ReportAllocs()
	var in enforcer.Instance
	for b.Loop() {
		in = enforcer.FromEC2("us-east-1", &ec)
	}
	if in.ID != src.ID {
		b.Fatal(in.ID)
	}
}
