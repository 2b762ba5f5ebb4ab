package estest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// field is one node of a mapping: an object (root included) with
// properties, or a leaf with a value type.
type field struct {
	name            string // leaf name
	path            string // full dotted path; "" for the root
	typ             string // "object", "nested", "keyword", "long", ...
	params          map[string]any
	props           map[string]*field // object and nested
	fields          map[string]*field // multi-fields of a leaf
	dynamic         string            // "true", "false", "strict", "runtime"; "" inherits
	enabled         bool
	format          *dateFormat // date and date_nanos
	coerce          *bool
	ignoreMalformed *bool
	// fresh marks a field added dynamically by the document being parsed;
	// such a field is private to that document until it is accepted.
	fresh bool
}

func (f *field) isObject() bool { return f.typ == "object" || f.typ == "nested" }

// mapping is an index's mapping.
type mapping struct {
	root               *field
	dateDetection      bool
	numericDetection   bool
	dynamicDateFormats []*dateFormat
	dynamicDateSpecs   []string
	dynamicTemplates   []dynamicTemplate
	// rootParams holds root keys kept only to be shown back (_source,
	// _meta, _routing, runtime, ...).
	rootParams map[string]any
}

// fieldTypes lists the leaf types whose values this server checks.
var fieldTypes = map[string][]string{
	"keyword":          {"ignore_above", "null_value", "normalizer", "norms", "eager_global_ordinals", "index_options", "similarity", "split_queries_on_whitespace", "time_series_dimension"},
	"constant_keyword": {"value"},
	"wildcard":         {"ignore_above", "null_value"},
	"text":             {"analyzer", "search_analyzer", "search_quote_analyzer", "fielddata", "fielddata_frequency_filter", "eager_global_ordinals", "index_options", "index_prefixes", "index_phrases", "norms", "position_increment_gap", "similarity", "term_vector"},
	"match_only_text":  {},
	"date":             {"format", "locale", "ignore_malformed", "null_value", "print_format"},
	"date_nanos":       {"format", "locale", "ignore_malformed", "null_value", "print_format"},
	"long":             numericParams,
	"integer":          numericParams,
	"short":            numericParams,
	"byte":             numericParams,
	"unsigned_long":    numericParams,
	"double":           numericParams,
	"float":            numericParams,
	"half_float":       numericParams,
	"scaled_float":     append([]string{"scaling_factor"}, numericParams...),
	"boolean":          {"null_value", "ignore_malformed"},
	"ip":               {"ignore_malformed", "null_value", "time_series_dimension"},
}

var numericParams = []string{"coerce", "ignore_malformed", "null_value", "time_series_dimension", "time_series_metric"}

// commonParams are accepted on every leaf type.
var commonParams = []string{"type", "fields", "copy_to", "meta", "store", "index", "doc_values", "script", "on_script_error", "synthetic_source_keep"}

// opaqueTypes are real ES field types this server does not check: any
// value is accepted for them.
var opaqueTypes = map[string]bool{
	"flattened": true, "geo_point": true, "geo_shape": true, "point": true, "shape": true,
	"binary": true, "alias": true, "completion": true, "search_as_you_type": true,
	"token_count": true, "dense_vector": true, "sparse_vector": true, "rank_feature": true,
	"rank_features": true, "histogram": true, "version": true, "percolator": true, "join": true,
	"semantic_text": true, "aggregate_metric_double": true, "integer_range": true,
	"float_range": true, "long_range": true, "double_range": true, "date_range": true,
	"ip_range": true, "murmur3": true, "annotated_text": true, "counted_keyword": true,
	"passthrough": true,
}

// rootKeys are the keys a root mapping may hold.
var rootKeys = map[string]bool{
	"properties": true, "dynamic": true, "date_detection": true, "numeric_detection": true,
	"dynamic_date_formats": true, "dynamic_templates": true, "_source": true, "_meta": true,
	"_routing": true, "runtime": true, "enabled": true, "subobjects": true,
	"_data_stream_timestamp": true, "_field_names": true, "_size": true,
}

func mapperParsing(format string, args ...any) *esError {
	return newError(http.StatusBadRequest, "mapper_parsing_exception", format, args...)
}

// wrapMappingError gives a mapping problem the outer message ES uses when
// it rejects a mapping as a whole.
func wrapMappingError(e *esError) *esError {
	out := mapperParsing("Failed to parse mapping: %s", e.reason)
	out.causedBy = e
	return out
}

