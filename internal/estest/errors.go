package estest

import (
	"fmt"
	"net/http"
)

// esError is an Elasticsearch exception as it appears in a response body:
// {"type":..,"reason":..,<extra>..,"caused_by":{..}}.
type esError struct {
	status   int
	typ      string
	reason   string
	extra    obj
	causedBy *esError
	// rootCause replaces the exception itself in "root_cause" when the real
	// root cause is a shard failure rather than the top-level exception.
	rootCause *esError
	// header is the WWW-Authenticate list security exceptions carry both in
	// the body and as HTTP headers.
	header []string
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

// body renders the exception object.
func (e *esError) body(withCause bool) obj {
	o := obj{{"type", e.typ}, {"reason", e.reason}}
	o = append(o, e.extra...)
	if len(e.header) > 0 {
		o = append(o, kv{"header", obj{{"WWW-Authenticate", e.header}}})
	}
	if withCause && e.causedBy != nil {
		o = append(o, kv{"caused_by", e.causedBy.body(true)})
	}
	return o
}

// response renders the full error document ES answers a failed request with.
func (e *esError) response() obj {
	root := e
	if e.rootCause != nil {
		root = e.rootCause
	}
	inner := obj{{"root_cause", []any{root.body(false)}}}
	inner = append(inner, e.body(true)...)
	return obj{{"error", inner}, {"status", e.status}}
}

func newError(status int, typ, format string, args ...any) *esError {
	return &esError{status: status, typ: typ, reason: fmt.Sprintf(format, args...)}
}

func illegalArgument(format string, args ...any) *esError {
	return newError(http.StatusBadRequest, "illegal_argument_exception", format, args...)
}

func indexNotFound(name string) *esError {
	e := newError(http.StatusNotFound, "index_not_found_exception", "no such index [%s]", name)
	e.extra = obj{{"resource.type", "index_or_alias"}, {"resource.id", name}, {"index_uuid", "_na_"}, {"index", name}}
	return e
}

func parseError(format string, args ...any) *esError {
	return newError(http.StatusBadRequest, "parsing_exception", format, args...)
}

func validationFailed(problems ...string) *esError {
	reason := "Validation Failed: "
	for i, p := range problems {
		reason += fmt.Sprintf("%d: %s;", i+1, p)
	}
	return newError(http.StatusBadRequest, "action_request_validation_exception", "%s", reason)
}

// simpleError is the flat {"error":"...","status":N} body ES's REST layer
// uses before a request reaches a handler (unknown path, wrong method, bad
// Content-Type).
func simpleError(status int, msg string) obj {
	return obj{{"error", msg}, {"status", status}}
}

// defaultErrorType is the exception type ES uses for a status when a fault
// is injected without naming one.
func defaultErrorType(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "es_rejected_execution_exception"
	case http.StatusServiceUnavailable:
		return "unavailable_shards_exception"
	case http.StatusBadRequest:
		return "illegal_argument_exception"
	case http.StatusConflict:
		return "version_conflict_engine_exception"
	case http.StatusNotFound:
		return "resource_not_found_exception"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "security_exception"
	case http.StatusGatewayTimeout:
		return "timeout_exception"
	default:
		return "exception"
	}
}

// defaultErrorReason is a reason in the style ES gives for the types above.
func defaultErrorReason(status int, index string) string {
	if index == "" {
		index = "index"
	}
	switch status {
	case http.StatusTooManyRequests:
		return "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=1024] (estest fault injection)"
	case http.StatusServiceUnavailable:
		return fmt.Sprintf("[%s][0] primary shard is not active Timeout: [1m] (estest fault injection)", index)
	default:
		return fmt.Sprintf("estest fault injection: status %d", status)
	}
}
