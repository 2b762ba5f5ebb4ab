// Package config is the one place awsaudit reads its environment. Each variable is a named
// constant beside its default; Load functions return every problem at once, joined, and never
// panic; LogValue prints the effective settings with secrets redacted.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
)

// Environment variables shared by the CLI and both Lambdas.
const (
	// EnvESURL is the Elasticsearch URL; unset, documents go only to NDJSON (CLI) or the logs.
	EnvESURL = "AWSAUDIT_ES_URL"
	// EnvESAPIKey is an Elasticsearch API key (the encoded form). CLI only: Lambdas read secrets by
	// name from SSM or Secrets Manager.
	EnvESAPIKey = "AWSAUDIT_ES_API_KEY"
	// EnvESUsername and EnvESPassword are basic-auth credentials (CLI only).
	EnvESUsername = "AWSAUDIT_ES_USERNAME"
	EnvESPassword = "AWSAUDIT_ES_PASSWORD"
	// EnvESCAFile is a PEM file of CAs to trust for Elasticsearch, for private CAs.
	EnvESCAFile = "AWSAUDIT_ES_CA_FILE"
	// EnvAuditIndex and EnvViolatorIndex name the indices.
	EnvAuditIndex    = "AWSAUDIT_AUDIT_INDEX"
	EnvViolatorIndex = "AWSAUDIT_VIOLATOR_INDEX"
)

// Environment variables of the Lambdas.
const (
	// EnvPolicySSM names the SSM parameter holding the policy (YAML or JSON).
	EnvPolicySSM = "AWSAUDIT_POLICY_SSM_PARAMETER"
	// EnvPolicy holds the policy itself, for small deployments and tests.
	EnvPolicy = "AWSAUDIT_POLICY"
	// EnvAction overrides the policy's action: report, stop or terminate.
	EnvAction = "AWSAUDIT_ACTION"
	// EnvDryRun, when true, makes stop and terminate record dry_run and change nothing.
	EnvDryRun = "AWSAUDIT_DRY_RUN"
	// EnvRegions overrides the policy's regions (comma separated).
	EnvRegions = "AWSAUDIT_REGIONS"
	// EnvESSecretSSM names an SSM SecureString parameter holding the Elasticsearch credentials.
	EnvESSecretSSM = "AWSAUDIT_ES_SECRET_SSM_PARAMETER"
	// EnvESSecretID names a Secrets Manager secret holding the Elasticsearch credentials.
	EnvESSecretID = "AWSAUDIT_ES_SECRET_ID"
	// EnvQueueURL is the enforcer's queue: rechecks and document-only messages go there; the
	// reconciler spools unwritten documents there too.
	EnvQueueURL = "AWSAUDIT_QUEUE_URL"
	// EnvMaxDelay is the longest SQS delay, in seconds (AWS: 900).
	EnvMaxDelay = "AWSAUDIT_MAX_DELAY_SECONDS"
	// EnvNotFoundAllowance is how long after the event an instance that EC2 does not show yet is
	// waited for (eventual consistency), in seconds.
	EnvNotFoundAllowance = "AWSAUDIT_NOT_FOUND_ALLOWANCE_SECONDS"
	// EnvRetryDelay is the delay of a recheck sent while waiting for an instance, in seconds.
	EnvRetryDelay = "AWSAUDIT_RETRY_DELAY_SECONDS"
	// EnvCanaryTTL is how long the enforcer keeps a region's canary check, in seconds.
	EnvCanaryTTL = "AWSAUDIT_CANARY_TTL_SECONDS"
	// EnvTimeReserve is how much of the reconciler's remaining time is kept for acting and
	// writing: no region is started later, in seconds (at least MinTimeReserve).
	EnvTimeReserve = "AWSAUDIT_TIME_RESERVE_SECONDS"
	// EnvConcurrency bounds the regions swept at once, or the records handled at once.
	EnvConcurrency = "AWSAUDIT_CONCURRENCY"
	// EnvLogLevel is debug, info, warn or error.
	EnvLogLevel = "AWSAUDIT_LOG_LEVEL"
	// EnvMetricsNamespace is the CloudWatch namespace of the embedded metrics.
	EnvMetricsNamespace = "AWSAUDIT_METRICS_NAMESPACE"
)

// Defaults.
const (
	DefaultMaxDelay          = 900 * time.Second
	DefaultNotFoundAllowance = 5 * time.Minute
	DefaultRetryDelay        = 30 * time.Second
	DefaultCanaryTTL         = 5 * time.Minute
	DefaultTimeReserve       = 3 * time.Minute
	DefaultConcurrency       = 4
	DefaultMetricsNamespace  = "awsaudit"
)

// MinTimeReserve is the shortest time reserve (EnvTimeReserve). The reconciler stops listing
// and acting halfway through its reserve and stops writing 10 s before its deadline, to spool
// what was not written and log its summary: 30 s leaves at least 5 s to write.
const MinTimeReserve = 30 * time.Second

