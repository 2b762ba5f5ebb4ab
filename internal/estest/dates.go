package estest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// defaultDateFormat is the format a date field has unless its mapping
// says otherwise.
const defaultDateFormat = "strict_date_optional_time||epoch_millis"

// dateFormat is a parsed "format" mapping parameter: alternatives separated
// by "||", tried in order.
type dateFormat struct {
	spec  string
	alts  []dateParser
	epoch bool // some alternative is epoch_millis or epoch_second
}

// dateParser turns a string into epoch milliseconds; loc is the zone for
// values that carry none.
type dateParser func(s string, loc *time.Location) (int64, bool)

func parseDateFormat(spec string) *dateFormat {
	f := &dateFormat{spec: spec}
	for _, alt := range strings.Split(spec, "||") {
		alt = strings.TrimSpace(alt)
		if alt == "epoch_millis" || alt == "epoch_second" {
			f.epoch = true
		}
		f.alts = append(f.alts, namedDateParser(alt))
	}
	return f
}

// parse returns the value as epoch milliseconds.
func (f *dateFormat) parse(s string, loc *time.Location) (int64, bool) {
	if loc == nil {
		loc = time.UTC
	}
	for _, p := range f.alts {
		if ms, ok := p(s, loc); ok {
			return ms, true
		}
	}
	return 0, false
}

func namedDateParser(name string) dateParser {
	switch name {
	case "strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos", "iso8601":
		return isoDate
	case "epoch_millis":
		return func(s string, _ *time.Location) (int64, bool) { return epoch(s, 1) }
	case "epoch_second":
		return func(s string, _ *time.Location) (int64, bool) { return epoch(s, 1000) }
	case "strict_date", "date", "strict_year_month_day", "year_month_day":
		return layoutParser("2006-01-02")
	case "strict_date_time", "date_time":
		return layoutParser("2006-01-02T15:04:05.000Z07:00")
	case "strict_date_time_no_millis", "date_time_no_millis":
		return layoutParser("2006-01-02T15:04:05Z07:00")
	case "strict_date_hour_minute_second", "date_hour_minute_second":
		return layoutParser("2006-01-02T15:04:05")
	case "strict_date_hour_minute_second_millis", "date_hour_minute_second_millis",
		"strict_date_hour_minute_second_fraction", "date_hour_minute_second_fraction":
		return layoutParser("2006-01-02T15:04:05.000")
	case "basic_date":
		return layoutParser("20060102")
	case "basic_date_time":
		return layoutParser("20060102T150405.000Z0700")
	case "basic_date_time_no_millis":
		return layoutParser("20060102T150405Z0700")
	}
	if layout, ok := javaLayout(name); ok {
		return layoutParser(layout)
	}
	// A format this server cannot read: accept any non-empty value rather
	// than reject documents ES would take.
	return func(s string, _ *time.Location) (int64, bool) { return 0, s != "" }
}

func layoutParser(layout string) dateParser {
	return func(s string, loc *time.Location) (int64, bool) {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return 0, false
		}
		return t.UnixMilli(), true
	}
}

// epoch reads epoch_millis (unit 1) or epoch_second (unit 1000): an
// optional sign, digits and an optional fraction.
func epoch(s string, unit float64) (int64, bool) {
	if s == "" {
		return 0, false
	}
	body := strings.TrimPrefix(s, "-")
	if body == "" || strings.Count(body, ".") > 1 {
		return 0, false
	}
	for _, c := range body {
		if (c < '0' || c > '9') && c != '.' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	return int64(v * unit), true
}

// isoDate reads strict_date_optional_time:
// yyyy[-MM[-dd]][THH[:mm[:ss[.fraction]]][zone]].
func isoDate(s string, loc *time.Location) (int64, bool) {
	p := &scanner{s: s}
	year, ok := p.digits(4, 4)
	if !ok {
		return 0, false
	}
	month, day := 1, 1
	hour, minute, sec, nanos := 0, 0, 0, 0
	zone := loc
	if p.eat('-') {
		if month, ok = p.digits(2, 2); !ok {
			return 0, false
		}
		if p.eat('-') {
			if day, ok = p.digits(2, 2); !ok {
				return 0, false
			}
		}
	}
	if p.eat('T') {
		if hour, ok = p.digits(2, 2); !ok {
			return 0, false
		}
		if p.eat(':') {
			if minute, ok = p.digits(2, 2); !ok {
				return 0, false
			}
			if p.eat(':') {
				if sec, ok = p.digits(2, 2); !ok {
					return 0, false
				}
				if p.eat('.') || p.eat(',') {
					start := p.i
					frac, ok := p.digits(1, 9)
					if !ok {
						return 0, false
					}
					nanos = frac * int(math.Pow10(9-(p.i-start)))
				}
			}
		}
		if z, ok := p.zone(); ok {
			zone = z
		} else if !p.done() {
			return 0, false
		}
	}
	if !p.done() || month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	if day < 1 || day > daysIn(month, year) {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, zone).UnixMilli(), true
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// scanner walks a date string.
type scanner struct {
	s string
	i int
}

func (p *scanner) done() bool { return p.i == len(p.s) }

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads between min and max decimal digits.
func (p *scanner) digits(min, max int) (int, bool) {
	start := p.i
	for p.i < len(p.s) && p.i-start < max && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i-start < min {
		return 0, false
	}
	v, err := strconv.Atoi(p.s[start:p.i])
	return v, err == nil
}

// zone reads Z, ±HH, ±HHmm or ±HH:mm at the end of the string.
func (p *scanner) zone() (*time.Location, bool) {
	if p.eat('Z') {
		return time.UTC, p.done()
	}
	sign := 1
	switch {
	case p.eat('+'):
	case p.eat('-'):
		sign = -1
	default:
		return nil, false
	}
	h, ok := p.digits(2, 2)
	if !ok {
		return nil, false
	}
	m := 0
	p.eat(':')
	if !p.done() {
		if m, ok = p.digits(2, 2); !ok {
			return nil, false
		}
	}
	if !p.done() || h > 18 || m > 59 {
		return nil, false
	}
	return time.FixedZone("", sign*(h*3600+m*60)), true
}

// javaLayout translates the common letters of a java.time pattern into a
// Go layout; ok is false for anything it does not know.
func javaLayout(pattern string) (string, bool) {
	repl := []struct{ java, gol string }{
		{"yyyy", "2006"}, {"uuuu", "2006"}, {"yy", "06"},
		{"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"},
		{"dd", "02"}, {"HH", "15"}, {"hh", "03"}, {"mm", "04"}, {"ss", "05"},
		{"SSSSSSSSS", "000000000"}, {"SSSSSS", "000000"}, {"SSS", "000"},
		{"XXX", "Z07:00"}, {"XX", "Z0700"}, {"xxx", "-07:00"}, {"ZZ", "-07:00"}, {"Z", "-0700"},
		{"EEEE", "Monday"}, {"EEE", "Mon"}, {"a", "PM"},
	}
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			j := strings.IndexByte(pattern[i+1:], '\'')
			if j < 0 {
				return "", false
			}
			b.WriteString(pattern[i+1 : i+1+j])
			i += j + 2
			continue
		}
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			matched := false
			for _, r := range repl {
				if strings.HasPrefix(pattern[i:], r.java) {
					b.WriteString(r.gol)
					i += len(r.java)
					matched = true
					break
				}
			}
			if !matched {
				return "", false
			}
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), true
}

