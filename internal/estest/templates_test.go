package estest

import (
	"testing"
)

const auditTemplate = `{
  "index_patterns": ["awsaudit-*"],
  "priority": 200,
  "template": {
    "settings": {"number_of_shards": 1, "index": {"number_of_replicas": 0}},
    "mappings": {
      "dynamic": "strict",
      "properties": {
        "@timestamp": {"type": "date"},
        "instance_id": {"type": "keyword"},
        "detail": {"properties": {"state": {"type": "keyword"}}}
      }
    }
  }
}`

func TestIndexTemplatePutGet(t *testing.T) {
	srv := Start(t)
	wantError(t, call(t, srv, "GET", "/_index_template/awsaudit", "", ""), 404, "resource_not_found_exception", "index template matching [awsaudit] not found")
	if r := call(t, srv, "HEAD", "/_index_template/awsaudit", "", ""); r.status != 404 {
		t.Fatalf("HEAD before PUT = %d", r.status)
	}

	// Installing twice is idempotent, as a sink does at every cold start.
	putTemplate(t, srv, "awsaudit", auditTemplate)
	putTemplate(t, srv, "awsaudit", auditTemplate)
	if n := srv.CountRequests("PUT", "/_index_template/"); n != 2 {
		t.Errorf("logged template PUTs = %d, want 2", n)
	}
	if n := len(srv.Templates()); n != 1 {
		t.Fatalf("templates = %d, want 1", n)
	}

	r := call(t, srv, "GET", "/_index_template/awsaudit", "", "")
	if r.status != 200 {
		t.Fatalf("GET = %d %s", r.status, r.raw)
	}
	for path, want := range map[string]any{
		"index_templates.0.name":                                                      "awsaudit",
		"index_templates.0.index_template.index_patterns.0":                           "awsaudit-*",
		"index_templates.0.index_template.priority":                                   float64(200),
		"index_templates.0.index_template.template.settings.index.number_of_shards":   "1",
		"index_templates.0.index_template.template.settings.index.number_of_replicas": "0",
		"index_templates.0.index_template.template.mappings.dynamic":                  "strict",
	} {
		if got := get(t, r.body, path); got != want {
			t.Errorf("%s = %v (%T), want %v", path, got, got, want)
		}
	}
	if got := get(t, r.body, "index_templates.0.index_template.composed_of"); len(got.([]any)) != 0 {
		t.Errorf("composed_of = %v", got)
	}
	if r := call(t, srv, "HEAD", "/_index_template/awsaudit", "", ""); r.status != 200 {
		t.Errorf("HEAD after PUT = %d", r.status)
	}
	tpl := srv.Templates()[0]
	if tpl.Priority != 200 || tpl.IndexPatterns[0] != "awsaudit-*" || tpl.Mappings["dynamic"] != "strict" {
		t.Errorf("Templates()[0] = %+v", tpl)
	}
	r = call(t, srv, "GET", "/_index_template/nomatch*", "", "")
	if r.status != 200 || len(get(t, r.body, "index_templates").([]any)) != 0 {
		t.Errorf("wildcard without match = %d %s", r.status, r.raw)
	}
}

func TestIndexTemplateValidation(t *testing.T) {
	srv := Start(t)
	putTemplate(t, srv, "base", `{"index_patterns":["logs-*"],"priority":10}`)
	tests := []struct {
		name, path, body string
		status           int
		typ, reason      string
	}{
		{"missing patterns", "/_index_template/x", `{"template":{}}`, 400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"},
		{"unknown top-level key", "/_index_template/x", `{"index_patterns":["a-*"],"mapping":{}}`, 400, "x_content_parse_exception", "[1:27] [index_template] unknown field [mapping]"},
		{"legacy shape", "/_index_template/x", `{"index_patterns":["a-*"],"settings":{}}`, 400, "x_content_parse_exception", "[index_template] unknown field [settings]"},
		{"unknown template key", "/_index_template/x", `{"index_patterns":["a-*"],"template":{"mapping":{}}}`, 400, "x_content_parse_exception", "[template] unknown field [mapping]"},
		{"legacy string type", "/_index_template/x", `{"index_patterns":["a-*"],"template":{"mappings":{"properties":{"f":{"type":"string"}}}}}`, 400, "mapper_parsing_exception", "No handler for type [string] declared on field [f]"},
		{"unknown field parameter", "/_index_template/x", `{"index_patterns":["a-*"],"template":{"mappings":{"properties":{"f":{"type":"date","formt":"x"}}}}}`, 400, "mapper_parsing_exception", "unknown parameter [formt] on mapper [f] of type [date]"},
		{"type wrapper from ES 6", "/_index_template/x", `{"index_patterns":["a-*"],"template":{"mappings":{"_doc":{"properties":{}}}}}`, 400, "mapper_parsing_exception", "Root mapping definition has unsupported parameters"},
		{"unknown setting", "/_index_template/x", `{"index_patterns":["a-*"],"template":{"settings":{"number_of_shard":1}}}`, 400, "illegal_argument_exception", "unknown setting [index.number_of_shard]"},
		{"missing component", "/_index_template/x", `{"index_patterns":["a-*"],"composed_of":["ct"]}`, 400, "invalid_index_template_exception", "specifies component templates [ct] that do not exist"},
		{"same priority overlap", "/_index_template/x", `{"index_patterns":["logs-a*"],"priority":10}`, 400, "illegal_argument_exception", "index template [x] has index patterns [logs-a*] matching patterns from existing templates [base]"},
		{"create flag on existing", "/_index_template/base?create=true", `{"index_patterns":["logs-*"],"priority":10}`, 400, "illegal_argument_exception", "index template [base] already exists"},
		{"broken JSON", "/_index_template/x", `{"index_patterns":["a-*"],}`, 400, "x_content_parse_exception", "[1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, call(t, srv, "PUT", tc.path, jsonType, tc.body), tc.status, tc.typ, tc.reason)
		})
	}
	// A different priority makes the overlap legal.
	putTemplate(t, srv, "x", `{"index_patterns":["logs-a*"],"priority":11}`)
}

func TestIndexCreatedFromHighestPriorityTemplate(t *testing.T) {
	srv := Start(t)
	putTemplate(t, srv, "low", `{"index_patterns":["awsaudit-*"],"priority":1,"template":{"mappings":{"properties":{"n":{"type":"keyword"}}}}}`)
	putTemplate(t, srv, "high", `{"index_patterns":["awsaudit-2024*"],"priority":5,"template":{"mappings":{"properties":{"n":{"type":"long"}}}}}`)
	bulk(t, srv,
		`{"index":{"_index":"awsaudit-2024.01"}}`, `{"n":1}`,
		`{"index":{"_index":"awsaudit-2023.01"}}`, `{"n":1}`,
		`{"index":{"_index":"other"}}`, `{"n":1}`,
	)
	for index, want := range map[string]string{"awsaudit-2024.01": "long", "awsaudit-2023.01": "keyword", "other": "long"} {
		m := srv.Mapping(index)
		if got := get(t, m, "properties.n.type"); got != want {
			t.Errorf("%s: n is %v, want %s (mapping %v)", index, got, want, m)
		}
	}
	// Templates apply at creation only.
	call(t, srv, "DELETE", "/_index_template/high", "", "")
	putTemplate(t, srv, "high", `{"index_patterns":["awsaudit-2024*"],"priority":5,"template":{"mappings":{"properties":{"n":{"type":"boolean"}}}}}`)
	if got := get(t, srv.Mapping("awsaudit-2024.01"), "properties.n.type"); got != "long" {
		t.Errorf("existing index changed to %v", got)
	}
}
