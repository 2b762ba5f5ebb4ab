package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// enforceRun runs the command line with env for the variables the CLI reads through Env.
func enforceRun(ctx context.Context, t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	e := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	code := Run(ctx, args, e)
	return code, stdout.String(), stderr.String()
}

// syncBuffer is a bytes.Buffer safe for the worker's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEnforceRefusesInvalidInput: exit 2 and no AWS request for every bad flag.
func TestEnforceRefusesInvalidInput(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"} {
		t.Setenv(k, v)
	}
	const q = "https://sqs.us-east-1.amazonaws.com/123456789012/awsaudit-events"
	base := []string{"enforce", "-t", "created_by", "--queue-url", q}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no queue", []string{"enforce", "-t", "created_by"}, nil, "--queue-url: give the enforcer's queue URL"},
		{"not a URL", []string{"enforce", "-t", "created_by", "--queue-url", "awsaudit-events"}, nil, "is not a queue URL"},
		{"URL without a queue", []string{"enforce", "-t", "created_by", "--queue-url", "https://sqs.us-east-1.amazonaws.com/"}, nil, "is not a queue URL"},
		{"bad queue from the environment", []string{"enforce", "-t", "created_by"}, map[string]string{"AWSAUDIT_QUEUE_URL": "ftp://x/y"}, "is not a queue URL"},
		{"max delay above SQS's", append(base, "--max-delay", "901"), nil, "--max-delay"},
		{"max delay zero", append(base, "--max-delay", "0"), nil, "--max-delay"},
		{"negative retry delay", append(base, "--retry-delay", "-1"), nil, "--retry-delay"},
		{"retry delay zero", append(base, "--retry-delay", "0"), nil, "--retry-delay"},
		{"wait time above 20 s", append(base, "--wait-time", "21s"), nil, "--wait-time"},
		{"no visibility timeout", append(base, "--visibility-timeout", "0"), nil, "--visibility-timeout"},
		{"unreadable allowance", append(base, "--not-found-allowance", "soon"), nil, "--not-found-allowance"},
		{"negative canary ttl", append(base, "--canary-ttl", "-5"), nil, "--canary-ttl"},
		{"concurrency zero", append(base, "--concurrency", "0"), nil, "--concurrency"},
		{"percent limit", append(base, "--max-actions-percent", "5"), nil, "--max-actions-percent applies to the sweep"},
		{"bad tags", []string{"enforce", "-t", "created_by,,x", "--queue-url", q}, nil, "entry 2"},
		{"bad action", append(base, "--action", "nuke"), nil, `unknown action "nuke"`},
		{"half the keys", append(base, "-a", "AKIA"), nil, "go together"},
		{"stray argument", append(base, "extra"), nil, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := enforceRun(t.Context(), t, tt.env, tt.args...)
			if code != ExitInvalid || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
	// Several problems are reported together.
	_, _, stderr := enforceRun(t.Context(), t, nil, "enforce", "-t", "created_by", "--max-delay", "0", "--wait-time", "30")
	for _, want := range []string{"--queue-url", "--max-delay", "--wait-time"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d AWS request(s) for invalid input", n)
	}
}

func TestEnforceHelp(t *testing.T) {
	code, stdout, _ := enforceRun(t.Context(), t, nil, "enforce", "-h")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"--queue-url", "--until-empty", "--max-delay", "--not-found-allowance", "--retry-delay", "--visibility-timeout", "--canary-ttl", "--wait-time", "--concurrency", "-t, --tags", "--es-url", "--ndjson"} {
		if !strings.Contains(stdout, f) {
			t.Errorf("help lacks %q", f)
		}
	}
}

