package awsapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// recordingClient keeps the request it was asked to send.
type recordingClient struct{ got *http.Request }

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	c.got = req
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestHTTPClientHidesWriteTo(t *testing.T) {
	tests := []struct {
		name string
		body io.ReadCloser
	}{
		{"WriterTo body", io.NopCloser(strings.NewReader("Action=DescribeInstances"))},
		{"plain body", readCloser{io.NopCloser(strings.NewReader("Action=DescribeInstances"))}},
		{"no body", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingClient{}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1:1/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Body = tt.body
			if _, err := (HTTPClient{inner: rec}).Do(req); err != nil {
				t.Fatal(err)
			}
			if _, ok := rec.got.Body.(io.WriterTo); ok {
				t.Errorf("body %T still offers WriteTo", rec.got.Body)
			}
			if tt.body == nil {
				return
			}
			b, err := io.ReadAll(rec.got.Body)
			if err != nil || string(b) != "Action=DescribeInstances" {
				t.Errorf("body reads %q, %v", b, err)
			}
		})
	}
}

// LoadConfig's clients use the wrapped HTTP client, with the loader's own settings (such as a
// custom CA bundle) kept inside it.
func TestLoadConfigUsesTheWrappedClient(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	cfg, err := LoadConfig(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.HTTPClient.(HTTPClient); !ok {
		t.Fatalf("HTTP client is %T, want awsapi.HTTPClient", cfg.HTTPClient)
	}
}
