package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a reverse proxy on a loopback port that forwards to an AWS
// endpoint (moto) and answers matching requests with injected faults.
type Proxy struct {
	// URL is the proxy's base URL; point the SDK's BaseEndpoint here.
	URL string

	target    *url.URL
	server    *http.Server
	transport *http.Transport
	upstream  *httputil.ReverseProxy
	served    chan struct{}

	mu    sync.Mutex
	rules []*Handle
	calls map[Call]int
}

// New starts a proxy for targetURL (e.g. moto's http://127.0.0.1:PORT) on a
// free loopback port. Stop it with Close.
func New(targetURL string) (*Proxy, error) {
	target, err := url.Parse(targetURL)
	if err != nil {
		return nil, fmt.Errorf("parsing target URL %q: %w", targetURL, err)
	}
	if target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("parsing target URL %q: want scheme://host:port", targetURL)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // never route loopback test traffic via HTTP_PROXY
	// Without this the transport would add its own Accept-Encoding and
	// decompress, so the target would not see the client's headers.
	transport.DisableCompression = true
	transport.MaxIdleConnsPerHost = 64

	p := &Proxy{
		URL:       "http://" + l.Addr().String(),
		target:    target,
		transport: transport,
		served:    make(chan struct{}),
		calls:     make(map[Call]int),
	}
	p.upstream = &httputil.ReverseProxy{
		Rewrite:       p.rewrite,
		Transport:     transport,
		FlushInterval: -1, // stream: flush after every write
		ErrorHandler:  p.upstreamError,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		// Dropped connections and clients giving up are the point here,
		// not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(p.served)
		p.server.Serve(l)
	}()
	return p, nil
}

// Start starts a proxy for targetURL that t.Cleanup closes.
func Start(t testing.TB, targetURL string) *Proxy {
	t.Helper()
	p, err := New(targetURL)
	if err != nil {
		t.Fatalf("starting fault proxy: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing fault proxy: %v", err)
		}
	})
	return p
}

// Close stops the proxy and drops any open connections.
func (p *Proxy) Close() error {
	err := p.server.Close()
	<-p.served
	p.transport.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Add installs a rule. Rules are tried in the order added; the first one
// that matches and has uses left answers the request. A request no rule
// matches is forwarded unchanged.
func (p *Proxy) Add(r Rule) *Handle {
	if r.Respond == nil {
		panic("faultproxy: Rule.Respond is nil")
	}
	h := &Handle{p: p, rule: r}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, h)
	return h
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Calls returns how many requests the proxy received per call, including
// those a rule answered. Requests without a recognisable operation (moto's
// own /moto-api) are not counted.
func (p *Proxy) Calls() map[Call]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.calls)
}

// Count returns how many requests for service and operation the proxy
// received, summed over regions.
func (p *Proxy) Count(service, operation string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c, k := range p.calls {
		if c.Service == service && c.Operation == operation {
			n += k
		}
	}
	return n
}

// ResetCalls sets every call count back to zero.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.calls)
}

// ServeHTTP counts the request and either answers it with the first matching
// rule or forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		http.Error(w, fmt.Sprintf("faultproxy: reading request body: %v", err), http.StatusBadRequest)
		return
	}
	req := parseRequest(r, body)
	req.forward = p.upstream.ServeHTTP

	respond := p.route(req)
	if respond == nil {
		req.Forward(w)
		return
	}
	respond(w, req)
}

// route records the call and claims a use of the first matching rule.
func (p *Proxy) route(req *Request) Responder {
	p.mu.Lock()
	defer p.mu.Unlock()
	if req.Operation != "" {
		p.calls[req.Call]++
	}
	for _, h := range p.rules {
		if h.matches(req) {
			h.hits++
			return h.rule.Respond
		}
	}
	return nil
}

// rewrite sends the request to the target as the client sent it: same path,
// query, Host and headers (so the SigV4 signature still matches).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target)
	pr.Out.Host = pr.In.Host
	// ReverseProxy strips these before Rewrite; put back what the client
	// sent rather than inventing or dropping any.
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
}

func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client has gone; nobody to answer
	}
	http.Error(w, fmt.Sprintf("faultproxy: forwarding to %s: %v", p.target, err), http.StatusBadGateway)
}
