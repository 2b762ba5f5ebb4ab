package estest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// indexOne writes one document with the document API and returns the answer.
func indexOne(t *testing.T, srv *Server, index, id, doc string) response {
	t.Helper()
	return call(t, srv, "PUT", "/"+index+"/_doc/"+id, jsonType, doc)
}

func TestStrictDynamicMapping(t *testing.T) {
	srv := Start(t)
	putTemplate(t, srv, "audit", auditTemplate)
	tests := []struct {
		name, doc, reason string
	}{
		{"unknown root field", `{"instance_id":"i-1","colour":"red"}`, "[1:31] mapping set to strict, dynamic introduction of [colour] within [_doc] is not allowed"},
		{"unknown nested field", `{"detail":{"state":"running","zone":"a"}}`, "mapping set to strict, dynamic introduction of [zone] within [detail] is not allowed"},
		{"unknown field with null", `{"colour":null}`, "dynamic introduction of [colour] within [_doc]"},
		{"dotted unknown field", `{"detail.zone":"a"}`, "dynamic introduction of [zone] within [detail]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := indexOne(t, srv, "awsaudit-1", "x", tc.doc)
			wantError(t, r, http.StatusBadRequest, "strict_dynamic_mapping_exception", tc.reason)
		})
	}
	if r := indexOne(t, srv, "awsaudit-1", "ok", `{"instance_id":"i-1","detail.state":"running","@timestamp":null}`); r.status != 201 {
		t.Fatalf("valid document: %d %s", r.status, r.raw)
	}
	if n := srv.Count("awsaudit-1"); n != 1 {
		t.Errorf("count = %d, want only the valid document", n)
	}
}