// parseMapping builds a mapping from a "mappings" object (nil for none).
func parseMapping(raw map[string]any) (*mapping, *esError) {
	m := &mapping{
		root:             &field{typ: "object", enabled: true, props: map[string]*field{}, dynamic: "true"},
		dateDetection:    true,
		dynamicDateSpecs: []string{"strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"},
		rootParams:       map[string]any{},
	}
	var unsupported []string
	for k, v := range raw {
		if !rootKeys[k] {
			unsupported = append(unsupported, fmt.Sprintf("[%s : %s]", k, javaString(v)))
		}
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		return nil, wrapMappingError(mapperParsing("Root mapping definition has unsupported parameters:  %s", strings.Join(unsupported, " ")))
	}
	for k, v := range raw {
		switch k {
		case "properties":
		case "dynamic":
			d, err := parseDynamic(v)
			if err != nil {
				return nil, wrapMappingError(err)
			}
			m.root.dynamic = d
		case "date_detection", "numeric_detection":
			b, ok := boolParam(v)
			if !ok {
				return nil, wrapMappingError(mapperParsing("Failed to parse value [%v] as only [true] or [false] are allowed.", v))
			}
			if k == "date_detection" {
				m.dateDetection = b
			} else {
				m.numericDetection = b
			}
		case "dynamic_date_formats":
			specs, ok := stringList(v)
			if !ok {
				return nil, wrapMappingError(mapperParsing("Invalid format: [%v]", v))
			}
			m.dynamicDateSpecs = specs
		case "dynamic_templates":
			dts, err := parseDynamicTemplates(v)
			if err != nil {
				return nil, wrapMappingError(err)
			}
			m.dynamicTemplates = dts
		case "enabled":
			b, ok := boolParam(v)
			if !ok {
				return nil, wrapMappingError(mapperParsing("Failed to parse value [%v] as only [true] or [false] are allowed.", v))
			}
			m.root.enabled = b
			m.rootParams[k] = v
		default:
			m.rootParams[k] = v
		}
	}
	for _, spec := range m.dynamicDateSpecs {
		m.dynamicDateFormats = append(m.dynamicDateFormats, parseDateFormat(spec))
	}
	if props, ok := raw["properties"]; ok {
		if err := parseProperties(m.root, props); err != nil {
			return nil, wrapMappingError(err)
		}
	}
	return m, nil
}

func parseDynamic(v any) (string, *esError) {
	switch d := v.(type) {
	case bool:
		return strconv.FormatBool(d), nil
	case string:
		switch d {
		case "true", "false", "strict", "runtime":
			return d, nil
		}
	}
	return "", mapperParsing("Could not convert [dynamic] to one of [true, false, strict, runtime]: [%v]", v)
}

// parseProperties adds the children described by props to parent. Dotted
// names ("a.b") become object chains, as ES expands them.
func parseProperties(parent *field, props any) *esError {
	pm, ok := props.(map[string]any)
	if !ok {
		return mapperParsing("Expected map for property [properties] on field [%s] but got a %s", displayPath(parent), javaClass(props))
	}
	for name, def := range pm {
		if name == "" {
			return mapperParsing("field name cannot be an empty string")
		}
		parts := strings.Split(name, ".")
		target := parent
		for _, p := range parts[:len(parts)-1] {
			if p == "" {
				return mapperParsing("field name cannot contain only dots: [%s]", name)
			}
			child := target.props[p]
			if child == nil {
				child = &field{name: p, path: joinPath(target.path, p), typ: "object", enabled: true, props: map[string]*field{}}
				target.props[p] = child
			}
			if !child.isObject() {
				return mapperParsing("can't merge a non object mapping [%s] with an object mapping", child.path)
			}
			target = child
		}
		leaf := parts[len(parts)-1]
		dm, ok := def.(map[string]any)
		if !ok {
			return mapperParsing("Expected map for property [fields] on field [%s] but got a %s", leaf, javaClass(def))
		}
		f, err := parseField(target, leaf, dm)
		if err != nil {
			return err
		}
		if old := target.props[leaf]; old != nil && old.isObject() && f.isObject() {
			for k, v := range f.props {
				old.props[k] = v
			}
			continue
		}
		target.props[leaf] = f
	}
	return nil
}

