// Package estest is an in-process Elasticsearch 8 test server.
//
// No Elasticsearch can be installed where awsaudit's tests run, so they
// start this server instead: Start(t) listens on a free 127.0.0.1 port and
// answers like a single-node Elasticsearch 8 for everything awsaudit's sink
// sends, strictly enough to catch the mistakes a real cluster would reject.
// go-elasticsearch v8's client accepts it (every response carries
// X-Elastic-Product: Elasticsearch).
//
//	srv := estest.Start(t)
//	es, _ := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL}})
//
// # What it models
//
//   - GET and HEAD / (the root info document), GET /_cluster/health.
//   - Composable index templates: PUT, GET, HEAD and DELETE
//     /_index_template/{name}, with ES's checks (index_patterns required,
//     unknown keys rejected, mappings and settings validated, two templates
//     with the same priority and overlapping patterns rejected, create=true).
//     Indices created by a write pick the highest-priority matching template.
//   - Indices: PUT /{index} (settings, mappings), GET, HEAD, DELETE,
//     GET and PUT /{index}/_mapping (fields may be added, not retyped).
//     Index names are validated (lowercase, forbidden characters) as ES
//     does. Unknown index settings are rejected.
//   - Mappings: keyword, constant_keyword, wildcard, text, match_only_text,
//     date and date_nanos (strict_date_optional_time, epoch_millis,
//     epoch_second, the common named formats, simple java.time patterns),
//     long, integer, short, byte, unsigned_long, double, float, half_float,
//     scaled_float, boolean, ip, object and nested (nested is treated as
//     object). Other real types are accepted without checking their values;
//     unknown types ("string") are rejected as ES rejects them.
//   - Document checks as ES's DocumentParser does them, with ES's error
//     types and reasons, [line:column] included: dynamic "strict" (at any
//     level, inherited) gives strict_dynamic_mapping_exception; a value that
//     does not fit its field gives document_parsing_exception ("failed to
//     parse field [f] of type [t] in document with id '..'. Preview of
//     field's value: '..'") with the cause; coerce (numeric strings,
//     truncated decimals) and ignore_malformed are honoured; ranges of the
//     integer types are enforced; objects where a leaf is mapped and
//     concrete values where an object is mapped are rejected; metadata
//     fields (_id, ...) inside a document are rejected; duplicate keys are
//     rejected.
//   - Dynamic mapping: new fields are added as ES would (date detection,
//     long, float, boolean, text with a .keyword sub-field, object),
//     dynamic_templates (match_mapping_type, match, unmatch, path_match,
//     path_unmatch), dynamic false (field kept in _source but not
//     searchable), index.mapping.total_fields.limit. A document that fails
//     adds no fields.
//   - _bulk with index, create and delete, per-item results and errors
//     exactly shaped as ES's (409 version conflicts, 400 mapping errors,
//     404 deletes); whole-request errors for a missing final newline,
//     malformed or unknown action lines, unknown metadata parameters
//     (including _type), a missing index ("Validation Failed: 1: index is
//     missing;"), an empty request. Like ES 8, an action line is read only
//     to the end of its metadata object; a missing closing brace or trailing
//     data earn the same deprecation Warning header ES sends. The document API: PUT/POST
//     /{index}/_doc/{id}, POST /{index}/_doc, PUT /{index}/_create/{id},
//     GET, HEAD and DELETE /{index}/_doc/{id}. Versions, _seq_no,
//     if_seq_no/if_primary_term and external versioning are kept.
//   - Refresh: writes reach _search and _count only once the index is
//     refreshed (POST /_refresh, POST /{index}/_refresh) or when the write
//     asked for refresh=true or refresh=wait_for; an update or delete not
//     yet refreshed leaves the previous version searchable. GET _doc is
//     realtime, as in ES. The inspection helpers (Doc, Docs, Count) read
//     the store directly and see every write at once.
//   - _search and _count (GET or POST, on indices, comma lists and
//     wildcards) with match_all, term, terms, range (dates with date math
//     in UTC, numbers, strings), exists, ids, prefix, wildcard, match
//     (a crude analyzer: lower-cased letter and digit runs), bool
//     (must, filter, should, must_not, minimum_should_match) and
//     constant_score; size, from, sort (with ES's errors for text and
//     unmapped fields), track_total_hits, _source filtering, post_filter.
//   - The REST layer: unknown paths get ES's "no handler found for uri"
//     (400), known paths with the wrong method 405, a body without a
//     supported Content-Type 406, unknown query parameters 400, a body where
//     none is allowed 400; filter_path and pretty work on every response;
//     gzip request bodies are read.
//   - Security: API key and basic auth; missing or wrong credentials get
//     401 security_exception with WWW-Authenticate.
//
// # What it does not model
//
// One node, one primary shard per index as far as documents go, no
// replicas (so health is yellow when an index asks for replicas, as on a
// real single node). No analysis beyond the crude tokenizer, no scoring
// (every hit scores 1.0, unsorted hits come in write order), no
// aggregations, no highlighting, no scroll or point in time, no aliases, no
// data streams, no runtime fields (dynamic "runtime" behaves like dynamic
// false: unmapped values are kept but not searchable), no ingest pipelines (naming one fails the item, as for a
// missing pipeline), no bulk update action, no component or legacy
// templates. Real ES APIs and options outside this list answer 400
// estest_not_modelled_exception, so a test can tell a gap here from a
// mistake in the code under test.
//
// No periodic refresh: index.refresh_interval is accepted but never
// applied, so a write a test did not refresh stays unsearchable here,
// where a real cluster would show it within about a second (a test that
// relied on that would be flaky against one).
//
// Syntax-error messages for broken JSON come from Go's decoder, not
// Jackson, so their wording differs from ES's; their type and location
// format do not.
//
// # Fault injection
//
// Faults belong to one server, are safe under concurrent requests and show
// in the request log: FailNext and FailNextOn (ES-shaped 429/503 answers),
// RejectItems (chosen bulk items fail inside a 200 response), SetLatency,
// DropConnections and Down/Up (connections closed unanswered).
package estest
