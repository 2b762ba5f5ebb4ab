package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/logkey"
	"github.com/awsaudit/awsaudit/internal/worker"
)

// workerFlags are enforce's own flags: the queue and the event path's timing.
type workerFlags struct {
	queueURL          string
	untilEmpty        bool
	concurrency       int
	maxDelay          string
	notFoundAllowance string
	retryDelay        string
	visibilityTimeout string
	canaryTTL         string
	waitTime          string
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.queueURL, "queue-url", "", "the enforcer's SQS queue (or "+config.EnvQueueURL+")")
	fs.BoolVar(&f.untilEmpty, "until-empty", false, "exit once no message is visible, in flight or delayed")
	fs.IntVar(&f.concurrency, "concurrency", config.DefaultConcurrency, "messages handled at once (1 to 64)")
	fs.StringVar(&f.maxDelay, "max-delay", "900", "longest recheck delay, seconds or a duration (1 to 900 s)")
	fs.StringVar(&f.notFoundAllowance, "not-found-allowance", "300", "how long after the event an instance EC2 does not show yet is waited for, seconds or a duration")
	fs.StringVar(&f.retryDelay, "retry-delay", "30", "delay before a failed message, or an instance not visible yet, is tried again, seconds or a duration (1 to 900 s)")
	fs.StringVar(&f.visibilityTimeout, "visibility-timeout", "120", "how long a received message is hidden while it is handled, seconds or a duration (1 s to 12 h)")
	fs.StringVar(&f.canaryTTL, "canary-ttl", "300", "how long a region's canary check is trusted, seconds or a duration")
	fs.StringVar(&f.waitTime, "wait-time", "20", "long-poll wait, seconds or a duration (0 to 20 s)")
}

// workerSettings are the parsed workerFlags.
type workerSettings struct {
	queueURL                                            string
	maxDelay, notFound, retry, visibility, canary, wait time.Duration
}

// settings parses and checks the flags, returning every problem.
func (f *workerFlags) settings(getenv config.Getenv) (workerSettings, error) {
	var errs []error
	s := workerSettings{queueURL: strings.TrimSpace(f.queueURL)}
	if s.queueURL == "" {
		s.queueURL = strings.TrimSpace(getenv(config.EnvQueueURL))
	}
	if s.queueURL == "" {
		errs = append(errs, fmt.Errorf("--queue-url: give the enforcer's queue URL (or set %s)", config.EnvQueueURL))
	} else if u, err := url.Parse(s.queueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		errs = append(errs, fmt.Errorf("--queue-url: %q is not a queue URL (such as https://sqs.us-east-1.amazonaws.com/123456789012/awsaudit-events)", s.queueURL))
	}
	dur := func(name, v string, lo, hi time.Duration) time.Duration {
		d, err := parseSeconds(v)
		if err != nil || d < lo || d > hi {
			errs = append(errs, fmt.Errorf("--%s: %q is not a number of seconds or a duration from %s to %s", name, v, lo, hi))
		}
		return d
	}
	s.maxDelay = dur("max-delay", f.maxDelay, time.Second, 900*time.Second)
	s.notFound = dur("not-found-allowance", f.notFoundAllowance, 0, 24*time.Hour)
	s.retry = dur("retry-delay", f.retryDelay, time.Second, 900*time.Second)
	s.visibility = dur("visibility-timeout", f.visibilityTimeout, time.Second, 12*time.Hour)
	s.canary = dur("canary-ttl", f.canaryTTL, 0, 24*time.Hour)
	s.wait = dur("wait-time", f.waitTime, 0, 20*time.Second)
	if f.concurrency < 1 || f.concurrency > 64 {
		errs = append(errs, fmt.Errorf("--concurrency: %d is not from 1 to 64", f.concurrency))
	}
	return s, errors.Join(errs...)
}

