package enforcer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// policyFile is the policy file's schema, YAML or JSON. README.md shows an example of every
// field. Unknown fields are refused, so a typo never silently weakens a policy.
type policyFile struct {
	Version           int            `json:"version" yaml:"version"`
	Regions           []string       `json:"regions" yaml:"regions"`
	Tags              []fileTag      `json:"tags" yaml:"tags"`
	CaseSensitiveKeys bool           `json:"case_sensitive_keys" yaml:"case_sensitive_keys"`
	Grace             *durationValue `json:"grace" yaml:"grace"`
	Action            string         `json:"action" yaml:"action"`
	Exemption         *struct {
		Tag         string         `json:"tag" yaml:"tag"`
		MaxDuration *durationValue `json:"max_duration" yaml:"max_duration"`
	} `json:"exemption" yaml:"exemption"`
	Managed *struct {
		Action string            `json:"action" yaml:"action"`
		Tags   map[string]string `json:"tags" yaml:"tags"`
	} `json:"managed" yaml:"managed"`
	Canary *struct {
		Tags   map[string]string `json:"tags" yaml:"tags"`
		Name   string            `json:"name" yaml:"name"`
		States []string          `json:"states" yaml:"states"`
	} `json:"canary" yaml:"canary"`
	Accounts []string `json:"accounts" yaml:"accounts"`
	Limits   *struct {
		MaxActions        wholeNumber `json:"max_actions" yaml:"max_actions"`
		MaxActionsPercent float64     `json:"max_actions_percent" yaml:"max_actions_percent"`
	} `json:"limits" yaml:"limits"`
}

// fileTag is one required tag: a plain key, or a mapping with its rule.
type fileTag struct {
	Key     string   `json:"key" yaml:"key"`
	Values  []string `json:"values" yaml:"values"`
	Pattern string   `json:"pattern" yaml:"pattern"`
	IAMUser bool     `json:"iam_user" yaml:"iam_user"`
}

type fileTagFields fileTag

// UnmarshalYAML accepts a plain key or a mapping.
func (t *fileTag) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&t.Key)
	}
	// A custom unmarshaler does not inherit the decoder's KnownFields, so check here.
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "key", "values", "pattern", "iam_user":
			default:
				return fmt.Errorf("line %d: field %s not found (a tag takes key, values, pattern, iam_user)", n.Content[i].Line, k)
			}
		}
	}
	var f fileTagFields
	if err := n.Decode(&f); err != nil {
		return err
	}
	*t = fileTag(f)
	return nil
}

// UnmarshalJSON accepts a plain key or an object.
func (t *fileTag) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		return json.Unmarshal(b, &t.Key)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var f fileTagFields
	if err := d.Decode(&f); err != nil {
		return err
	}
	*t = fileTag(f)
	return nil
}

// wholeNumber is a count written as a whole number. yaml.v3 would round 1.5 down into an int
// (and 0.5 to 0, which turns a limit off), so a fraction is refused here as JSON refuses it.
type wholeNumber int

// UnmarshalYAML accepts only an integer scalar.
func (w *wholeNumber) UnmarshalYAML(n *yaml.Node) error {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		return fmt.Errorf("line %d: want a whole number, found %q", n.Line, n.Value)
	}
	*w = wholeNumber(i)
	return nil
}

// durationValue holds a duration as written: a number (of minutes for grace, days for
// exemptions) or a string such as "90m" or "30d".
type durationValue struct{ raw string }

// UnmarshalYAML keeps the scalar as written.
func (v *durationValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number or a duration such as 90m", n.Line)
	}
	v.raw = n.Value
	return nil
}

// UnmarshalJSON keeps a number or string as written.
func (v *durationValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v.raw = s
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("want a number or a duration such as 90m")
	}
	v.raw = n.String()
	return nil
}

// ParseGrace reads a grace period: a number of minutes, as the original -g took it, or a Go
// duration such as 90m or 2h. Negative values are refused.
func ParseGrace(s string) (time.Duration, error) {
	return parseDurationIn(s, time.Minute, "minutes")
}

