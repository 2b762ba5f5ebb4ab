package ec2xml

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/tracing"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/awsaudit/awsaudit/internal/logkey"
)

// deserializerID is the SDK's name for an operation's own deserializer; the replacement keeps
// it, so middleware placed relative to it stays where it was.
const deserializerID = "OperationDeserializer"

// Use returns an EC2 client option that decodes the client's DescribeInstances answers with
// Decode, leaving every other answer, and any answer Decode does not take, to the SDK. log (nil
// for none) gets a debug line for each answer left to the SDK's deserializer.
func Use(log *slog.Logger) func(*ec2.Options) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return install(st, log) })
	}
}

// install swaps DescribeInstances' deserializer for one that tries Decode first.
func install(st *middleware.Stack, log *slog.Logger) error {
	if st.ID() != "DescribeInstances" {
		return nil
	}
	sdk, ok := st.Deserialize.Get(deserializerID)
	if !ok {
		return fmt.Errorf("ec2xml: DescribeInstances has no %s middleware", deserializerID)
	}
	if _, ok := sdk.(*deserializer); ok {
		return nil
	}
	_, err := st.Deserialize.Swap(deserializerID, &deserializer{sdk: sdk, log: log})
	return err
}

// deserializer decodes a 2xx answer with Decode. Anything else — a transport error, an error
// status, a body that cannot be read whole or that Decode does not take — goes to the SDK's
// own deserializer, given exactly what it would have had: the same response, its body replayed
// from memory up to the same read error if there was one. Errors, their codes and request ids,
// and so retries, stay the SDK's. It runs once per attempt, inside the retry loop.
type deserializer struct {
	sdk middleware.DeserializeMiddleware
	log *slog.Logger
}

func (*deserializer) ID() string { return deserializerID }

func (m *deserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return m.sdk.HandleDeserialize(ctx, in, replay{out, md, err})
	}
	_, span := tracing.StartSpan(ctx, deserializerID)
	defer span.End()

	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	if n := resp.ContentLength; n > 0 && n <= maxPresize {
		// ReadFrom wants MinRead bytes free to see the end: without them a full buffer doubles.
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, rerr := buf.ReadFrom(resp.Body)
	if rerr == nil {
		result, derr := Decode(buf.Bytes())
		if derr == nil {
			// The strings in result are copies: the buffer can serve the next answer.
			bodies.Put(buf)
			smithyhttp.CloseResponseBody(ctx, resp, false, nil)
			out.Result = result
			return out, md, nil
		}
		m.log.Debug("DescribeInstances answer left to the SDK's decoder", logkey.Region, awsmiddleware.GetRegion(ctx), logkey.Reason, derr.Error())
	}
	// The SDK reads what was read, then the read's error, if any. The buffer is not reused: the
	// response, which errors may keep, refers to it.
	resp.Body = replayBody{Reader: io.MultiReader(bytes.NewReader(buf.Bytes()), errReader{rerr}), Closer: resp.Body}
	return m.sdk.HandleDeserialize(ctx, in, replay{out, md, nil})
}

// maxPresize bounds the buffer allocated ahead from Content-Length (a 1,000-instance page as EC2
// indents it is about 9 MB).
const maxPresize = 64 << 20

// bodies holds answer buffers for reuse across clients: a sweep reads pages of about the same
// size, several regions at a time.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// replay is the rest of the stack, already run: it answers what it answered.
type replay struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
	err error
}

func (r replay) HandleDeserialize(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return r.out, r.md, r.err
}

type replayBody struct {
	io.Reader
	io.Closer
}

// errReader answers err, or io.EOF when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}
