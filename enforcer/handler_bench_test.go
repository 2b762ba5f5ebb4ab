package enforcer_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// BenchmarkHandleOnMoto measures the handler on moto_server: batches of 10 records, each the
// CloudTrail event of one instance, decided at once (grace 0). It reports the time and the AWS
// API calls per record; moto's own speed dominates the time.
//
//	go test -run '^$' -bench HandleOnMoto ./enforcer/
func BenchmarkHandleOnMoto(b *testing.B) {
	moto := mototest.Start(b)
	for _, bc := range []struct {
		name   string
		tags   []mototest.Tag
		action enforcer.Action
	}{
		{"compliant", itTags, enforcer.ActionTerminate},
		{"violator reported", nil, enforcer.ActionReport},
		{"violator terminated", nil, enforcer.ActionTerminate},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if err := moto.ResetContext(b.Context()); err != nil {
				b.Fatal(err)
			}
			cfg := moto.AWSConfig(b, "us-east-1")
			counted := moto.AWSConfig(b, "us-east-1") // the handler's: its calls are counted
			counter := awsapi.NewCounter()
			counter.Attach(&counted)
			mototest.CreateCanary(b, cfg, "us-east-1")
			q, err := sqs.NewFromConfig(cfg).CreateQueue(b.Context(), &sqs.CreateQueueInput{QueueName: aws.String("bench")})
			if err != nil {
				b.Fatal(err)
			}
			p := enforcer.New("created_by", "department", "project")
			p.Grace, p.Action = 0, bc.action
			if err := p.Validate(); err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			client := ec2.NewFromConfig(counted)
			h := &enforcer.Handler{
				Policy: p, EC2: func(string) enforcer.EC2API { return client },
				Canary:  &enforcer.CanaryChecker{Policy: p, TTL: time.Minute, Now: time.Now},
				Account: &enforcer.AccountCache{STS: sts.NewFromConfig(counted), IAM: iam.NewFromConfig(counted), Log: log},
				Queue:   sqs.NewFromConfig(counted), QueueURL: aws.ToString(q.QueueUrl), Sink: document.Discard{}, Indices: document.DefaultIndices(),
				Now: time.Now, Log: log, MaxDelay: 900 * time.Second, NotFoundAllowance: time.Minute, RetryDelay: time.Second, Concurrency: 10,
			}
			records := 0
			var handling time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ids := mototest.RunInstance(b, cfg, mototest.Spec{Count: 10, Tags: bc.tags})
				time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // LaunchTime is whole seconds
				var ev events.SQSEvent
				w := &hWorld{clock: &hClock{t: time.Now().UTC()}}
				for k, id := range ids {
					ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(k), Body: w.hEvent(fmt.Sprintf("bench-%d-%d", i, k), id)})
				}
				b.StartTimer()
				t0 := time.Now()
				resp, _ := h.HandleSQS(b.Context(), ev)
				handling += time.Since(t0)
				if len(resp.BatchItemFailures) > 0 {
					b.Fatalf("failures: %v", resp.BatchItemFailures)
				}
				records += len(ev.Records)
			}
			b.ReportMetric(float64(handling.Milliseconds())/float64(records), "ms/record")
			b.ReportMetric(float64(counter.Total())/float64(records), "calls/record")
			b.Logf("calls by operation over %d records: %v", records, counter.ByOperation())
		})
	}
}