// dateMath resolves a range-query bound: "now", "now-1d/d",
// "2024-01-01||+1M", or a plain date in the field's format. roundUp is true
// for gt and lte, where ES rounds "/unit" to the unit's last millisecond.
func dateMath(s string, f *dateFormat, now time.Time, loc *time.Location, roundUp bool) (int64, error) {
	var base time.Time
	var ops string
	switch {
	case strings.HasPrefix(s, "now"):
		base, ops = now.In(loc), s[len("now"):]
	case strings.Contains(s, "||"):
		i := strings.Index(s, "||")
		ms, ok := f.parse(s[:i], loc)
		if !ok {
			return 0, fmt.Errorf("failed to parse date field [%s] with format [%s]", s[:i], f.spec)
		}
		base, ops = time.UnixMilli(ms).In(loc), s[i+2:]
	default:
		ms, ok := f.parse(s, loc)
		if !ok {
			return 0, fmt.Errorf("failed to parse date field [%s] with format [%s]", s, f.spec)
		}
		return ms, nil
	}
	t := base
	for ops != "" {
		op := ops[0]
		ops = ops[1:]
		switch op {
		case '+', '-':
			i := 0
			for i < len(ops) && ops[i] >= '0' && ops[i] <= '9' {
				i++
			}
			n := 1
			if i > 0 {
				n, _ = strconv.Atoi(ops[:i])
			}
			if i == len(ops) {
				return 0, fmt.Errorf("truncated date math [%s]", s)
			}
			if op == '-' {
				n = -n
			}
			var err error
			if t, err = addUnit(t, ops[i], n); err != nil {
				return 0, err
			}
			ops = ops[i+1:]
		case '/':
			if ops == "" {
				return 0, fmt.Errorf("truncated date math [%s]", s)
			}
			var err error
			if t, err = roundUnit(t, ops[0], roundUp); err != nil {
				return 0, err
			}
			ops = ops[1:]
		default:
			return 0, fmt.Errorf("operator not supported for date math [%s]", s)
		}
	}
	return t.UnixMilli(), nil
}

func addUnit(t time.Time, unit byte, n int) (time.Time, error) {
	switch unit {
	case 'y':
		return t.AddDate(n, 0, 0), nil
	case 'M':
		return t.AddDate(0, n, 0), nil
	case 'w':
		return t.AddDate(0, 0, 7*n), nil
	case 'd':
		return t.AddDate(0, 0, n), nil
	case 'h', 'H':
		return t.Add(time.Duration(n) * time.Hour), nil
	case 'm':
		return t.Add(time.Duration(n) * time.Minute), nil
	case 's':
		return t.Add(time.Duration(n) * time.Second), nil
	}
	return t, fmt.Errorf("unit [%c] not supported for date math", unit)
}

func roundUnit(t time.Time, unit byte, up bool) (time.Time, error) {
	y, mo, d := t.Date()
	loc := t.Location()
	var start time.Time
	switch unit {
	case 'y':
		start = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
	case 'M':
		start = time.Date(y, mo, 1, 0, 0, 0, 0, loc)
	case 'w':
		wd := (int(t.Weekday()) + 6) % 7 // ISO weeks start on Monday
		start = time.Date(y, mo, d-wd, 0, 0, 0, 0, loc)
	case 'd':
		start = time.Date(y, mo, d, 0, 0, 0, 0, loc)
	case 'h', 'H':
		start = t.Truncate(time.Hour)
	case 'm':
		start = t.Truncate(time.Minute)
	case 's':
		start = t.Truncate(time.Second)
	default:
		return t, fmt.Errorf("unit [%c] not supported for date math", unit)
	}
	if !up {
		return start, nil
	}
	next, _ := addUnit(start, unit, 1)
	return next.Add(-time.Millisecond), nil
}
