package essink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// TestCheckRetry: the transport retries what may succeed later (connection errors, 429, 502,
// 503, 504) and nothing else; where go-retryablehttp's default policy differs, the row says so.
func TestCheckRetry(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &url.Error{Op: "Post", URL: "http://es/_bulk", Err: syscall.ECONNREFUSED}
	untrusted := &url.Error{Op: "Post", URL: "https://es/_bulk", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}
	wrongHost := &url.Error{Op: "Post", URL: "https://es/_bulk", Err: x509.HostnameError{Host: "es", Certificate: &x509.Certificate{}}}
	notTLS := &url.Error{Op: "Post", URL: "https://es/_bulk", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		status      int
		err         error
		want        bool
		defaultWant bool
	}{
		{"connection refused", context.Background(), 0, refused, true, true},
		{"untrusted certificate", context.Background(), 0, untrusted, false, false},
		{"certificate for another host (the default retries it)", context.Background(), 0, wrongHost, false, true},
		{"not TLS (the default retries it)", context.Background(), 0, notTLS, false, true},
		{"context cancelled", cancelled, 0, refused, false, false},
		{"200", context.Background(), 200, nil, false, false},
		{"400", context.Background(), 400, nil, false, false},
		{"401", context.Background(), 401, nil, false, false},
		{"404", context.Background(), 404, nil, false, false},
		{"409", context.Background(), 409, nil, false, false},
		{"413", context.Background(), 413, nil, false, false},
		{"429", context.Background(), 429, nil, true, true},
		{"500 (the default retries it)", context.Background(), 500, nil, false, true},
		{"501", context.Background(), 501, nil, false, false},
		{"502", context.Background(), 502, nil, true, true},
		{"503", context.Background(), 503, nil, true, true},
		{"504", context.Background(), 504, nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil {
				resp = &http.Response{StatusCode: tc.status, Status: fmt.Sprint(tc.status)}
			}
			got, _ := checkRetry(tc.ctx, resp, tc.err)
			if got != tc.want {
				t.Errorf("checkRetry = %v, want %v", got, tc.want)
			}
			def, _ := retryablehttp.DefaultRetryPolicy(tc.ctx, resp, tc.err)
			if def != tc.defaultWant {
				t.Errorf("retryablehttp.DefaultRetryPolicy = %v; the table's note on it is out of date", def)
			}
		})
	}
}

// TestBackoff: waits grow exponentially within [half, whole] of min·2ⁿ, are capped at max, and a
// Retry-After on a 429 is honoured up to max.
func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for attempt, full := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		full *= time.Millisecond
		for range 50 {
			if d := backoff(lo, hi, attempt, nil); d < full/2 || d > full {
				t.Fatalf("attempt %d waited %v, want %v to %v", attempt, d, full/2, full)
			}
		}
	}
	if d := backoff(lo, hi, 1000, nil); d < hi/2 || d > hi {
		t.Errorf("a huge attempt number waited %v", d)
	}
	for _, tc := range []struct {
		status int
		after  string
		want   time.Duration
	}{
		{429, "0", 0},
		{503, "1", time.Second},
		{429, "30", hi},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Retry-After": {tc.after}}}
		if d := backoff(lo, hi, 0, resp); d != tc.want {
			t.Errorf("%d with Retry-After %s waited %v, want %v", tc.status, tc.after, d, tc.want)
		}
	}
}

// TestRedactor: every form a credential travels in is replaced, and the error still unwraps.
func TestRedactor(t *testing.T) {
	r := newRedactor("aWQ6c2VjcmV0LWtleQ==", "user", "hunter22")
	msg := "key aWQ6c2VjcmV0LWtleQ== id:secret-key secret-key pw hunter22 basic dXNlcjpodW50ZXIyMg=="
	if got := r.String(msg); got != "key REDACTED REDACTED REDACTED pw REDACTED basic REDACTED" {
		t.Errorf("redacted to %q", got)
	}
	base := errors.New("wrapped hunter22")
	err := r.Err(fmt.Errorf("x: %w", base))
	if err.Error() != "x: wrapped REDACTED" || !errors.Is(err, base) {
		t.Errorf("Err = %v (unwraps: %v)", err, errors.Is(err, base))
	}
	if short := newRedactor("", "u", "pw"); short.String("pw stays") != "pw stays" {
		t.Error("a too-short password was replaced everywhere")
	}
}
