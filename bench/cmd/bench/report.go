package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Figure is one measured number.
type Figure struct {
	Part int `json:"part"`
	// Key is stable across runs, for comparing result files.
	Key   string  `json:"key"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Target is issue 7's target for the figure, as text ("<= 0.15"), when it has one.
	Target string `json:"target,omitempty"`
	// Status is PASS or MISS against the target; empty without one.
	Status string `json:"status,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Target says what a figure should be.
type Target struct {
	Op    string // "<", "<=", "=", ">="
	Value float64
}

func (t Target) String() string {
	if t.Op == "=" {
		return fmt.Sprintf("= %.2f", t.Value)
	}
	return fmt.Sprintf("%s %s", t.Op, trim(t.Value))
}

func (t Target) met(v float64) bool {
	switch t.Op {
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case ">=":
		return v >= t.Value
	case "=":
		return math.Abs(v-t.Value) < 0.005
	}
	return false
}

// Skipped is a measurement that was not made, and why.
type Skipped struct {
	Part   int    `json:"part"`
	What   string `json:"what"`
	Reason string `json:"reason"`
}

// Results is everything a run found; it is written as the JSON result file.
type Results struct {
	Schema   int       `json:"schema"`
	Date     time.Time `json:"date"`
	GitRev   string    `json:"git_rev"`
	GitDirty bool      `json:"git_dirty"`
	Mode     string    `json:"mode"`
	Machine  Machine   `json:"machine"`
	// DurationSeconds is how long the whole bench took.
	DurationSeconds float64        `json:"duration_seconds"`
	Figures         []Figure       `json:"figures"`
	NotMeasured     []Skipped      `json:"not_measured,omitempty"`
	Errors          []string       `json:"errors,omitempty"`
	Details         map[string]any `json:"details"`

	mu sync.Mutex
}

// Add records a figure without a target.
func (r *Results) Add(part int, key, label string, value float64, unit string) *Figure {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures = append(r.Figures, Figure{Part: part, Key: key, Label: label, Value: round(value), Unit: unit})
	return &r.Figures[len(r.Figures)-1]
}

// AddTarget records a figure with its target.
func (r *Results) AddTarget(part int, key, label string, value float64, unit string, t Target) {
	f := r.Add(part, key, label, value, unit)
	r.mu.Lock()
	defer r.mu.Unlock()
	f.Target = t.String()
	f.Status = "MISS"
	// Judged on the value as recorded and printed, so a status never contradicts its figure.
	if t.met(f.Value) {
		f.Status = "PASS"
	}
}

// Note adds a note to the figure with key.
func (r *Results) Note(key, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Figures {
		if r.Figures[i].Key == key {
			r.Figures[i].Note = note
		}
	}
}

// Detail records supporting data under key.
func (r *Results) Detail(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Details[key] = v
}

// Skip records a measurement not made.
func (r *Results) Skip(part int, what, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.NotMeasured = append(r.NotMeasured, Skipped{Part: part, What: what, Reason: reason})
}

// Fail records a harness error.
func (r *Results) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Errors = append(r.Errors, err.Error())
}

func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	// Four significant digits are more than any of these measurements can tell.
	mag := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*mag) / mag
}

func trim(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

var partNames = map[int]string{
	1: "sweep API efficiency",
	2: "sweep CPU and memory",
	3: "decision throughput",
	4: "event path latency",
	5: "Lambda size and start",
}

// Print writes the table.
func (r *Results) Print(w io.Writer) {
	fmt.Fprintf(w, "\nawsaudit bench (%s) %s  rev %s%s  %s, %d cores, %s  took %s\n",
		r.Mode, r.Date.Format("2006-01-02 15:04 MST"), r.GitRev, map[bool]string{true: " (dirty)"}[r.GitDirty],
		r.Machine.CPUModel, r.Machine.Cores, r.Machine.GoVersion, (time.Duration(r.DurationSeconds) * time.Second).String())
	if r.Mode == "smoke" {
		fmt.Fprintln(w, "smoke run: tiny inputs to exercise the harness; the figures mean nothing (run make bench)")
	}
	figs := slices.Clone(r.Figures)
	slices.SortStableFunc(figs, func(a, b Figure) int { return a.Part - b.Part })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	part := 0
	for _, f := range figs {
		if f.Part != part {
			part = f.Part
			fmt.Fprintf(tw, "\n%d. %s\t\t\t\t\n", part, partNames[part])
		}
		fmt.Fprintf(tw, "   %s\t%s %s\t%s\t%s\n", f.Label, trim(f.Value), f.Unit, f.Target, f.Status)
	}
	tw.Flush()
	if len(r.NotMeasured) > 0 {
		fmt.Fprintln(w, "\nnot measured:")
		for _, s := range r.NotMeasured {
			fmt.Fprintf(w, "   %d. %s: %s\n", s.Part, s.What, s.Reason)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nharness errors:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "   %s\n", e)
		}
	}
	fmt.Fprintln(w)
}

// Write writes the result file into dir and returns its path.
func (r *Results) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := r.Date.Format("2006-01-02") + "-" + r.GitRev
	if r.Mode != "full" {
		name += "-" + r.Mode
	}
	path := filepath.Join(dir, name+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}
