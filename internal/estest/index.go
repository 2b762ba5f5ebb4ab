package estest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// index is one index: settings, mapping and documents.
type index struct {
	name     string
	uuid     string
	settings *indexSettings
	mapping  *mapping
	docs     map[string]*storedDoc
	// searchable is what _search and _count see: docs as they were at the
	// index's last refresh. Writes change docs only; GET _doc reads docs
	// (realtime, as in ES).
	searchable map[string]*storedDoc
	// tombstones keep the version of deleted documents, so that a document
	// written again continues the version sequence, as ES's do for a while.
	tombstones map[string]int64
	nextSeqNo  int64
}

// storedDoc is one document; source is kept byte for byte, as ES keeps
// _source.
type storedDoc struct {
	id      string
	source  []byte
	parsed  any // decoded with json.Number, for queries
	version int64
	seqNo   int64
}

func (d *storedDoc) export(index string) Doc {
	out := Doc{Index: index, ID: d.id, Version: d.version, SeqNo: d.seqNo, Raw: append(json.RawMessage(nil), d.source...)}
	_ = json.Unmarshal(d.source, &out.Source)
	return out
}

// ordered returns docs in the order they were last written, which is the
// order unsorted search hits come in.
func ordered(docs map[string]*storedDoc) []*storedDoc {
	out := make([]*storedDoc, 0, len(docs))
	for _, d := range docs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seqNo < out[j].seqNo })
	return out
}

// refresh makes the index's current documents searchable. Documents are
// replaced, never changed in place, so a shallow copy is a snapshot.
func (idx *index) refresh() {
	idx.searchable = maps.Clone(idx.docs)
}

// indexSettings are an index's settings, flat ("index.number_of_shards")
// with the values this server acts on picked out.
type indexSettings struct {
	flat             map[string]any
	shards           int
	replicas         int
	totalFieldsLimit int
	coerce           bool
	ignoreMalformed  bool
}

// knownSettings are index settings accepted by name (after "index.").
var knownSettings = map[string]bool{
	"number_of_shards": true, "number_of_replicas": true, "refresh_interval": true,
	"auto_expand_replicas": true, "hidden": true, "codec": true, "default_pipeline": true,
	"final_pipeline": true, "max_result_window": true, "max_inner_result_window": true,
	"max_rescore_window": true, "max_docvalue_fields_search": true, "max_script_fields": true,
	"max_ngram_diff": true, "max_shingle_diff": true, "max_refresh_listeners": true,
	"max_terms_count": true, "max_regex_length": true, "max_slices_per_scroll": true,
	"priority": true, "number_of_routing_shards": true, "mode": true, "format": true,
	"load_fixed_bitset_filters_eagerly": true, "gc_deletes": true, "uuid": true,
	"provided_name": true, "creation_date": true, "routing_partition_size": true,
	"look_ahead_time": true, "look_back_time": true, "routing_path": true, "fast_refresh": true,
	"default_field": true, "frozen": true,
}

// knownSettingPrefixes are groups of index settings accepted wholesale.
var knownSettingPrefixes = []string{
	"analysis.", "lifecycle.", "routing.", "similarity.", "translog.", "merge.", "search.",
	"indexing.", "store.", "unassigned.", "blocks.", "shard.", "allocation.", "queries.",
	"fielddata.", "mapping.", "query.", "sort.", "soft_deletes.", "write.", "requests.",
	"version.", "time_series.", "highlight.", "ccr.", "verified_before_close", "resize.",
	"plugin.", "xpack.", "analyze.", "compound_format", "data_path", "warmer.",
}

// normalizeSettings flattens a settings object the way ES stores it:
// dotted keys under "index.", values as strings.
func normalizeSettings(raw map[string]any) (map[string]any, *esError) {
	flat := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, sub := range m {
				walk(joinPath(prefix, k), sub)
			}
			return
		}
		if v == nil {
			return
		}
		flat[prefix] = settingString(v)
	}
	for k, v := range raw {
		walk(k, v)
	}
	out := map[string]any{}
	for k, v := range flat {
		if !strings.HasPrefix(k, "index.") {
			k = "index." + k
		}
		name := strings.TrimPrefix(k, "index.")
		known := knownSettings[name]
		for _, p := range knownSettingPrefixes {
			if strings.HasPrefix(name, p) {
				known = true
			}
		}
		if !known {
			return nil, illegalArgument("unknown setting [%s] please check that any required plugins are installed, or check the breaking changes documentation for removed settings", k)
		}
		out[k] = v
	}
	return out, nil
}

func settingString(v any) any {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = settingString(e)
		}
		return out
	}
	return fmt.Sprint(v)
}

