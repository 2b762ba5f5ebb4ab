//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// The Lambda binary under AWS's runtime interface emulator, talking to moto (through a fault
// proxy) via AWS_ENDPOINT_URL. These machines are x86_64 without emulation, so the test builds
// this package for the host with the deployment's tags; package_test.go checks the arm64 zip.

const rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// findRIE returns the emulator's path: on PATH, or in $(go env GOPATH)/bin. Missing, the test is
// skipped, or fails when AWSAUDIT_REQUIRE_INTEGRATION=1.
func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := "aws-lambda-rie not found: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@" + rieVersion
	if os.Getenv(mototest.EnvRequireIntegration) == "1" {
		t.Fatalf("%s (%s=1 requires integration tests to run)", msg, mototest.EnvRequireIntegration)
	}
	t.Skip(msg)
	return ""
}

// buildBootstrap builds this package as a Lambda bootstrap for the host, with the deployment's
// tags (the static, trimmed arm64 build is package_test.go's; this one shares the build cache).
func buildBootstrap(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the bootstrap: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the emulator's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// emulator is a running aws-lambda-rie with the bootstrap.
type emulator struct {
	url string
	out *lockedBuffer
}

// startEmulator starts rie with both addresses on free loopback ports (without them it listens on
// 0.0.0.0:8080) and the environment env, and stops it and the bootstrap at cleanup.
func startEmulator(t *testing.T, rie, bootstrap string, env []string) *emulator {
	t.Helper()
	port := freePort(t)
	e := &emulator{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &lockedBuffer{}}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = e.out, e.out
	// Its own process group, so the bootstrap it starts goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", rie, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator does not listen: %v\n%s", err, e.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke posts an event and returns the body: rie answers 200 even when the handler fails.
func (e *emulator) invoke(t *testing.T, event any) []byte {
	t.Helper()
	b, _ := json.Marshal(event)
	resp, err := http.Post(e.url+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// lambdaEnv is the function's environment: the test process's, without AWS settings, plus moto's
// (through endpoint) and the given variables.
func lambdaEnv(srv *mototest.Server, endpoint string, vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS") {
			env = append(env, kv)
		}
	}
	env = append(env, srv.Env("us-east-1")...)
	env = append(env, "AWS_ENDPOINT_URL="+endpoint, "AWS_MAX_ATTEMPTS=1", "AWS_LAMBDA_LOG_FORMAT=JSON")
	return append(env, vars...)
}

// envelope is the EventBridge envelope of a RunInstances call by alice.
func envelope(t *testing.T, region, eventID string, ids ...string) string {
	t.Helper()
	var items []map[string]string
	for _, id := range ids {
		items = append(items, map[string]string{"instanceId": id})
	}
	detail, _ := json.Marshal(map[string]any{
		"userIdentity": map[string]any{"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::123456789012:user/alice"},
		"eventTime":    time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
		"awsRegion": region, "eventID": eventID, "recipientAccountId": mototest.AccountID,
		"responseElements": map[string]any{"instancesSet": map[string]any{"items": items}},
	})
	b, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "env-" + eventID, DetailType: "AWS API Call via CloudTrail", Source: "aws.ec2",
		AccountID: mototest.AccountID, Time: time.Now().UTC(), Region: region, Resources: []string{}, Detail: detail})
	return string(b)
}

