package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/awsaudit/awsaudit/enforcer"
)

func runPolicy(args []string, env Env) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(env.Stderr, "awsaudit: usage: awsaudit policy check FILE")
		return ExitInvalid
	}
	fs, help := newFlagSet("awsaudit policy check", "awsaudit policy check FILE", env)
	if code, done := parse(fs, help, args[1:], env); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.Stderr, "awsaudit: usage: awsaudit policy check FILE")
		return ExitInvalid
	}
	path := fs.Arg(0)
	p, err := enforcer.LoadPolicyFile(path)
	if err == nil {
		err = p.Validate()
	}
	if err != nil {
		return refuse(env.Stderr, err)
	}
	fmt.Fprintf(env.Stdout, "%s: valid\n\n", path)
	describePolicy(env.Stdout, p)
	return ExitOK
}

// describePolicy prints what a valid policy means, in words.
func describePolicy(w io.Writer, p *enforcer.Policy) {
	keys := "case-insensitively"
	if p.CaseSensitiveKeys {
		keys = "case-sensitively"
	}
	fmt.Fprintf(w, "required tags (keys match %s; keys and values are trimmed; a blank value is a violation):\n", keys)
	for _, r := range p.Tags {
		var rule []string
		if len(r.Values) > 0 {
			rule = append(rule, "one of: "+strings.Join(r.Values, ", "))
		}
		if r.Pattern != nil {
			s := "matches " + r.Pattern.String()
			if !strings.HasPrefix(r.Pattern.String(), "^") || !strings.HasSuffix(r.Pattern.String(), "$") {
				s += " (not anchored: it may match part of a value; write ^…$ to match all of it)"
			}
			rule = append(rule, s)
		}
		if r.IAMUser {
			rule = append(rule, "must name an existing IAM user")
		}
		if len(rule) == 0 {
			rule = append(rule, "any non-blank value")
		}
		fmt.Fprintf(w, "  %-20s %s\n", r.Key, strings.Join(rule, "; "))
	}
	fmt.Fprintf(w, "grace:      %s after launch (from the primary network interface's attach time, which survives stop and start)\n", p.Grace)
	switch p.Action {
	case enforcer.ActionReport:
		fmt.Fprintln(w, "action:     report (nothing is changed)")
	default:
		fmt.Fprintf(w, "action:     %s violators past their grace period, after a second read, in regions whose canary is verified\n", p.Action)
	}
	managers := map[string]bool{}
	for _, m := range p.ManagedTags {
		managers[m] = true
	}
	var names []string
	for m := range managers {
		names = append(names, m)
	}
	slices.Sort(names)
	how := "report-only"
	if p.EnforceManaged {
		how = "enforced like any other instance"
	}
	fmt.Fprintf(w, "managed:    instances of %s are %s\n", strings.Join(names, ", "), how)
	fmt.Fprintf(w, "exemptions: %s\n", p.Exemption)
	fmt.Fprintf(w, "canary:     %s, in state %s\n", enforcer.FormatTags(p.CanaryTags("{region}")), strings.Join(p.Canary.States, " or "))
	if len(p.Accounts) == 0 {
		fmt.Fprintln(w, "accounts:   any account may be acted on")
	} else {
		fmt.Fprintf(w, "accounts:   only %s may be acted on; others are audited and reported\n", strings.Join(p.Accounts, ", "))
	}
	var limits []string
	if p.Limits.MaxActions > 0 {
		limits = append(limits, fmt.Sprintf("at most %d action(s) per run", p.Limits.MaxActions))
	}
	if p.Limits.MaxPercent > 0 {
		limits = append(limits, fmt.Sprintf("at most %g%% of the instances listed per sweep", p.Limits.MaxPercent))
	}
	if len(limits) == 0 {
		limits = append(limits, "none (recommended: limits.max_actions and limits.max_actions_percent)")
	}
	fmt.Fprintf(w, "limits:     %s; the oldest violators are acted on first\n", strings.Join(limits, ", "))
	if len(p.Regions) == 0 {
		fmt.Fprintln(w, "regions:    the account's enabled regions")
	} else {
		fmt.Fprintf(w, "regions:    %s\n", strings.Join(p.Regions, ", "))
	}
}
