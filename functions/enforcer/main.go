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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
	"github.com/awsaudit/awsaudit/internal/metrics"
	"github.com/awsaudit/awsaudit/internal/secrets"
)

func main() {
	level := new(slog.LevelVar)
	log := slog.New(&levelHandler{Handler: lambdacontext.NewLogHandler(), level: level})
	h, err := setup(context.Background(), os.Getenv, os.Stdout, log, level)
	if err != nil {
		log.Error("enforcer init failed: nothing will be handled until this is fixed", logkey.Error, err.Error())
		os.Exit(1)
	}
	lambda.Start(h.HandleSQS)
}

// setup builds the handler from the environment.
func setup(ctx context.Context, getenv config.Getenv, stdout io.Writer, log *slog.Logger, level *slog.LevelVar) (*enforcer.Handler, error) {
	cfg, err := config.LoadLambda(getenv)
	if err != nil {
		return nil, fmt.Errorf("reading the settings: %w", err)
	}
	level.Set(cfg.LogLevel)
	log.Info("enforcer settings", "settings", cfg)
	if cfg.QueueURL == "" {
		return nil, fmt.Errorf("%s: the enforcer sends rechecks and spooled documents to its queue; set it to the queue's URL", config.EnvQueueURL)
	}
	awsCfg, err := awsapi.LoadConfig(ctx, awsapi.Options{})
	if err != nil {
		return nil, err
	}
	clients := awsapi.NewClients(awsCfg)
	params := ssm.NewFromConfig(awsCfg)
	policy, err := loadPolicy(ctx, cfg, params)
	if err != nil {
		return nil, err
	}
	sink, err := openSink(ctx, cfg.ES, params, secretsmanager.NewFromConfig(awsCfg), stdout, log)
	if err != nil {
		return nil, err
	}
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
	log.Info("enforcer ready", "action", string(policy.Action), "dry_run", cfg.DryRun, "tag_scheme", policy.Scheme(),
		"grace", policy.Grace.String(), logkey.Regions, policy.Regions)
	return h, nil
}

// loadPolicy reads the policy (from SSM by name, or inline), applies the action and regions
// overrides, and validates it.
func loadPolicy(ctx context.Context, cfg config.Lambda, params secrets.ParameterAPI) (*enforcer.Policy, error) {
	text, where := cfg.Policy, config.EnvPolicy
	if cfg.PolicySSM != "" {
		var err error
		if text, err = secrets.Parameter(ctx, params, cfg.PolicySSM); err != nil {
			return nil, fmt.Errorf("reading the policy: %w", err)
		}
		where = "SSM parameter " + cfg.PolicySSM
	}
	p, err := enforcer.ParsePolicy([]byte(text), false)
	if err != nil {
		return nil, fmt.Errorf("policy in %s: %w", where, err)
	}
	var errs []error
	if cfg.Action != "" {
		a, err := enforcer.ParseAction(cfg.Action)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", config.EnvAction, err))
		}
		p.Action = a
	}
	if cfg.Regions != "" {
		regions, err := enforcer.ParseRegions(cfg.Regions)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", config.EnvRegions, err))
		}
		p.Regions = regions
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy in %s: %w", where, err)
	}
	return p, nil
}

// openSink returns where documents go: Elasticsearch, with credentials read by name; without an
// Elasticsearch URL, the log (stdout) as _bulk NDJSON, replayable with `awsaudit ship`.
func openSink(ctx context.Context, es config.ES, params secrets.ParameterAPI, sm secrets.SecretAPI, stdout io.Writer, log *slog.Logger) (document.Sink, error) {
	if !es.Enabled() {
		log.Warn("no Elasticsearch URL: documents are written to the log as _bulk NDJSON", "env", config.EnvESURL)
		return document.NewNDJSON(stdout), nil
	}
	var (
		value string
		err   error
	)
	switch {
	case es.SecretSSM != "":
		value, err = secrets.Parameter(ctx, params, es.SecretSSM)
	case es.SecretID != "":
		value, err = secrets.Secret(ctx, sm, es.SecretID)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Elasticsearch credentials: %w", err)
	}
	if value != "" {
		c, err := secrets.ParseESCredentials(value)
		if err != nil {
			return nil, err
		}
		es.APIKey, es.Username, es.Password = c.APIKey, c.Username, c.Password
		log.Info("Elasticsearch credentials read", "credentials", c)
	}
	return openElasticsearch(ctx, es, log)
}

// levelHandler drops records below the configured level (AWSAUDIT_LOG_LEVEL) before Lambda's
// handler, which applies AWS_LAMBDA_LOG_LEVEL, sees them.
type levelHandler struct {
	slog.Handler
	level slog.Leveler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}
