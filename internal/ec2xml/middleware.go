package ec2xml

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

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

// Decoder decodes the DescribeInstances answers of the EC2 clients it is given to (Use). It holds
// at most maxHeld answers whole at once (each read whole, up to maxBody, then decoded), however
// many clients and regions are listing, so memory does not grow with the regions listed at once.
// An answer that finds no turn within turnWait — the answers holding them are slow or stalled —
// is left to the SDK's deserializer, which streams it: a slow region never holds up another's
// listing, it only costs the others the SDK's decoding. One Decoder serves a process.
type Decoder struct {
	log        *slog.Logger
	decodeBody func([]byte) (*ec2.DescribeInstancesOutput, error) // Decode; tests replace it
	turns      chan struct{}                                      // one token per answer held
	maxBody    int64                                              // maxBody; tests lower it
	turnWait   time.Duration                                      // turnWait; tests lower it
}

// maxHeld is how many answers a Decoder holds at once. A page of 1,000 instances as EC2 indents
// it is about 9 MB, which a garbage-collected heap pays about twice; two pages decoding at once
// keep two cores busy (decoding one takes about 15 ms). Buffers are not kept between answers:
// kept, they would count as live heap and double the heap's goal.
const maxHeld = 2

// turnWait is how long an answer waits for a turn before it is left to the SDK: longer than
// reading and decoding a page normally takes, short against a listing's deadline.
const turnWait = time.Second

// maxBody bounds the answer a Decoder reads whole, and so the memory an answer can take before
// it is decoded, whatever its Content-Length says or however long it streams: a larger answer
// (EC2's pages are about 9 MB per 1,000 instances) goes to the SDK's deserializer, which reads
// what was read, then the rest from the network.
const maxBody = 256 << 20

// New returns a Decoder. log (nil for none) gets a debug line for each answer left to the SDK's
// deserializer.
func New(log *slog.Logger) *Decoder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Decoder{log: log, decodeBody: Decode, turns: make(chan struct{}, maxHeld), maxBody: maxBody, turnWait: turnWait}
}

// Use is an EC2 client option: the client's DescribeInstances answers are decoded with Decode,
// every other answer, and any answer Decode does not take, by the SDK.
func (d *Decoder) Use(o *ec2.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return install(st, d) })
}

// install swaps DescribeInstances' deserializer for one that tries Decode first.
func install(st *middleware.Stack, d *Decoder) error {
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
	_, err := st.Deserialize.Swap(deserializerID, &deserializer{sdk: sdk, d: d})
	return err
}

// deserializer decodes a 2xx answer with Decode. Anything else — a transport error, an error
// status, a body that cannot be read whole, is larger than maxBody or that Decode does not take
// — goes to the SDK's own deserializer, given exactly what it would have had: the same response,
// its body replayed from memory up to the same read error if there was one, then the rest of
// it. Errors, their codes and request ids, and so retries, stay the SDK's. It runs once per
// attempt, inside the retry loop.
type deserializer struct {
	sdk middleware.DeserializeMiddleware
	d   *Decoder
}

func (*deserializer) ID() string { return deserializerID }

func (m *deserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput,
	next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return m.sdk.HandleDeserialize(ctx, in, replay{out, md, err})
	}
	_, span := tracing.StartSpan(ctx, deserializerID)
	defer span.End()

	if n := resp.ContentLength; n > m.d.maxBody {
		m.d.leave(ctx, fmt.Sprintf("ec2xml: an answer of %d bytes, over %d", n, m.d.maxBody))
		return m.sdk.HandleDeserialize(ctx, in, replay{out, md, nil})
	}
	if !m.d.takeTurn(ctx) {
		// The SDK reads the body as it would have, from the network.
		return m.sdk.HandleDeserialize(ctx, in, replay{out, md, nil})
	}
	defer m.d.endTurn()
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxPresize {
		// ReadFrom wants MinRead bytes free to see the end: without them a full buffer doubles.
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, m.d.maxBody+1))
	if rerr == nil && int64(buf.Len()) > m.d.maxBody {
		m.d.leave(ctx, fmt.Sprintf("ec2xml: an answer over %d bytes", m.d.maxBody))
		resp.Body = replayBody{Reader: io.MultiReader(bytes.NewReader(buf.Bytes()), resp.Body), Closer: resp.Body}
		return m.sdk.HandleDeserialize(ctx, in, replay{out, md, nil})
	}
	if rerr == nil {
		result, derr := m.d.decode(ctx, buf.Bytes())
		if derr == nil {
			smithyhttp.CloseResponseBody(ctx, resp, false, nil)
			out.Result = result
			return out, md, nil
		}
	}
	// The SDK reads what was read, then the read's error, if any.
	resp.Body = replayBody{Reader: io.MultiReader(bytes.NewReader(buf.Bytes()), errReader{rerr}), Closer: resp.Body}
	return m.sdk.HandleDeserialize(ctx, in, replay{out, md, nil})
}

// takeTurn waits up to turnWait for a turn to hold an answer; false when none came (the answer
// is left to the SDK, with a debug line) or ctx ended.
func (d *Decoder) takeTurn(ctx context.Context) bool {
	t := time.NewTimer(d.turnWait)
	defer t.Stop()
	select {
	case d.turns <- struct{}{}:
		return true
	case <-t.C:
		d.leave(ctx, fmt.Sprintf("ec2xml: no turn within %s (the %d answers held are slow)", d.turnWait, maxHeld))
	case <-ctx.Done():
	}
	return false
}

func (d *Decoder) endTurn() { <-d.turns }

// decode is Decode, logging why an answer is left to the SDK. A panic (a bug) leaves it to the
// SDK too, with a warning.
func (d *Decoder) decode(ctx context.Context, body []byte) (out *ec2.DescribeInstancesOutput, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("ec2xml: panic: %v", p)
			d.log.Warn("DescribeInstances answer left to the SDK's decoder after a panic in ec2xml",
				logkey.Region, awsmiddleware.GetRegion(ctx), logkey.Error, err.Error(), logkey.Detail, string(debug.Stack()))
		}
	}()
	out, err = d.decodeBody(body)
	if err != nil {
		d.leave(ctx, err.Error())
	}
	return out, err
}

// leave logs why an answer is left to the SDK's deserializer.
func (d *Decoder) leave(ctx context.Context, reason string) {
	d.log.Debug("DescribeInstances answer left to the SDK's decoder",
		logkey.Region, awsmiddleware.GetRegion(ctx), logkey.Reason, reason)
}

// maxPresize bounds the buffer allocated ahead from Content-Length (a 1,000-instance page as EC2
// indents it is about 9 MB).
const maxPresize = 64 << 20

// replay is the rest of the stack, already run: it answers what it answered.
type replay struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
	err error
}

func (r replay) HandleDeserialize(context.Context, middleware.DeserializeInput) (
	middleware.DeserializeOutput, middleware.Metadata, error) {
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
