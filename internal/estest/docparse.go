package estest

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// metadataFields may not appear at the top level of a document.
var metadataFields = map[string]bool{
	"_id": true, "_index": true, "_source": true, "_routing": true, "_ignored": true,
	"_seq_no": true, "_version": true, "_primary_term": true, "_field_names": true,
	"_doc_count": true, "_tier": true, "_data_stream_timestamp": true, "_nested_path": true,
	"_feature": true, "_ignored_source": true,
}

// docParser checks one document against an index's mapping the way ES's
// DocumentParser does, collecting the fields dynamic mapping would add.
type docParser struct {
	m    *mapping
	set  *indexSettings
	id   string
	data []byte
	// pending holds dynamic fields for objects that already exist in the
	// mapping; they join the mapping only if the whole document is accepted.
	pending map[*field]map[string]*field
	added   int
}

func docParsingError(data []byte, off int, format string, args ...any) *esError {
	reason := fmt.Sprintf(format, args...)
	if off >= 0 {
		reason = location(data, off) + " " + reason
	}
	return newError(http.StatusBadRequest, "document_parsing_exception", "%s", reason)
}

// parseDocument checks source and returns the parsed document, or the
// error ES would answer with.
func parseDocument(m *mapping, set *indexSettings, id string, source []byte) (*jnode, *docParser, *esError) {
	p := &docParser{m: m, set: set, id: id, data: source, pending: map[*field]map[string]*field{}}
	if len(source) == 0 {
		return nil, nil, docParsingError(source, -1, "[0:0] failed to parse, document is empty")
	}
	root, err := parseTree(source)
	if err != nil {
		se := err.(*syntaxError)
		return nil, nil, docParsingError(source, se.off, "failed to parse: %s", se.msg)
	}
	if root.kind != jObject {
		return nil, nil, docParsingError(source, -1, "Malformed content, must start with an object")
	}
	if !m.root.enabled {
		return root, p, nil
	}
	for i, k := range root.keys {
		if metadataFields[k] {
			return nil, nil, docParsingError(source, root.keyOffs[i], "Field [%s] is a metadata field and cannot be added inside a document. Use the index API request parameters.", k)
		}
	}
	if e := p.object(root, m.root, m.root.dynamic); e != nil {
		return nil, nil, e
	}
	if p.added > 0 {
		limit := set.totalFieldsLimit
		if total := countFields(m.root) + p.added; total > limit {
			return nil, nil, illegalArgument("Limit of total fields [%d] has been exceeded while adding new fields [%d]", limit, p.added)
		}
	}
	return root, p, nil
}

// commit adds the document's dynamic fields to the mapping.
func (p *docParser) commit() {
	for parent, fields := range p.pending {
		for name, f := range fields {
			parent.props[name] = f
		}
	}
	for _, fields := range p.pending {
		for _, f := range fields {
			settle(f)
		}
	}
}

func settle(f *field) {
	f.fresh = false
	for _, c := range f.props {
		settle(c)
	}
}

func (p *docParser) child(parent *field, name string) *field {
	if f := parent.props[name]; f != nil {
		return f
	}
	return p.pending[parent][name]
}

func (p *docParser) add(parent *field, f *field) {
	f.fresh = true
	p.added += 1 + len(f.fields)
	if parent.fresh {
		parent.props[f.name] = f
		return
	}
	if p.pending[parent] == nil {
		p.pending[parent] = map[string]*field{}
	}
	p.pending[parent][f.name] = f
}

func effectiveDynamic(f *field, inherited string) string {
	if f.dynamic != "" {
		return f.dynamic
	}
	return inherited
}

