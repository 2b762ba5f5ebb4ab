package mototest

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/awsaudit/awsaudit/internal/awsapi"
)

// Credentials moto accepts; it checks neither keys nor signatures.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// AccountID is the account moto puts everything in by default.
const AccountID = "123456789012"

// Test retry settings: enough attempts to ride out an injected fault or two,
// backoff short enough not to slow the suite.
const (
	retryMaxAttempts = 3
	retryMaxBackoff  = 20 * time.Millisecond
)

// Config returns an SDK config for the AWS-compatible endpoint (moto, or a
// faultproxy in front of it) in region, with static test credentials and a
// test retryer, and an HTTP client without a request-body race that makes
// call counts flaky (see httpClient). It is built field by field rather than with
// config.LoadDefaultConfig so that nothing from the developer's environment
// or ~/.aws (profiles, AWS_ENDPOINT_URL_EC2, real credentials) leaks in.
func Config(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   awsapi.NewHTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = retryMaxAttempts
				o.MaxBackoff = retryMaxBackoff
				// No client-side retry quota: fault-injection tests throttle
				// on purpose and must not run the token bucket dry.
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// AWSConfig returns Config for this server in region.
func (s *Server) AWSConfig(t testing.TB, region string) aws.Config {
	t.Helper()
	return Config(s.URL, region)
}

// Env returns the environment a child process (a binary under test, the AWS
// CLI) needs to talk to this server in region, as KEY=value entries. Append
// it after os.Environ(): os/exec keeps the last value of a duplicated key.
func (s *Server) Env(region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		// Empty values count as unset in the SDKs: a developer's profile or
		// session token must not mix into the test identity.
		"AWS_PROFILE=",
		"AWS_SESSION_TOKEN=",
	}
}
