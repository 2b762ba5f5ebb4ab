package ec2xml

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