// ES is how to reach Elasticsearch.
type ES struct {
	URL                string
	APIKey             string
	Username, Password string
	CAFile             string
	Indices            document.Indices
	// SecretSSM and SecretID name where a Lambda reads APIKey or Username/Password.
	SecretSSM, SecretID string
}

// Enabled reports whether an Elasticsearch URL is set.
func (e ES) Enabled() bool { return e.URL != "" }

// LogValue prints the settings without credentials.
func (e ES) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", RedactURL(e.URL)),
		slog.Bool("api_key_set", e.APIKey != ""),
		slog.Bool("basic_auth_set", e.Username != ""),
		slog.String("ca_file", e.CAFile),
		slog.String("audit_index", e.Indices.Audit),
		slog.String("violator_index", e.Indices.Violator),
		slog.String("secret_ssm_parameter", e.SecretSSM),
		slog.String("secret_id", e.SecretID),
	)
}

// RedactURL drops any user info from a URL, so it can be logged. A URL that does not parse is
// not shown at all: it may hold a password that made it unparseable.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "(unparseable URL)"
	case u.User == nil:
		return raw
	}
	u.User = url.User("REDACTED")
	return u.String()
}

// Getenv reads one variable; os.Getenv in production, a map in tests.
type Getenv func(string) string

// LoadES reads the Elasticsearch settings and checks them (Check).
func LoadES(getenv Getenv) (ES, error) {
	e := ReadES(getenv)
	return e, e.Check(EnvESURL, EnvAuditIndex+", "+EnvViolatorIndex)
}

// ReadES reads the Elasticsearch settings without checking them, for a caller that replaces
// some (the CLI's flags) before it calls Check.
func ReadES(getenv Getenv) ES {
	e := ES{
		URL:       strings.TrimSpace(getenv(EnvESURL)),
		APIKey:    getenv(EnvESAPIKey),
		Username:  getenv(EnvESUsername),
		Password:  getenv(EnvESPassword),
		CAFile:    getenv(EnvESCAFile),
		Indices:   document.DefaultIndices(),
		SecretSSM: getenv(EnvESSecretSSM),
		SecretID:  getenv(EnvESSecretID),
	}
	if v := getenv(EnvAuditIndex); v != "" {
		e.Indices.Audit = v
	}
	if v := getenv(EnvViolatorIndex); v != "" {
		e.Indices.Violator = v
	}
	return e
}

// Check returns every problem of the settings, joined; urlFrom and indicesFrom name where the URL
// and the index names came from (variables or flags), for the messages.
func (e ES) Check(urlFrom, indicesFrom string) error {
	var errs []error
	if e.URL != "" {
		if err := CheckESURL(e.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", urlFrom, err))
		} else if creds := e.credentialSources(); len(creds) > 0 {
			if err := CheckPlainHTTP(e.URL); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w (credentials from %s)", urlFrom, err, strings.Join(creds, ", ")))
			}
		}
	}
	if (e.Username == "") != (e.Password == "") {
		errs = append(errs, fmt.Errorf("%s and %s must be set together", EnvESUsername, EnvESPassword))
	}
	if e.SecretSSM != "" && e.SecretID != "" {
		errs = append(errs, fmt.Errorf("set one of %s and %s", EnvESSecretSSM, EnvESSecretID))
	}
	if err := CheckIndices(e.Indices); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", indicesFrom, err))
	}
	return errors.Join(errs...)
}

// credentialSources names where the settings hold or will read credentials.
func (e ES) credentialSources() []string {
	var out []string
	if u, err := url.Parse(e.URL); err == nil && u.User != nil {
		out = append(out, "the URL's user info")
	}
	for _, c := range []struct {
		set  bool
		name string
	}{
		{e.APIKey != "", EnvESAPIKey},
		{e.Username != "" || e.Password != "", EnvESUsername + "/" + EnvESPassword},
		{e.SecretSSM != "", EnvESSecretSSM},
		{e.SecretID != "", EnvESSecretID},
	} {
		if c.set {
			out = append(out, c.name)
		}
	}
	return out
}

// CheckPlainHTTP refuses a plain http:// URL to another machine, for a caller that would send
// credentials to it: they would cross the network readable by anyone on the way. Plain http to
// this machine's loopback (localhost, 127.0.0.0/8, ::1) is allowed: the traffic stays on the
// machine (tests, the demo, a local tunnel). A URL that does not parse is left to CheckESURL.
func CheckPlainHTTP(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%s is plain http: the Elasticsearch credentials would cross the network unencrypted; "+
		"use https (with a CA file for a private CA), or plain http only to this machine (localhost, 127.0.0.0/8, ::1)", RedactURL(raw))
}

// isLoopback reports whether host names this machine's loopback interface.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckESURL refuses a URL that is not http(s)://host[:port][/path].
func CheckESURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("the URL does not parse (a password in it would need URL-escaping; better, give credentials in the environment)")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", RedactURL(raw))
	}
	return nil
}

