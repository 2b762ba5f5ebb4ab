//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
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
	"github.com/awsaudit/awsaudit/internal/lambdatest"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// The Lambda binary under AWS's runtime interface emulator, talking to moto (through a fault
// proxy) via AWS_ENDPOINT_URL. These machines are x86_64 without emulation, so the test builds
// this package for the host with the deployment's tags; package_test.go checks the arm64 zip.

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
	rie := lambdatest.FindRIE(t)
	srv := mototest.Start(t)
	bootstrap := lambdatest.BuildBootstrap(t, ".")
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
		emu := lambdatest.StartEmulator(t, rie, bootstrap, lambdatest.Env(srv, proxy.URL,
			"AWSAUDIT_POLICY_SSM_PARAMETER=/tagaudit/policy", "AWSAUDIT_ACTION=terminate", "AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl)))
		ev := events.SQSEvent{Records: []events.SQSMessage{
			{MessageId: "m-launch", Body: envelope(t, "us-east-1", "ev-rie", violator, compliant), EventSource: "aws:sqs", AWSRegion: "us-east-1"},
			{MessageId: "m-poison", Body: "not an event", EventSource: "aws:sqs", AWSRegion: "us-east-1"},
			{MessageId: "m-throttled", Body: envelope(t, "us-west-2", "ev-rie-west", throttled), EventSource: "aws:sqs", AWSRegion: "us-east-1"},
		}}
		body := emu.Invoke(t, ev)
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
		out := emu.Output()
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
		emu := lambdatest.StartEmulator(t, rie, bootstrap, lambdatest.Env(srv, proxy.URL,
			"AWSAUDIT_POLICY=tags: [created_by, department, project]\ngrace: 0\naction: terminate\n",
			"AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl), "AWSAUDIT_ES_URL="+es.URL, "AWSAUDIT_ES_SECRET_ID=tagaudit/es"))
		body := emu.Invoke(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: envelope(t, "us-east-1", "ev-rie-es", late)}}})
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
		if out := emu.Output(); strings.Contains(out, key) || strings.Contains(out, "c2VjcmV0") {
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
		emu := lambdatest.StartEmulator(t, rie, bootstrap, lambdatest.Env(srv, proxy.URL, "AWSAUDIT_QUEUE_URL="+aws.ToString(q.QueueUrl), "AWSAUDIT_MAX_DELAY_SECONDS=901"))
		body := emu.Invoke(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: "{}"}}})
		if bytes.Contains(body, []byte("batchItemFailures")) {
			t.Fatalf("a handler answered: %s", body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := emu.Output()
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
