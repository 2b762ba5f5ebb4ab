package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/reconciler"
)

// jsonReport is the sweep's --output json.
type jsonReport struct {
	RunID     string               `json:"run_id"`
	Rollup    *document.Rollup     `json:"rollup"`
	Violators []*document.Violator `json:"violators"`
	APICalls  []awsapi.CallCount   `json:"api_calls,omitempty"`
}

func printReport(w io.Writer, format string, rep *reconciler.Report, counter *awsapi.Counter) error {
	var calls []awsapi.CallCount
	if counter != nil {
		calls = counter.Snapshot()
	}
	if format == "json" {
		violators := rep.Violators
		if violators == nil {
			violators = []*document.Violator{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonReport{RunID: rep.RunID, Rollup: rep.Rollup, Violators: violators, APICalls: calls})
	}
	r := rep.Rollup
	fmt.Fprintf(w, "run %s  account %s (%s)  action %s  tag scheme %s\n\n", r.RunID, r.Account, r.AccountID, r.Action, r.TagScheme)
	if len(rep.Violators) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REGION\tINSTANCE\tSTATE\tAGE(MIN)\tVERDICT\tOUTCOME\tDETAIL")
		for _, v := range rep.Violators {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", v.Region, v.ID, v.State, v.Age, v.Verdict, v.Outcome, detail(v))
		}
		tw.Flush()
		fmt.Fprintln(w)
	} else {
		fmt.Fprint(w, "no violators\n\n")
	}
	fmt.Fprintf(w, "regions:   verified %s | unverified %s | unreached %s\n", list(r.RegionsVerified), list(r.RegionsUnverified), list(r.RegionsUnreached))
	fmt.Fprintf(w, "instances: %d audited | %s\n", r.InstanceCount, counts(r.Verdicts, verdictNames()))
	fmt.Fprintf(w, "outcomes:  %s\n", counts(r.Outcomes, outcomeNames()))
	if len(calls) > 0 {
		var s []string
		total := 0
		for _, c := range calls {
			s = append(s, fmt.Sprintf("%s.%s@%s %d", c.Service, c.Operation, c.Region, c.Count))
			total += c.Count
		}
		fmt.Fprintf(w, "api calls: %d | %s\n", total, strings.Join(s, ", "))
	}
	return nil
}

// detail says in one cell what is wrong and what happened.
func detail(v *document.Violator) string {
	parts := append([]string{}, v.Problems...)
	for _, s := range []string{v.Reason, v.ExemptionError, v.Note, v.Error} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if v.ManagedBy != "" {
		parts = append(parts, "report-only (managed by "+v.ManagedBy+")")
	}
	return strings.Join(parts, "; ")
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// counts prints the non-zero counts in the given order.
func counts(m map[string]int, order []string) string {
	var s []string
	for _, k := range order {
		if m[k] > 0 {
			s = append(s, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func verdictNames() []string {
	s := make([]string, len(enforcer.Verdicts))
	for i, v := range enforcer.Verdicts {
		s[i] = string(v)
	}
	return s
}

func outcomeNames() []string {
	s := make([]string, len(document.Outcomes))
	for i, o := range document.Outcomes {
		s[i] = string(o)
	}
	return s
}