// CheckIndices refuses index names Elasticsearch would refuse, and one name for both indices
// (the rollups would then be refused by the violators' strict mapping).
func CheckIndices(idx document.Indices) error {
	var errs []error
	if err := CheckIndex(idx.Audit); err != nil {
		errs = append(errs, fmt.Errorf("audit index: %w", err))
	}
	if err := CheckIndex(idx.Violator); err != nil {
		errs = append(errs, fmt.Errorf("violator index: %w", err))
	}
	if idx.Audit == idx.Violator {
		errs = append(errs, fmt.Errorf("the audit and violator indices are both %q: they need names of their own", idx.Audit))
	}
	return errors.Join(errs...)
}

// CheckIndex refuses names Elasticsearch would refuse.
func CheckIndex(name string) error {
	switch {
	case name == "":
		return errors.New("index name is empty")
	case strings.ToLower(name) != name:
		return fmt.Errorf("index name %q must be lower case", name)
	case strings.ContainsAny(name, `\/*?"<>| ,#:`) || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return fmt.Errorf("index name %q has a character Elasticsearch refuses", name)
	}
	return nil
}

// Lambda is the settings of both Lambda functions.
type Lambda struct {
	ES                ES
	PolicySSM         string
	Policy            string
	Action            string
	DryRun            bool
	Regions           string
	QueueURL          string
	MaxDelay          time.Duration
	NotFoundAllowance time.Duration
	RetryDelay        time.Duration
	CanaryTTL         time.Duration
	TimeReserve       time.Duration
	Concurrency       int
	LogLevel          slog.Level
	MetricsNamespace  string
}

// LoadLambda reads a Lambda's settings.
func LoadLambda(getenv Getenv) (Lambda, error) {
	var errs []error
	es, err := LoadES(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c := Lambda{
		ES:               es,
		PolicySSM:        getenv(EnvPolicySSM),
		Policy:           getenv(EnvPolicy),
		Action:           getenv(EnvAction),
		Regions:          getenv(EnvRegions),
		QueueURL:         getenv(EnvQueueURL),
		MetricsNamespace: DefaultMetricsNamespace,
	}
	if c.PolicySSM == "" && c.Policy == "" {
		errs = append(errs, fmt.Errorf("set %s (or %s) to the policy", EnvPolicySSM, EnvPolicy))
	}
	if c.PolicySSM != "" && c.Policy != "" {
		errs = append(errs, fmt.Errorf("set one of %s and %s", EnvPolicySSM, EnvPolicy))
	}
	if v := getenv(EnvMetricsNamespace); v != "" {
		c.MetricsNamespace = v
	}
	if v := getenv(EnvDryRun); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", EnvDryRun, v))
		}
		c.DryRun = b
	}
	seconds := func(name string, def time.Duration, min, max time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseFloat(v, 64)
		d := time.Duration(n * float64(time.Second))
		if err != nil || d < min || d > max {
			errs = append(errs, fmt.Errorf("%s: %q is not a number of seconds from %v to %v", name, v, min.Seconds(), max.Seconds()))
			return def
		}
		return d
	}
	// At least 1 s, as awsaudit enforce's --max-delay and --retry-delay: no message waits less.
	c.MaxDelay = seconds(EnvMaxDelay, DefaultMaxDelay, time.Second, 900*time.Second)
	c.NotFoundAllowance = seconds(EnvNotFoundAllowance, DefaultNotFoundAllowance, 0, 24*time.Hour)
	c.RetryDelay = seconds(EnvRetryDelay, DefaultRetryDelay, time.Second, 900*time.Second)
	c.CanaryTTL = seconds(EnvCanaryTTL, DefaultCanaryTTL, 0, 24*time.Hour)
	c.TimeReserve = seconds(EnvTimeReserve, DefaultTimeReserve, MinTimeReserve, 15*time.Minute)
	c.Concurrency = DefaultConcurrency
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number from 1 to 64", EnvConcurrency, v))
		} else {
			c.Concurrency = n
		}
	}
	if v := getenv(EnvLogLevel); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not debug, info, warn or error", EnvLogLevel, v))
		}
	}
	return c, errors.Join(errs...)
}

// LogValue prints the effective settings, secrets redacted.
func (c Lambda) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("es", c.ES),
		slog.String("policy_ssm_parameter", c.PolicySSM),
		slog.Bool("policy_inline", c.Policy != ""),
		slog.String("action_override", c.Action),
		slog.Bool("dry_run", c.DryRun),
		slog.String("regions", c.Regions),
		slog.String("queue_url", c.QueueURL),
		slog.Float64("max_delay_seconds", c.MaxDelay.Seconds()),
		slog.Float64("not_found_allowance_seconds", c.NotFoundAllowance.Seconds()),
		slog.Float64("retry_delay_seconds", c.RetryDelay.Seconds()),
		slog.Float64("canary_ttl_seconds", c.CanaryTTL.Seconds()),
		slog.Float64("time_reserve_seconds", c.TimeReserve.Seconds()),
		slog.Int("concurrency", c.Concurrency),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("metrics_namespace", c.MetricsNamespace),
	)
}
