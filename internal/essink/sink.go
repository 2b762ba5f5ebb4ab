package essink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// sinkName names the sink in a document.WriteError.
const sinkName = "elasticsearch"

// Sink writes documents to Elasticsearch 8. It is safe for concurrent use.
type Sink struct {
	cfg Config
	es  *elasticsearch.Client
	// url is the base URL without user info, for messages.
	url string
	red redactor

	// tmu guards the template state: templatesOK once they are installed; tcall, the attempt in
	// flight; unavailable, an attempt's ErrUnavailable, remembered until retryAt.
	tmu         sync.Mutex
	templatesOK bool
	tcall       *templateCall
	unavailable error
	retryAt     time.Time
}

var _ document.Sink = (*Sink)(nil)

// New returns a sink for c. It checks the URL and reads the CA file but does not contact
// Elasticsearch (Open does). Credentials are refused over plain http to another machine
// (config.CheckPlainHTTP).
func New(c Config) (*Sink, error) {
	c = c.withDefaults()
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the Elasticsearch URL %q is not an http(s) URL", redactURL(c.URL))
	}
	if u.User != nil {
		// Credentials in the URL are basic auth; they are taken out so the URL can be logged and
		// sent as is.
		if c.Username == "" && c.APIKey == "" {
			c.Username = u.User.Username()
			c.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	if c.APIKey != "" || c.Username != "" || c.Password != "" {
		if err := config.CheckPlainHTTP(c.URL); err != nil {
			return nil, fmt.Errorf("not sending credentials to Elasticsearch: %w", err)
		}
	}
	red := newRedactor(c.APIKey, c.Username, c.Password)
	tr, err := newTransport(c, red)
	if err != nil {
		return nil, err
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{u.String()},
		APIKey:    c.APIKey,
		Username:  c.Username,
		Password:  c.Password,
		Transport: tr,
		// One retry layer per client: the transport's.
		DisableRetry: true,
	})
	if err != nil {
		return nil, red.Err(fmt.Errorf("creating the Elasticsearch client: %w", err))
	}
	return &Sink{cfg: c, es: es, url: u.String(), red: red}, nil
}

// Open returns a sink with its index templates installed. When Elasticsearch cannot be
// reached (ErrUnavailable, or no answer within StartupTimeout) it logs a warning and returns the
// sink anyway: Write installs the templates before the first document, and the documents it
// cannot write are in its WriteError for the caller to spool. An unavailable Elasticsearch that
// Open's own attempt found is not remembered (see EnsureTemplates): the first Write tries again;
// an attempt still running when StartupTimeout ends goes on, and the first Writes wait for it.
// Any other failure (credentials or privileges refused, a certificate not trusted, a template
// rejected) is returned, since waiting will not fix it.
func Open(ctx context.Context, c Config) (*Sink, error) {
	s, err := New(c)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	err = s.EnsureTemplates(sctx)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, ErrUnavailable) || (sctx.Err() != nil && ctx.Err() == nil):
		s.forgetUnavailable()
		s.cfg.Log.Warn("Elasticsearch is unreachable; its index templates will be installed before the first write, and documents it does not take are spooled",
			"url", s.url, logkey.Error, err.Error())
		return s, nil
	}
	s.Close()
	return nil, err
}

// URL is the Elasticsearch URL without user info.
func (s *Sink) URL() string { return s.url }

// Close stops an attempt at installing the templates still in flight and releases the
// client's connections.
func (s *Sink) Close() error {
	s.stopTemplates()
	err := s.es.Close(context.Background())
	if errors.Is(err, elasticsearch.ErrAlreadyClosed) {
		return nil
	}
	return err
}

// send performs req. A transport error comes back classified (ErrUnavailable, or a TLS error
// that names its cause) and redacted; any HTTP answer comes back as a response, for the caller
// to check.
func (s *Sink) send(ctx context.Context, req esapi.Request) (*esapi.Response, error) {
	res, err := req.Do(ctx, s.es)
	if err == nil {
		return res, nil
	}
	switch {
	case ctx.Err() != nil:
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	case permanentTransportError(err):
		err = fmt.Errorf("no trusted TLS connection to Elasticsearch (is its CA in the CA file, and is the URL's scheme right?): %w", err)
	default:
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil, s.red.Err(err)
}

// failure reads the error from an answer that is not a success and closes its body.
func (s *Sink) failure(res *esapi.Response) error {
	defer res.Body.Close()
	attempts := 1
	if retryableStatus(res.StatusCode) {
		// The transport only hands over a retryable status once it has used up its retries.
		attempts = s.cfg.RetryMax + 1
	}
	e := responseError(res.StatusCode, res.Body, attempts)
	e.Reason = s.red.String(e.Reason)
	return e
}

// redactURL drops the user info from a URL for a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	return u.String()
}

// ok reports whether an answer is a success.
func ok(res *esapi.Response) bool {
	return res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusMultipleChoices
}
