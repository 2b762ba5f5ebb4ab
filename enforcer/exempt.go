package enforcer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Parse reads an exemption tag's value, "<RFC 3339 date or datetime>; <reason>", and returns
// until when the instance is exempt and why. A date alone runs to the end of that day, UTC. A past
// expiry, one further ahead than Max, a value that does not parse, and a missing reason are not
// exemptions: the error says which.
func (e Exemption) Parse(value string, now time.Time) (until time.Time, reason string, err error) {
	when, why, ok := strings.Cut(value, ";")
	when, why = strings.TrimSpace(when), strings.TrimSpace(why)
	if !ok {
		return time.Time{}, "", fmt.Errorf("exemption %q is not \"<RFC 3339 date or datetime>; <reason>\"", value)
	}
	if why == "" {
		return time.Time{}, "", fmt.Errorf("exemption %q gives no reason", value)
	}
	until, err = parseExpiry(when)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("exemption %q: %w", value, err)
	}
	if !now.Before(until) {
		return time.Time{}, "", fmt.Errorf("exemption %q expired at %s", value, until.UTC().Format(time.RFC3339))
	}
	if until.Sub(now) > e.Max {
		return time.Time{}, "", fmt.Errorf("exemption %q runs to %s, beyond the maximum of %s from now", value, until.UTC().Format(time.RFC3339), FormatDuration(e.Max))
	}
	return until, why, nil
}

// parseExpiry reads an RFC 3339 datetime, or a full date meaning the end of that day in UTC.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	return time.Time{}, errors.New("the expiry is not an RFC 3339 date (2026-12-31) or datetime (2026-12-31T18:00:00Z)")
}
