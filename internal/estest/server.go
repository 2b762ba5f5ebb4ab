package estest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultVersion is the Elasticsearch version the server reports unless
// Options.Version says otherwise.
const DefaultVersion = "8.19.7"

// Options configures a Server. The zero value is an open (no auth) plain
// HTTP server.
type Options struct {
	// APIKey, when set, is accepted as "Authorization: ApiKey <APIKey>": the
	// encoded base64(id:key) value, exactly what go-elasticsearch's
	// Config.APIKey holds.
	APIKey string
	// Username and Password, when Username is set, are accepted as HTTP basic
	// auth. With both APIKey and Username set either credential works.
	Username string
	Password string
	// TLS serves HTTPS with a self-signed certificate; CACert returns it.
	TLS bool
	// Version is the version.number GET / reports; DefaultVersion if empty.
	Version string
	// ClusterName is the cluster_name GET / reports; "estest" if empty.
	ClusterName string
	// Now is the clock behind "now" in date math and the took figures;
	// time.Now if nil.
	Now func() time.Time
}

// Server is an in-process Elasticsearch 8 stand-in. Its state (indices,
// templates, faults, request log) belongs to the instance, so tests running
// in parallel each start their own. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT (https with Options.TLS).
	URL string

	opts        Options
	hs          *httptest.Server
	clusterUUID string

	// mu guards the data: indices and templates.
	mu        sync.Mutex
	indices   map[string]*index
	templates map[string]*template

	// fmu guards fault injection and the request log, kept apart from mu so
	// that a slow bulk request does not hold up a test inspecting the log.
	fmu      sync.Mutex
	faults   faults
	requests []Request
}

// New starts a server on a free loopback port. It panics if it cannot
// listen, as httptest.NewServer does; call Close when done.
func New(opts Options) *Server {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "estest"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:        opts,
		clusterUUID: randomID(22),
		indices:     map[string]*index{},
		templates:   map[string]*template{},
	}
	s.hs = httptest.NewUnstartedServer(s)
	if opts.TLS {
		s.hs.StartTLS()
	} else {
		s.hs.Start()
	}
	s.URL = s.hs.URL
	return s
}

// Start starts an open server for the test and closes it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server with opts for the test and closes it in
// t.Cleanup.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server, cutting open connections.
func (s *Server) Close() {
	s.hs.CloseClientConnections()
	s.hs.Close()
}

// CACert returns the PEM certificate a client must trust to reach a TLS
// server (go-elasticsearch's Config.CACert), or nil without TLS.
func (s *Server) CACert() []byte {
	c := s.hs.Certificate()
	if c == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Client returns an *http.Client that trusts the server's certificate, for
// raw net/http tests.
func (s *Server) Client() *http.Client { return s.hs.Client() }

// request is one HTTP request on its way through the handlers.
type request struct {
	method string
	path   string // unescaped path, for messages
	uri    string // path and query as sent, for messages ES quotes verbatim
	vars   map[string]string
	query  url.Values
	body   []byte
	header http.Header
	start  time.Time
}

// reply is what a handler answers; a nil body answers with no content.
type reply struct {
	status int
	body   any
	header http.Header
}

func errReply(e *esError) reply {
	r := reply{status: e.status, body: e.response()}
	if len(e.header) > 0 {
		r.header = http.Header{"Www-Authenticate": e.header}
	}
	return r
}

// ServeHTTP answers one request: faults first (they model the network and
// the node's health), then authentication, routing and the handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
	}
	body, err := readBody(r)
	f := s.takeFault(r.URL.Path)
	if f.drop != "" {
		entry.Fault = f.drop
		s.record(entry)
		dropConnection(w)
		return
	}

	var rep reply
	switch {
	case f.failStatus != 0:
		entry.Fault = "fail"
		e := newError(f.failStatus, defaultErrorType(f.failStatus), "%s", defaultErrorReason(f.failStatus, ""))
		rep = errReply(e)
	case err != nil:
		rep = errReply(newError(http.StatusBadRequest, "parse_exception", "reading the request body: %v", err))
	default:
		rep = s.handle(r, body)
	}

	// The delay comes after the request took effect, as with a slow network
	// or an overloaded node: a client that gives up may still have had its
	// writes applied, which is what retry logic must cope with.
	if f.latency > 0 && !sleep(r.Context(), f.latency) {
		entry.Fault = "client_gone"
		entry.Status = rep.status
		s.record(entry)
		return
	}
	entry.Status = rep.status
	s.record(entry)
	s.write(w, r, rep)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, rep reply) {
	h := w.Header()
	h.Set("X-Elastic-Product", "Elasticsearch")
	h.Set("Content-Type", responseContentType(r))
	for k, v := range rep.header {
		h[k] = v
	}
	var data []byte
	if rep.body != nil {
		b, err := renderBody(rep.body, r.URL.Query())
		if err != nil {
			rep.status = http.StatusInternalServerError
			b = []byte(`{"error":"estest: rendering response: ` + strings.ReplaceAll(err.Error(), `"`, `'`) + `","status":500}`)
		}
		data = b
	}
	w.WriteHeader(rep.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// responseContentType echoes ES's REST compatibility media type when the
// client asked for it (go-elasticsearch's EnableCompatibilityMode).
func responseContentType(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), "compatible-with=8") {
		return "application/vnd.elasticsearch+json;compatible-with=8"
	}
	return "application/json"
}

// readBody reads the whole body, undoing gzip as ES does when
// http.compression is on (go-elasticsearch's CompressRequestBody).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") && len(data) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return data, nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the connection without writing a response, which a
// client sees as EOF or a reset: a node that died mid-request.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// randomID returns n URL-safe base64 characters, the alphabet ES uses for
// auto-generated ids and UUIDs.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
