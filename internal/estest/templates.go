package estest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// template is a composable index template.
type template struct {
	name     string
	patterns []string
	priority int64
	settings map[string]any // flat, normalized
	mappings map[string]any // as sent
	body     obj            // the index_template document GET answers
}

func (t *template) export() Template {
	out := Template{Name: t.name, IndexPatterns: append([]string(nil), t.patterns...), Priority: t.priority}
	out.Settings = nestSettings(t.settings)
	out.Mappings = deepCopy(t.mappings)
	b, _ := marshal(t.body)
	out.Body = b
	return out
}

// indexTemplateKeys are the keys an index template body may hold.
var indexTemplateKeys = map[string]bool{
	"index_patterns": true, "template": true, "composed_of": true, "priority": true,
	"version": true, "_meta": true, "data_stream": true, "allow_auto_create": true,
	"ignore_missing_component_templates": true, "deprecated": true,
}

var templateKeys = map[string]bool{"settings": true, "mappings": true, "aliases": true, "lifecycle": true, "data_stream_options": true}

func (s *Server) putIndexTemplate(req *request) reply {
	name := req.vars["name"]
	tree, e := parseBody(req.body)
	if e != nil {
		return errReply(e)
	}
	if tree.kind != jObject {
		return errReply(xContentParse(req.body, tree.off, "[index_template] Expected START_OBJECT but was: %s", tree.kind.tokenName(tree)))
	}
	for i, k := range tree.keys {
		if !indexTemplateKeys[k] {
			return errReply(xContentParse(req.body, tree.keyOffs[i], "[index_template] unknown field [%s]", k))
		}
	}
	raw := tree.value().(map[string]any)
	t := &template{name: name}
	patterns, ok := stringList(raw["index_patterns"])
	if raw["index_patterns"] == nil || (ok && len(patterns) == 0) {
		return errReply(validationFailed("index patterns are missing"))
	}
	if !ok {
		return errReply(xContentParse(req.body, tree.field("index_patterns").off, "[index_template] failed to parse field [index_patterns]"))
	}
	t.patterns = patterns
	if p, ok := raw["priority"]; ok {
		n, err := strconv.ParseInt(javaString(p), 10, 64)
		if err != nil {
			return errReply(xContentParse(req.body, tree.field("priority").off, "[index_template] failed to parse field [priority]"))
		}
		if n < 0 {
			return errReply(validationFailed("index template priority requires a value greater than or equal to zero"))
		}
		t.priority = n
	}
	if _, ok := raw["data_stream"]; ok {
		return errReply(illegalArgument("estest does not model data streams: index template [%s] sets [data_stream]", name))
	}
	if composed, _ := stringList(raw["composed_of"]); len(composed) > 0 {
		ignored, _ := stringList(raw["ignore_missing_component_templates"])
		var missing []string
		for _, c := range composed {
			if !contains(ignored, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return errReply(newError(http.StatusBadRequest, "invalid_index_template_exception",
				"index_template [%s] invalid, cause [index template [%s] specifies component templates %s that do not exist]", name, name, "["+strings.Join(missing, ", ")+"]"))
		}
	}

	inner := obj{}
	if tn := tree.field("template"); tn != nil {
		if tn.kind != jObject {
			return errReply(xContentParse(req.body, tn.off, "[index_template] template doesn't support values of type: %s", tn.kind.tokenName(tn)))
		}
		for i, k := range tn.keys {
			if !templateKeys[k] {
				return errReply(xContentParse(req.body, tn.keyOffs[i], "[template] unknown field [%s]", k))
			}
		}
		tm := raw["template"].(map[string]any)
		if sv, ok := tm["settings"].(map[string]any); ok {
			flat, e := normalizeSettings(sv)
			if e != nil {
				return errReply(e)
			}
			if _, e := newIndexSettings(flat); e != nil {
				return errReply(e)
			}
			t.settings = flat
			inner = append(inner, kv{"settings", sortedObj(nestSettings(flat))})
		}
		if mv, ok := tm["mappings"].(map[string]any); ok {
			if _, e := parseMapping(mv); e != nil {
				return errReply(e)
			}
			t.mappings = mv
			inner = append(inner, kv{"mappings", sortedObj(mv)})
		}
		if av, ok := tm["aliases"].(map[string]any); ok && len(av) > 0 {
			return errReply(illegalArgument("estest does not model aliases: index template [%s] sets [template.aliases]", name))
		}
	}

	t.body = obj{{"index_patterns", t.patterns}}
	if len(inner) > 0 {
		t.body = append(t.body, kv{"template", inner})
	}
	composed, _ := stringList(raw["composed_of"])
	if composed == nil {
		composed = []string{}
	}
	t.body = append(t.body, kv{"composed_of", composed})
	if _, ok := raw["priority"]; ok {
		t.body = append(t.body, kv{"priority", t.priority})
	}
	for _, k := range []string{"version", "_meta", "allow_auto_create", "ignore_missing_component_templates", "deprecated"} {
		if v, ok := raw[k]; ok {
			if m, ok := v.(map[string]any); ok {
				v = sortedObj(m)
			}
			t.body = append(t.body, kv{k, v})
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if req.query.Get("create") == "true" && s.templates[name] != nil {
		return errReply(illegalArgument("index template [%s] already exists", name))
	}
	if conflict := s.overlapping(t); conflict != nil {
		return errReply(conflict)
	}
	s.templates[name] = t
	return reply{status: http.StatusOK, body: obj{{"acknowledged", true}}}
}

// overlapping returns ES's error when another template with the same
// priority has a pattern that can match the same index name, since ES
// could not choose between them at index creation. The caller holds mu.
func (s *Server) overlapping(t *template) *esError {
	var names []string
	details := map[string][]string{}
	for _, other := range s.templates {
		if other.name == t.name || other.priority != t.priority {
			continue
		}
		for _, a := range t.patterns {
			for _, b := range other.patterns {
				if globsIntersect(a, b) {
					names = append(names, other.name)
					details[other.name] = other.patterns
				}
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	names = dedupe(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, n+" => ["+strings.Join(details[n], ", ")+"]")
	}
	return illegalArgument("index template [%s] has index patterns [%s] matching patterns from existing templates [%s] with patterns (%s) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority",
		t.name, strings.Join(t.patterns, ", "), strings.Join(names, ","), strings.Join(parts, ","), t.priority)
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// globsIntersect reports whether some string matches both '*' patterns.
func globsIntersect(a, b string) bool {
	type state struct{ i, j int }
	seen := map[state]bool{}
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		st := state{i, j}
		if seen[st] {
			return false
		}
		seen[st] = true
		if i == len(a) && j == len(b) {
			return true
		}
		if i < len(a) && a[i] == '*' {
			// the star matches nothing, or one character of b
			if walk(i+1, j) || (j < len(b) && walk(i, j+1)) {
				return true
			}
		}
		if j < len(b) && b[j] == '*' {
			if walk(i, j+1) || (i < len(a) && walk(i+1, j)) {
				return true
			}
		}
		if i < len(a) && j < len(b) && a[i] != '*' && b[j] != '*' && a[i] == b[j] {
			return walk(i+1, j+1)
		}
		return false
	}
	return walk(0, 0)
}

// matchTemplate picks the highest-priority template matching name. The
// caller holds mu.
func (s *Server) matchTemplate(name string) *template {
	var best *template
	for _, t := range s.templates {
		for _, p := range t.patterns {
			if globMatch(p, name) && (best == nil || t.priority > best.priority) {
				best = t
			}
		}
	}
	return best
}

func (s *Server) getIndexTemplate(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	expr := req.vars["name"]
	if expr == "" {
		expr = "*"
	}
	var names []string
	wildcard := false
	for _, part := range strings.Split(expr, ",") {
		if strings.Contains(part, "*") {
			wildcard = true
			for n := range s.templates {
				if globMatch(part, n) {
					names = append(names, n)
				}
			}
			continue
		}
		if s.templates[part] != nil {
			names = append(names, part)
		}
	}
	sort.Strings(names)
	names = dedupe(names)
	if len(names) == 0 && !wildcard {
		return errReply(newError(http.StatusNotFound, "resource_not_found_exception", "index template matching [%s] not found", expr))
	}
	list := []any{}
	for _, n := range names {
		list = append(list, obj{{"name", n}, {"index_template", s.templates[n].body}})
	}
	return reply{status: http.StatusOK, body: obj{{"index_templates", list}}}
}

func (s *Server) headIndexTemplate(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.templates[req.vars["name"]] == nil {
		return reply{status: http.StatusNotFound}
	}
	return reply{status: http.StatusOK}
}

func (s *Server) deleteIndexTemplate(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := req.vars["name"]
	if s.templates[name] == nil {
		return errReply(newError(http.StatusNotFound, "resource_not_found_exception", "index_template matching [%s] not found", name))
	}
	delete(s.templates, name)
	return reply{status: http.StatusOK, body: obj{{"acknowledged", true}}}
}
