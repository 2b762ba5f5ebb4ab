package essink

import (
	"log/slog"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
)

// Defaults of the Config fields left at zero.
const (
	DefaultBatchDocs  = 500
	DefaultBatchBytes = 5 << 20
	// DefaultRetryMax is the transport's retries of one HTTP request (5 attempts in all).
	DefaultRetryMax = 4
	// DefaultItemRetryMax is the sink's retries of bulk items failed with 429 or 5xx.
	DefaultItemRetryMax = 3
	// DefaultRetryWaitMin and DefaultRetryWaitMax bound the backoff: the n-th wait (from 0) is
	// RetryWaitMin·2ⁿ capped at RetryWaitMax, of which a random half is kept (0.25–0.5 s,
	// 0.5–1 s, 1–2 s, 2–4 s, …): about 4–8 s before a request is given up with the defaults.
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 10 * time.Second
	// DefaultTimeout bounds one HTTP attempt, response included.
	DefaultTimeout = 30 * time.Second
	// DefaultStartupTimeout bounds Open's first contact with Elasticsearch.
	DefaultStartupTimeout = 30 * time.Second
	// DefaultTemplateBackoff is how long an unavailable Elasticsearch, found while installing the
	// templates, is remembered.
	DefaultTemplateBackoff = 5 * time.Second
)

// Config is how to reach Elasticsearch and how hard to try.
type Config struct {
	// URL is the Elasticsearch base URL, http(s)://host[:port][/path]. User info in it is used as
	// basic auth (unless Username is set) and never sent or logged as part of the URL.
	URL string
	// APIKey is the encoded API key (base64 of id:key); it wins over Username and Password.
	APIKey             string
	Username, Password string
	// CAFile is a PEM file of CAs trusted in addition to the system's, for a private CA. TLS is
	// always verified.
	CAFile string
	// Indices names the indices whose templates EnsureTemplates installs.
	Indices document.Indices

	// BatchDocs and BatchBytes bound one _bulk request: at most BatchDocs documents and, unless a
	// single document is larger, at most BatchBytes bytes of NDJSON.
	BatchDocs  int
	BatchBytes int
	// RetryMax is the transport's retries of one HTTP request; negative means none.
	RetryMax int
	// ItemRetryMax is the sink's retries of items failed with 429 or 5xx; negative means none.
	ItemRetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff of both retry layers.
	RetryWaitMin, RetryWaitMax time.Duration
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration
	// StartupTimeout bounds Open's template installation.
	StartupTimeout time.Duration
	// TemplateBackoff is how long an attempt at installing the templates that found
	// Elasticsearch unavailable is remembered: Writes in that time fail at once, unsent, instead
	// of each waiting for its own round of retries. Negative means not at all.
	TemplateBackoff time.Duration
	// Now is the clock TemplateBackoff is measured with; nil is time.Now.
	Now func() time.Time
	// Log gets retries (warn), the transport's attempts (debug) and Open's warnings; nil
	// discards them.
	Log *slog.Logger
}

// FromES returns the Config for the settings awsaudit loads from its flags and environment;
// the tuning fields keep their defaults.
func FromES(es config.ES, log *slog.Logger) Config {
	return Config{
		URL: es.URL, APIKey: es.APIKey, Username: es.Username, Password: es.Password,
		CAFile: es.CAFile, Indices: es.Indices, Log: log,
	}
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.BatchDocs <= 0 {
		c.BatchDocs = DefaultBatchDocs
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	c.RetryMax = retries(c.RetryMax, DefaultRetryMax)
	c.ItemRetryMax = retries(c.ItemRetryMax, DefaultItemRetryMax)
	if c.RetryWaitMin <= 0 {
		c.RetryWaitMin = DefaultRetryWaitMin
	}
	if c.RetryWaitMax <= 0 {
		c.RetryWaitMax = DefaultRetryWaitMax
	}
	if c.RetryWaitMax < c.RetryWaitMin {
		c.RetryWaitMax = c.RetryWaitMin
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StartupTimeout <= 0 {
		c.StartupTimeout = DefaultStartupTimeout
	}
	switch {
	case c.TemplateBackoff == 0:
		c.TemplateBackoff = DefaultTemplateBackoff
	case c.TemplateBackoff < 0:
		c.TemplateBackoff = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Indices == (document.Indices{}) {
		c.Indices = document.DefaultIndices()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// retries reads a retry count: zero is the default, negative is none.
func retries(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
