package ec2xml

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestDecodePanicLeavesTheAnswerToTheSDK checks that a panic in Decode (a bug) becomes an error,
// so the answer goes to the SDK, with a warning.
func TestDecodePanicLeavesTheAnswerToTheSDK(t *testing.T) {
	var logs bytes.Buffer
	d := New(slog.New(slog.NewTextHandler(&logs, nil)))
	d.decodeBody = func([]byte) (*ec2.DescribeInstancesOutput, error) { panic("index out of range") }
	out, err := d.decode(context.Background(), []byte("<DescribeInstancesResponse/>"))
	if out != nil || err == nil || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("decode: %v, %v", out, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "index out of range") {
		t.Errorf("log %q", logs.String())
	}
}

// sizedClient answers every request with body, its Content-Length told or not (streamed).
type sizedClient struct {
	body   []byte
	length bool
}

func (c sizedClient) Do(req *http.Request) (*http.Response, error) {
	n := int64(-1)
	if c.length {
		n = int64(len(c.body))
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: n,
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: req}, nil
}

// TestLargeAnswersLeftToTheSDK lowers a Decoder's cap on the answers it reads whole: an answer
// over it, its length told or streamed, goes to the SDK, which reads all of it (what was read,
// then the rest) and answers exactly as alone; an answer at the cap is decoded.
func TestLargeAnswersLeftToTheSDK(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "ec2-page.xml"))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(body))
	for _, tc := range []struct {
		name    string
		max     int64
		length  bool
		decoded bool
	}{
		{"at the cap, length told", size, true, true},
		{"at the cap, streamed", size, false, true},
		{"over the cap, length told", size - 1, true, false},
		{"over the cap, streamed", size - 1, false, false},
		{"far over the cap, streamed", 100, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			d := New(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			d.maxBody = tc.max
			describe := func(opts ...func(*ec2.Options)) *ec2.DescribeInstancesOutput {
				t.Helper()
				out, err := ec2.New(ec2.Options{
					Region:           "us-east-1",
					BaseEndpoint:     aws.String("http://sized.invalid"),
					Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
					HTTPClient:       sizedClient{body: body, length: tc.length},
					RetryMaxAttempts: 1,
				}, opts...).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
				if err != nil {
					t.Fatal(err)
				}
				out.ResultMetadata = middleware.Metadata{}
				return out
			}
			got, want := describe(d.Use), describe()
			if len(want.Reservations) == 0 || want.Reservations[0].Instances[0].InstanceType == "" {
				t.Fatal("the page has no instance type to tell the SDK's decoding by")
			}
			if decoded := got.Reservations[0].Instances[0].InstanceType == ""; decoded != tc.decoded {
				t.Fatalf("decoded by ec2xml: %t, want %t; log: %s", decoded, tc.decoded, logs.String())
			}
			if tc.decoded {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("left to the SDK, the answer reads otherwise than the SDK's alone")
			}
			if !strings.Contains(logs.String(), "left to the SDK") || !strings.Contains(logs.String(), fmt.Sprintf("over %d", tc.max)) {
				t.Errorf("log %q", logs.String())
			}
		})
	}
}

// countingBody is a body that counts the bytes read from it.
type countingBody struct {
	r io.Reader
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (*countingBody) Close() error { return nil }

// handover is the SDK's deserializer in place: it notes how much of the body had been read
// from the network when the answer came to it, and reads the body it is given.
type handover struct {
	network *countingBody
	readAt  int64
	got     []byte
}

func (*handover) ID() string { return deserializerID }

func (h *handover) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	h.readAt = h.network.n
	out, md, err := next.HandleDeserialize(ctx, in)
	if err == nil {
		h.got, err = io.ReadAll(out.RawResponse.(*smithyhttp.Response).Body)
	}
	return out, md, err
}

// TestLargeAnswerReadUpToTheCap checks that an answer over the cap is read from the network
// no further than the cap (and not at all when its Content-Length says so) before it goes to
// the SDK's deserializer, which gets every byte of it.
func TestLargeAnswerReadUpToTheCap(t *testing.T) {
	body := bytes.Repeat([]byte("<a/>"), 10000)
	for _, tc := range []struct {
		name   string
		length int64
		readAt int64
	}{
		{"length told", int64(len(body)), 0},
		{"streamed", -1, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(nil)
			d.maxBody = 1000
			network := &countingBody{r: bytes.NewReader(body)}
			sdk := &handover{network: network}
			resp := &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusOK, ContentLength: tc.length, Body: network}}
			_, _, err := (&deserializer{sdk: sdk, d: d}).HandleDeserialize(t.Context(), middleware.DeserializeInput{},
				replay{out: middleware.DeserializeOutput{RawResponse: resp}})
			if err != nil {
				t.Fatal(err)
			}
			if sdk.readAt != tc.readAt || !bytes.Equal(sdk.got, body) {
				t.Errorf("%d bytes read when the SDK got the answer, want %d; the SDK read %d bytes of %d, the same: %t",
					sdk.readAt, tc.readAt, len(sdk.got), len(body), bytes.Equal(sdk.got, body))
			}
		})
	}
}