func parseField(parent *field, name string, def map[string]any) (*field, *esError) {
	f := &field{name: name, path: joinPath(parent.path, name), enabled: true, params: map[string]any{}}
	typ, _ := def["type"].(string)
	if t, ok := def["type"]; ok && typ == "" {
		return nil, mapperParsing("No handler for type [%v] declared on field [%s]", t, name)
	}
	if typ == "" {
		typ = "object"
	}
	f.typ = typ
	switch {
	case f.isObject():
		f.props = map[string]*field{}
		for k, v := range def {
			switch k {
			case "type":
			case "properties":
				if err := parseProperties(f, v); err != nil {
					return nil, err
				}
			case "dynamic":
				d, err := parseDynamic(v)
				if err != nil {
					return nil, err
				}
				f.dynamic = d
				f.params[k] = v
			case "enabled":
				b, ok := boolParam(v)
				if !ok {
					return nil, mapperParsing("Failed to parse value [%v] as only [true] or [false] are allowed.", v)
				}
				f.enabled = b
				f.params[k] = v
			case "subobjects", "include_in_parent", "include_in_root", "store_array_source", "synthetic_source_keep":
				f.params[k] = v
			default:
				return nil, mapperParsing("Mapping definition for [%s] has unsupported parameters:  [%s : %s]", name, k, javaString(v))
			}
		}
		return f, nil
	case opaqueTypes[typ]:
		for k, v := range def {
			if k != "type" {
				f.params[k] = v
			}
		}
		return f, nil
	}
	allowed, known := fieldTypes[typ]
	if !known {
		return nil, mapperParsing("No handler for type [%s] declared on field [%s]", typ, name)
	}
	for k, v := range def {
		if !contains(allowed, k) && !contains(commonParams, k) {
			return nil, mapperParsing("unknown parameter [%s] on mapper [%s] of type [%s]", k, name, typ)
		}
		switch k {
		case "type":
			continue
		case "fields":
			fm, ok := v.(map[string]any)
			if !ok {
				return nil, mapperParsing("Expected map for property [fields] on field [%s] but got a %s", name, javaClass(v))
			}
			f.fields = map[string]*field{}
			for sub, sdef := range fm {
				sm, ok := sdef.(map[string]any)
				if !ok {
					return nil, mapperParsing("Expected map for property [fields] on field [%s] but got a %s", sub, javaClass(sdef))
				}
				sf, err := parseField(f, sub, sm)
				if err != nil {
					return nil, err
				}
				if sf.isObject() {
					return nil, mapperParsing("Type [%s] cannot be used in multi field", sf.typ)
				}
				f.fields[sub] = sf
			}
			continue
		case "format":
			spec, ok := v.(string)
			if !ok || spec == "" {
				return nil, mapperParsing("Invalid format: [%v]: must not be empty", v)
			}
			f.format = parseDateFormat(spec)
		case "coerce", "ignore_malformed":
			b, ok := boolParam(v)
			if !ok {
				return nil, mapperParsing("Failed to parse value [%v] as only [true] or [false] are allowed.", v)
			}
			if k == "coerce" {
				f.coerce = &b
			} else {
				f.ignoreMalformed = &b
			}
		}
		f.params[k] = v
	}
	if (typ == "date" || typ == "date_nanos") && f.format == nil {
		f.format = parseDateFormat(defaultDateFormat)
	}
	if typ == "scaled_float" {
		if _, ok := def["scaling_factor"]; !ok {
			return nil, mapperParsing("Field [scaling_factor] is required")
		}
	}
	return f, nil
}

// render shows the mapping as GET _mapping does.
func (m *mapping) render() obj {
	o := obj{}
	if m.root.dynamic != "true" {
		o = append(o, kv{"dynamic", m.root.dynamic})
	}
	if !m.dateDetection {
		o = append(o, kv{"date_detection", false})
	}
	if m.numericDetection {
		o = append(o, kv{"numeric_detection", true})
	}
	if len(m.dynamicTemplates) > 0 {
		var dts []any
		for _, dt := range m.dynamicTemplates {
			dts = append(dts, map[string]any{dt.name: dt.raw})
		}
		o = append(o, kv{"dynamic_templates", dts})
	}
	o = append(o, sortedObj(m.rootParams)...)
	if len(m.root.props) > 0 {
		o = append(o, kv{"properties", renderProps(m.root.props)})
	}
	return o
}

func renderProps(props map[string]*field) obj {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	o := make(obj, 0, len(names))
	for _, n := range names {
		o = append(o, kv{n, props[n].render()})
	}
	return o
}

func (f *field) render() obj {
	o := obj{}
	if f.typ != "object" {
		o = append(o, kv{"type", f.typ})
	}
	o = append(o, sortedObj(f.params)...)
	if len(f.fields) > 0 {
		o = append(o, kv{"fields", renderProps(f.fields)})
	}
	if f.isObject() && len(f.props) > 0 {
		o = append(o, kv{"properties", renderProps(f.props)})
	}
	return o
}

// countFields counts mappers as index.mapping.total_fields.limit does:
// objects, leaves and multi-fields, the root excluded.
func countFields(f *field) int {
	n := 0
	for _, c := range f.props {
		n += 1 + len(c.fields) + countFields(c)
	}
	return n
}

