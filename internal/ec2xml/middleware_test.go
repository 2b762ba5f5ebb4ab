package ec2xml_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// TestUseAnswersAsTheSDK sends every decode case through two clients, one with Use: the answers
// Decode takes must read as the SDK reads them, the others must come out exactly as the SDK
// alone returns them (every field, or the same error), with a debug line saying so.
func TestUseAnswersAsTheSDK(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			got, err := cannedClient(http.StatusOK, []byte(c.body), ec2xml.New(log).Use).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
			want, werr := cannedClient(http.StatusOK, []byte(c.body)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Fatalf("error %v, the SDK's %v", err, werr)
			}
			left := strings.Contains(logs.String(), "left to the SDK")
			if left == c.fast {
				t.Errorf("answer left to the SDK: %t, want %t; log: %s", left, !c.fast, logs.String())
			}
			if err != nil {
				return
			}
			if id, _ := awsmiddleware.GetRequestIDMetadata(got.ResultMetadata); id != "canned-request" {
				t.Errorf("request id %q, want the response's", id)
			}
			if c.fast {
				if d := sameAsSDK(got, want); d != "" {
					t.Fatal(d)
				}
				return
			}
			got.ResultMetadata, want.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("left to the SDK, the answer reads\n%s\nnot\n%s", dump(got), dump(want))
			}
		})
	}
}

// ec2Error is EC2's answer to a DescribeInstances of an instance that does not exist.
const ec2Error = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-0123456789abcdef0' does not exist</Message></Error></Errors><RequestID>4f3a8a40-req</RequestID></Response>`

// TestUseLeavesErrorsToTheSDK checks that an error answer keeps the SDK's typed error: its code
// (which awsapi classifies), message and request id.
func TestUseLeavesErrorsToTheSDK(t *testing.T) {
	_, err := cannedClient(http.StatusBadRequest, []byte(ec2Error), ec2xml.New(nil).Use).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	_, want := cannedClient(http.StatusBadRequest, []byte(ec2Error)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidInstanceID.NotFound" || api.ErrorMessage() != "The instance ID 'i-0123456789abcdef0' does not exist" {
		t.Fatalf("error %v, want the SDK's API error", err)
	}
	var re, wantRE *awshttp.ResponseError
	if !errors.As(err, &re) || !errors.As(want, &wantRE) || re.ServiceRequestID() != wantRE.ServiceRequestID() || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("error %v, want a response error with the request id of the SDK's, %v", err, want)
	}
	if awsapi.Classify(err) != awsapi.NotFound || err.Error() != want.Error() {
		t.Errorf("error %v (%v), the SDK's %v", err, awsapi.Classify(err), want)
	}
}

