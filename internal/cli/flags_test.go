package cli

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/enforcer"
)

// Flags override the policy file, each on its own: what a flag does not say, the file still says.
func TestFlagsOverrideThePolicyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(`regions: [us-east-1, eu-west-1]
tags: [created_by, department, {key: project, pattern: '.+'}]
grace: 30
action: terminate
accounts: ["111122223333"]
limits: {max_actions: 3}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	type want struct {
		keys     []string
		iamUser  []string // the keys checked against IAM users
		grace    time.Duration
		action   enforcer.Action
		regions  []string
		max      int
		percent  float64
		accounts []string
	}
	fromFile := want{
		keys: []string{"created_by", "department", "project"}, grace: 30 * time.Minute, action: enforcer.ActionTerminate,
		regions: []string{"us-east-1", "eu-west-1"}, max: 3, accounts: []string{"111122223333"},
	}
	with := func(change func(*want)) want {
		w := fromFile
		change(&w)
		return w
	}
	for _, tc := range []struct {
		name string
		args []string
		want want
	}{
		{"the file alone", nil, fromFile},
		{"-t replaces the keys", []string{"-t", "created_by,project"}, with(func(w *want) { w.keys = []string{"created_by", "project"} })},
		{"-g in minutes", []string{"-g", "10"}, with(func(w *want) { w.grace = 10 * time.Minute })},
		{"--grace as a duration", []string{"--grace", "2h"}, with(func(w *want) { w.grace = 2 * time.Hour })},
		{"--action", []string{"--action", "stop"}, with(func(w *want) { w.action = enforcer.ActionStop })},
		{"-r", []string{"-r", " us-west-2 ,us-west-2"}, with(func(w *want) { w.regions = []string{"us-west-2"} })},
		{"-c marks created_by", []string{"-c"}, with(func(w *want) { w.iamUser = []string{"created_by"} })},
		{"--confirm with -t", []string{"-t", "Created_By,project", "--confirm"}, with(func(w *want) {
			w.keys, w.iamUser = []string{"Created_By", "project"}, []string{"Created_By"}
		})},
		{"--max-actions", []string{"--max-actions", "7"}, with(func(w *want) { w.max = 7 })},
		{"--max-actions-percent", []string{"--max-actions-percent", "2.5%"}, with(func(w *want) { w.percent = 2.5 })},
		{"--accounts", []string{"--accounts", "prod, 444455556666"}, with(func(w *want) { w.accounts = []string{"prod", "444455556666"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f policyFlags
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.register(fs)
			if err := fs.Parse(append([]string{"--policy", file}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			p, err := f.policy(setFlags(fs))
			if err != nil {
				t.Fatal(err)
			}
			var iamUser []string
			for _, r := range p.Tags {
				if r.IAMUser {
					iamUser = append(iamUser, r.Key)
				}
			}
			got := want{
				keys: p.Keys(), iamUser: iamUser, grace: p.Grace, action: p.Action, regions: p.Regions,
				max: p.Limits.MaxActions, percent: p.Limits.MaxPercent, accounts: p.Accounts,
			}
			w := tc.want
			if !slices.Equal(got.keys, w.keys) || !slices.Equal(got.iamUser, w.iamUser) || got.grace != w.grace ||
				got.action != w.action || !slices.Equal(got.regions, w.regions) || got.max != w.max ||
				got.percent != w.percent || !slices.Equal(got.accounts, w.accounts) {
				t.Errorf("policy\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

// Without --output, results are a table on a terminal and JSON otherwise (a pipe, a file).
func TestOutputDefaultFollowsTheTerminal(t *testing.T) {
	for _, tc := range []struct {
		flag     string
		terminal bool
		want     string
	}{
		{"", true, "table"},
		{"", false, "json"},
		{"json", true, "json"},
		{"table", false, "table"},
	} {
		got, err := outputFormat(tc.flag, Env{StdoutIsTerminal: tc.terminal})
		if err != nil || got != tc.want {
			t.Errorf("outputFormat(%q, terminal %v) = %q, %v; want %q", tc.flag, tc.terminal, got, err, tc.want)
		}
	}
}
