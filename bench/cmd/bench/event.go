package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/bench/seed"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// eventRegion is where the event path is measured.
const eventRegion = "eu-central-1"

// runInstancesPattern is the EventBridge rule's pattern, as terraform/ deploys it.
const runInstancesPattern = `{"source":["aws.ec2"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["ec2.amazonaws.com"],"eventName":["RunInstances"]}}`

// eventPath measures part 4 on moto with grace 0: an EventBridge rule with the CloudTrail
// RunInstances pattern and an SQS target, the worker (`awsaudit enforce`, the binary) polling
// the queue, the
// documents going to the Elasticsearch test server. Each launch is a violator launched with
// RunInstances, then its CloudTrail event put with PutEvents; the latency runs from just before
// PutEvents to the moment its violator document, outcome terminated, is in Elasticsearch. The
// first event (cold canary and account caches) is measured apart.
func (h *harness) eventPath(ctx context.Context) error {
	srv, err := h.startMoto(ctx)
	if err != nil {
		return err
	}
	if err := srv.ResetContext(ctx); err != nil {
		return err
	}
	cfg := mototest.Config(srv.URL, eventRegion)
	queueURL, err := eventQueue(ctx, cfg)
	if err != nil {
		return err
	}
	canary := fleet.Fleet{Base: time.Now(), Regions: []fleet.Region{{Name: eventRegion, Instances: 1}}}
	if _, err := seed.Seed(ctx, cfg, canary, seed.Options{}); err != nil {
		return err
	}
	es := estest.New(estest.Options{})
	defer es.Close()

	dir := filepath.Join(h.tmp, "runs", "event")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	result := filepath.Join(dir, "rusage.json")
	// The real `awsaudit enforce`, with the CLI's default timings; its debug log's "batch
	// handled" lines (JSON) carry the handler's own time per batch.
	cmd := exec.Command(h.bin["rusage"], "-o", result, "--", h.bin["awsaudit"], "enforce", "--queue-url", queueURL, "--es-url", es.URL,
		"-t", "created_by,department,project", "-g", "0", "-k", "--log-level", "debug", "--log-format", "json")
	cmd.Env = h.childEnv(srv.URL, "AWS_REGION="+eventRegion)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// rusage passes SIGTERM on to the worker; its own process group lets a worker that does not
	// stop be killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := false
	stopWorker := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return fmt.Errorf("the worker did not stop within 30 s of SIGTERM")
		}
	}
	defer stopWorker()

	ec2c := ec2.NewFromConfig(cfg)
	eb := eventbridge.NewFromConfig(cfg)
	var latencies, puts []float64
	var putStarts []time.Time
	var first float64
	for i := range h.mode.launches + 1 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String(seed.ImageID), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
				{Key: aws.String("created_by"), Value: aws.String("alice")}, {Key: aws.String("department"), Value: aws.String("engineering")},
			}}},
		})
		if err != nil {
			return fmt.Errorf("launch %d: %w", i, err)
		}
		id := aws.ToString(out.Instances[0].InstanceId)
		eventID := fmt.Sprintf("bench-event-%03d", i)
		detail, _ := json.Marshal(cloudTrailDetail(eventID, id, time.Now().UTC()))
		t0 := time.Now()
		put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("aws.ec2"), DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(string(detail)),
		}}})
		if err != nil || put.FailedEntryCount != 0 {
			return fmt.Errorf("PutEvents %d: %v %+v", i, err, put)
		}
		putEnd := time.Now()
		doc, err := waitDoc(ctx, es, document.ViolatorID(eventID, id), 30*time.Second)
		if err != nil {
			return fmt.Errorf("event %d (%s): %w; worker stderr:\n%s", i, id, err, tail(filepath.Join(dir, "stderr"), 2000))
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000
		if doc.Source["outcome"] != string(document.Terminated) {
			return fmt.Errorf("event %d (%s): outcome %v, want terminated", i, id, doc.Source["outcome"])
		}
		st, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(st.Reservations) == 0 {
			return fmt.Errorf("event %d: describing %s: %v", i, id, err)
		}
		if s := st.Reservations[0].Instances[0].State.Name; s != ec2types.InstanceStateNameShuttingDown && s != ec2types.InstanceStateNameTerminated {
			return fmt.Errorf("event %d: %s is %s after its document said terminated", i, id, s)
		}
		putStarts = append(putStarts, t0)
		if i == 0 {
			first = ms
			continue
		}
		latencies = append(latencies, ms)
		puts = append(puts, float64(putEnd.Sub(t0).Microseconds())/1000)
	}
	if err := stopWorker(); err != nil {
		return err
	}
	var u usage
	if b, err := os.ReadFile(result); err == nil {
		json.Unmarshal(b, &u)
	}
	handler, starts, err := handlerTimes(filepath.Join(dir, "stderr"))
	if err != nil {
		return err
	}
	// Events are put one at a time, each handled in a batch of its own: the n-th batch is the
	// n-th event's, and its start less the PutEvents call's start is the delivery time (moto
	// queues the event while PutEvents is still answering, so the two overlap).
	var delivery []float64
	if len(starts) == len(putStarts) {
		for k := 1; k < len(starts); k++ {
			delivery = append(delivery, float64(starts[k].Sub(putStarts[k]).Microseconds())/1000)
		}
	}
	n := len(latencies)
	h.res.Add(4, "event.p50", fmt.Sprintf("PutEvents → terminated and document written, p50 of %d launches", n), percentile(latencies, 50), "ms")
	h.res.AddTarget(4, "event.p99", fmt.Sprintf("PutEvents → terminated and document written, p99 of %d launches", n), percentile(latencies, 99), "ms", targetEventP99)
	h.res.Add(4, "event.max", "PutEvents → terminated and document written, slowest", slices.Max(latencies), "ms")
	h.res.Add(4, "event.first", "first event (canary and account caches cold)", first, "ms")
	h.res.Add(4, "event.putevents", "the PutEvents call alone (moto answering), p50", percentile(puts, 50), "ms")
	if len(delivery) > 0 {
		h.res.Add(4, "event.delivery", "PutEvents → handler start (EventBridge, SQS, long poll), p50", percentile(delivery, 50), "ms")
	}
	if len(handler) > 1 {
		steady := handler[1:]
		h.res.Add(4, "event.handler.p50", "handler's own time per record, p50", percentile(steady, 50), "ms")
		h.res.Add(4, "event.handler.p99", "handler's own time per record, p99", percentile(steady, 99), "ms")
	}
	if u.cpuMS() > 0 {
		h.res.Add(4, "event.worker_cpu_per_event", "worker CPU (user+sys) per event, its start included", u.cpuMS()/float64(n+1), "ms")
		h.res.Add(4, "event.worker_rss", "worker peak RSS", u.rssMB(), "MB")
	}
	h.res.Detail("event_path", map[string]any{"region": eventRegion, "latencies_ms": latencies, "first_ms": first, "handler_ms": handler, "putevents_ms": puts, "delivery_ms": delivery,
		"worker_usage": u, "note": "moto_server on loopback; grace 0; the awsaudit enforce worker"})
	h.logf("event path: p50 %.1f ms, p99 %.1f ms over %d launches; handler p50 %.1f ms", percentile(latencies, 50), percentile(latencies, 99), n, percentile(handler, 50))
	return nil
}

