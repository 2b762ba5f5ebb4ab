//go:build linux

package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/lambdatest"
	"github.com/awsaudit/awsaudit/internal/mototest"
	"github.com/awsaudit/awsaudit/reconciler"
)

const policy = "tags: [created_by, department, project]\ngrace: 0\naction: report\n"

// emf returns the last embedded-metric line in out.
func emf(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") && strings.Contains(line, `"_aws"`) {
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("EMF line %q: %v", line, err)
			}
		}
	}
	if m == nil {
		t.Fatalf("no EMF line in:\n%s", out)
	}
	return m
}

// waitFor returns the emulator's output once it holds want: the function's log reaches it a
// little after the response.
func waitFor(t *testing.T, emu *lambdatest.Emulator, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := emu.Output()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the output lacks %s:\n%s", want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The reconciler binary under aws-lambda-rie, sweeping moto (through a proxy that counts every
// call), invoked as EventBridge Scheduler invokes it (with {}).
func TestReconcilerUnderEmulator(t *testing.T) {
	rie := lambdatest.FindRIE(t)
	srv := mototest.Start(t)
	bootstrap := lambdatest.BuildBootstrap(t, ".")
	proxy := faultproxy.Start(t, srv.URL)
	east, west := srv.AWSConfig(t, "us-east-1"), srv.AWSConfig(t, "us-west-2")
	mototest.CreateCanary(t, east, "us-east-1")
	mototest.CreateCanary(t, west, "us-west-2")
	violator := mototest.RunInstance(t, east, mototest.Spec{Tags: []mototest.Tag{{Key: "project", Value: "checkout"}}})[0]
	compliant := mototest.RunInstance(t, west, mototest.Spec{Tags: []mototest.Tag{{Key: "created_by", Value: "alice"}, {Key: "department", Value: "eng"}, {Key: "project", Value: "web"}}})[0]
	q, err := sqs.NewFromConfig(east).CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-events")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	env := func(vars ...string) []string {
		return lambdatest.Env(srv, proxy.URL, append([]string{
			"AWSAUDIT_POLICY=" + policy, "AWSAUDIT_REGIONS=us-east-1,us-west-2,eu-west-1", "AWSAUDIT_QUEUE_URL=" + queueURL,
			"AWS_LAMBDA_FUNCTION_TIMEOUT=120", "AWSAUDIT_TIME_RESERVE_SECONDS=30",
		}, vars...)...)
	}
	summaryOf := func(t *testing.T, body []byte) reconciler.Summary {
		t.Helper()
		var s reconciler.Summary
		if err := json.Unmarshal(body, &s); err != nil || s.RunID == "" {
			t.Fatalf("response %s: %v", body, err)
		}
		return s
	}

	t.Run("sweep", func(t *testing.T) {
		proxy.ResetCalls()
		emu := lambdatest.StartEmulator(t, rie, bootstrap, env("AWSAUDIT_ACTION=terminate"))
		s := summaryOf(t, emu.Invoke(t, map[string]any{}))
		if s.Outcomes["terminated"] != 1 || s.Violators != 1 || s.Instances != 4 {
			t.Errorf("summary %+v", s)
		}
		if strings.Join(s.Unverified, ",") != "eu-west-1" || len(s.Unreached) != 0 {
			t.Errorf("unverified %v unreached %v", s.Unverified, s.Unreached)
		}
		want := map[string]string{"us-east-1": reconciler.RegionVerified, "us-west-2": reconciler.RegionVerified, "eu-west-1": reconciler.RegionUnverified}
		for _, r := range s.Regions {
			if want[r.Region] != r.Status {
				t.Errorf("region %s is %s, want %s", r.Region, r.Status, want[r.Region])
			}
		}
		if st := mototest.State(t, east, violator); st != "terminated" {
			t.Errorf("violator is %s", st)
		}
		if st := mototest.State(t, west, compliant); st != "running" {
			t.Errorf("compliant instance is %s", st)
		}
		out := waitFor(t, emu, `"message":"sweep summary"`)
		m := emf(t, out)
		for name, v := range map[string]float64{"Violators": 1, "Actions": 1, "ActionFailures": 0, "UnverifiedRegions": 1, "UnreachedRegions": 0, "DocumentWriteFailures": 0} {
			if m[name] != v {
				t.Errorf("EMF %s = %v, want %v", name, m[name], v)
			}
		}
		if m["Function"] != "reconciler" {
			t.Errorf("EMF dimension Function = %v", m["Function"])
		}
		if !strings.Contains(out, `"region":"us-east-1","status":"verified","instances":2,"outcomes":{"terminated":1}`) {
			t.Errorf("no summary line with per-region counts in:\n%s", out)
		}
		// Without Elasticsearch, the documents are in the log as _bulk NDJSON.
		if !strings.Contains(out, `{"index":{"_index":"aws-tag-violator","_id":"`+s.RunID+":"+violator+`"}}`) {
			t.Errorf("the violator document is not in the log")
		}
		for call := range proxy.Calls() {
			if action := call.Service + ":" + call.Operation; !slices.Contains(awsapi.ReconcilerActions, action) {
				t.Errorf("the reconciler called %s.%s, which awsapi.ReconcilerActions (and so its role) lacks", call.Service, call.Operation)
			}
		}
	})

	t.Run("out of time: regions unreached, nothing acted on", func(t *testing.T) {
		late := mototest.RunInstance(t, east, mototest.Spec{})[0]
		emu := lambdatest.StartEmulator(t, rie, bootstrap, env("AWSAUDIT_ACTION=terminate", "AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWSAUDIT_TIME_RESERVE_SECONDS=30"))
		s := summaryOf(t, emu.Invoke(t, map[string]any{}))
		if len(s.Unreached) != 3 {
			t.Fatalf("unreached %v", s.Unreached)
		}
		if st := mototest.State(t, east, late); st != "running" {
			t.Errorf("instance in an unreached region is %s", st)
		}
		if m := emf(t, waitFor(t, emu, `"message":"sweep summary"`)); m["UnreachedRegions"] != 3.0 {
			t.Errorf("EMF UnreachedRegions = %v", m["UnreachedRegions"])
		}
	})

	t.Run("Elasticsearch down: documents spooled to the queue", func(t *testing.T) {
		es := estest.Start(t)
		es.Down()
		emu := lambdatest.StartEmulator(t, rie, bootstrap, env("AWSAUDIT_ES_URL="+es.URL, "AWSAUDIT_REGIONS=us-east-1"))
		s := summaryOf(t, emu.Invoke(t, map[string]any{}))
		if s.Spooled == 0 {
			t.Fatalf("nothing spooled: %+v\n%s", s, emu.Output())
		}
		if m := emf(t, waitFor(t, emu, `"message":"sweep summary"`)); m["DocumentWriteFailures"] != float64(s.Spooled) {
			t.Errorf("EMF DocumentWriteFailures = %v, want %d", m["DocumentWriteFailures"], s.Spooled)
		}
		if got := spooled(t, sqs.NewFromConfig(east), queueURL, s.RunID, s.Spooled); got != s.Spooled {
			t.Fatalf("%d documents on the queue, %d spooled", got, s.Spooled)
		}
	})

	// An Elasticsearch that accepts connections and never answers: the write gives up before
	// the deadline (less the spool margin), and the documents are spooled, the summary and the
	// metrics logged, and the summary returned, all before Lambda would stop the function (the
	// emulator answers a timeout instead of the summary). The reserve, at its 30 s minimum, is
	// longer than this short timeout: no region is started, and the rollup is the document.
	slowES := func(t *testing.T) *estest.Server {
		es := estest.Start(t)
		es.SetLatency(10 * time.Minute)
		return es
	}
	short := []string{"AWSAUDIT_REGIONS=us-east-1", "AWS_LAMBDA_FUNCTION_TIMEOUT=16", "AWSAUDIT_TIME_RESERVE_SECONDS=30"}

	t.Run("Elasticsearch slow past the deadline: documents spooled in time", func(t *testing.T) {
		es := slowES(t)
		emu := lambdatest.StartEmulator(t, rie, bootstrap, env(append(short, "AWSAUDIT_ES_URL="+es.URL)...))
		s := summaryOf(t, emu.Invoke(t, map[string]any{}))
		if s.Spooled == 0 {
			t.Fatalf("nothing spooled: %+v", s)
		}
		if m := emf(t, waitFor(t, emu, `"message":"sweep summary"`)); m["DocumentWriteFailures"] != float64(s.Spooled) {
			t.Errorf("EMF DocumentWriteFailures = %v, want %d", m["DocumentWriteFailures"], s.Spooled)
		}
		if got := spooled(t, sqs.NewFromConfig(east), queueURL, s.RunID, s.Spooled); got != s.Spooled {
			t.Fatalf("%d documents on the queue, %d spooled", got, s.Spooled)
		}
	})

	t.Run("Elasticsearch slow past the deadline, no queue: documents logged in time", func(t *testing.T) {
		es := slowES(t)
		emu := lambdatest.StartEmulator(t, rie, bootstrap, env(append(short, "AWSAUDIT_ES_URL="+es.URL, "AWSAUDIT_QUEUE_URL=")...))
		// The invocation fails (Lambda's Errors metric) for the documents kept only in the log.
		if body := string(emu.Invoke(t, map[string]any{})); !strings.Contains(body, "no AWSAUDIT_QUEUE_URL to spool them to") {
			t.Fatalf("response %s", body)
		}
		out := waitFor(t, emu, `"message":"sweep summary"`)
		if m := emf(t, out); m["DocumentWriteFailures"] != 1.0 {
			t.Errorf("EMF DocumentWriteFailures = %v, want 1", m["DocumentWriteFailures"])
		}
		logged := false
		for line := range strings.Lines(out) {
			logged = logged || strings.Contains(line, `"message":"DOCUMENT NOT WRITTEN: kept only in this log"`) &&
				strings.Contains(line, `"index":"aws-tag-audit"`) && strings.Contains(line, `"body":"{`)
		}
		if !logged {
			t.Errorf("the rollup is not in the log in full:\n%s", out)
		}
	})
}

// spooled returns how many documents of run the queue holds, waiting for want at most 10 s, and
// deletes the messages it read.
func spooled(t *testing.T, client *sqs.Client, queueURL, run string, want int) int {
	t.Helper()
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < want && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			m, err := enforcer.ParseMessage(aws.ToString(msg.Body))
			if err != nil || m.Kind != enforcer.KindDocuments || m.Documents.RunID != run {
				t.Fatalf("queue message %s: %v", aws.ToString(msg.Body), err)
			}
			got += len(m.Documents.Documents)
			if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}
