package document

import "maps"

// VerdictNames lists the verdicts a rollup counts; it matches enforcer.Verdicts (a test says so).
var VerdictNames = []string{"compliant", "in_grace", "violator", "exempt", "managed", "canary", "unknown"}

// TemplateVersion is stored in the templates' _meta and version, so an upgrade replaces them.
const TemplateVersion = 2

type prop = map[string]any

// The field types; functions, so every mapping gets maps of its own.
func keyword() prop { return prop{"type": "keyword", "ignore_above": 1024} }
func date() prop    { return prop{"type": "date"} }
func long() prop    { return prop{"type": "long"} }
func double() prop  { return prop{"type": "double"} }
func boolean() prop { return prop{"type": "boolean"} }
func text() prop    { return prop{"type": "text"} }

func headerProps() prop {
	return prop{
		"@timestamp": date(),
		"run_id":     keyword(),
		"source":     keyword(),
		"account":    keyword(),
		"account_id": keyword(),
		"tag_scheme": keyword(),
		"action":     keyword(),
	}
}

func countsOf(names []string) prop {
	p := prop{}
	for _, n := range names {
		p[n] = long()
	}
	return prop{"dynamic": "strict", "properties": p}
}

// ViolatorMapping is the violator index's mapping: every field explicit, dynamic strict, so a
// field added to Violator without its mapping fails the tests instead of polluting the index.
func ViolatorMapping() map[string]any {
	p := headerProps()
	maps.Copy(p, prop{
		"id":                      keyword(),
		"region":                  keyword(),
		"availability_zone":       keyword(),
		"state":                   keyword(),
		"tags":                    keyword(),
		"age":                     double(),
		"launch_time":             date(),
		"verdict":                 keyword(),
		"missing_tags":            keyword(),
		"invalid_tags":            keyword(),
		"problems":                keyword(),
		"unknown_iam_users":       keyword(),
		"managed_by":              keyword(),
		"exemption_error":         text(),
		"reason":                  text(),
		"creator":                 keyword(),
		"creator_type":            keyword(),
		"invoked_by":              keyword(),
		"creator_matches_tag":     boolean(),
		"outcome":                 keyword(),
		"error":                   text(),
		"note":                    text(),
		"disable_api_termination": boolean(),
		"disable_api_stop":        boolean(),
	})
	return prop{"dynamic": "strict", "properties": p}
}

// RollupMapping is the audit index's mapping; violators stays an object field, as in the
// original.
func RollupMapping() map[string]any {
	p := headerProps()
	maps.Copy(p, prop{
		"instance_count": long(),
		"violator_count": long(),
		"violators": prop{"type": "object", "dynamic": "strict", "properties": prop{
			"id":           keyword(),
			"region":       keyword(),
			"state":        keyword(),
			"tags":         keyword(),
			"age":          double(),
			"verdict":      keyword(),
			"missing_tags": keyword(),
			"invalid_tags": keyword(),
			"outcome":      keyword(),
		}},
		"violators_omitted":  long(),
		"verdicts":           countsOf(VerdictNames),
		"outcomes":           countsOf(outcomeNames()),
		"regions_verified":   keyword(),
		"regions_unverified": keyword(),
		"regions_unreached":  keyword(),
		"region_errors":      text(),
		"errors":             text(),
		"creator":            keyword(),
		"invoked_by":         keyword(),
		"duration_seconds":   double(),
	})
	return prop{"dynamic": "strict", "properties": p}
}

// Template is a composable index template for one index.
func Template(index string, mapping map[string]any) map[string]any {
	return prop{
		"index_patterns": []string{index},
		"priority":       500,
		"version":        TemplateVersion,
		"_meta":          prop{"managed_by": "awsaudit", "version": TemplateVersion},
		"template": prop{
			"settings": prop{"number_of_shards": 1},
			"mappings": mapping,
		},
	}
}

// Templates returns the index templates by template name for the indices.
func Templates(idx Indices) map[string]map[string]any {
	return map[string]map[string]any{
		idx.Audit:    Template(idx.Audit, RollupMapping()),
		idx.Violator: Template(idx.Violator, ViolatorMapping()),
	}
}
