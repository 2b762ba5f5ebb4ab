package endpoint

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/awsaudit/awsaudit/internal/awsapi"
)

// Config returns an SDK configuration for the endpoint at url: static credentials, no rate
// limiter, the HTTP client awsaudit uses.
func Config(url, region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   awsapi.NewHTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	}
}

// InMemoryConfig returns an SDK configuration whose HTTP client answers every request with body
// without any network: what is left of a call is the SDK's own work (serializing, signing,
// middleware, XML decoding).
func InMemoryConfig(body []byte, region string) aws.Config {
	cfg := Config("http://in-memory.invalid", region)
	cfg.HTTPClient = cannedClient(body)
	return cfg
}

type cannedClient []byte

func (c cannedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/xml;charset=UTF-8"}, "Content-Length": {strconv.Itoa(len(c))}},
		ContentLength: int64(len(c)),
		Body:          io.NopCloser(bytes.NewReader(c)),
		Request:       req,
	}, nil
}