// lookup resolves a dotted field path for queries and sorts; a path may end
// in a multi-field ("name.keyword"), in which case source is the path whose
// value the multi-field indexes.
func (m *mapping) lookup(path string) (f *field, source string) {
	cur := m.root
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if cur.isObject() {
			next := cur.props[p]
			if next == nil {
				return nil, ""
			}
			cur = next
			continue
		}
		sub := cur.fields[p]
		if sub == nil || i != len(parts)-1 {
			return nil, ""
		}
		return sub, strings.Join(parts[:i], ".")
	}
	return cur, path
}

// dynamicTemplate is one entry of dynamic_templates.
type dynamicTemplate struct {
	name                   string
	raw                    map[string]any
	matchType              []string
	match, unmatch         []string
	pathMatch, pathUnmatch []string
	regex                  bool
	mapping                map[string]any
	runtime                bool
}

func parseDynamicTemplates(v any) ([]dynamicTemplate, *esError) {
	list, ok := v.([]any)
	if !ok {
		return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
	}
	var out []dynamicTemplate
	for _, item := range list {
		named, ok := item.(map[string]any)
		if !ok || len(named) != 1 {
			return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
		}
		for name, body := range named {
			bm, ok := body.(map[string]any)
			if !ok {
				return nil, mapperParsing("Dynamic template syntax error. An array of named objects is expected.")
			}
			dt := dynamicTemplate{name: name, raw: bm}
			for k, val := range bm {
				list, _ := stringList(val)
				switch k {
				case "match_mapping_type":
					dt.matchType = list
				case "match":
					dt.match = list
				case "unmatch":
					dt.unmatch = list
				case "path_match":
					dt.pathMatch = list
				case "path_unmatch":
					dt.pathUnmatch = list
				case "match_pattern":
					dt.regex = val == "regex"
				case "mapping":
					dt.mapping, _ = val.(map[string]any)
				case "runtime":
					dt.runtime = true
				default:
					return nil, mapperParsing("Illegal dynamic template parameter: [%s]", k)
				}
			}
			if dt.mapping == nil && !dt.runtime {
				return nil, mapperParsing("template [%s] must have either mapping or runtime set", name)
			}
			out = append(out, dt)
		}
	}
	return out, nil
}

// matches reports whether the template applies to a new field.
func (dt *dynamicTemplate) matches(name, path, jsonType string) bool {
	if len(dt.matchType) > 0 && !contains(dt.matchType, "*") && !contains(dt.matchType, jsonType) {
		return false
	}
	if len(dt.match) > 0 && !dt.anyMatch(dt.match, name) {
		return false
	}
	if dt.anyMatch(dt.unmatch, name) {
		return false
	}
	if len(dt.pathMatch) > 0 && !dt.anyMatch(dt.pathMatch, path) {
		return false
	}
	return !dt.anyMatch(dt.pathUnmatch, path)
}

func (dt *dynamicTemplate) anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if dt.regex {
			if re, err := regexp.Compile("^(?:" + p + ")$"); err == nil && re.MatchString(s) {
				return true
			}
		} else if globMatch(p, s) {
			return true
		}
	}
	return false
}

// fieldFromTemplate builds the field a matching template asks for.
func (dt *dynamicTemplate) fieldFromTemplate(parent *field, name, dynType string) (*field, *esError) {
	def := substitute(dt.mapping, name, dynType).(map[string]any)
	if _, ok := def["type"]; !ok && dynType != "object" {
		def["type"] = dynType
	}
	return parseField(parent, name, def)
}

func substitute(v any, name, dynType string) any {
	switch t := v.(type) {
	case string:
		return strings.ReplaceAll(strings.ReplaceAll(t, "{name}", name), "{dynamic_type}", dynType)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[substitute(k, name, dynType).(string)] = substitute(val, name, dynType)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = substitute(val, name, dynType)
		}
		return out
	}
	return v
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// displayPath names an object in messages; the root is "_doc".
func displayPath(f *field) string {
	if f.path == "" {
		return "_doc"
	}
	return f.path
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func boolParam(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch b {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func stringList(v any) ([]string, bool) {
	switch t := v.(type) {
	case string:
		return []string{t}, true
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// javaString renders a decoded value as Java's toString would, for
// messages that quote mapping fragments.
func javaString(v any) string {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + javaString(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = javaString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "null"
	case json.Number:
		return t.String()
	}
	return fmt.Sprint(v)
}

func javaClass(v any) string {
	switch v.(type) {
	case string:
		return "class java.lang.String"
	case bool:
		return "class java.lang.Boolean"
	case json.Number, float64:
		return "class java.lang.Integer"
	case []any:
		return "class java.util.ArrayList"
	}
	return "class java.lang.Object"
}

// globMatch matches s against an index or field pattern where '*' stands
// for any run of characters.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
