package estest

import (
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// queryNode is a parsed query clause; bind prepares it for one index,
// where field types are known, and may fail as ES's shard-level query
// building does.
type queryNode interface {
	bind(b *binder) (matcher, *esError)
}

// matcher decides whether a document matches.
type matcher func(d *storedDoc) bool

// binder carries what binding needs: the index and the clock for "now".
type binder struct {
	idx *index
	now time.Time
}

// knownQueries are real ES query types this server does not evaluate;
// they get an explicit estest error rather than "unknown query".
var knownQueries = map[string]bool{
	"match_phrase": true, "match_phrase_prefix": true, "multi_match": true, "query_string": true,
	"simple_query_string": true, "regexp": true, "fuzzy": true, "nested": true, "has_child": true,
	"has_parent": true, "parent_id": true, "geo_bounding_box": true, "geo_distance": true,
	"geo_polygon": true, "geo_shape": true, "shape": true, "script": true, "script_score": true,
	"function_score": true, "dis_max": true, "boosting": true, "more_like_this": true,
	"terms_set": true, "intervals": true, "combined_fields": true, "span_term": true,
	"span_near": true, "span_or": true, "span_not": true, "span_first": true,
	"span_containing": true, "span_within": true, "span_multi": true, "field_masking_span": true,
	"knn": true, "semantic": true, "sparse_vector": true, "text_expansion": true, "pinned": true,
	"rank_feature": true, "distance_feature": true, "percolate": true, "wrapper": true,
	"match_bool_prefix": true, "rule": true, "weighted_tokens": true, "match_none": true,
}

// qp parses query JSON; data is the request body, for error locations.
type qp struct{ data []byte }

func (p *qp) parsing(n *jnode, format string, args ...any) *esError {
	e := parseError(format, args...)
	loc := strings.Trim(location(p.data, n.off), "[]")
	line, col, _ := strings.Cut(loc, ":")
	l, _ := strconv.Atoi(line)
	c, _ := strconv.Atoi(col)
	e.extra = obj{{"line", l}, {"col", c}}
	return e
}

func (p *qp) parse(n *jnode) (queryNode, *esError) {
	if n.kind != jObject {
		return nil, p.parsing(n, "[_na] query malformed, must start with start_object")
	}
	if len(n.keys) == 0 {
		return matchAll{}, nil
	}
	if len(n.keys) > 1 {
		return nil, p.parsing(n.vals[1], "[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", n.keys[0])
	}
	typ, body := n.keys[0], n.vals[0]
	switch typ {
	case "match_all":
		if body.kind != jObject {
			return nil, p.parsing(body, "[%s] query malformed, no start_object after query name", typ)
		}
		return matchAll{}, nil
	case "term", "prefix", "wildcard":
		field, v, opts, e := p.singleField(typ, body, "value")
		if e != nil {
			return nil, e
		}
		ci := opts["case_insensitive"] != nil && opts["case_insensitive"].b
		switch typ {
		case "term":
			return termQuery{field: field, values: []*jnode{v}, ci: ci}, nil
		case "prefix":
			return patternQuery{field: field, pattern: regexp.QuoteMeta(v.text()) + ".*", ci: ci}, nil
		default:
			return patternQuery{field: field, pattern: wildcardRegexp(v.text()), ci: ci}, nil
		}
	case "terms":
		if body.kind != jObject {
			return nil, p.parsing(body, "[terms] query malformed, no start_object after query name")
		}
		var q *termQuery
		for i, k := range body.keys {
			v := body.vals[i]
			switch k {
			case "boost", "_name":
				continue
			}
			if q != nil {
				return nil, p.parsing(v, "[terms] query does not support multiple fields")
			}
			if v.kind != jArray {
				return nil, p.parsing(v, "[terms] query does not support [%s]", k)
			}
			q = &termQuery{field: k, values: v.elems}
		}
		if q == nil {
			return nil, p.parsing(body, "[terms] query requires a field")
		}
		return *q, nil
	case "range":
		return p.rangeQuery(body)
	case "exists":
		f := body.field("field")
		if body.kind != jObject || f == nil || f.kind != jString {
			return nil, p.parsing(body, "[exists] must be provided with a [field]")
		}
		return existsQuery{field: f.str}, nil
	case "ids":
		v := body.field("values")
		if body.kind != jObject || v == nil || v.kind != jArray {
			return nil, p.parsing(body, "[ids] query malformed, no values")
		}
		q := idsQuery{ids: map[string]bool{}}
		for _, e := range v.elems {
			q.ids[e.text()] = true
		}
		return q, nil
	case "match":
		field, v, opts, e := p.singleField(typ, body, "query")
		if e != nil {
			return nil, e
		}
		and := opts["operator"] != nil && strings.EqualFold(opts["operator"].text(), "and")
		return matchQuery{field: field, value: v, and: and}, nil
	case "bool":
		return p.boolQuery(body)
	case "constant_score":
		f := body.field("filter")
		if body.kind != jObject || f == nil {
			return nil, p.parsing(body, "[constant_score] requires a 'filter' element")
		}
		inner, e := p.parse(f)
		if e != nil {
			return nil, e
		}
		return boolQuery{filter: []queryNode{inner}}, nil
	}
	if knownQueries[typ] {
		return nil, newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model the [%s] query", typ)
	}
	return nil, p.parsing(n, "unknown query [%s]", typ)
}

// singleField reads the {"field": value} or {"field": {"<key>": value,
// ...options}} form shared by term, prefix, wildcard and match.
func (p *qp) singleField(typ string, body *jnode, key string) (string, *jnode, map[string]*jnode, *esError) {
	if body.kind != jObject {
		return "", nil, nil, p.parsing(body, "[%s] query malformed, no start_object after query name", typ)
	}
	var field string
	var value *jnode
	opts := map[string]*jnode{}
	for i, k := range body.keys {
		v := body.vals[i]
		if field != "" {
			return "", nil, nil, p.parsing(v, "[%s] query doesn't support multiple fields, found [%s] and [%s]", typ, field, k)
		}
		field = k
		if v.kind != jObject {
			value = v
			continue
		}
		for j, ok := range v.keys {
			switch ok {
			case key:
				value = v.vals[j]
			case "boost", "_name", "case_insensitive", "operator", "rewrite", "analyzer", "lenient",
				"fuzziness", "minimum_should_match", "zero_terms_query", "auto_generate_synonyms_phrase_query":
				opts[ok] = v.vals[j]
			default:
				return "", nil, nil, p.parsing(v.vals[j], "[%s] query does not support [%s]", typ, ok)
			}
		}
	}
	if field == "" || value == nil {
		return "", nil, nil, p.parsing(body, "[%s] query malformed, no field or value", typ)
	}
	if value.kind == jObject || value.kind == jArray {
		return "", nil, nil, p.parsing(value, "[%s] query does not support array or object values", typ)
	}
	return field, value, opts, nil
}

func (p *qp) rangeQuery(body *jnode) (queryNode, *esError) {
	if body.kind != jObject || len(body.keys) != 1 || body.vals[0].kind != jObject {
		return nil, p.parsing(body, "[range] query malformed, no start_object after query name")
	}
	q := rangeQuery{field: body.keys[0], bounds: map[string]*jnode{}}
	includeLower, includeUpper := true, true
	spec := body.vals[0]
	for i, k := range spec.keys {
		v := spec.vals[i]
		switch k {
		case "gt", "gte", "lt", "lte":
			q.bounds[k] = v
		case "from", "to":
			q.bounds[k] = v
		case "include_lower":
			includeLower = v.kind == jBool && v.b
		case "include_upper":
			includeUpper = v.kind == jBool && v.b
		case "format":
			q.format = v.text()
		case "time_zone":
			return nil, newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model [time_zone] in a range query")
		case "boost", "_name", "relation":
		default:
			return nil, p.parsing(v, "[range] query does not support [%s]", k)
		}
	}
	if v, ok := q.bounds["from"]; ok {
		delete(q.bounds, "from")
		if v.kind != jNull {
			q.bounds[map[bool]string{true: "gte", false: "gt"}[includeLower]] = v
		}
	}
	if v, ok := q.bounds["to"]; ok {
		delete(q.bounds, "to")
		if v.kind != jNull {
			q.bounds[map[bool]string{true: "lte", false: "lt"}[includeUpper]] = v
		}
	}
	return q, nil
}

func (p *qp) boolQuery(body *jnode) (queryNode, *esError) {
	if body.kind != jObject {
		return nil, p.parsing(body, "[bool] query malformed, no start_object after query name")
	}
	var q boolQuery
	for i, k := range body.keys {
		v := body.vals[i]
		var dst *[]queryNode
		switch k {
		case "must":
			dst = &q.must
		case "filter":
			dst = &q.filter
		case "should":
			dst = &q.should
		case "must_not":
			dst = &q.mustNot
		case "minimum_should_match":
			n, err := strconv.Atoi(strings.TrimSpace(v.text()))
			if err != nil {
				return nil, newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest models only whole-number minimum_should_match, got [%s]", v.text())
			}
			q.msm = &n
			continue
		case "boost", "_name", "adjust_pure_negative":
			continue
		default:
			return nil, p.parsing(v, "[bool] query does not support [%s]", k)
		}
		clauses := []*jnode{v}
		if v.kind == jArray {
			clauses = v.elems
		}
		for _, c := range clauses {
			inner, e := p.parse(c)
			if e != nil {
				return nil, e
			}
			*dst = append(*dst, inner)
		}
	}
	return q, nil
}

type matchAll struct{}

func (matchAll) bind(*binder) (matcher, *esError) {
	return func(*storedDoc) bool { return true }, nil
}

type idsQuery struct{ ids map[string]bool }

func (q idsQuery) bind(*binder) (matcher, *esError) {
	return func(d *storedDoc) bool { return q.ids[d.id] }, nil
}

type boolQuery struct {
	must, filter, should, mustNot []queryNode
	msm                           *int
}

func (q boolQuery) bind(b *binder) (matcher, *esError) {
	bindAll := func(nodes []queryNode) ([]matcher, *esError) {
		var out []matcher
		for _, n := range nodes {
			m, e := n.bind(b)
			if e != nil {
				return nil, e
			}
			out = append(out, m)
		}
		return out, nil
	}
	must, e := bindAll(append(append([]queryNode(nil), q.must...), q.filter...))
	if e != nil {
		return nil, e
	}
	should, e := bindAll(q.should)
	if e != nil {
		return nil, e
	}
	mustNot, e := bindAll(q.mustNot)
	if e != nil {
		return nil, e
	}
	// Without must or filter clauses, at least one should clause must
	// match; with them, should clauses only score (which is not modelled).
	msm := 0
	if len(must) == 0 && len(should) > 0 {
		msm = 1
	}
	if q.msm != nil {
		msm = *q.msm
		if msm < 0 {
			msm += len(should)
		}
	}
	return func(d *storedDoc) bool {
		for _, m := range must {
			if !m(d) {
				return false
			}
		}
		for _, m := range mustNot {
			if m(d) {
				return false
			}
		}
		n := 0
		for _, m := range should {
			if m(d) {
				n++
			}
		}
		return n >= msm
	}, nil
}

type termQuery struct {
	field  string
	values []*jnode
	ci     bool
}

func (q termQuery) bind(b *binder) (matcher, *esError) {
	f, src := b.idx.mapping.lookup(q.field)
	if f == nil || f.isObject() {
		return func(*storedDoc) bool { return false }, nil
	}
	want := make([]any, 0, len(q.values))
	for _, v := range q.values {
		if v.kind == jNull {
			continue
		}
		if f.typ == "text" || f.typ == "match_only_text" {
			// term queries are not analyzed: they match one indexed token.
			want = append(want, v.text())
			continue
		}
		key, e := queryValue(b, f, v, nil, false)
		if e != nil {
			return nil, e
		}
		want = append(want, key)
	}
	return func(d *storedDoc) bool {
		for _, have := range docValues(f, d, src) {
			for _, w := range want {
				if equalValues(have, w, q.ci) {
					return true
				}
			}
		}
		return false
	}, nil
}

type patternQuery struct {
	field   string
	pattern string
	ci      bool
}

func (q patternQuery) bind(b *binder) (matcher, *esError) {
	f, src := b.idx.mapping.lookup(q.field)
	if f == nil || f.isObject() {
		return func(*storedDoc) bool { return false }, nil
	}
	expr := "^(?s:" + q.pattern + ")$"
	if q.ci {
		expr = "(?i)" + expr
	}
	re := regexp.MustCompile(expr)
	return func(d *storedDoc) bool {
		for _, have := range docValues(f, d, src) {
			if s, ok := have.(string); ok && re.MatchString(s) {
				return true
			}
		}
		return false
	}, nil
}

func wildcardRegexp(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

type matchQuery struct {
	field string
	value *jnode
	and   bool
}

func (q matchQuery) bind(b *binder) (matcher, *esError) {
	f, src := b.idx.mapping.lookup(q.field)
	if f == nil || f.isObject() {
		return func(*storedDoc) bool { return false }, nil
	}
	if f.typ != "text" && f.typ != "match_only_text" {
		return termQuery{field: q.field, values: []*jnode{q.value}}.bind(b)
	}
	want := tokens(q.value.text())
	return func(d *storedDoc) bool {
		have := map[string]bool{}
		for _, v := range docValues(f, d, src) {
			if s, ok := v.(string); ok {
				have[s] = true
			}
		}
		hits := 0
		for _, w := range want {
			if have[w] {
				hits++
			}
		}
		if q.and {
			return len(want) > 0 && hits == len(want)
		}
		return hits > 0
	}, nil
}

type existsQuery struct{ field string }

func (q existsQuery) bind(b *binder) (matcher, *esError) {
	f, src := b.idx.mapping.lookup(q.field)
	if f == nil {
		return func(*storedDoc) bool { return false }, nil
	}
	return func(d *storedDoc) bool {
		for _, v := range collect(d.parsed, strings.Split(src, ".")) {
			if v != nil {
				if m, ok := v.(map[string]any); ok && len(m) == 0 {
					continue
				}
				return true
			}
		}
		return false
	}, nil
}

type rangeQuery struct {
	field  string
	bounds map[string]*jnode
	format string
}

func (q rangeQuery) bind(b *binder) (matcher, *esError) {
	f, src := b.idx.mapping.lookup(q.field)
	if f == nil || f.isObject() {
		return func(*storedDoc) bool { return false }, nil
	}
	var fmtOverride *dateFormat
	if q.format != "" {
		fmtOverride = parseDateFormat(q.format)
	}
	type bound struct {
		op string
		v  any
	}
	var bounds []bound
	for op, n := range q.bounds {
		if n.kind == jNull {
			continue
		}
		v, e := queryValue(b, f, n, fmtOverride, op == "gt" || op == "lte")
		if e != nil {
			return nil, e
		}
		bounds = append(bounds, bound{op, v})
	}
	return func(d *storedDoc) bool {
		for _, have := range docValues(f, d, src) {
			ok := true
			for _, bd := range bounds {
				c, comparable := compareValues(have, bd.v)
				if !comparable {
					ok = false
					break
				}
				switch bd.op {
				case "gt":
					ok = c > 0
				case "gte":
					ok = c >= 0
				case "lt":
					ok = c < 0
				case "lte":
					ok = c <= 0
				}
				if !ok {
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

// num is a numeric field value: exact for whole numbers, float otherwise.
type num struct {
	i     int64
	f     float64
	isInt bool
}

// queryValue converts a value from a query into the comparable form of
// f's type, failing as ES does when it cannot (a word for a long field).
func queryValue(b *binder, f *field, v *jnode, format *dateFormat, roundUp bool) (any, *esError) {
	switch f.typ {
	case "date", "date_nanos":
		df := f.format
		if format != nil {
			df = format
		}
		ms, err := dateMath(v.text(), df, b.now, time.UTC, roundUp)
		if err != nil {
			return nil, shardFailure(b.idx, "parse_exception", err.Error())
		}
		return ms, nil
	case "long", "integer", "short", "byte", "unsigned_long", "double", "float", "half_float", "scaled_float":
		n, ok := toNum(f.typ, v.value())
		if !ok {
			return nil, shardFailure(b.idx, "number_format_exception", "For input string: \""+v.text()+"\"")
		}
		return n, nil
	case "boolean":
		switch v.text() {
		case "true":
			return true, nil
		case "false", "":
			return false, nil
		}
		return nil, shardFailure(b.idx, "illegal_argument_exception", "Can't parse boolean value ["+v.text()+"], expected [true] or [false]")
	case "ip":
		ip := net.ParseIP(v.text())
		if ip == nil {
			return nil, shardFailure(b.idx, "illegal_argument_exception", "'"+v.text()+"' is not an IP string literal.")
		}
		return ip.String(), nil
	}
	return v.text(), nil
}

// shardFailure is the error ES answers when a query cannot be built on a
// shard: a 400 search_phase_execution_exception whose root cause is a
// query_shard_exception.
func shardFailure(idx *index, causeType, causeReason string) *esError {
	shardErr := newError(http.StatusBadRequest, "query_shard_exception", "failed to create query: %s", causeReason)
	shardErr.extra = obj{{"index_uuid", idx.uuid}, {"index", idx.name}}
	shardErr.causedBy = newError(http.StatusBadRequest, causeType, "%s", causeReason)
	e := newError(http.StatusBadRequest, "search_phase_execution_exception", "all shards failed")
	e.extra = obj{{"phase", "query"}, {"grouped", true}, {"failed_shards", []any{obj{
		{"shard", 0}, {"index", idx.name}, {"node", "estest-node-1"}, {"reason", shardErr.body(true)},
	}}}}
	e.rootCause = shardErr
	return e
}

// docValues returns the values f indexes for d, in comparable form;
// values f would not index (malformed, over ignore_above) are left out.
func docValues(f *field, d *storedDoc, src string) []any {
	raw := collect(d.parsed, strings.Split(src, "."))
	out := make([]any, 0, len(raw))
	for _, v := range raw {
		switch f.typ {
		case "keyword", "constant_keyword", "wildcard":
			s, ok := scalarString(v)
			if !ok {
				continue
			}
			if limit, ok := f.params["ignore_above"]; ok {
				if n, err := strconv.Atoi(javaString(limit)); err == nil && len([]rune(s)) > n {
					continue
				}
			}
			out = append(out, s)
		case "text", "match_only_text":
			if s, ok := scalarString(v); ok {
				for _, t := range tokens(s) {
					out = append(out, t)
				}
			}
		case "date", "date_nanos":
			s, ok := scalarString(v)
			if !ok {
				continue
			}
			if ms, ok := f.format.parse(s, time.UTC); ok {
				out = append(out, ms)
			}
		case "long", "integer", "short", "byte", "unsigned_long", "double", "float", "half_float", "scaled_float":
			if n, ok := toNum(f.typ, v); ok {
				out = append(out, n)
			}
		case "boolean":
			switch v {
			case true, "true":
				out = append(out, true)
			case false, "false", "":
				out = append(out, false)
			}
		case "ip":
			s, _ := scalarString(v)
			if ip := net.ParseIP(s); ip != nil {
				out = append(out, ip.String())
			}
		default:
			if s, ok := scalarString(v); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// toNum reads a number (or numeric string) for a numeric field type;
// whole-number types truncate decimals as ES's coercion does.
func toNum(typ string, v any) (num, bool) {
	s, ok := scalarString(v)
	if !ok || s == "" {
		return num{}, false
	}
	if _, isBool := v.(bool); isBool {
		return num{}, false
	}
	s = strings.TrimSpace(s)
	whole := typ == "long" || typ == "integer" || typ == "short" || typ == "byte" || typ == "unsigned_long"
	if whole {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return num{i: i, f: float64(i), isInt: true}, true
		}
		r, ok := new(big.Float).SetString(s)
		if !ok || r.IsInf() {
			return num{}, false
		}
		bi, _ := r.Int(nil)
		if !bi.IsInt64() {
			f, _ := r.Float64()
			return num{f: f}, true
		}
		return num{i: bi.Int64(), f: float64(bi.Int64()), isInt: true}, true
	}
	if !javaNumber(s) {
		return num{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return num{}, false
	}
	return num{f: f}, true
}

func equalValues(a, b any, ci bool) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			if ci {
				return strings.EqualFold(sa, sb)
			}
			return sa == sb
		}
	}
	c, ok := compareValues(a, b)
	return ok && c == 0
}

// compareValues orders two values of the same field type.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case int64:
		y, ok := b.(int64)
		if !ok {
			return 0, false
		}
		return cmpOrdered(x, y), true
	case num:
		y, ok := b.(num)
		if !ok {
			return 0, false
		}
		if x.isInt && y.isInt {
			return cmpOrdered(x.i, y.i), true
		}
		return cmpOrdered(x.f, y.f), true
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tokens is a rough stand-in for the standard analyzer: lower-cased runs
// of letters and digits.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// collect returns the values at a dotted path of a document, looking
// through arrays and accepting dotted keys in the source ("a.b": 1 is the
// same field as "a": {"b": 1}).
func collect(src any, parts []string) []any {
	if len(parts) == 0 {
		if arr, ok := src.([]any); ok {
			var out []any
			for _, e := range arr {
				out = append(out, collect(e, nil)...)
			}
			return out
		}
		return []any{src}
	}
	switch t := src.(type) {
	case map[string]any:
		var out []any
		for i := 1; i <= len(parts); i++ {
			if v, ok := t[strings.Join(parts[:i], ".")]; ok {
				out = append(out, collect(v, parts[i:])...)
			}
		}
		return out
	case []any:
		var out []any
		for _, e := range t {
			out = append(out, collect(e, parts)...)
		}
		return out
	}
	return nil
}
