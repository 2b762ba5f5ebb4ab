// Package awsapi holds what every awsaudit component needs around the AWS SDK: loading the SDK
// configuration with one tuned retryer, a cached per-region client factory, an API call counter,
// and the one place AWS errors are classified (by smithy.APIError.ErrorCode(), never by message).
package awsapi

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Kind is the class of an AWS error.
type Kind int

// The kinds of error awsaudit treats differently.
const (
	// Other: anything not below; not retried by awsaudit, reported.
	Other Kind = iota
	// NotFound: the thing asked about does not exist (an instance id, an IAM user).
	NotFound
	// Throttled: the account's request rate was exceeded.
	Throttled
	// Unavailable: a 5xx answer, a timeout or a broken connection: worth trying again later.
	Unavailable
	// Unauthorized: the credentials may not do this.
	Unauthorized
	// DryRunOK: a DryRun request that would have succeeded.
	DryRunOK
	// OptInRequired: the region is not enabled for the account.
	OptInRequired
	// Canceled: the context was canceled or timed out.
	Canceled
	// IncorrectState: the instance is not in a state the call accepts (stopping one that is
	// shutting down or terminated, for example).
	IncorrectState
)

var codes = map[string]Kind{
	instanceNotFound:                          NotFound,
	"InvalidInstanceID.Malformed":             NotFound,
	"NoSuchEntity":                            NotFound,
	"ParameterNotFound":                       NotFound,
	"ResourceNotFoundException":               NotFound,
	"AWS.SimpleQueueService.NonExistentQueue": NotFound,
	"QueueDoesNotExist":                       NotFound,

	"UnauthorizedOperation":       Unauthorized,
	"AccessDenied":                Unauthorized,
	"AccessDeniedException":       Unauthorized,
	"AuthFailure":                 Unauthorized,
	"UnrecognizedClientException": Unauthorized,
	"InvalidClientTokenId":        Unauthorized,
	"ExpiredToken":                Unauthorized,
	"ExpiredTokenException":       Unauthorized,
	"SignatureDoesNotMatch":       Unauthorized,

	"IncorrectInstanceState": IncorrectState,

	"DryRunOperation": DryRunOK,
	"OptInRequired":   OptInRequired,

	"InternalError":               Unavailable,
	"InternalFailure":             Unavailable,
	"ServiceUnavailable":          Unavailable,
	"ServiceUnavailableException": Unavailable,
	"Unavailable":                 Unavailable,
	"RequestTimeout":              Unavailable,
	"RequestTimeoutException":     Unavailable,
}

// Classify returns the kind of err.
func Classify(err error) Kind {
	if err == nil {
		return Other
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return Throttled
		}
		if k, ok := codes[code]; ok {
			return k
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return Unavailable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Unavailable
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return Unavailable
	}
	return Other
}

// IsNotFound reports whether err says the thing asked about does not exist.
func IsNotFound(err error) bool { return Classify(err) == NotFound }

// instanceNotFound is the code EC2 answers for an instance id that names no instance (any more).
const instanceNotFound = "InvalidInstanceID.NotFound"

// IsInstanceNotFound reports whether err says the EC2 instance asked about does not exist: it
// was never there, or it has gone since (a terminated instance drops out of the API after a
// while). A malformed id is not this.
func IsInstanceNotFound(err error) bool { return Code(err) == instanceNotFound }

// IsIncorrectState reports whether err says the instance is not in a state the call accepts.
func IsIncorrectState(err error) bool { return Classify(err) == IncorrectState }

// IsTransient reports whether err is worth trying again later: throttling, a 5xx answer, a
// broken connection.
func IsTransient(err error) bool {
	k := Classify(err)
	return k == Throttled || k == Unavailable
}

// Code returns the AWS error code of err, or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