// TestEnforceOnMoto runs `awsaudit enforce` against moto: once until the queue is empty, and
// once as a long-running worker stopped by its context (SIGTERM in cmd/awsaudit).
func TestEnforceOnMoto(t *testing.T) {
	srv := mototest.Start(t)
	for _, kv := range srv.Env("us-east-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := srv.AWSConfig(t, "us-east-1")
	mototest.CreateCanary(t, cfg, "us-east-1")
	client := sqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	sendTo := func(queueURL, eventID string, ids ...string) {
		t.Helper()
		var items []map[string]string
		for _, id := range ids {
			items = append(items, map[string]string{"instanceId": id})
		}
		detail, _ := json.Marshal(map[string]any{
			"userIdentity": map[string]any{"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::123456789012:user/alice"},
			"eventTime":    time.Now().UTC().Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
			"awsRegion": "us-east-1", "eventID": eventID, "recipientAccountId": mototest.AccountID,
			"responseElements": map[string]any{"instancesSet": map[string]any{"items": items}},
		})
		env, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "e-" + eventID, DetailType: "AWS API Call via CloudTrail", Source: "aws.ec2",
			Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: detail})
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(env))}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(eventID string, ids ...string) {
		t.Helper()
		sendTo(queueURL, eventID, ids...)
	}
	argsFor := func(queueURL, ndjson string, extra ...string) []string {
		return append([]string{"enforce", "--queue-url", queueURL, "-t", "created_by,department,project", "-g", "0", "--action", "terminate",
			"--ndjson", ndjson, "--wait-time", "1", "--retry-delay", "1", "--max-delay", "1"}, extra...)
	}
	args := func(ndjson string, extra ...string) []string { return argsFor(queueURL, ndjson, extra...) }
	// viaProxy sends the CLI's AWS calls through a fault proxy in front of moto, each tried once.
	viaProxy := func(t *testing.T) *faultproxy.Proxy {
		t.Helper()
		p := faultproxy.Start(t, srv.URL)
		t.Setenv("AWS_ENDPOINT_URL", p.URL)
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		return p
	}

	t.Run("until empty", func(t *testing.T) {
		bad := mototest.RunInstance(t, cfg, mototest.Spec{})[0]
		good := mototest.RunInstance(t, cfg, mototest.Spec{Tags: []mototest.Tag{{Key: "created_by", Value: "a"}, {Key: "department", Value: "b"}, {Key: "project", Value: "c"}}})[0]
		send("ev-cli-1", bad, good)
		out := filepath.Join(t.TempDir(), "docs.ndjson")
		code, _, stderr := enforceRun(t.Context(), t, nil, args(out, "--until-empty")...)
		if code != ExitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if st := mototest.State(t, cfg, bad); st != "terminated" {
			t.Fatalf("violator %s", st)
		}
		if st := mototest.State(t, cfg, good); st != "running" {
			t.Fatalf("compliant instance %s", st)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		docs, err := document.ReadBulk(f)
		if err != nil || len(docs) != 2 || docs[0].ID != "ev-cli-1:"+bad || docs[1].ID != "ev-cli-1" || docs[0].Op != document.OpCreate {
			t.Fatalf("documents %+v, %v", docs, err)
		}
		if !strings.Contains(stderr, "1 action(s), 0 failed") {
			t.Fatalf("summary missing:\n%s", stderr)
		}
	})

	t.Run("poison on the queue: dropped, exit 0", func(t *testing.T) {
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("not JSON at all")}); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := enforceRun(t.Context(), t, nil, args(filepath.Join(t.TempDir(), "docs.ndjson"), "--until-empty")...)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0 for a dropped message:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "1 message(s) received, 1 handled, 0 left for redelivery (0 failed on their last delivery), 1 dropped;") {
			t.Fatalf("summary:\n%s", stderr)
		}
	})

	t.Run("a transient failure a redelivery gets past: exit 0", func(t *testing.T) {
		p := viaProxy(t)
		bad := mototest.RunInstance(t, cfg, mototest.Spec{})[0]
		// The first read of the instance is throttled: the record fails and SQS delivers it again.
		rule := p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Match: faultproxy.ListContains("Filter.1.Value", bad), Times: 1, Respond: faultproxy.Throttle()})
		send("ev-cli-transient", bad)
		code, _, stderr := enforceRun(t.Context(), t, nil, args(filepath.Join(t.TempDir(), "docs.ndjson"), "--until-empty")...)
		if rule.Hits() != 1 {
			t.Fatalf("the throttle answered %d requests, want 1", rule.Hits())
		}
		if code != ExitOK {
			t.Fatalf("exit %d, want 0: the failure was transient and the redelivery succeeded:\n%s", code, stderr)
		}
		if st := mototest.State(t, cfg, bad); st != "terminated" {
			t.Fatalf("violator %s", st)
		}
		if !strings.Contains(stderr, "2 message(s) received, 1 handled, 1 left for redelivery (0 failed on their last delivery), 0 dropped; 1 action(s), 0 failed;") {
			t.Fatalf("summary:\n%s", stderr)
		}
	})

	t.Run("a message that ends in the DLQ: exit 4", func(t *testing.T) {
		dlq, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events-2-dlq")})
		if err != nil {
			t.Fatal(err)
		}
		q2, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events-2"), Attributes: map[string]string{
			"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + mototest.AccountID + `:awsaudit-events-2-dlq","maxReceiveCount":"2"}`,
		}})
		if err != nil {
			t.Fatal(err)
		}
		p := viaProxy(t)
		stuck := mototest.RunInstance(t, cfg, mototest.Spec{})[0]
		p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Match: faultproxy.ListContains("Filter.1.Value", stuck), Respond: faultproxy.Throttle()})
		sendTo(aws.ToString(q2.QueueUrl), "ev-cli-stuck", stuck)
		code, _, stderr := enforceRun(t.Context(), t, nil, argsFor(aws.ToString(q2.QueueUrl), filepath.Join(t.TempDir(), "docs.ndjson"), "--until-empty")...)
		if code != ExitFailed || !strings.Contains(stderr, "1 message(s) failed on their last delivery") {
			t.Fatalf("exit %d, want 4 and the message in the DLQ:\n%s", code, stderr)
		}
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("DLQ holds %v (%v)", out.Messages, err)
		}
	})

	t.Run("stopped by its context", func(t *testing.T) {
		bad := mototest.RunInstance(t, cfg, mototest.Spec{})[0]
		send("ev-cli-2", bad)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		// The worker runs until its context ends (SIGTERM in cmd/awsaudit). The watcher ends it
		// once the violator is terminated, or after patience, so that an enforcer that never
		// acts fails the test with a message instead of hanging it.
		const patience = 2 * time.Minute
		var terminated atomic.Bool
		go func() {
			defer cancel()
			api := ec2.NewFromConfig(cfg)
			deadline := time.Now().Add(patience)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{bad}})
				if err == nil && len(out.Reservations) == 1 && out.Reservations[0].Instances[0].State.Name == "terminated" {
					terminated.Store(true)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		type result struct {
			code   int
			stderr string
		}
		done := make(chan result, 1)
		docsFile := filepath.Join(t.TempDir(), "docs.ndjson")
		go func() {
			code, _, stderr := enforceRun(ctx, t, nil, args(docsFile)...)
			done <- result{code, stderr}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(patience + time.Minute):
			cancel()
			t.Fatalf("awsaudit enforce did not return within a minute of its context being cancelled")
		}
		if !terminated.Load() {
			t.Fatalf("the violator %s was not terminated within %v (exit %d):\n%s", bad, patience, r.code, r.stderr)
		}
		if r.code != ExitOK {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		// The message in flight when the context ended was finished and deleted, not abandoned.
		if !strings.Contains(r.stderr, "awsaudit: enforce: 1 message(s) received, 1 handled, 0 left for redelivery (0 failed on their last delivery), 0 dropped; 1 action(s), 0 failed;") {
			t.Errorf("the summary line does not report the message handled and the action taken:\n%s", r.stderr)
		}
		attrs, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range attrs.Attributes {
			if n != "0" {
				t.Errorf("the queue has %s=%s after the run, want the message deleted", name, n)
			}
		}
		f, err := os.Open(docsFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		docs, err := document.ReadBulk(f)
		if err != nil || len(docs) != 2 || docs[0].ID != "ev-cli-2:"+bad || docs[1].ID != "ev-cli-2" {
			t.Errorf("documents %+v, %v; want the violator's and the event's rollup", docs, err)
		}
	})
}