// flaky serves DescribeInstances answers from a list, one per request, the last for all after;
// "cut" sends half of stdPage and drops the connection.
type flaky struct {
	answers []string
	calls   atomic.Int32
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	a := f.answers[min(n, len(f.answers)-1)]
	switch {
	case a == "cut":
		w.Header().Set("Content-Length", strconv.Itoa(len(stdPage)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(stdPage[:len(stdPage)/2]))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		}
	case a == "throttled":
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>`))
	default:
		_, _ = w.Write([]byte(a))
	}
}

// TestUseRetriesAsTheSDK runs failing attempts against both clients: the same attempts are
// made and counted (the counter sits in the retry loop, outside the deserializer), and the same
// outcome comes out.
func TestUseRetriesAsTheSDK(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []string
		fails   bool
	}{
		{"throttled, then answered", []string{"throttled", "throttled", stdPage}, false},
		{"cut off, then answered", []string{"cut", stdPage}, false},
		{"always cut off", []string{"cut"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error, int, int) {
				f := &flaky{answers: tc.answers}
				srv := httptest.NewServer(f)
				defer srv.Close()
				counter := awsapi.NewCounter()
				cfg := aws.Config{
					Region:       "us-east-1",
					BaseEndpoint: aws.String(srv.URL),
					Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
					HTTPClient:   awsapi.NewHTTPClient(),
					Retryer: func() aws.Retryer {
						return retry.NewStandard(func(o *retry.StandardOptions) {
							o.MaxAttempts = 3
							o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
						})
					},
				}
				counter.Attach(&cfg)
				out, err := ec2.NewFromConfig(cfg, opts...).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
				return out, err, counter.ByOperation()["EC2.DescribeInstances"], int(f.calls.Load())
			}
			got, err, counted, served := run(ec2xml.New(nil).Use)
			want, werr, wantCounted, wantServed := run()
			if counted != wantCounted || served != wantServed || counted != served {
				t.Errorf("%d attempts counted, %d served; the SDK alone: %d counted, %d served", counted, served, wantCounted, wantServed)
			}
			if (err != nil) != tc.fails || (werr != nil) != tc.fails {
				t.Fatalf("error %v, the SDK's %v; want failure %t", err, werr, tc.fails)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "deserialization failed") || !strings.Contains(werr.Error(), "deserialization failed") {
					t.Errorf("error %v, the SDK's %v", err, werr)
				}
				return
			}
			if d := sameAsSDK(got, want); d != "" {
				t.Error(d)
			}
			if got.Reservations[0].Instances[0].InstanceType != "" {
				t.Error("the last attempt was not decoded by Decode")
			}
		})
	}
}

// TestUseLeavesOtherOperations checks that other operations of the client keep the SDK's
// deserializers, and that Use given twice installs once.
func TestUseLeavesOtherOperations(t *testing.T) {
	body := `<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><regionInfo><item><regionName>eu-west-1</regionName><regionEndpoint>ec2.eu-west-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item></regionInfo></DescribeRegionsResponse>`
	out, err := cannedClient(http.StatusOK, []byte(body), ec2xml.New(nil).Use).DescribeRegions(t.Context(), &ec2.DescribeRegionsInput{})
	if err != nil || len(out.Regions) != 1 || aws.ToString(out.Regions[0].RegionName) != "eu-west-1" || aws.ToString(out.Regions[0].OptInStatus) != "opt-in-not-required" {
		t.Fatalf("DescribeRegions: %+v, %v", out, err)
	}
	got, err := cannedClient(http.StatusOK, []byte(stdPage), ec2xml.New(nil).Use, ec2xml.New(nil).Use).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	if err != nil || len(got.Reservations) != 1 || got.Reservations[0].Instances[0].InstanceType != "" {
		t.Fatalf("DescribeInstances with Use twice: %v", err)
	}
}

// stallingClient answers the first `stalled` calls with a body that sends nothing until open is
// closed, and the others at once.
type stallingClient struct {
	open    chan struct{}
	stalled int32
	calls   atomic.Int32
}

func (c *stallingClient) Do(req *http.Request) (*http.Response, error) {
	var body io.ReadCloser = io.NopCloser(strings.NewReader(stdPage))
	if c.calls.Add(1) <= c.stalled {
		body = &stalledBody{open: c.open, r: strings.NewReader(stdPage)}
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: int64(len(stdPage)), Body: body, Request: req}, nil
}

type stalledBody struct {
	open <-chan struct{}
	r    *strings.Reader
}

func (b *stalledBody) Read(p []byte) (int, error) {
	<-b.open
	return b.r.Read(p)
}

func (b *stalledBody) Close() error { return nil }

// TestStalledAnswersHoldNoOtherUp: answers stalled mid-read in some regions hold every turn; a
// healthy region's answer, finding none within the wait, is left to the SDK's deserializer and
// listed all the same; the stalled ones are decoded when they come.
func TestStalledAnswersHoldNoOtherUp(t *testing.T) {
	stall := &stallingClient{open: make(chan struct{}), stalled: 2}
	dec := ec2xml.New(nil)
	ec2xml.SetTurnWait(dec, 50*time.Millisecond)
	list := func(ctx context.Context) (*ec2.DescribeInstancesOutput, error) {
		client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://stalling.invalid"),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: stall, RetryMaxAttempts: 1}, dec.Use)
		return client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	}
	stalled := make(chan error, 2)
	for range 2 {
		go func() {
			out, err := list(context.Background())
			if err == nil && out.Reservations[0].Instances[0].InstanceType != "" {
				err = errors.New("a stalled answer was not decoded by ec2xml once it came")
			}
			stalled <- err
		}()
	}
	for stall.calls.Load() < 2 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := list(ctx)
	if err != nil {
		t.Fatalf("a healthy listing while two answers stall: %v", err)
	}
	if out.Reservations[0].Instances[0].InstanceType == "" {
		t.Error("the healthy answer was decoded by ec2xml, though every turn was held")
	}
	close(stall.open)
	for range 2 {
		if err := <-stalled; err != nil {
			t.Error(err)
		}
	}
}

// TestDecoderHoldsTwoAnswersAtOnce runs four DescribeInstances through clients sharing a Decoder:
// two answers are read at once, the others wait their turn, and all four are decoded by ec2xml.
func TestDecoderHoldsTwoAnswersAtOnce(t *testing.T) {
	gate := &gatedClient{open: make(chan struct{})}
	dec := ec2xml.New(nil)
	ec2xml.SetTurnWait(dec, time.Minute)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://gated.invalid"),
				Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: gate, RetryMaxAttempts: 1}, dec.Use)
			out, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
			if err == nil && out.Reservations[0].Instances[0].InstanceType != "" {
				err = errors.New("the answer was not decoded by ec2xml")
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for gate.calls.Load() < 4 || gate.reading.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers, %d being read", gate.calls.Load(), gate.reading.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.open)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if most := gate.most.Load(); most != 2 {
		t.Errorf("%d answers read at once, want 2", most)
	}
}

// gatedClient answers every call with a body that counts the bodies being read and sends
// nothing until open is closed.
type gatedClient struct {
	open           chan struct{}
	calls, reading atomic.Int32
	most           atomic.Int32
}

func (c *gatedClient) Do(req *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: int64(len(stdPage)),
		Body: &gatedBody{c: c, r: strings.NewReader(stdPage)}, Request: req}, nil
}

type gatedBody struct {
	c             *gatedClient
	r             *strings.Reader
	started, done bool
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		n := b.c.reading.Add(1)
		for m := b.c.most.Load(); n > m && !b.c.most.CompareAndSwap(m, n); m = b.c.most.Load() {
		}
		<-b.c.open
	}
	n, err := b.r.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.c.reading.Add(-1)
	}
	return n, err
}

func (b *gatedBody) Close() error { return nil }