// object checks the members of an object node against obj's properties.
func (p *docParser) object(n *jnode, obj *field, dyn string) *esError {
	for i, key := range n.keys {
		if key == "" {
			return docParsingError(p.data, n.keyOffs[i], "failed to parse: Field name cannot be an empty string")
		}
		if strings.TrimSpace(key) == "" {
			return docParsingError(p.data, n.keyOffs[i], "Field name cannot contain only whitespace: [%s]", joinPath(obj.path, key))
		}
		parts := strings.Split(key, ".")
		for _, part := range parts {
			if part == "" {
				return docParsingError(p.data, n.keyOffs[i], "failed to parse: object field starting or ending with a [.] makes object resolution ambiguous: [%s]", key)
			}
		}
		parent, pdyn := obj, dyn
		for _, part := range parts[:len(parts)-1] {
			next, e := p.objectChild(parent, part, pdyn, n.vals[i])
			if e != nil {
				return e
			}
			if next == nil {
				// dynamic false or runtime: the whole value is left unmapped.
				parent = nil
				break
			}
			if !next.isObject() {
				return docParsingError(p.data, n.vals[i].off, "Could not dynamically add mapping for field [%s]. Existing mapping for [%s] must be of type object but found [%s].", joinPath(obj.path, key), next.path, next.typ)
			}
			parent, pdyn = next, effectiveDynamic(next, pdyn)
		}
		if parent == nil {
			continue
		}
		if e := p.member(parent, parts[len(parts)-1], n.vals[i], pdyn); e != nil {
			return e
		}
	}
	return nil
}

// objectChild finds or dynamically creates the object a dotted key walks
// through; nil means the key falls under dynamic false or runtime.
func (p *docParser) objectChild(parent *field, name, dyn string, v *jnode) (*field, *esError) {
	if f := p.child(parent, name); f != nil {
		return f, nil
	}
	switch dyn {
	case "strict":
		return nil, p.strictError(parent, name, v)
	case "false", "runtime":
		return nil, nil
	}
	f := &field{name: name, path: joinPath(parent.path, name), typ: "object", enabled: true, props: map[string]*field{}}
	p.add(parent, f)
	return f, nil
}

func (p *docParser) strictError(parent *field, name string, v *jnode) *esError {
	return &esError{
		status: http.StatusBadRequest,
		typ:    "strict_dynamic_mapping_exception",
		reason: fmt.Sprintf("%s mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", location(p.data, v.off), name, displayPath(parent)),
	}
}

// member checks one name/value pair inside parent.
func (p *docParser) member(parent *field, name string, v *jnode, dyn string) *esError {
	f := p.child(parent, name)
	if f == nil {
		if v.kind == jNull {
			if dyn == "strict" {
				return p.strictError(parent, name, v)
			}
			return nil
		}
		switch dyn {
		case "strict":
			return p.strictError(parent, name, v)
		case "false", "runtime":
			return nil
		}
		nf, e := p.dynamicField(parent, name, v)
		if e != nil || nf == nil {
			return e
		}
		p.add(parent, nf)
		f = nf
	}
	return p.value(parent, f, name, v, dyn)
}

// value checks v against f; arrays are checked element by element.
func (p *docParser) value(parent, f *field, name string, v *jnode, dyn string) *esError {
	if v.kind == jArray {
		for _, e := range v.elems {
			if err := p.value(parent, f, name, e, dyn); err != nil {
				return err
			}
		}
		return nil
	}
	if f.isObject() {
		if !f.enabled || v.kind == jNull {
			return nil
		}
		if v.kind != jObject {
			return docParsingError(p.data, v.off, "object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", f.path, name)
		}
		return p.object(v, f, effectiveDynamic(f, dyn))
	}
	if v.kind == jNull || opaqueTypes[f.typ] {
		return nil
	}
	cause := p.leafProblem(f, v)
	if cause == nil || p.ignoreMalformed(f) {
		return nil
	}
	off := v.off
	if v.kind == jObject {
		// ES reads the object to build the preview, so it reports the
		// position of its closing brace.
		off = v.end
	}
	e := docParsingError(p.data, off, "failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", f.path, f.typ, p.id, preview(v))
	e.causedBy = cause
	return e
}

func (p *docParser) ignoreMalformed(f *field) bool {
	if f.ignoreMalformed != nil {
		return *f.ignoreMalformed
	}
	return p.set.ignoreMalformed
}

