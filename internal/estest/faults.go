package estest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// ItemError is how a bulk item rejected by a RejectItems function fails.
type ItemError struct {
	// Status is the item's HTTP status, e.g. 429, 503 or 400.
	Status int
	// Type is the ES exception type; empty picks the one ES uses for Status
	// (429 es_rejected_execution_exception, 503 unavailable_shards_exception,
	// 400 illegal_argument_exception, 409 version_conflict_engine_exception).
	Type string
	// Reason is the exception reason; empty picks one in ES's style.
	Reason string
}

// Rejecter decides, for each bulk item, whether it fails. It gets the
// item's target index, its id (the generated one for auto-id items) and its
// document decoded with encoding/json defaults (nil for a delete or for a
// document that is not valid JSON). It returns nil to let the item through.
// It runs outside the server's lock, so it may call the Server's methods.
type Rejecter func(index, id string, doc map[string]any) *ItemError

// faults is the fault-injection state of one server.
type faults struct {
	fails    []failRule
	reject   Rejecter
	latency  time.Duration
	drops    int
	down     bool
	rejected int
}

type failRule struct {
	prefix string
	left   int
	status int
}

// fault is what takeFault decided for one request.
type fault struct {
	drop       string // "drop" or "down": close the connection unanswered
	failStatus int
	latency    time.Duration
}

// FailNext makes the next n requests, whatever their path, fail with status
// (429 or 503 are the useful ones) and an ES-shaped error body, without
// taking effect.
func (s *Server) FailNext(n, status int) { s.FailNextOn("", n, status) }

// FailNextOn is FailNext for requests whose path starts with pathPrefix,
// e.g. "/_bulk"; other requests pass untouched and do not use up the count.
// Rules added by several calls are checked in the order they were added.
func (s *Server) FailNextOn(pathPrefix string, n, status int) {
	if n <= 0 {
		return
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.fails = append(s.faults.fails, failRule{prefix: pathPrefix, left: n, status: status})
}

// RejectItems installs f to fail chosen bulk items inside an otherwise
// successful (200, "errors":true) _bulk response; nil removes it. Only
// _bulk items are subject to it, not the single-document APIs.
func (s *Server) RejectItems(f Rejecter) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.reject = f
}

// RejectedItems reports how many bulk items the Rejecter has failed.
func (s *Server) RejectedItems() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults.rejected
}

// SetLatency delays every answer by d (0 turns it off). The delay comes
// after the request has taken effect, so a client that times out may still
// have had its writes applied, as with a real overloaded node.
func (s *Server) SetLatency(d time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.latency = d
}

// DropConnections makes the next n requests end with the connection closed
// and no response; the requests take no effect. Go's http.Transport
// silently retries an idempotent request (GET, HEAD) once when a reused
// connection closes, so such a request can use up two drops; a POST
// (_bulk) uses one.
func (s *Server) DropConnections(n int) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.drops += n
}

// Down makes every request end with the connection closed unanswered until
// Up: to a client the node is unreachable. For a node that answers 503
// instead, use FailNext with a large n.
func (s *Server) Down() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.down = true
}

// Up ends Down.
func (s *Server) Up() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.down = false
}

// takeFault decides the fate of one request and uses up the counters.
func (s *Server) takeFault(path string) fault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := fault{latency: s.faults.latency}
	switch {
	case s.faults.down:
		f.drop = "down"
		return f
	case s.faults.drops > 0:
		s.faults.drops--
		f.drop = "drop"
		return f
	}
	for i := range s.faults.fails {
		r := &s.faults.fails[i]
		if r.left > 0 && strings.HasPrefix(path, r.prefix) {
			r.left--
			f.failStatus = r.status
			break
		}
	}
	return f
}

// rejectItem asks the Rejecter about one item; nil means no rejection.
func (s *Server) rejectItem(index, id string, source []byte) *esError {
	s.fmu.Lock()
	f := s.faults.reject
	s.fmu.Unlock()
	if f == nil {
		return nil
	}
	var doc map[string]any
	if source != nil {
		_ = json.Unmarshal(source, &doc)
	}
	ie := f(index, id, doc)
	if ie == nil {
		return nil
	}
	s.fmu.Lock()
	s.faults.rejected++
	s.fmu.Unlock()
	status := ie.Status
	if status == 0 {
		status = http.StatusTooManyRequests
	}
	typ := ie.Type
	if typ == "" {
		typ = defaultErrorType(status)
	}
	reason := ie.Reason
	if reason == "" {
		reason = defaultErrorReason(status, index)
	}
	return &esError{status: status, typ: typ, reason: reason}
}
