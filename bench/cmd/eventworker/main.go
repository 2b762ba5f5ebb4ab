// Command eventworker is `awsaudit enforce` for the bench harness: the enforcer's Handler and the
// SQS Worker, composed as internal/cli composes them (awsapi.LoadConfig from the environment,
// the Elasticsearch sink, the command's default timings), with every batch the handler handles
// timed and printed on stdout as a JSON line:
//
//	{"start_unix_ns":…,"records":1,"handler_ms":12.3,"failed":0,"actions":1}
//
// The policy is the original tool's three keys with grace 0 and action terminate. It runs until
// SIGTERM or SIGINT, then finishes what it received and exits.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/worker"
)

// batchTime is one line of output.
type batchTime struct {
	StartUnixNS int64   `json:"start_unix_ns"`
	Records     int     `json:"records"`
	HandlerMS   float64 `json:"handler_ms"`
	Failed      int     `json:"failed"`
	Actions     int     `json:"actions"`
}

func main() {
	queueURL := flag.String("queue-url", "", "the enforcer's queue")
	esURL := flag.String("es-url", "", "Elasticsearch URL")
	scheme := flag.String("tags", "created_by,department,project", "required tag keys")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *queueURL, *esURL, strings.Split(*scheme, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "eventworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, queueURL, esURL string, keys []string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	policy := enforcer.New(keys...)
	policy.Grace = 0
	policy.Action = enforcer.ActionTerminate
	if err := policy.Validate(); err != nil {
		return err
	}
	sink, err := essink.Open(ctx, essink.FromES(config.ES{URL: esURL, Indices: document.DefaultIndices()}, log))
	if err != nil {
		return err
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{})
	if err != nil {
		return err
	}
	clients := awsapi.NewClients(cfg)
	var (
		mu    sync.Mutex
		stats enforcer.BatchStats
	)
	h := &enforcer.Handler{
		Policy:            policy,
		EC2:               func(region string) enforcer.EC2API { return clients.EC2(region) },
		Canary:            &enforcer.CanaryChecker{Policy: policy, TTL: config.DefaultCanaryTTL, Now: time.Now},
		Account:           &enforcer.AccountCache{STS: clients.STS(), IAM: clients.IAM(), Log: log},
		Queue:             clients.SQS(),
		QueueURL:          queueURL,
		Sink:              sink,
		Indices:           document.DefaultIndices(),
		Now:               time.Now,
		Log:               log,
		MaxDelay:          config.DefaultMaxDelay,
		NotFoundAllowance: config.DefaultNotFoundAllowance,
		RetryDelay:        config.DefaultRetryDelay,
		Concurrency:       config.DefaultConcurrency,
		Metrics: func(_ context.Context, s enforcer.BatchStats) {
			mu.Lock()
			stats = s
			mu.Unlock()
		},
	}
	enc := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	timed := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		t0 := time.Now()
		resp, err := h.HandleSQS(ctx, ev)
		d := time.Since(t0)
		mu.Lock()
		s := stats
		mu.Unlock()
		outMu.Lock()
		enc.Encode(batchTime{StartUnixNS: t0.UnixNano(), Records: len(ev.Records), HandlerMS: float64(d.Microseconds()) / 1000,
			Failed: len(resp.BatchItemFailures), Actions: s.Actions})
		outMu.Unlock()
		return resp, err
	}
	w := &worker.Worker{
		Queue:             clients.SQS(),
		QueueURL:          queueURL,
		Handle:            timed,
		Log:               log,
		Concurrency:       config.DefaultConcurrency,
		WaitTime:          worker.DefaultWaitTime,
		VisibilityTimeout: worker.DefaultVisibilityTimeout,
		RetryDelay:        config.DefaultRetryDelay,
	}
	_, err = w.Run(ctx)
	return err
}
