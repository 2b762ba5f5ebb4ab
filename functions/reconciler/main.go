// Command reconciler is the scheduled sweep's Lambda (provided.al2023, built with -tags
// lambda.norpc): EventBridge Scheduler invokes it nightly and it runs the same sweep as
// `awsaudit sweep`. This file only wires: settings from the environment (internal/config), the
// policy and Elasticsearch credentials by name, AWS clients, the sink, JSON logs, a summary log
// line with counts per region and outcome, and CloudWatch embedded-metric lines. It watches its
// remaining time: no region is started once less than the time reserve is left, listing and
// acting stop halfway through it, what it has is written until spoolReserve before the deadline,
// and the regions it did not reach are reported. Documents Elasticsearch does not take by then
// are spooled to the enforcer's queue, which writes them later, or, without a queue or when
// spooling fails too, logged in full ("DOCUMENT NOT WRITTEN"); the summary and the metrics are
// logged in every case, before Lambda stops the function.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/functions/internal/lambdaboot"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
	"github.com/awsaudit/awsaudit/internal/metrics"
	"github.com/awsaudit/awsaudit/reconciler"
)

func main() {
	log, level := lambdaboot.Logger()
	r, err := setup(context.Background(), os.Getenv, os.Stdout, log, level)
	if err != nil {
		log.Error("reconciler init failed: no sweep will run until this is fixed", logkey.Error, err.Error())
		os.Exit(1)
	}
	lambda.Start(r.Handle)
}

// The end of an invocation, before Lambda stops the function at its deadline: the documents'
// write ends spoolReserve before it, which leaves the time to spool on the queue what
// Elasticsearch did not take; spooling ends logReserve before it, which leaves the time to log
// in full the documents not spooled, the summary and the metrics. config.MinTimeReserve (30 s)
// keeps the write's end after the sweep's stop (halfway through the reserve).
const (
	spoolReserve = enforcer.DefaultSpoolReserve // the enforcer keeps the same for its spooling
	logReserve   = 3 * time.Second
)

// The Elasticsearch sink's patience in the reconciler. The write has from the end of the sweep
// to spoolReserve before the deadline: at least half the time reserve less spoolReserve (80 s
// with the default 180 s reserve), usually much more. One attempt is bounded to 10 s (a _bulk
// of 500 documents takes far less on a healthy cluster) and a request is tried three times with
// short waits, about 36 s at worst, where the CLI's defaults (30 s, five attempts, waits up to
// 10 s) take about 150 s for one request to an Elasticsearch that accepts connections and never
// answers. The write's deadline bounds the whole write whatever the sink does; this bounds one
// request, so that a hung cluster is given up while there is time to spool.
var sweepSink = lambdaboot.Patience{Timeout: 10 * time.Second, RetryMax: 2, ItemRetryMax: 2, WaitMin: 200 * time.Millisecond, WaitMax: 2 * time.Second}

// runner runs one sweep per invocation.
type runner struct {
	sweeper  *reconciler.Sweeper
	reserve  time.Duration
	queue    enforcer.QueueAPI
	queueURL string
	emf      *metrics.Emitter
	log      *slog.Logger
}

// setup builds the runner from the environment.
func setup(ctx context.Context, getenv config.Getenv, stdout io.Writer, log *slog.Logger, level *slog.LevelVar) (*runner, error) {
	env, err := lambdaboot.Boot(ctx, "reconciler", getenv, stdout, log, level, nil, sweepSink.Apply)
	if err != nil {
		return nil, err
	}
	cfg, clients, policy, sink := env.Config, env.Clients, env.Policy, env.Sink
	sw := &reconciler.Sweeper{
		Policy:      policy,
		EC2:         func(region string) reconciler.RegionAPI { return clients.EC2(region) },
		HomeRegion:  clients.HomeRegion(),
		Account:     &enforcer.AccountCache{STS: clients.STS(), IAM: clients.IAM(), Log: log},
		IAM:         clients.IAM(),
		Sink:        sink,
		Indices:     cfg.ES.Indices,
		Now:         time.Now,
		Log:         log,
		DryRun:      cfg.DryRun,
		Concurrency: cfg.Concurrency,
	}
	r := &runner{
		sweeper:  sw,
		reserve:  cfg.TimeReserve,
		queueURL: cfg.QueueURL,
		emf:      &metrics.Emitter{Namespace: cfg.MetricsNamespace, Function: metrics.FunctionReconciler, W: stdout, Now: time.Now},
		log:      log,
	}
	if cfg.QueueURL != "" {
		r.queue = clients.SQS()
	}
	log.Info("reconciler ready", logkey.Policy, policy, logkey.DryRun, cfg.DryRun)
	return r, nil
}