// nestSettings turns flat settings back into the nested form GET answers
// with.
func nestSettings(flat map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range flat {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

// newIndexSettings reads the values this server acts on.
func newIndexSettings(flat map[string]any) (*indexSettings, *esError) {
	s := &indexSettings{flat: flat, shards: 1, replicas: 1, totalFieldsLimit: 1000, coerce: true}
	ints := []struct {
		key string
		min int
		dst *int
	}{
		{"index.number_of_shards", 1, &s.shards},
		{"index.number_of_replicas", 0, &s.replicas},
		{"index.mapping.total_fields.limit", 0, &s.totalFieldsLimit},
	}
	for _, it := range ints {
		v, ok := flat[it.key].(string)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, illegalArgument("Failed to parse value [%s] for setting [%s]", v, it.key)
		}
		if n < it.min {
			return nil, illegalArgument("Failed to parse value [%s] for setting [%s] must be >= %d", v, it.key, it.min)
		}
		*it.dst = n
	}
	bools := []struct {
		key string
		dst *bool
	}{
		{"index.mapping.coerce", &s.coerce},
		{"index.mapping.ignore_malformed", &s.ignoreMalformed},
	}
	for _, it := range bools {
		v, ok := flat[it.key].(string)
		if !ok {
			continue
		}
		b, ok := boolParam(v)
		if !ok {
			return nil, illegalArgument("Failed to parse value [%s] as only [true] or [false] are allowed.", v)
		}
		*it.dst = b
	}
	return s, nil
}

// invalidIndexName is ES's error for a name it will not create.
func invalidIndexName(name, why string) *esError {
	e := newError(http.StatusBadRequest, "invalid_index_name_exception", "Invalid index name [%s], %s", name, why)
	e.extra = obj{{"index_uuid", "_na_"}, {"index", name}}
	return e
}

// validateIndexName applies ES's rules for new index names.
func validateIndexName(name string) *esError {
	switch {
	case strings.Contains(name, "#"):
		return invalidIndexName(name, "must not contain '#'")
	case strings.Contains(name, ":"):
		return invalidIndexName(name, "must not contain ':'")
	case name != "" && strings.ContainsAny(name[:1], "_-+"):
		return invalidIndexName(name, "must not start with '_', '-', or '+'")
	case strings.ContainsAny(name, " \"*,/<>?\\|"):
		return invalidIndexName(name, `must not contain the following characters [' ','"','*',',','/','<','>','?','\','|']`)
	case strings.ToLower(name) != name:
		return invalidIndexName(name, "must be lowercase")
	case name == "." || name == "..":
		return invalidIndexName(name, "must not be '.' or '..'")
	case len(name) > 255:
		return invalidIndexName(name, fmt.Sprintf("index name is too long, (%d > 255)", len(name)))
	case name == "":
		return invalidIndexName(name, "must not be empty")
	}
	return nil
}

// createIndex creates name from the matching template (highest priority)
// merged with the request's own settings and mappings. The caller holds mu.
func (s *Server) createIndex(name string, settings, mappings map[string]any) (*index, *esError) {
	if e := validateIndexName(name); e != nil {
		return nil, e
	}
	flat := map[string]any{}
	var rawMapping map[string]any
	if t := s.matchTemplate(name); t != nil {
		for k, v := range t.settings {
			flat[k] = v
		}
		rawMapping = deepCopy(t.mappings)
	}
	if settings != nil {
		own, e := normalizeSettings(settings)
		if e != nil {
			return nil, e
		}
		for k, v := range own {
			flat[k] = v
		}
	}
	if mappings != nil {
		rawMapping = mergeMaps(rawMapping, mappings)
	}
	m, e := parseMapping(rawMapping)
	if e != nil {
		return nil, e
	}
	set, e := newIndexSettings(flat)
	if e != nil {
		return nil, e
	}
	idx := &index{
		name:       name,
		uuid:       randomID(22),
		settings:   set,
		mapping:    m,
		docs:       map[string]*storedDoc{},
		searchable: map[string]*storedDoc{},
		tombstones: map[string]int64{},
	}
	for k, v := range map[string]any{
		"index.number_of_shards":   strconv.Itoa(set.shards),
		"index.number_of_replicas": strconv.Itoa(set.replicas),
		"index.uuid":               idx.uuid,
		"index.provided_name":      name,
		"index.creation_date":      strconv.FormatInt(s.opts.Now().UnixMilli(), 10),
	} {
		if _, ok := flat[k]; !ok {
			flat[k] = v
		}
	}
	s.indices[name] = idx
	return idx, nil
}

// shardsHeader is the "_shards" block of a write response: the primary
// and, on a single node, never the replicas.
func (idx *index) shardsHeader() obj {
	return obj{{"total", 1 + idx.settings.replicas}, {"successful", 1}, {"failed", 0}}
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// mergeMaps merges src into a copy of dst, objects recursively, src
// winning on conflicts.
func mergeMaps(dst, src map[string]any) map[string]any {
	out := deepCopy(dst)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range src {
		sv, sok := v.(map[string]any)
		dv, dok := out[k].(map[string]any)
		if sok && dok {
			out[k] = mergeMaps(dv, sv)
			continue
		}
		if sok {
			v = deepCopy(sv)
		}
		out[k] = v
	}
	return out
}

// resolveIndices expands an index expression (comma list, wildcards,
// _all) into existing indices, sorted. A concrete name that does not exist
// is an index_not_found_exception; a wildcard that matches nothing is not.
func (s *Server) resolveIndices(expr string) ([]*index, *esError) {
	seen := map[string]bool{}
	var out []*index
	for _, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		if part == "_all" || part == "*" || part == "" {
			part = "*"
		}
		if !strings.Contains(part, "*") {
			idx := s.indices[part]
			if idx == nil {
				return nil, indexNotFound(part)
			}
			if !seen[part] {
				seen[part] = true
				out = append(out, idx)
			}
			continue
		}
		for name, idx := range s.indices {
			if globMatch(part, name) && !seen[name] && (!strings.HasPrefix(name, ".") || strings.HasPrefix(part, ".")) {
				seen[name] = true
				out = append(out, idx)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
