// Command enforcer is the event path's Lambda (provided.al2023, built with -tags lambda.norpc): an
// SQS event source with ReportBatchItemFailures delivers CloudTrail RunInstances events, rechecks
// and spooled documents, and enforcer.Handler handles them. This file only wires: settings from
// the environment (internal/config), the policy and Elasticsearch credentials from SSM Parameter
// Store or Secrets Manager by name, AWS clients, the document sink, JSON logs through slog, and
// one CloudWatch embedded-metric line per invocation (Lambda's Errors metric does not count
// partial batch failures). An init failure is logged with its cause and exits non-zero.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/functions/internal/lambdaboot"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/logkey"
	"github.com/awsaudit/awsaudit/internal/metrics"
)

func main() {
	log, level := lambdaboot.Logger()
	h, err := setup(context.Background(), os.Getenv, os.Stdout, log, level)
	if err != nil {
		log.Error("enforcer init failed: nothing will be handled until this is fixed", logkey.Error, err.Error())
		os.Exit(1)
	}
	lambda.Start(h.HandleSQS)
}

// The Elasticsearch sink's patience in the enforcer. An invocation lasts at most the function's
// timeout (60 s), and the handler gives up writing enforcer.DefaultSpoolReserve before it to
// spool what is not written on the queue, which is as durable and quicker than waiting: one
// attempt is bounded to a few seconds and a request is tried three times with short waits, about
// 16 s at worst, where the CLI's defaults (30 s, five attempts) would outlast the invocation.
var eventSink = lambdaboot.Patience{Timeout: 5 * time.Second, RetryMax: 2, ItemRetryMax: 2, WaitMin: 100 * time.Millisecond, WaitMax: time.Second}

// setup builds the handler from the environment.
func setup(ctx context.Context, getenv config.Getenv, stdout io.Writer, log *slog.Logger, level *slog.LevelVar) (*enforcer.Handler, error) {
	env, err := lambdaboot.Boot(ctx, "enforcer", getenv, stdout, log, level, func(c config.Lambda) error {
		if c.QueueURL == "" {
			return fmt.Errorf("%s: the enforcer sends rechecks and spooled documents to its queue; set it to the queue's URL", config.EnvQueueURL)
		}
		return nil
	}, eventSink.Apply)
	if err != nil {
		return nil, err
	}
	cfg, clients, policy, sink := env.Config, env.Clients, env.Policy, env.Sink
	emf := &metrics.Emitter{Namespace: cfg.MetricsNamespace, Function: metrics.FunctionEnforcer, W: stdout, Now: time.Now}
	h := &enforcer.Handler{
		Policy:            policy,
		EC2:               func(region string) enforcer.EC2API { return clients.EC2(region) },
		Canary:            &enforcer.CanaryChecker{Policy: policy, TTL: cfg.CanaryTTL, Now: time.Now},
		Account:           &enforcer.AccountCache{STS: clients.STS(), IAM: clients.IAM(), Log: log},
		Queue:             clients.SQS(),
		QueueURL:          cfg.QueueURL,
		Sink:              sink,
		Indices:           cfg.ES.Indices,
		Now:               time.Now,
		Log:               log,
		DryRun:            cfg.DryRun,
		MaxDelay:          cfg.MaxDelay,
		NotFoundAllowance: cfg.NotFoundAllowance,
		RetryDelay:        cfg.RetryDelay,
		Concurrency:       cfg.Concurrency,
		Metrics: func(ctx context.Context, s enforcer.BatchStats) {
			err := emf.Emit(
				metrics.Metric{Name: metrics.FailedRecords, Unit: metrics.Count, Value: float64(s.Failed)},
				metrics.Metric{Name: metrics.DroppedRecords, Unit: metrics.Count, Value: float64(s.Dropped)},
				metrics.Metric{Name: metrics.Actions, Unit: metrics.Count, Value: float64(s.Actions)},
				metrics.Metric{Name: metrics.ActionFailures, Unit: metrics.Count, Value: float64(s.ActionFailures)},
			)
			if err != nil {
				log.ErrorContext(ctx, "writing metrics", logkey.Error, err.Error())
			}
		},
	}
	if policy.NeedsIAM() {
		h.Users = enforcer.NewUsers(clients.IAM(), enforcer.DefaultIAMTTL, time.Now)
	}
	log.Info("enforcer ready", logkey.Policy, policy, logkey.DryRun, cfg.DryRun)
	return h, nil
}
