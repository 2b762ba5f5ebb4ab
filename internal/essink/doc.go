// Package essink is the Elasticsearch 8 sink: it installs the two indices' composable index
// templates and writes documents with _bulk, checking every item, so that a document is either
// in Elasticsearch or listed in the *document.WriteError that Write returns. It is the only
// package that imports go-elasticsearch and go-retryablehttp.
//
// # Two retry layers, one per client
//
// A _bulk request can fail twice over, and each failure has exactly one layer that retries it:
//
//   - The HTTP request: go-retryablehttp is go-elasticsearch's transport and retries a request
//     that did not reach Elasticsearch (connection refused or reset, timeout) or that it answered
//     429, 502, 503 or 504, with exponential backoff and jitter (Retry-After honoured, capped at
//     RetryWaitMax). Nothing else is retried: other 4xx answers are the request's fault, and a
//     certificate error is a configuration error. go-elasticsearch's own retries are off.
//   - The items: a 200 answer to _bulk can still fail some of its items. Items failed with 429
//     or 5xx (a full write queue, a shard not yet active) are sent again by the sink's own loop,
//     in a smaller _bulk, with the same backoff, up to ItemRetryMax times. Items failed with any
//     other status are permanent failures reported with ES's type and reason: a mapping
//     rejection (strict_dynamic_mapping_exception, document_parsing_exception) will not succeed
//     on a retry.
//
// Retrying never duplicates: every document has a deterministic _id. A sweep's documents use
// the index action, so a retry replaces a document with itself; the event path's use create,
// and a 409 version_conflict_engine_exception on a create means the document is already there
// (the first outcome recorded wins), which Write counts as written.
//
// # When Elasticsearch stays unavailable
//
// A request that still fails after the transport's retries fails every document of its batch,
// and, when the cause is Elasticsearch being unreachable or overloaded (ErrUnavailable) or
// refusing the credentials, the batches not yet sent fail with it unsent: one outage costs one
// round of retries, not one per batch. The WriteError then lists every document of the call, so
// the sweep can spool them and `awsaudit ship` can send them later.
//
// # Templates first
//
// No document is written before the templates are installed (EnsureTemplates, which Write
// calls when it has not succeeded yet): an index created by a write without its template would
// get dynamic mappings that cannot be fixed without a reindex. Concurrent Writes share one
// attempt at installing them, and an attempt that found Elasticsearch unavailable is remembered
// for TemplateBackoff, in which Writes fail at once, unsent: while Elasticsearch is down, a
// process pays for one round of retries every few seconds, not one per call.
//
// Templates apply only to indices created after them. When awsaudit's mapping gains a field
// (document.TemplateVersion goes up), an index created from the older template would reject
// every document holding it (strict_dynamic_mapping_exception); so EnsureTemplates also puts
// the current mapping on each index that exists (PUT /{index}/_mapping), which adds the new
// fields. A field whose type changed cannot be changed in place: EnsureTemplates fails, naming
// the index, and the index must be reindexed.
//
// # Credentials
//
// The API key, the password and the Authorization header value never appear in a log line or an
// error this package produces: URLs are logged without user info, credentials in the URL are
// moved to basic auth, and every message is passed through a redactor that replaces the
// secrets as a second line of defence.
package essink