// parseSeconds reads a number of seconds (30, 1.5) or a Go duration (30s, 2m).
func parseSeconds(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// runEnforce runs the event path as a long-polling SQS worker: the same handler as the Lambda.
func runEnforce(ctx context.Context, args []string, env Env) int {
	fs, help := newFlagSet("awsaudit enforce", "awsaudit enforce --queue-url URL [-r REGIONS] [-t TAGS] [-g MINUTES] [-k] [-c] [--policy FILE] [--until-empty] [flags]", env)
	var (
		pf policyFlags
		of outputFlags
		af awsFlags
		wf workerFlags
	)
	pf.register(fs)
	of.register(fs)
	af.register(fs)
	wf.register(fs)
	if code, done := parse(fs, help, args, env); done {
		return code
	}
	set := setFlags(fs)

	// Everything the user gave is checked before any AWS call.
	policy, err := pf.policy(set)
	if err != nil {
		return refuse(env.Stderr, err)
	}
	var errs []error
	if set["max-actions-percent"] {
		errs = append(errs, errors.New("--max-actions-percent applies to the sweep; the event path takes --max-actions (per event)"))
	}
	if (af.accessKey == "") != (af.secretKey == "") {
		errs = append(errs, errors.New("-a/--aws_access_key and -s/--aws_secret_key go together"))
	}
	ws, err := wf.settings(env.Getenv)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return refuse(env.Stderr, err)
	}
	sess, code := openSession(ctx, env, &of, &af)
	if code != ExitOK {
		return code
	}
	defer sess.close()
	log, sinks, counter, clients, es := sess.log, sess.sinks, sess.counter, sess.clients, sess.es
	if of.ndjson == "" && !es.Enabled() {
		fmt.Fprintln(env.Stderr, "awsaudit: warning: documents are not written anywhere (give --ndjson FILE or --es-url URL)")
	}
	cfg := clients.Config()
	queue := clients.SQS()
	if r := worker.QueueRegion(ws.queueURL); r != "" && r != cfg.Region {
		queue = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.Region = r })
	}

	var (
		mu    sync.Mutex
		total enforcer.BatchStats
	)
	h := &enforcer.Handler{
		Policy:            policy,
		EC2:               func(region string) enforcer.EC2API { return clients.EC2(region) },
		Canary:            &enforcer.CanaryChecker{Policy: policy, TTL: ws.canary, Now: env.Now},
		Account:           &enforcer.AccountCache{STS: clients.STS(), IAM: clients.IAM(), Log: log},
		Queue:             queue,
		QueueURL:          ws.queueURL,
		Sink:              sinks.sink,
		Indices:           es.Indices,
		Now:               env.Now,
		Log:               log,
		DryRun:            pf.dryRun,
		MaxDelay:          ws.maxDelay,
		NotFoundAllowance: ws.notFound,
		RetryDelay:        ws.retry,
		Concurrency:       wf.concurrency,
		Metrics: func(_ context.Context, s enforcer.BatchStats) {
			mu.Lock()
			total.Add(s)
			mu.Unlock()
		},
	}
	if policy.NeedsIAM() {
		h.Users = enforcer.NewUsers(clients.IAM(), enforcer.DefaultIAMTTL, env.Now)
	}
	w := &worker.Worker{
		Now:               env.Now,
		Queue:             queue,
		QueueURL:          ws.queueURL,
		Handle:            h.HandleSQS,
		Log:               log,
		Concurrency:       wf.concurrency,
		WaitTime:          ws.wait,
		VisibilityTimeout: ws.visibility,
		RetryDelay:        ws.retry,
		UntilEmpty:        wf.untilEmpty,
	}
	log.Info("enforcer worker starting", logkey.QueueURL, ws.queueURL, logkey.Policy, policy, logkey.DryRun, pf.dryRun, "until_empty", wf.untilEmpty)
	st, err := w.Run(ctx)
	mu.Lock()
	t := total
	mu.Unlock()
	fmt.Fprintf(env.Stderr, "awsaudit: enforce: %d message(s) received, %d handled, %d left for redelivery (%d failed on their last delivery), %d dropped; %d action(s), %d failed; %d document(s) spooled on the queue\n",
		st.Received, st.Deleted, st.Failed, st.Unresolved, t.Dropped, t.Actions, t.ActionFailures, t.Spooled)
	if counter != nil {
		var s []string
		for _, c := range counter.Snapshot() {
			s = append(s, fmt.Sprintf("%s.%s@%s %d", c.Service, c.Operation, c.Region, c.Count))
		}
		fmt.Fprintf(env.Stderr, "awsaudit: api calls: %d | %s\n", counter.Total(), strings.Join(s, ", "))
	}
	var out outcome
	if err != nil {
		out.add(ExitError, "%v", err)
		return out.print(env.Stderr)
	}
	if wf.untilEmpty {
		if t.ActionFailures > 0 {
			out.add(ExitFailed, "%d action(s) failed; see the documents' error field", t.ActionFailures)
		}
		// A failure a later delivery got past is no failure of the run: only the messages whose
		// last handling failed count. The queue is empty now, so SQS moved them to the DLQ.
		if st.Unresolved > 0 {
			out.add(ExitFailed, "%d message(s) failed on their last delivery and were not handled since: SQS moved them to the DLQ (see the log for why)", st.Unresolved)
		}
	}
	return out.print(env.Stderr)
}