// eventQueue creates the enforcer's queue with a DLQ, and the rule that sends RunInstances
// events to it.
func eventQueue(ctx context.Context, cfg aws.Config) (string, error) {
	q := sqs.NewFromConfig(cfg)
	if _, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-bench-events-dlq")}); err != nil {
		return "", err
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("awsaudit-bench-events"), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:awsaudit-bench-events-dlq","maxReceiveCount":"5"}`, cfg.Region, mototest.AccountID),
	}})
	if err != nil {
		return "", err
	}
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("awsaudit-run-instances"), EventPattern: aws.String(runInstancesPattern)}); err != nil {
		return "", err
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("awsaudit-run-instances"), Targets: []ebtypes.Target{
		{Id: aws.String("queue"), Arn: aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:awsaudit-bench-events", cfg.Region, mototest.AccountID))},
	}}); err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

// cloudTrailDetail is the CloudTrail record of a RunInstances call by an IAM user, shaped as
// enforcer/testdata's fixtures.
func cloudTrailDetail(eventID, instanceID string, at time.Time) map[string]any {
	return map[string]any{
		"eventVersion": "1.10",
		"userIdentity": map[string]any{"type": "IAMUser", "principalId": "AIDAALICE", "arn": "arn:aws:iam::" + mototest.AccountID + ":user/alice",
			"accountId": mototest.AccountID, "userName": "alice"},
		"eventTime": at.Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": eventRegion,
		"sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.22.0",
		"requestParameters": map[string]any{"instanceType": "t3.micro"},
		"responseElements": map[string]any{"reservationId": "r-0123456789abcdef0", "ownerId": mototest.AccountID, "instancesSet": map[string]any{
			"items": []map[string]any{{"instanceId": instanceID, "instanceState": map[string]any{"code": 0, "name": "pending"}}}}},
		"eventID": eventID, "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
		"recipientAccountId": mototest.AccountID, "eventCategory": "Management",
	}
}

// waitDoc waits until the violator document id is in Elasticsearch.
func waitDoc(ctx context.Context, es *estest.Server, id string, timeout time.Duration) (estest.Doc, error) {
	deadline := time.Now().Add(timeout)
	for {
		if d, ok := es.Doc(document.DefaultViolatorIndex, id); ok {
			return d, nil
		}
		if time.Now().After(deadline) {
			return estest.Doc{}, fmt.Errorf("no document %s after %s", id, timeout)
		}
		if err := ctx.Err(); err != nil {
			return estest.Doc{}, err
		}
		time.Sleep(time.Millisecond)
	}
}

// handlerTimes reads the worker's "batch handled" log lines (JSON): the handler's time per record
// and the batches' starts (the line's "started"), in order.
func handlerTimes(path string) ([]float64, []time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var (
		out    []float64
		starts []time.Time
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var b struct {
			Started    time.Time `json:"started"`
			Msg        string    `json:"msg"`
			Count      int       `json:"count"`
			DurationMS float64   `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &b) != nil || b.Msg != "batch handled" || b.Count == 0 {
			continue
		}
		out = append(out, b.DurationMS/float64(b.Count))
		starts = append(starts, b.Started)
	}
	return out, starts, sc.Err()
}

// percentile is the nearest-rank percentile.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}
