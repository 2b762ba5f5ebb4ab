package essink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// retryableStatus reports whether an answer means "not now" rather than "no": 429 (ES's write
// queues are full, or a circuit breaker tripped) and the gateway and availability errors.
// A 500 is not retried: ES answers it for bugs and bad requests it did not classify, which a
// second attempt does not fix.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// newTransport returns go-elasticsearch's transport: go-retryablehttp over an http.Client that
// verifies TLS (with the CA file's certificates added) and bounds each attempt.
func newTransport(c Config, red redactor) (http.RoundTripper, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := caPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	base.MaxIdleConnsPerHost = 8

	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: base, Timeout: c.Timeout},
		RetryMax:     c.RetryMax,
		RetryWaitMin: c.RetryWaitMin,
		RetryWaitMax: c.RetryWaitMax,
		CheckRetry:   checkRetry,
		Backoff:      backoff,
		ErrorHandler: giveUp,
		// The default logger prints to stderr through the log package; ours goes to slog at
		// debug, every value redacted.
		Logger: leveledLogger{log: c.Log, red: red},
	}
	return &retryablehttp.RoundTripper{Client: rc}, nil
}

// caPool returns the system's CAs plus those in file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the Elasticsearch CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the Elasticsearch CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// checkRetry is the transport's retry policy: connection errors and timeouts, 429, 502, 503,
// 504. go-retryablehttp's DefaultRetryPolicy also retries 500 and other 5xx (not 501); this one
// does not (see retryableStatus), and it gives up at once on a certificate or protocol error.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if permanentTransportError(err) {
			return false, err
		}
		return true, nil
	}
	return retryableStatus(resp.StatusCode), nil
}

// permanentTransportError reports errors that a retry cannot fix: the server's certificate is
// not trusted or does not match, or it does not speak TLS.
func permanentTransportError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record)
}

// backoff waits RetryWaitMin·2ⁿ, capped at RetryWaitMax, with equal jitter (a random point in
// the upper half), so clients that failed together do not retry together. A Retry-After in
// seconds on a 429 or 503 is honoured up to RetryWaitMax.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, hi)
		}
	}
	return jitter(lo, hi, attempt)
}

// jitter is the n-th (from 0) exponential wait with equal jitter.
func jitter(lo, hi time.Duration, attempt int) time.Duration {
	d := hi
	if attempt < 32 {
		if v := lo << attempt; v > 0 && v < hi {
			d = v
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// giveUp is what the transport returns once it stops retrying. A response (a 429 or 5xx after
// the last attempt) goes to the caller, which reads ES's error from it; otherwise the error
// says how many attempts were made.
func giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if resp != nil && err == nil {
		return resp, nil
	}
	if resp != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	// The URL carries the query (filter_path) and the caller names the server already: the
	// method and path say enough.
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			err = fmt.Errorf("%s %s: %w", strings.ToUpper(ue.Op), u.Path, ue.Err)
		}
	}
	if attempts > 1 {
		return nil, fmt.Errorf("giving up after %d attempts: %w", attempts, err)
	}
	return nil, err
}

// leveledLogger adapts slog to go-retryablehttp's LeveledLogger. Its messages are about single
// attempts, so they go to debug (and a failed attempt to warn); the outcome of the whole request
// is the sink's to report. Values are redacted (go-retryablehttp logs URLs, which carry no
// credentials here, but a message is never trusted to).
type leveledLogger struct {
	log *slog.Logger
	red redactor
}

func (l leveledLogger) emit(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]any, 0, len(kv)+2)
	attrs = append(attrs, "component", "retryablehttp")
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, l.red.Value(kv[i]), l.red.Value(kv[i+1]))
	}
	l.log.Log(ctx, level, l.red.String(msg), attrs...)
}

func (l leveledLogger) Error(msg string, kv ...any) { l.emit(slog.LevelWarn, msg, kv) }
func (l leveledLogger) Info(msg string, kv ...any)  { l.emit(slog.LevelDebug, msg, kv) }
func (l leveledLogger) Debug(msg string, kv ...any) { l.emit(slog.LevelDebug, msg, kv) }
func (l leveledLogger) Warn(msg string, kv ...any)  { l.emit(slog.LevelWarn, msg, kv) }