// parseDurationIn reads a non-negative duration: a bare number counts unit, a string may be a Go
// duration or a number of days such as 30d.
func parseDurationIn(s string, unit time.Duration, unitName string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a number of %s or a duration such as 90m or 30d", s, unitName)
	// scaled converts n units, refusing what no duration holds: NaN, infinities, and values
	// beyond 100 years (a float-to-int conversion of those differs between machines).
	scaled := func(n float64, unit time.Duration) (time.Duration, error) {
		switch {
		case math.IsNaN(n) || math.IsInf(n, 0):
			return 0, bad
		case n < 0:
			return 0, fmt.Errorf("%q is negative", s)
		case n*float64(unit) > float64(maxDuration):
			return 0, fmt.Errorf("%q is more than 100 years", s)
		}
		return time.Duration(n * float64(unit)), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return scaled(f, unit)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, bad
		}
		return scaled(n, 24*time.Hour)
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, bad
	case d < 0 || strings.HasPrefix(s, "-"):
		return 0, fmt.Errorf("%q is negative", s)
	case d > maxDuration:
		return 0, fmt.Errorf("%q is more than 100 years", s)
	}
	return d, nil
}

// maxDuration is the longest grace period or exemption a policy may give.
const maxDuration = 100 * 365 * 24 * time.Hour

// LoadPolicyFile reads and parses a policy file: JSON when the name ends in .json, YAML when it
// ends in .yaml or .yml, otherwise JSON when the content starts with "{" and YAML if not. The result is not validated: apply flags, then call Validate.
func LoadPolicyFile(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy file: %w", err)
	}
	var p *Policy
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		p, err = parsePolicy(b, formatJSON)
	case ".yaml", ".yml":
		// A YAML flow mapping ({tags: [created_by]}) starts with "{" too: no sniffing.
		p, err = parsePolicy(b, formatYAML)
	default:
		p, err = ParsePolicy(b, false)
	}
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses a policy document, JSON when isJSON is set or the content starts with "{",
// YAML otherwise. The result is not validated.
func ParsePolicy(b []byte, isJSON bool) (*Policy, error) {
	if isJSON || bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return parsePolicy(b, formatJSON)
	}
	return parsePolicy(b, formatYAML)
}

type policyFormat int

const (
	formatYAML policyFormat = iota
	formatJSON
)

func parsePolicy(b []byte, format policyFormat) (*Policy, error) {
	var f policyFile
	if format == formatJSON {
		// encoding/json lets a repeated key overwrite the first; a policy refuses it, as YAML does.
		if err := jsonDuplicateKey(b); err != nil {
			return nil, err
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&f); err != nil {
			return nil, jsonError(b, err)
		}
		// Anything after the object would be silently ignored: a second object's limits or
		// accounts lost. Refuse it.
		if _, err := d.Token(); err != io.EOF {
			line := 1 + bytes.Count(b[:d.InputOffset()], []byte("\n"))
			return nil, fmt.Errorf("line %d: content after the policy object", line)
		}
	} else {
		d := yaml.NewDecoder(bytes.NewReader(b))
		d.KnownFields(true)
		if err := d.Decode(&f); err != nil {
			return nil, yamlError(err)
		}
		var more yaml.Node
		if err := d.Decode(&more); err != io.EOF {
			return nil, errors.New("more than one YAML document: a policy file holds one")
		}
	}
	return f.policy()
}

// jsonDuplicateKey returns an error naming the first key that appears twice in one JSON object.
// encoding/json lets a later key overwrite an earlier one, and matches field names regardless of
// case, so "action" then "Action" would silently change the action: keys are compared folded.
// Syntax errors are left to the decoder, which reports them with their line.
func jsonDuplicateKey(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	// One frame per open object or array; an object's frame holds its keys, folded.
	type frame struct {
		keys   map[string]string
		object bool
		isKey  bool // the next token in this object is a key
	}
	var stack []*frame
	for {
		t, err := d.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.isKey {
			if k, ok := t.(string); ok {
				folded := strings.ToLower(k)
				if prev, dup := top.keys[folded]; dup {
					line := 1 + bytes.Count(b[:d.InputOffset()], []byte("\n"))
					if prev == k {
						return fmt.Errorf("line %d: key %q appears twice in one object", line, k)
					}
					return fmt.Errorf("line %d: key %q repeats %q in one object (keys are matched regardless of case)", line, k, prev)
				}
				top.keys[folded] = k
				top.isKey = false
				continue
			}
		}
		switch t {
		case json.Delim('{'):
			if top != nil && top.object {
				top.isKey = true
			}
			stack = append(stack, &frame{keys: map[string]string{}, object: true, isKey: true})
		case json.Delim('['):
			if top != nil && top.object {
				top.isKey = true
			}
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.object {
				top.isKey = true
			}
		}
	}
}

