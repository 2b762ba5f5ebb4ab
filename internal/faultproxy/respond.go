package faultproxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Responder answers a request a rule matched. It may answer itself, call
// r.Forward(w) to pass the request on, or both in turn (see Rewrite).
type Responder func(w http.ResponseWriter, r *Request)

// Throttle answers with the throttling error of the request's protocol, one
// the SDK retryers classify as throttling (retry.DefaultThrottleErrorCodes):
// RequestLimitExceeded for EC2, Throttling for IAM/STS query, and
// ThrottlingException for JSON and CBOR protocols. HTTP 400, as AWS sends.
func Throttle() Responder {
	return func(w http.ResponseWriter, r *Request) {
		code, msg := "ThrottlingException", "Rate exceeded"
		switch r.Protocol {
		case ProtocolEC2Query:
			code, msg = "RequestLimitExceeded", "Request limit exceeded."
		case ProtocolQuery, ProtocolOther:
			code = "Throttling"
		}
		writeError(w, r, http.StatusBadRequest, code, msg)
	}
}

// ServerError answers with an AWS server error of the given status (500,
// 503 …): for EC2 InternalError, or Unavailable on 503; for other protocols
// InternalFailure, or ServiceUnavailable on 503. The SDK retries these.
func ServerError(status int) Responder {
	return func(w http.ResponseWriter, r *Request) {
		code := "InternalFailure"
		switch {
		case r.Protocol == ProtocolEC2Query && status == http.StatusServiceUnavailable:
			code = "Unavailable"
		case r.Protocol == ProtocolEC2Query:
			code = "InternalError"
		case status == http.StatusServiceUnavailable:
			code = "ServiceUnavailable"
		}
		writeError(w, r, status, code, "We encountered an internal error. Please try again.")
	}
}

// APIError answers with an arbitrary AWS error in the request's protocol,
// e.g. APIError(403, "UnauthorizedOperation", "You are not authorized …") or
// APIError(400, "OperationNotPermitted", "…") for one instance's
// TerminateInstances.
func APIError(status int, code, message string) Responder {
	return func(w http.ResponseWriter, r *Request) {
		writeError(w, r, status, code, message)
	}
}

// EmptyDescribeInstances answers an EC2 DescribeInstances with a valid
// response holding no reservations and no NextToken.
func EmptyDescribeInstances() Responder {
	return func(w http.ResponseWriter, r *Request) {
		body := xmlHeader + `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
			`<requestId>` + requestID() + `</requestId><reservationSet/></DescribeInstancesResponse>`
		writeBody(w, http.StatusOK, "text/xml;charset=UTF-8", []byte(body))
	}
}

// tagSet matches one <tagSet> element, empty or not. Tag sets do not nest.
var tagSet = regexp.MustCompile(`(?s)<tagSet\s*/>|<tagSet>.*?</tagSet>`)

// StripTags forwards the request and removes every <tagSet> element from
// the XML answer, so a DescribeInstances listing comes back with instances
// whose Tags are nil.
func StripTags() Responder {
	return Rewrite(func(body []byte) []byte {
		return tagSet.ReplaceAll(body, nil)
	})
}

// Rewrite forwards the request and passes the complete answer body (after
// undoing any gzip encoding) through fn before sending it on with a
// corrected Content-Length. Status and other headers are kept.
func Rewrite(fn func(body []byte) []byte) Responder {
	return func(w http.ResponseWriter, r *Request) {
		rec := &recorder{header: make(http.Header)}
		r.Forward(rec)
		body := rec.body.Bytes()
		if rec.header.Get("Content-Encoding") == "gzip" {
			if plain, err := gunzip(body); err == nil {
				body = plain
				rec.header.Del("Content-Encoding")
			}
		}
		body = fn(body)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status())
		w.Write(body)
	}
}

// AfterForward forwards the request, throws the answer away and answers with
// then instead: the call happened upstream, its answer was lost on the way
// back. AfterForward(ServerError(500)) on TerminateInstances terminates the
// instances in moto and tells the client the call failed, as AWS can when a
// 5xx or a broken connection follows the action.
func AfterForward(then Responder) Responder {
	return func(w http.ResponseWriter, r *Request) {
		r.Forward(&recorder{header: make(http.Header)})
		then(w, r)
	}
}

// DropConnection closes the client's connection without answering, as a
// network failure or a crashed load balancer would. The SDK sees an
// unexpected EOF.
func DropConnection() Responder {
	return func(w http.ResponseWriter, r *Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// HTTP/2 and other writers that cannot be hijacked: abort the
			// response, which resets the stream.
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	}
}

// Delay waits d, or until the client gives up, then forwards the request.
func Delay(d time.Duration) Responder {
	return func(w http.ResponseWriter, r *Request) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			r.Forward(w)
		case <-r.HTTP.Context().Done():
		}
	}
}

// recorder captures an upstream answer for Rewrite.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}

// Flush lets ReverseProxy's per-write flushing succeed; everything is
// buffered anyway.
func (rec *recorder) Flush() {}

func (rec *recorder) status() int {
	if rec.code == 0 {
		return http.StatusOK
	}
	return rec.code
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
