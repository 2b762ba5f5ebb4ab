package enforcer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseKeysRefusesEmptyEntries(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "created_by,department,project", want: []string{"created_by", "department", "project"}},
		{in: " created_by , project ", want: []string{"created_by", "project"}},
		{in: "created_by,,project", wantErr: `entry 2 of "created_by,,project" is empty`},
		{in: "created_by,project,", wantErr: "entry 3"},
		{in: "", wantErr: "entry 1"},
		{in: " , ", wantErr: "entry 1"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKeys(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKeys(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("ParseKeys(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseGrace(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "5", want: 5 * time.Minute},
		{in: "45", want: 45 * time.Minute},
		{in: "0", want: 0},
		{in: "1.5", want: 90 * time.Second},
		{in: "90m", want: 90 * time.Minute},
		{in: "2h", want: 2 * time.Hour},
		{in: " 10 ", want: 10 * time.Minute},
		{in: "abc", wantErr: "is not a number of minutes"},
		{in: "-5", wantErr: "negative"},
		{in: "-1h", wantErr: "negative"},
		{in: "", wantErr: "is not a number"},
		{in: "NaN", wantErr: "is not a number"},
		{in: "Inf", wantErr: "is not a number"},
		{in: "1e30", wantErr: "more than 100 years"},
		{in: "1000000h", wantErr: "more than 100 years"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseGrace(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseGrace(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseGrace(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseRegions(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "us-east-1", want: "us-east-1"},
		{in: " us-east-1 , eu-west-1,us-east-1", want: "us-east-1|eu-west-1"},
		{in: "us-gov-west-1,cn-north-1,ap-southeast-2,il-central-1", want: "us-gov-west-1|cn-north-1|ap-southeast-2|il-central-1"},
		{in: "eusc-de-east-1", want: "eusc-de-east-1"},
		{in: "us-east-1,,eu-west-1", wantErr: "entry 2"},
		{in: "useast1", wantErr: `"useast1" is not a region name`},
		{in: "US-EAST-1", wantErr: "is not a region name"},
		{in: "us_east_1", wantErr: "is not a region name"},
		{in: "us-east", wantErr: "is not a region name"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRegions(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRegions(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != tc.want {
				t.Fatalf("ParseRegions(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"report": ActionReport, "STOP": ActionStop, " terminate ": ActionTerminate} {
		if got, err := ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseAction("destroy"); err == nil || !strings.Contains(err.Error(), `unknown action "destroy"`) {
		t.Errorf("ParseAction(destroy) error = %v", err)
	}
}

// writeFile writes content to a temporary file named name and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullYAML = `
version: 1
regions: [us-east-1, " us-west-2 "]
tags:
  - key: created_by
    iam_user: true
  - key: " department "
    values: [engineering, " sysops "]
  - key: project
    pattern: '^[A-Za-z][A-Za-z0-9 -]*$'
  - Name
case_sensitive_keys: false
grace: 90m
action: stop
exemption:
  tag: awsaudit:exempt
  max_duration: 30d
managed:
  action: enforce
  tags:
    my.org/fleet: in-house
canary:
  tags: {created_by: cody, project: API canary, department: sysops}
  name: api-canary-{region}
  states: [stopped]
accounts: ["123456789012", prod-alias]
limits:
  max_actions: 10
  max_actions_percent: 5
`

func TestLoadPolicyFileYAML(t *testing.T) {
	p, err := LoadPolicyFile(writeFile(t, "policy.yaml", fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"keys", p.Scheme(), "created_by,department,project,Name"},
		{"iam", p.Tags[0].IAMUser, true},
		{"values trimmed", strings.Join(p.Tags[1].Values, "|"), "engineering|sysops"},
		{"pattern", p.Tags[2].Pattern.String(), "^[A-Za-z][A-Za-z0-9 -]*$"},
		{"grace", p.Grace, 90 * time.Minute},
		{"action", p.Action, ActionStop},
		{"exemption max", p.Exemption.Max, 30 * 24 * time.Hour},
		{"managed enforced", p.EnforceManaged, true},
		{"managed tag added", p.ManagedTags["my.org/fleet"], "in-house"},
		{"managed defaults kept", p.ManagedTags["aws:autoscaling:groupName"], "autoscaling"},
		{"canary states", strings.Join(p.Canary.States, ","), "stopped"},
		{"accounts", strings.Join(p.Accounts, ","), "123456789012,prod-alias"},
		{"max actions", p.Limits.MaxActions, 10},
		{"max percent", p.Limits.MaxPercent, 5.0},
		{"regions trimmed", strings.Join(p.Regions, ","), "us-east-1,us-west-2"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadPolicyFileJSON(t *testing.T) {
	p, err := LoadPolicyFile(writeFile(t, "policy.json", `{
  "tags": ["created_by", {"key": "department", "values": ["eng"]}, "project"],
  "canary": {"tags": {"created_by": "cody", "project": "API canary", "department": "eng"}},
  "grace": 45,
  "action": "terminate"
}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Scheme() != "created_by,department,project" || p.Grace != 45*time.Minute || p.Action != ActionTerminate || p.Tags[1].Values[0] != "eng" {
		t.Fatalf("policy = %+v", p)
	}
}

func TestDefaultsMatchTheOriginal(t *testing.T) {
	p := New("created_by", "department", "project")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Grace != 5*time.Minute || p.Action != ActionReport || p.Exemption.Tag != "awsaudit:exempt" || p.Exemption.Max != 90*24*time.Hour {
		t.Fatalf("defaults = grace %v action %v exemption %v", p.Grace, p.Action, p.Exemption)
	}
	if got := FormatTags(p.CanaryTags("us-west-2")); got != "Name=api-canary-us-west-2, created_by=cody, department=sysops, project=API canary" {
		t.Fatalf("canary tags = %s", got)
	}
	if p.EnforceManaged {
		t.Fatal("managed instances must be report-only by default")
	}
}

// TestPolicyRefusals: every bad policy is refused with a message naming the problem.
func TestPolicyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // YAML, or JSON when it starts with "{"
		policy  func() *Policy
		wantErr string
		notWant string
	}{
		{name: "no keys", policy: func() *Policy { return New() }, wantErr: "no required tag keys"},
		{name: "empty key", policy: func() *Policy { return New("created_by", "  ") }, wantErr: "entry 2 has an empty key"},
		{name: "duplicate key", policy: func() *Policy { return New("created_by", "project", "created_by") }, wantErr: `"created_by" duplicates "created_by"`},
		{name: "case duplicate", policy: func() *Policy { return New("created_by", "Created_By") }, wantErr: `key "Created_By" duplicates "created_by" (keys match case-insensitively`},
		{name: "spaced duplicate", policy: func() *Policy { return New("created_by", " created_by ") }, wantErr: `"created_by" duplicates "created_by"`, notWant: "case_sensitive_keys"},
		{name: "negative grace", policy: func() *Policy { p := New("created_by"); p.Grace = -time.Minute; return p }, wantErr: "grace: -1m0s is negative"},
		{name: "unknown action", policy: func() *Policy { p := New("created_by"); p.Action = "destroy"; return p }, wantErr: `unknown action "destroy"`},
		{name: "canary violates", policy: func() *Policy { return New("created_by", "owner") }, wantErr: "would violate this policy: missing owner"},
		{name: "canary value not allowed", file: "tags: [{key: department, values: [engineering]}]", wantErr: `department="sysops": not one of engineering`},
		{name: "canary fails pattern", file: "tags: [{key: project, pattern: '^[a-z]+$'}]", wantErr: `project="API canary": does not match pattern`},
		{name: "canary running", file: "tags: [created_by]\ncanary: {states: [running]}", wantErr: `canary: state "running"`},
		{name: "bad regex", file: "tags: [{key: project, pattern: '[a-z'}]", wantErr: `bad pattern: error parsing regexp`},
		{name: "blank allowed value", file: "tags: [{key: department, values: [sysops, ' ']}]", wantErr: "allowed value 2 is blank"},
		{name: "values and pattern", file: "tags: [{key: department, values: [sysops], pattern: x}]", wantErr: "both values and a pattern"},
		{name: "unknown field", file: "tags: [created_by]\ngrase: 5", wantErr: "field grase not found"},
		{name: "unknown tag field", file: "tags: [{key: created_by, iam: true}]", wantErr: "field iam not found"},
		{name: "grace text", file: "tags: [created_by]\ngrace: soon", wantErr: `grace: "soon" is not a number of minutes`},
		{name: "grace negative", file: "tags: [created_by]\ngrace: -3", wantErr: `grace: "-3" is negative`},
		{name: "bad action", file: "tags: [created_by]\naction: nuke", wantErr: `action: unknown action "nuke"`},
		{name: "bad managed", file: "tags: [created_by]\nmanaged: {action: kill}", wantErr: `managed: action "kill"`},
		{name: "bad region", file: "tags: [created_by]\nregions: [us-east-1, mars-1]", wantErr: `regions: region "mars-1" is not a region name`},
		{name: "bad exemption max", file: "tags: [created_by]\nexemption: {max_duration: forever}", wantErr: "max_duration"},
		{name: "version", file: "version: 2\ntags: [created_by]", wantErr: "version 2 is not supported"},
		{name: "percent", file: "tags: [created_by]\nlimits: {max_actions_percent: 150}", wantErr: "max_actions_percent 150 is not between 0 and 100"},
		{name: "exemption tag required", file: "tags: [created_by, 'awsaudit:exempt']", wantErr: `exemption: tag "awsaudit:exempt" is also a required tag`},
		{name: "not yaml", file: "tags: [created_by\n", wantErr: "line"},
		{name: "empty", file: "", wantErr: "empty"},
		{name: "two YAML documents", file: "tags: [created_by]\n---\naction: terminate\n", wantErr: "more than one YAML document"},
		{name: "JSON then more", file: `{"tags": ["created_by"]}` + "\n" + `{"limits": {"max_actions": 1}}`, wantErr: "line 2: content after the policy object"},
		{name: "JSON then garbage", file: `{"tags": ["created_by"]} garbage`, wantErr: "content after the policy object"},
		{name: "NaN percent", file: "tags: [created_by]\nlimits: {max_actions_percent: .nan}", wantErr: "max_actions_percent NaN is not between 0 and 100"},
		{name: "fractional max_actions", file: "tags: [created_by]\nlimits: {max_actions: 0.5}", wantErr: `line 2: want a whole number, found "0.5"`},
		{name: "fractional max_actions JSON", file: `{"tags": ["created_by"], "limits": {"max_actions": 1.5}}`, wantErr: "field limits.max_actions: want int, found number 1.5"},
		{name: "JSON repeated key", file: `{"tags": ["created_by"],` + "\n" + `"tags": ["project"]}`, wantErr: `line 2: key "tags" appears twice in one object`},
		{name: "JSON repeated key in another case", file: `{"tags": ["created_by"], "action": "report", "Action": "terminate"}`, wantErr: `key "Action" repeats "action"`},
		{name: "JSON limit switched off by a case variant", file: `{"tags": ["created_by"], "limits": {"max_actions": 1, "MAX_ACTIONS": 0}}`, wantErr: `key "MAX_ACTIONS" repeats "max_actions"`},
		{name: "JSON repeated nested key", file: `{"tags": [{"key": "a", "pattern": "x", "pattern": "y"}]}`, wantErr: `key "pattern" appears twice`},
		{name: "YAML repeated key", file: "tags: [created_by]\ntags: [project]", wantErr: `mapping key "tags" already defined`},
		{name: "canary name pattern per region", file: "regions: [us-east-1, eu-west-1]\ntags: [{key: Name, pattern: '^api-canary-us-'}]", wantErr: "Name=api-canary-eu-west-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *Policy
			var err error
			if tc.file != "" || tc.policy == nil {
				name := "p.yaml"
				if strings.HasPrefix(tc.file, "{") {
					name = "p.json"
				}
				p, err = LoadPolicyFile(writeFile(t, name, tc.file))
			} else {
				p = tc.policy()
			}
			if err == nil {
				err = p.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "enforcer.") {
				t.Errorf("error %q leaks Go type names", err)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error %q should not say %q", err, tc.notWant)
			}
		})
	}
}

// A .yaml file is YAML even when it is one flow mapping, which starts with "{" like JSON; a file
// with another extension is sniffed, and JSON is valid there.
func TestPolicyFileFormatFollowsTheExtension(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"p.yaml", "{tags: [created_by, project], limits: {max_actions: 2}}"},
		{"p.yml", "{tags: [created_by, project], limits: {max_actions: 2}}"},
		{"policy", `{"tags": ["created_by", "project"], "limits": {"max_actions": 2}}`},
		{"policy.conf", "tags: [created_by, project]\nlimits: {max_actions: 2}"},
		{"p.JSON", `{"tags": ["created_by", "project"], "limits": {"max_actions": 2}}`},
	} {
		p, err := LoadPolicyFile(writeFile(t, tc.name, tc.content))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := p.Keys(); !slices.Equal(got, []string{"created_by", "project"}) || p.Limits.MaxActions != 2 {
			t.Errorf("%s: keys %v, max actions %d", tc.name, got, p.Limits.MaxActions)
		}
	}
}

func TestPolicyFileErrorsNameTheFile(t *testing.T) {
	_, err := LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("error = %v, want it to name the file", err)
	}
	path := writeFile(t, "bad.json", "{\n  \"tags\": [\"a\",\n}")
	_, err = LoadPolicyFile(path)
	if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error = %v, want the file and line 3", err)
	}
}

func TestValidIAMUserName(t *testing.T) {
	for name, want := range map[string]bool{
		"bob": true, "bob.smith@example.com": true, "a+b=c,d_e-f": true,
		"": false, "bob smith": false, "bob/smith": false, strings.Repeat("a", 65): false, "café": false,
	} {
		if got := ValidIAMUserName(name); got != want {
			t.Errorf("ValidIAMUserName(%q) = %v, want %v", name, got, want)
		}
	}
}

// An empty manager name in managed.tags removes a default: managed detection trusts tags, and
// tags without the aws: prefix can be set by anyone.
func TestManagedTagsCanBeRemoved(t *testing.T) {
	p, err := ParsePolicy([]byte("tags: [created_by]\nmanaged:\n  tags: {karpenter.sh/nodepool: '', my.org/fleet: in-house}\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.ManagedTags["karpenter.sh/nodepool"]; ok {
		t.Error("the default was not removed")
	}
	if p.ManagedTags["my.org/fleet"] != "in-house" || p.ManagedTags["aws:autoscaling:groupName"] != "autoscaling" {
		t.Errorf("managed tags %v", p.ManagedTags)
	}
}