// yamlError turns yaml.v3's multi-line errors into one line without Go type names.
func yamlError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("the file is empty")
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, goTypeName.ReplaceAllString(l, ""))
		}
	}
	return errors.New(strings.Join(parts, "; "))
}

var goTypeName = regexp.MustCompile(` (in|into) (type )?[\w.\[\]*]*enforcer\.\w+`)

// jsonError adds the line number to a JSON syntax error and drops Go type names.
func jsonError(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return fmt.Errorf("line %d: %v", line, se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %s: want %s, found %s", te.Field, te.Type.Kind(), te.Value)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the file is empty")
	}
	return errors.New(goTypeName.ReplaceAllString(strings.TrimPrefix(err.Error(), "json: "), ""))
}

// policy turns the file into a Policy, with defaults where the file is silent.
func (f *policyFile) policy() (*Policy, error) {
	if f.Version != 0 && f.Version != 1 {
		return nil, fmt.Errorf("version %d is not supported (want 1)", f.Version)
	}
	p := New()
	var errs []error
	p.Regions = f.Regions
	p.CaseSensitiveKeys = f.CaseSensitiveKeys
	for i, t := range f.Tags {
		r := TagRule{Key: t.Key, Values: t.Values, IAMUser: t.IAMUser}
		if t.Pattern != "" {
			re, err := regexp.Compile(t.Pattern)
			if err != nil {
				errs = append(errs, fmt.Errorf("tags: entry %d (%q): bad pattern: %v", i+1, t.Key, err))
			}
			r.Pattern = re
		}
		p.Tags = append(p.Tags, r)
	}
	if f.Grace != nil {
		g, err := ParseGrace(f.Grace.raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("grace: %w", err))
		}
		p.Grace = g
	}
	if f.Action != "" {
		a, err := ParseAction(f.Action)
		if err != nil {
			errs = append(errs, fmt.Errorf("action: %w", err))
		}
		p.Action = a
	}
	if e := f.Exemption; e != nil {
		if e.Tag != "" {
			p.Exemption.Tag = e.Tag
		}
		if e.MaxDuration != nil {
			d, err := parseDurationIn(e.MaxDuration.raw, 24*time.Hour, "days")
			if err != nil {
				errs = append(errs, fmt.Errorf("exemption: max_duration: %w", err))
			}
			p.Exemption.Max = d
		}
	}
	if m := f.Managed; m != nil {
		switch strings.ToLower(strings.TrimSpace(m.Action)) {
		case "", "report":
		case "enforce":
			p.EnforceManaged = true
		default:
			errs = append(errs, fmt.Errorf("managed: action %q: want report or enforce", m.Action))
		}
		for k, v := range m.Tags {
			if strings.TrimSpace(v) == "" {
				// An empty manager name removes a default: managed detection trusts tags, and
				// only aws: tags are out of users' reach.
				delete(p.ManagedTags, k)
				continue
			}
			p.ManagedTags[k] = v
		}
	}
	if c := f.Canary; c != nil {
		if c.Tags != nil {
			p.Canary.Tags = c.Tags
		}
		if c.Name != "" {
			p.Canary.Name = c.Name
		}
		if c.States != nil {
			p.Canary.States = c.States
		}
	}
	p.Accounts = f.Accounts
	if l := f.Limits; l != nil {
		p.Limits = Limits{MaxActions: int(l.MaxActions), MaxPercent: l.MaxActionsPercent}
	}
	return p, errors.Join(errs...)
}
