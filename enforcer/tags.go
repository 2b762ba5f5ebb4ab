package enforcer

import (
	"fmt"
	"slices"
	"strings"
)

// Tag is one EC2 tag as the API returned it, untrimmed.
type Tag struct {
	Key, Value string
}

// String prints the tag as the documents do: "key=value".
func (t Tag) String() string { return t.Key + "=" + t.Value }

// FormatTags prints tags as "k=v, k=v".
func FormatTags(tags []Tag) string {
	s := make([]string, len(tags))
	for i, t := range tags {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// InvalidTag is a required tag that is present with a value the policy does not allow.
type InvalidTag struct {
	Key, Value string
	// Reason says what is wrong with the value.
	Reason string
}

// String prints the invalid tag with its reason.
func (t InvalidTag) String() string { return fmt.Sprintf("%s=%q: %s", t.Key, t.Value, t.Reason) }

// Reasons an invalid value is given.
const (
	reasonBlank        = "blank value"
	reasonNotIAMName   = "not a valid IAM user name"
	reasonNoSuchUser   = "no such IAM user"
	reasonPatternNoHit = "does not match pattern "
)

// keyMatches reports whether an instance's tag key names rule r.
func (p *Policy) keyMatches(r *TagRule, key string) bool {
	key = strings.TrimSpace(key)
	if p.CaseSensitiveKeys {
		return key == r.Key
	}
	return strings.EqualFold(key, r.Key)
}

// findTag returns the trimmed value of the first tag whose key is key, matched as the policy
// matches keys.
func (p *Policy) findTag(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		k := strings.TrimSpace(t.Key)
		if k == key || !p.CaseSensitiveKeys && strings.EqualFold(k, key) {
			return strings.TrimSpace(t.Value), true
		}
	}
	return "", false
}

// tagEval is what the tags alone say about an instance.
type tagEval struct {
	missing      []string
	invalid      []InvalidTag
	unknownUsers []string
	// unchecked lists IAM user names whose lookup failed or was not made: the instance cannot be
	// decided on them.
	unchecked []string
}

// clean reports whether the tags satisfy the policy outright.
func (e *tagEval) clean() bool {
	return len(e.missing) == 0 && len(e.invalid) == 0 && len(e.unchecked) == 0
}

// evaluateTags checks tags against every rule. IAM users are looked up in facts; with ignoreIAM
// they are only checked for form.
func (p *Policy) evaluateTags(tags []Tag, facts *Facts, ignoreIAM bool) tagEval {
	var e tagEval
	for i := range p.Tags {
		r := &p.Tags[i]
		var (
			found    bool
			passed   bool
			firstBad *InvalidTag
			pending  string
		)
		for _, t := range tags {
			if !p.keyMatches(r, t.Key) {
				continue
			}
			found = true
			v := strings.TrimSpace(t.Value)
			reason, unchecked := p.checkValue(r, v, facts, ignoreIAM)
			switch {
			case unchecked:
				pending = v
			case reason == "":
				passed = true
			case firstBad == nil:
				firstBad = &InvalidTag{Key: strings.TrimSpace(t.Key), Value: t.Value, Reason: reason}
			}
			if passed {
				break
			}
		}
		switch {
		case passed:
		case !found:
			e.missing = append(e.missing, r.Key)
		case pending != "":
			e.unchecked = append(e.unchecked, pending)
		default:
			e.invalid = append(e.invalid, *firstBad)
			if firstBad.Reason == reasonNoSuchUser {
				e.unknownUsers = append(e.unknownUsers, strings.TrimSpace(firstBad.Value))
			}
		}
	}
	return e
}

// checkValue returns why the trimmed value v is not allowed by r ("" when it is), or unchecked
// when it names an IAM user whose existence is not known.
func (p *Policy) checkValue(r *TagRule, v string, facts *Facts, ignoreIAM bool) (reason string, unchecked bool) {
	if v == "" {
		return reasonBlank, false
	}
	if len(r.Values) > 0 && !slices.ContainsFunc(r.Values, func(a string) bool { return p.valueEqual(a, v) }) {
		return "not one of " + strings.Join(r.Values, ", "), false
	}
	if r.Pattern != nil && !r.Pattern.MatchString(v) {
		return reasonPatternNoHit + r.Pattern.String(), false
	}
	if !r.IAMUser {
		return "", false
	}
	if !ValidIAMUserName(v) {
		return reasonNotIAMName, false
	}
	if ignoreIAM {
		return "", false
	}
	switch facts.user(v) {
	case UserExists:
		return "", false
	case UserNotFound:
		return reasonNoSuchUser, false
	}
	return "", true
}

// valueEqual compares an allowed value with a trimmed instance value the way keys are compared.
func (p *Policy) valueEqual(allowed, v string) bool {
	if p.CaseSensitiveKeys {
		return allowed == v
	}
	return strings.EqualFold(allowed, v)
}

// IAMUserNames returns the distinct IAM user names that deciding an instance with these tags
// needs looked up: the valid-form values of the policy's IAM user keys.
func (p *Policy) IAMUserNames(tags []Tag) []string {
	var names []string
	for i := range p.Tags {
		r := &p.Tags[i]
		if !r.IAMUser {
			continue
		}
		for _, t := range tags {
			if !p.keyMatches(r, t.Key) {
				continue
			}
			v := strings.TrimSpace(t.Value)
			if ValidIAMUserName(v) && !slices.Contains(names, v) {
				names = append(names, v)
			}
		}
	}
	return names
}

// NeedsIAM reports whether any rule checks IAM users.
func (p *Policy) NeedsIAM() bool {
	return slices.ContainsFunc(p.Tags, func(r TagRule) bool { return r.IAMUser })
}