func TestValueChecks(t *testing.T) {
	srv := Start(t)
	call(t, srv, "PUT", "/typed", jsonType, `{"mappings":{"properties":{
		"k":{"type":"keyword"}, "l":{"type":"long"}, "i":{"type":"integer"}, "d":{"type":"double"},
		"f":{"type":"float"}, "b":{"type":"boolean"}, "t":{"type":"date"}, "ip":{"type":"ip"},
		"nc":{"type":"long","coerce":false}, "im":{"type":"long","ignore_malformed":true},
		"day":{"type":"date","format":"yyyy-MM-dd"}, "o":{"properties":{"x":{"type":"keyword"}}},
		"n":{"type":"nested","properties":{"y":{"type":"long"}}}}}}`)
	tests := []struct {
		doc       string
		ok        bool
		reason    string // fragment of error.reason
		cause     string // fragment of error.caused_by.reason
		causeType string // error.caused_by.type, when set
	}{
		{doc: `{"k":"a"}`, ok: true},
		{doc: `{"k":12}`, ok: true},
		{doc: `{"k":true}`, ok: true},
		{doc: `{"k":["a","b",1]}`, ok: true},
		{doc: `{"k":null}`, ok: true},
		{doc: `{"k":{"a":"b"}}`, reason: "[1:14] failed to parse field [k] of type [keyword] in document with id 'x'. Preview of field's value: '{a=b}'", cause: "Can't get text on a START_OBJECT at 1:6"},
		{doc: `{"l":12}`, ok: true},
		{doc: `{"l":"12"}`, ok: true},
		{doc: `{"l":1.5}`, ok: true},
		{doc: `{"l":"abc"}`, reason: "[1:6] failed to parse field [l] of type [long] in document with id 'x'. Preview of field's value: 'abc'", cause: `For input string: "abc"`, causeType: "illegal_argument_exception"},
		{doc: `{"l":9223372036854775808}`, reason: "failed to parse field [l] of type [long]", cause: "is out of range for a long"},
		{doc: `{"i":3000000000}`, reason: "failed to parse field [i] of type [integer]", cause: "Value [3000000000] is out of range for an integer"},
		{doc: `{"l":true}`, reason: "failed to parse field [l] of type [long]", cause: "Current token (VALUE_TRUE) not numeric"},
		{doc: `{"nc":"12"}`, reason: "failed to parse field [nc] of type [long]", cause: "Long value passed as String"},
		{doc: `{"nc":1.5}`, reason: "failed to parse field [nc]", cause: "has a decimal part"},
		{doc: `{"im":"abc"}`, ok: true},
		{doc: `{"d":"1.25"}`, ok: true},
		{doc: `{"d":"abc"}`, reason: "failed to parse field [d] of type [double]", cause: `For input string: "abc"`, causeType: "number_format_exception"},
		{doc: `{"f":"1.5x"}`, reason: "failed to parse field [f] of type [float]", cause: `For input string: "1.5x"`, causeType: "number_format_exception"},
		{doc: `{"d":"NaN"}`, reason: "failed to parse field [d] of type [double]", cause: "[double] supports only finite values, but got [NaN]"},
		{doc: `{"f":1e40}`, reason: "failed to parse field [f] of type [float]", cause: "[float] supports only finite values"},
		{doc: `{"b":true}`, ok: true},
		{doc: `{"b":"false"}`, ok: true},
		{doc: `{"b":"yes"}`, reason: "failed to parse field [b] of type [boolean]", cause: "Failed to parse value [yes] as only [true] or [false] are allowed."},
		{doc: `{"b":1}`, reason: "failed to parse field [b] of type [boolean]"},
		{doc: `{"t":"2024-05-01T10:00:00Z"}`, ok: true},
		{doc: `{"t":"2024-05-01T10:00:00.123+02:00"}`, ok: true},
		{doc: `{"t":"2024-05-01"}`, ok: true},
		{doc: `{"t":1714557600000}`, ok: true},
		{doc: `{"t":"1714557600000"}`, ok: true},
		{doc: `{"t":"2024-13-01"}`, reason: "failed to parse field [t] of type [date]", cause: "failed to parse date field [2024-13-01] with format [strict_date_optional_time||epoch_millis]"},
		{doc: `{"t":"yesterday"}`, reason: "Preview of field's value: 'yesterday'"},
		{doc: `{"t":"Mon, 01 May 2024 10:00:00 GMT"}`, reason: "failed to parse field [t] of type [date]"},
		{doc: `{"day":"2024-05-01"}`, ok: true},
		{doc: `{"day":"2024-05-01T10:00:00Z"}`, reason: "failed to parse field [day] of type [date]", cause: "failed to parse date field [2024-05-01T10:00:00Z] with format [yyyy-MM-dd]"},
		{doc: `{"ip":"10.0.0.1"}`, ok: true},
		{doc: `{"ip":"::1"}`, ok: true},
		{doc: `{"ip":"ten"}`, reason: "failed to parse field [ip] of type [ip]", cause: "'ten' is not an IP string literal."},
		{doc: `{"o":{"x":"a"}}`, ok: true},
		{doc: `{"o":[{"x":"a"},{"x":"b"}]}`, ok: true},
		{doc: `{"o":"flat"}`, reason: "[1:6] object mapping for [o] tried to parse field [o] as object, but found a concrete value"},
		{doc: `{"n":[{"y":1},{"y":"z"}]}`, reason: "failed to parse field [n.y] of type [long]"},
		{doc: `{"_id":"x"}`, reason: "[1:2] Field [_id] is a metadata field and cannot be added inside a document."},
		{doc: `{"k":"a","k":"b"}`, reason: "Duplicate field 'k'"},
		{doc: `{"k":"a"`, reason: "failed to parse"},
		{doc: `["k"]`, reason: "Malformed content, must start with an object"},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			r := indexOne(t, srv, "typed", "x", tc.doc)
			if tc.ok {
				if r.status != 201 && r.status != 200 {
					t.Fatalf("status = %d, body %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, http.StatusBadRequest, "document_parsing_exception", tc.reason)
			if tc.cause != "" {
				if got := fmt.Sprint(get(t, r.body, "error.caused_by.reason")); !strings.Contains(got, tc.cause) {
					t.Errorf("caused_by.reason = %q, want it to contain %q", got, tc.cause)
				}
			}
			if tc.causeType != "" {
				if got := get(t, r.body, "error.caused_by.type"); got != tc.causeType {
					t.Errorf("caused_by.type = %v, want %s", got, tc.causeType)
				}
			}
		})
	}
}

func TestDynamicMapping(t *testing.T) {
	srv := Start(t)
	r := indexOne(t, srv, "dyn", "1", `{"s":"hello","n":3,"f":1.5,"b":true,"t":"2024-05-01T10:00:00Z","o":{"x":"y"},"a":[null,7],"z":null,"e":[]}`)
	if r.status != 201 {
		t.Fatalf("first document: %d %s", r.status, r.raw)
	}
	m := srv.Mapping("dyn")
	for path, want := range map[string]any{
		"properties.s.type":                "text",
		"properties.s.fields.keyword.type": "keyword",
		"properties.n.type":                "long",
		"properties.f.type":                "float",
		"properties.b.type":                "boolean",
		"properties.t.type":                "date",
		"properties.o.properties.x.type":   "text",
		"properties.a.type":                "long",
	} {
		if got := get(t, m, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	props := m["properties"].(map[string]any)
	if _, ok := props["z"]; ok {
		t.Errorf("null value added a field: %v", props)
	}
	// The field now has a type, and ES holds later documents to it.
	wantError(t, indexOne(t, srv, "dyn", "2", `{"n":"three"}`), 400, "document_parsing_exception", "failed to parse field [n] of type [long]")
	wantError(t, indexOne(t, srv, "dyn", "2", `{"t":"soon"}`), 400, "document_parsing_exception", "failed to parse field [t] of type [date]")
	// A rejected document adds no fields.
	wantError(t, indexOne(t, srv, "dyn", "3", `{"newfield":1,"n":"x"}`), 400, "document_parsing_exception", "[n]")
	if _, ok := srv.Mapping("dyn")["properties"].(map[string]any)["newfield"]; ok {
		t.Error("rejected document left a field behind")
	}
}

func TestDynamicTemplatesAndLimits(t *testing.T) {
	srv := Start(t)
	putTemplate(t, srv, "t", `{"index_patterns":["d-*"],"template":{
		"settings":{"index.mapping.total_fields.limit":5},
		"mappings":{"dynamic_templates":[{"strings":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}],
		"properties":{"free":{"type":"object","dynamic":false}}}}}`)
	if r := indexOne(t, srv, "d-1", "1", `{"a":"x","free":{"anything":{"goes":1}}}`); r.status != 201 {
		t.Fatalf("document: %d %s", r.status, r.raw)
	}
	if got := get(t, srv.Mapping("d-1"), "properties.a.type"); got != "keyword" {
		t.Errorf("a = %v, want keyword from the dynamic template", got)
	}
	if _, ok := get(t, srv.Mapping("d-1"), "properties.free").(map[string]any)["properties"]; ok {
		t.Error("dynamic false object gained properties")
	}
	wantError(t, indexOne(t, srv, "d-1", "2", `{"b":"1","c":"2","d":"3","e":"4"}`), 400, "illegal_argument_exception", "Limit of total fields [5] has been exceeded while adding new fields [4]")
}