func TestLambdaUnderEmulator(t *testing.T) {
	rie := findRIE(t)
	srv := mototest.Start(t)
	bootstrap := buildBootstrap(t)
	proxy := faultproxy.Start(t, srv.URL)
	east, west := srv.AWSConfig(t, "us-east-1"), srv.AWSConfig(t, "us-west-2")

	mototest.CreateCanary(t, east, "us-east-1")
	violator := mototest.RunInstance(t, east, mototest.Spec{Tags: []mototest.Tag{{Key: "project", Value: "checkout"}}})[0]
	compliant := mototest.RunInstance(t, east, mototest.Spec{Tags: []mototest.Tag{{Key: "created_by", Value: "alice"}, {Key: "department", Value: "eng"}, {Key: "project", Value: "checkout"}}})[0]
	throttled := mototest.RunInstance(t, west, mototest.Spec{})[0]
	proxy.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: "us-west-2", Respond: faultproxy.Throttle()})

	q, err := sqs.NewFromConfig(east).CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(east).PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/tagaudit/policy"), Type: ssmtypes.ParameterTypeString,
		Value: aws.String("tags: [created_by, department, project]\ngrace: 0\naction: report\n")}); err != nil {
		t.Fatal(err)
	}

	t.Run("batch item failures", func(t *testing.T) {
		emu := startEmulator(t, rie, bootstrap, lambdaEnv(srv, proxy.URL,
			"AWSAUDIT_POLICY_SSM_PARAMETER=/tagaudit/policy", "AWSAUDIT_ACTION=terminate", "AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl)))
		ev := events.SQSEvent{Records: []events.SQSMessage{
			{MessageId: "m-launch", Body: envelope(t, "us-east-1", "ev-rie", violator, compliant), EventSource: "aws:sqs", AWSRegion: "us-east-1"},
			{MessageId: "m-poison", Body: "not an event", EventSource: "aws:sqs", AWSRegion: "us-east-1"},
			{MessageId: "m-throttled", Body: envelope(t, "us-west-2", "ev-rie-west", throttled), EventSource: "aws:sqs", AWSRegion: "us-east-1"},
		}}
		body := emu.invoke(t, ev)
		var resp struct {
			BatchItemFailures []map[string]string `json:"batchItemFailures"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0]["itemIdentifier"] != "m-throttled" || len(resp.BatchItemFailures[0]) != 1 {
			t.Fatalf("response %s, want exactly m-throttled as a batch item failure", body)
		}
		if st := mototest.State(t, east, violator); st != "terminated" {
			t.Fatalf("violator %s", st)
		}
		if st := mototest.State(t, east, compliant); st != "running" {
			t.Fatalf("compliant instance %s", st)
		}
		if st := mototest.State(t, west, throttled); st != "running" {
			t.Fatalf("throttled region's instance %s", st)
		}
		out := emu.out.String()
		var emf map[string]any
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "{") && strings.Contains(line, `"_aws"`) {
				if err := json.Unmarshal([]byte(line), &emf); err != nil {
					t.Fatalf("EMF line %q: %v", line, err)
				}
			}
		}
		if emf == nil || emf["FailedRecords"] != 1.0 || emf["DroppedRecords"] != 1.0 || emf["Actions"] != 1.0 || emf["ActionFailures"] != 0.0 || emf["Function"] != "enforcer" {
			t.Fatalf("EMF %v in:\n%s", emf, out)
		}
		// Without an Elasticsearch URL the documents go to the log as _bulk NDJSON.
		for _, want := range []string{`{"create":{"_index":"aws-tag-violator","_id":"ev-rie:` + violator + `"}}`, `{"create":{"_index":"aws-tag-audit","_id":"ev-rie"}}`, `"reason":"not_json"`} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %s", want)
			}
		}
	})

	t.Run("Elasticsearch with its API key from Secrets Manager", func(t *testing.T) {
		const key = "ZW5mb3JjZXI6c2VjcmV0LWtleQ=="
		es := estest.StartWith(t, estest.Options{APIKey: key})
		if _, err := secretsmanager.NewFromConfig(east).CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String("tagaudit/es"), SecretString: aws.String(`{"api_key":"` + key + `"}`)}); err != nil {
			t.Fatal(err)
		}
		late := mototest.RunInstance(t, east, mototest.Spec{})[0]
		emu := startEmulator(t, rie, bootstrap, lambdaEnv(srv, proxy.URL,
			"AWSAUDIT_POLICY=tags: [created_by, department, project]\ngrace: 0\naction: terminate\n",
			"AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl), "AWSAUDIT_ES_URL="+es.URL, "AWSAUDIT_ES_SECRET_ID=tagaudit/es"))
		body := emu.invoke(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: envelope(t, "us-east-1", "ev-rie-es", late)}}})
		if !bytes.Contains(body, []byte(`"batchItemFailures":[]`)) {
			t.Fatalf("response %s", body)
		}
		d, ok := es.Doc("aws-tag-violator", "ev-rie-es:"+late)
		if !ok || d.Source["outcome"] != "terminated" {
			t.Fatalf("violator document %v (found %t)", d.Source, ok)
		}
		if _, ok := es.Doc("aws-tag-audit", "ev-rie-es"); !ok {
			t.Fatal("no rollup")
		}
		if out := emu.out.String(); strings.Contains(out, key) || strings.Contains(out, "c2VjcmV0") {
			t.Fatalf("the API key reached the log:\n%s", out)
		}
	})

	// Least privilege: every call the function made (all of them went through the proxy) is one
	// its role grants.
	t.Run("calls are the enforcer's actions", func(t *testing.T) {
		calls := proxy.Calls()
		if len(calls) < 8 {
			t.Fatalf("only %d kinds of call went through the proxy: %v", len(calls), calls)
		}
		for call := range calls {
			action := call.Service + ":" + call.Operation
			if !slices.Contains(awsapi.EnforcerActions, action) {
				t.Errorf("the function called %s, which awsapi.EnforcerActions (and so its role) lacks", action)
			}
		}
	})

	t.Run("init failure is clear in the log", func(t *testing.T) {
		emu := startEmulator(t, rie, bootstrap, lambdaEnv(srv, proxy.URL, "AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl), "AWSAUDIT_MAX_DELAY_SECONDS=901"))
		body := emu.invoke(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: "{}"}}})
		if bytes.Contains(body, []byte("batchItemFailures")) {
			t.Fatalf("a handler answered: %s", body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := emu.out.String()
			if strings.Contains(out, "enforcer init failed") && strings.Contains(out, "AWSAUDIT_POLICY_SSM_PARAMETER") && strings.Contains(out, "AWSAUDIT_MAX_DELAY_SECONDS") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log does not say why:\n%s", out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
