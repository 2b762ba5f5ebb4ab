package essink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/awsaudit/awsaudit/internal/document"
)

// ErrUnavailable is wrapped by the errors that mean Elasticsearch could not be reached, or was
// overloaded or without an active shard, even after the transport's retries: connection
// errors, timeouts, and 429, 502, 503 and 504 answers. Trying again later may work; changing
// the settings will not help.
var ErrUnavailable = errors.New("Elasticsearch unavailable")

// ResponseError is an HTTP answer that is not a success, with the exception ES gave.
type ResponseError struct {
	Status int
	// Type and Reason are ES's exception type and reason (with its causes), when it gave one.
	Type, Reason string
	// Attempts is how many times the request was sent.
	Attempts int
}

// Error says what ES answered; for 401 and 403 it says what that means.
func (e *ResponseError) Error() string {
	what := fmt.Sprintf("%d %s", e.Status, e.Type)
	if e.Type == "" {
		what = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	var msg string
	switch e.Status {
	case http.StatusUnauthorized:
		msg = fmt.Sprintf("Elasticsearch refused the credentials (%s)", what)
	case http.StatusForbidden:
		msg = fmt.Sprintf("Elasticsearch accepted the credentials but they lack a privilege (%s)", what)
	default:
		msg = fmt.Sprintf("Elasticsearch answered %s", what)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return msg
}

// Is makes a 429, 502, 503 or 504 answer match ErrUnavailable.
func (e *ResponseError) Is(target error) bool {
	return target == ErrUnavailable && retryableStatus(e.Status)
}

// IsAuth reports whether err is Elasticsearch refusing the credentials (401) or their privileges
// (403).
func IsAuth(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && (re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden)
}

// ItemError is one bulk item Elasticsearch did not write, with its reason.
type ItemError struct {
	Op        document.Op
	Index, ID string
	Status    int
	// Type and Reason are ES's exception type and reason, causes included.
	Type, Reason string
}

// Error names the document and ES's reason.
func (e *ItemError) Error() string {
	return fmt.Sprintf("%s %s/%s: %d %s: %s", e.Op, e.Index, e.ID, e.Status, e.Type, e.Reason)
}

// Is makes an item failed with 429 or 5xx (after the sink's retries) match ErrUnavailable.
func (e *ItemError) Is(target error) bool {
	return target == ErrUnavailable && (e.Status == http.StatusTooManyRequests || e.Status >= 500)
}

// esException is ES's exception object.
type esException struct {
	Type     string       `json:"type"`
	Reason   string       `json:"reason"`
	CausedBy *esException `json:"caused_by"`
}

// reason is the exception's reason followed by its causes'.
func (x *esException) reason() string {
	if x == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(x.Reason)
	for c := x.CausedBy; c != nil; c = c.CausedBy {
		fmt.Fprintf(&b, "; caused by %s: %s", c.Type, c.Reason)
	}
	return b.String()
}

// responseError reads ES's error from a failed answer: {"error":{...},"status":N}, or the
// REST layer's {"error":"...","status":N}, or whatever else came.
func responseError(status int, body io.Reader, attempts int) *ResponseError {
	e := &ResponseError{Status: status, Attempts: attempts}
	data, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &doc) == nil && len(doc.Error) > 0 {
		var x esException
		if json.Unmarshal(doc.Error, &x) == nil && x.Type != "" {
			e.Type, e.Reason = x.Type, x.reason()
			return e
		}
		var s string
		if json.Unmarshal(doc.Error, &s) == nil {
			e.Reason = s
			return e
		}
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		e.Reason = truncate(s, 512)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