func (p *docParser) coerce(f *field) bool {
	if f.coerce != nil {
		return *f.coerce
	}
	return p.set.coerce
}

// leafProblem returns why v is not a valid value for leaf f, or nil.
func (p *docParser) leafProblem(f *field, v *jnode) *esError {
	if v.kind == jObject {
		return newError(http.StatusBadRequest, "illegal_state_exception", "Can't get text on a START_OBJECT at %s", strings.Trim(location(p.data, v.off), "[]"))
	}
	switch f.typ {
	case "keyword", "constant_keyword", "wildcard", "text", "match_only_text":
		return nil
	case "long", "integer", "short", "byte", "unsigned_long":
		return integerProblem(f.typ, v, p.coerce(f))
	case "double", "float", "half_float", "scaled_float":
		return floatProblem(f.typ, v, p.coerce(f))
	case "boolean":
		if v.kind == jBool || (v.kind == jString && (v.str == "true" || v.str == "false" || v.str == "")) {
			return nil
		}
		return illegalArgument("Failed to parse value [%s] as only [true] or [false] are allowed.", v.text())
	case "date", "date_nanos":
		if v.kind == jNumber && f.format.epoch {
			return nil
		}
		if _, ok := f.format.parse(v.text(), nil); !ok || v.kind == jBool {
			e := illegalArgument("failed to parse date field [%s] with format [%s]", v.text(), f.format.spec)
			e.causedBy = newError(http.StatusBadRequest, "date_time_parse_exception", "Failed to parse with all enclosed parsers")
			return e
		}
		return nil
	case "ip":
		if net.ParseIP(v.text()) == nil {
			return illegalArgument("'%s' is not an IP string literal.", v.text())
		}
		return nil
	}
	return nil
}

var integerRanges = map[string][2]*big.Int{
	"long":          {big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)},
	"integer":       {big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)},
	"short":         {big.NewInt(math.MinInt16), big.NewInt(math.MaxInt16)},
	"byte":          {big.NewInt(math.MinInt8), big.NewInt(math.MaxInt8)},
	"unsigned_long": {big.NewInt(0), new(big.Int).SetUint64(math.MaxUint64)},
}

var typeArticles = map[string]string{"long": "a long", "integer": "an integer", "short": "a short", "byte": "a byte", "unsigned_long": "an unsigned long"}

var javaClasses = map[string]string{"long": "Long", "integer": "Integer", "short": "Short", "byte": "Byte", "unsigned_long": "Long", "double": "Double", "float": "Float", "half_float": "Float", "scaled_float": "Double"}

// integerProblem applies ES's rules for whole-number fields: numeric
// strings are read when coerce is on, decimals are truncated when coerce is
// on, and the value must fit the type.
func integerProblem(typ string, v *jnode, coerce bool) *esError {
	switch v.kind {
	case jBool:
		return illegalArgument("Current token (%s) not numeric, can not use numeric value accessors", v.kind.tokenName(v))
	case jString:
		if !coerce {
			return illegalArgument("%s value passed as String", javaClasses[typ])
		}
		if v.str == "" {
			return nil
		}
	}
	text := strings.TrimSpace(v.str)
	n, ok := new(big.Int).SetString(text, 10)
	if !ok {
		r, ok := new(big.Float).SetString(text)
		if !ok || r.IsInf() {
			return illegalArgument("For input string: \"%s\"", v.str)
		}
		if !coerce && !r.IsInt() {
			return illegalArgument("Value [%s] has a decimal part", v.str)
		}
		n, _ = r.Int(nil)
	}
	rng := integerRanges[typ]
	if n.Cmp(rng[0]) < 0 || n.Cmp(rng[1]) > 0 {
		return illegalArgument("Value [%s] is out of range for %s", v.str, typeArticles[typ])
	}
	return nil
}