// Handle runs one sweep. The scheduler's input ({}) is ignored. It returns an error, which
// Lambda counts in its Errors metric, only when the sweep could not run at all or documents
// could be neither written nor spooled; unverified and unreached regions are metrics and alarms.
func (r *runner) Handle(ctx context.Context, _ json.RawMessage) (*reconciler.Summary, error) {
	sw := *r.sweeper
	spoolCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		// No region is started in the last reserve; listing and acting stop halfway through it,
		// writing spoolReserve before the deadline, spooling logReserve before it.
		startBy, stopBy, writeBy := deadline.Add(-r.reserve), deadline.Add(-r.reserve/2), deadline.Add(-spoolReserve)
		sw.StartBy = func() time.Time { return startBy }
		sw.StopBy = func() time.Time { return stopBy }
		sw.WriteBy = func() time.Time { return writeBy }
		var cancel context.CancelFunc
		spoolCtx, cancel = context.WithDeadline(ctx, deadline.Add(-logReserve))
		defer cancel()
	}
	rep, err := sw.Run(ctx)
	if err != nil {
		r.log.ErrorContext(ctx, "sweep failed", logkey.Error, err.Error())
		return nil, err
	}
	notWritten, spooled := 0, 0
	var runErr error
	if rep.WriteErr != nil {
		unwritten := document.Unwritten(rep.WriteErr, rep.Documents)
		notWritten = len(unwritten)
		if runErr = r.spool(spoolCtx, rep.RunID, unwritten); runErr == nil {
			spooled = notWritten
		}
	}
	if err := r.emf.Emit(rep.Metrics(notWritten)...); err != nil {
		r.log.ErrorContext(ctx, "writing metrics", logkey.Error, err.Error())
	}
	s := rep.Summary(notWritten, spooled)
	lvl := slog.LevelInfo
	if rep.Troubled(notWritten) {
		lvl = slog.LevelWarn
	}
	r.log.Log(ctx, lvl, "sweep summary", "summary", s)
	if rep.Deferred > 0 {
		r.log.WarnContext(ctx, "ACTION LIMIT REACHED: violators deferred to the next run", logkey.Limit, rep.Limit, logkey.Deferred, rep.Deferred)
	}
	return s, runErr
}

// spool sends documents Elasticsearch did not take to the enforcer's queue; without a queue
// they are logged in full.
func (r *runner) spool(ctx context.Context, runID string, docs []document.Document) error {
	if r.queue == nil {
		for _, d := range docs {
			r.log.ErrorContext(ctx, "DOCUMENT NOT WRITTEN: kept only in this log", logkey.Index, d.Index, logkey.DocID, d.ID, "body", string(d.Body))
		}
		return fmt.Errorf("%d document(s) not written and no %s to spool them to", len(docs), config.EnvQueueURL)
	}
	// SpoolDocuments logs in full every document it does not send; only the failure is left to say.
	if err := enforcer.SpoolDocuments(ctx, r.queue, r.queueURL, 0, runID, docs, r.log); err != nil {
		r.log.ErrorContext(ctx, "spooling documents to the queue failed; the documents not sent are in the log (DOCUMENT NOT WRITTEN)", logkey.Error, err.Error())
		return err
	}
	r.log.WarnContext(ctx, "documents spooled to the enforcer's queue", logkey.Count, len(docs), logkey.QueueURL, r.queueURL)
	return nil
}
