// Package lambdaboot is what both Lambda composition roots share: the JSON logger, the policy
// read by name from SSM (or inline) with the environment's overrides, and the document sink with
// Elasticsearch credentials read by name from SSM or Secrets Manager.
package lambdaboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/secrets"
)

// Env is what both Lambdas build the same way at init.
type Env struct {
	Config  config.Lambda
	Clients *awsapi.Clients
	Policy  *enforcer.Policy
	Sink    document.Sink
}

// Boot reads the function's settings (logging them, redacted), with check adding the function's
// own requirements, then loads the AWS configuration, the policy and the document sink.
func Boot(ctx context.Context, function string, getenv config.Getenv, stdout io.Writer, log *slog.Logger, level *slog.LevelVar,
	check func(config.Lambda) error, opts ...SinkOption) (*Env, error) {
	cfg, err := config.LoadLambda(getenv)
	if check != nil {
		err = errors.Join(err, check(cfg))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the settings: %w", err)
	}
	level.Set(cfg.LogLevel)
	log.Info(function+" settings", "settings", cfg)
	awsCfg, err := awsapi.LoadConfig(ctx, awsapi.Options{})
	if err != nil {
		return nil, err
	}
	e := &Env{Config: cfg, Clients: awsapi.NewClients(awsCfg)}
	e.Clients.Log = log
	params := ssm.NewFromConfig(awsCfg)
	if e.Policy, err = LoadPolicy(ctx, cfg, params); err != nil {
		return nil, err
	}
	if e.Sink, err = OpenSink(ctx, cfg.ES, params, secretsmanager.NewFromConfig(awsCfg), stdout, log, opts...); err != nil {
		return nil, err
	}
	return e, nil
}

// Logger returns the JSON logger through aws-lambda-go's handler (request ids included), and the
// level AWSAUDIT_LOG_LEVEL sets once the settings are read.
func Logger() (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	return slog.New(&levelHandler{Handler: lambdacontext.NewLogHandler(), level: level}), level
}

// LoadPolicy reads the policy (from SSM by name, or inline), applies the action and regions
// overrides, and validates it.
func LoadPolicy(ctx context.Context, cfg config.Lambda, params secrets.ParameterAPI) (*enforcer.Policy, error) {
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

// SinkOption adjusts the Elasticsearch sink's settings before OpenSink opens it: a function sizes
// its sink's patience to its own timeout.
type SinkOption func(*essink.Config)

// Patience is how long a function's sink waits on Elasticsearch: one attempt's timeout, the
// retries of a request and of failed bulk items, and the waits between tries.
type Patience struct {
	Timeout                time.Duration
	RetryMax, ItemRetryMax int
	WaitMin, WaitMax       time.Duration
}

// Apply sets p on c; it is a SinkOption.
func (p Patience) Apply(c *essink.Config) {
	c.Timeout = p.Timeout
	c.RetryMax, c.ItemRetryMax = p.RetryMax, p.ItemRetryMax
	c.RetryWaitMin, c.RetryWaitMax = p.WaitMin, p.WaitMax
}

// OpenSink returns where documents go: Elasticsearch, with credentials read by name; without an
// Elasticsearch URL, the log (stdout) as _bulk NDJSON, replayable with `awsaudit ship`.
// Credentials in plain environment variables are refused (CheckNoPlainSecrets). The sink keeps
// essink's defaults unless opts change them.
func OpenSink(ctx context.Context, es config.ES, params secrets.ParameterAPI, sm secrets.SecretAPI, stdout io.Writer, log *slog.Logger, opts ...SinkOption) (document.Sink, error) {
	if err := CheckNoPlainSecrets(es); err != nil {
		return nil, err
	}
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
	return openElasticsearch(ctx, es, log, opts)
}

// CheckNoPlainSecrets refuses Elasticsearch credentials in a Lambda's plain environment
// variables (AWSAUDIT_ES_API_KEY, AWSAUDIT_ES_PASSWORD, user info in AWSAUDIT_ES_URL), which
// anyone allowed to read the function's configuration can read. The CLI takes them there; a
// Lambda reads them by name from SSM or Secrets Manager. Every problem is returned, joined.
func CheckNoPlainSecrets(es config.ES) error {
	use := fmt.Sprintf("put the credentials in an SSM SecureString parameter named by %s or a Secrets Manager secret named by %s",
		config.EnvESSecretSSM, config.EnvESSecretID)
	var errs []error
	if es.APIKey != "" {
		errs = append(errs, fmt.Errorf("%s is set: a Lambda does not take Elasticsearch credentials in a plain environment variable; %s", config.EnvESAPIKey, use))
	}
	if es.Password != "" {
		errs = append(errs, fmt.Errorf("%s is set: a Lambda does not take Elasticsearch credentials in a plain environment variable; %s", config.EnvESPassword, use))
	}
	if u, err := url.Parse(es.URL); err == nil && u.User != nil {
		errs = append(errs, fmt.Errorf("%s holds user info (%s): a Lambda does not take Elasticsearch credentials in a plain environment variable; remove it and %s",
			config.EnvESURL, config.RedactURL(es.URL), use))
	}
	return errors.Join(errs...)
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

// openElasticsearch returns the Elasticsearch sink, with its index templates installed. An
// unreachable Elasticsearch is not an init failure (the sink installs the templates before its
// first write, and the handler spools on the queue what it cannot write); refused credentials
// or a rejected template are.
func openElasticsearch(ctx context.Context, es config.ES, log *slog.Logger, opts []SinkOption) (document.Sink, error) {
	c := essink.FromES(es, log)
	// Lambda allows an init phase 10 s; an Elasticsearch slow to answer is not worth losing it.
	c.StartupTimeout = esStartupTimeout
	c.Now = time.Now
	for _, o := range opts {
		o(&c)
	}
	return essink.Open(ctx, c)
}

// esStartupTimeout bounds the template installation at init.
const esStartupTimeout = 5 * time.Second