// floatProblem applies ES's rules for floating-point fields: numeric
// strings with coerce on, and only finite values.
func floatProblem(typ string, v *jnode, coerce bool) *esError {
	switch v.kind {
	case jBool:
		return illegalArgument("Current token (%s) not numeric, can not use numeric value accessors", v.kind.tokenName(v))
	case jString:
		if !coerce {
			return illegalArgument("%s value passed as String", javaClasses[typ])
		}
		if v.str == "" {
			return nil
		}
	}
	text := strings.TrimSpace(v.str)
	bits := 64
	if typ == "float" || typ == "half_float" {
		bits = 32
	}
	f, err := strconv.ParseFloat(text, bits)
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrSyntax || !javaNumber(text) {
		// Java's Double.parseDouble throws NumberFormatException, which ES passes on as it is
		// (the integer types parse with ES's own code and throw illegal_argument_exception).
		return newError(http.StatusBadRequest, "number_format_exception", "For input string: \"%s\"", v.str)
	}
	if typ == "half_float" && math.Abs(f) > 65504 {
		f = math.Inf(1)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return illegalArgument("[%s] supports only finite values, but got [%s]", typ, javaFloat(f))
	}
	return nil
}

// javaNumber reports whether Java's Double.parseDouble would read s: Go
// also reads "inf", "0x1p3" and "1_000", Java reads "NaN" and "Infinity".
func javaNumber(s string) bool {
	switch strings.TrimLeft(s, "+-") {
	case "NaN", "Infinity":
		return true
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789+-.eE", c) {
			return false
		}
	}
	return s != ""
}

func javaFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// dynamicField decides the mapping ES would add for a new field, from the
// dynamic templates or from the JSON type of the value; nil for values that
// add nothing (null, empty arrays).
func (p *docParser) dynamicField(parent *field, name string, v *jnode) (*field, *esError) {
	for v.kind == jArray {
		var first *jnode
		for _, e := range v.elems {
			if e.kind != jNull {
				first = e
				break
			}
		}
		if first == nil {
			return nil, nil
		}
		v = first
	}
	jsonType, dynType := "", ""
	var dateSpec string
	switch v.kind {
	case jNull:
		return nil, nil
	case jObject:
		jsonType, dynType = "object", "object"
	case jBool:
		jsonType, dynType = "boolean", "boolean"
	case jNumber:
		if strings.ContainsAny(v.str, ".eE") {
			jsonType, dynType = "double", "float"
		} else {
			jsonType, dynType = "long", "long"
		}
	case jString:
		jsonType, dynType = "string", "text"
		if p.m.dateDetection {
			for i, df := range p.m.dynamicDateFormats {
				if _, ok := df.parse(v.str, nil); ok {
					jsonType, dynType, dateSpec = "date", "date", p.m.dynamicDateSpecs[i]
					break
				}
			}
		}
		if dynType == "text" && p.m.numericDetection {
			if _, err := strconv.ParseInt(v.str, 10, 64); err == nil {
				jsonType, dynType = "long", "long"
			} else if _, err := strconv.ParseFloat(v.str, 64); err == nil && javaNumber(v.str) {
				jsonType, dynType = "double", "float"
			}
		}
	}
	path := joinPath(parent.path, name)
	for i := range p.m.dynamicTemplates {
		dt := &p.m.dynamicTemplates[i]
		if !dt.matches(name, path, jsonType) {
			continue
		}
		if dt.runtime {
			return nil, nil
		}
		f, e := dt.fieldFromTemplate(parent, name, dynType)
		if e != nil {
			return nil, e
		}
		return f, nil
	}
	f := &field{name: name, path: path, typ: dynType, enabled: true, params: map[string]any{}}
	switch dynType {
	case "object":
		f.props = map[string]*field{}
	case "text":
		f.fields = map[string]*field{"keyword": {
			name: "keyword", path: path + ".keyword", typ: "keyword", enabled: true,
			params: map[string]any{"ignore_above": 256},
		}}
	case "date":
		if dateSpec != "strict_date_optional_time" {
			f.params["format"] = dateSpec
			f.format = parseDateFormat(dateSpec)
		} else {
			f.format = parseDateFormat(defaultDateFormat)
		}
	}
	return f, nil
}
