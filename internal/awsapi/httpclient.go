package awsapi

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient is the SDK's default HTTP client with one race removed; LoadConfig uses it.
//
// smithy-go closes the request body as soon as client.Do returns, which is
// when response headers arrive. net/http's write loop may still be checking
// the body for bytes beyond Content-Length; smithy's closed body then answers
// WriteTo with io.EOF, which net/http takes for a write error, so it closes
// the connection, sometimes while the response body is being read ("use of
// closed network connection"). The SDK retries that, so production only
// pays an extra request, but call-count assertions turn flaky: with
// faultproxy, which answers the instant the body is in, about one run in
// five of its tests failed when another package's tests ran alongside, and
// the API call counts awsaudit reports (--stats, make bench) would be off.
// Hiding WriteTo makes net/http use Read, which returns a plain EOF.
type HTTPClient struct {
	inner aws.HTTPClient
}

// NewHTTPClient returns the SDK's default buildable client, wrapped.
func NewHTTPClient() HTTPClient { return WrapHTTPClient(nil) }

// WrapHTTPClient wraps c, or the SDK's default buildable client when c is nil.
func WrapHTTPClient(c aws.HTTPClient) HTTPClient {
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	if w, ok := c.(HTTPClient); ok {
		return w
	}
	return HTTPClient{inner: c}
}

// Do sends req with its body stripped down to Read and Close.
func (c HTTPClient) Do(req *http.Request) (*http.Response, error) {
	if _, ok := req.Body.(io.WriterTo); ok {
		req.Body = readCloser{req.Body}
	}
	return c.inner.Do(req)
}

// readCloser exposes only Read and Close of the body it wraps.
type readCloser struct {
	io.ReadCloser
}
