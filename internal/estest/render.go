package estest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// renderBody encodes a reply body, applying the filter_path and pretty
// query parameters ES honours on every endpoint.
func renderBody(body any, query url.Values) ([]byte, error) {
	if fp := query.Get("filter_path"); fp != "" {
		var incl, excl [][]string
		for _, p := range strings.Split(fp, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if strings.HasPrefix(p, "-") {
				excl = append(excl, strings.Split(p[1:], "."))
			} else {
				incl = append(incl, strings.Split(p, "."))
			}
		}
		v := any(body)
		if len(incl) > 0 {
			kept, ok := include(v, incl)
			if !ok {
				kept = obj{}
			}
			v = kept
		}
		if len(excl) > 0 {
			v = exclude(v, excl)
		}
		body = v
	}
	data, err := marshal(body)
	if err != nil {
		return nil, err
	}
	if _, ok := query["pretty"]; ok && query.Get("pretty") != "false" {
		var b bytes.Buffer
		if json.Indent(&b, data, "", "  ") == nil {
			b.WriteByte('\n')
			return b.Bytes(), nil
		}
	}
	return data, nil
}

// expand turns raw JSON (a stored _source) into values filters can walk,
// keeping its key order.
func expand(v any) any {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return v
	}
	n, err := parseTree(raw)
	if err != nil {
		return v
	}
	return n.ordered()
}

// advance returns the remainders of paths after stepping into key.
func advance(paths [][]string, key string) (next [][]string, whole bool) {
	for _, p := range paths {
		if len(p) == 0 {
			return nil, true
		}
		if p[0] == "**" {
			if len(p) == 1 {
				return nil, true
			}
			next = append(next, p)
			if globMatch(p[1], key) {
				if len(p) == 2 {
					return nil, true
				}
				next = append(next, p[2:])
			}
			continue
		}
		if globMatch(p[0], key) {
			if len(p) == 1 {
				return nil, true
			}
			next = append(next, p[1:])
		}
	}
	return next, false
}

// include keeps the parts of v the paths name; ok is false when nothing is
// left.
func include(v any, paths [][]string) (any, bool) {
	v = expand(v)
	switch t := v.(type) {
	case obj:
		out := obj{}
		for _, p := range t {
			next, whole := advance(paths, p.k)
			if whole {
				out = append(out, p)
				continue
			}
			if len(next) == 0 {
				continue
			}
			if sub, ok := include(p.v, next); ok {
				out = append(out, kv{p.k, sub})
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range t {
			if sub, ok := include(e, paths); ok {
				out = append(out, sub)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// exclude removes the parts of v the paths name.
func exclude(v any, paths [][]string) any {
	v = expand(v)
	switch t := v.(type) {
	case obj:
		out := obj{}
		for _, p := range t {
			next, whole := advance(paths, p.k)
			if whole {
				continue
			}
			if len(next) == 0 {
				out = append(out, p)
				continue
			}
			out = append(out, kv{p.k, exclude(p.v, next)})
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			out = append(out, exclude(e, paths))
		}
		return out
	}
	return v
}
