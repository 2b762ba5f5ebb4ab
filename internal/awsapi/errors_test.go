package awsapi

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
)

func apiErr(code string) error {
	return fmt.Errorf("operation error EC2: StopInstances: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
}

func TestInstanceErrorHelpers(t *testing.T) {
	for _, tc := range []struct {
		err                       error
		kind                      Kind
		instanceNotFound, inState bool
	}{
		{apiErr("InvalidInstanceID.NotFound"), NotFound, true, false},
		{apiErr("InvalidInstanceID.Malformed"), NotFound, false, false},
		{apiErr("NoSuchEntity"), NotFound, false, false},
		{apiErr("IncorrectInstanceState"), IncorrectState, false, true},
		{apiErr("OperationNotPermitted"), Other, false, false},
		{context.Canceled, Canceled, false, false},
		{nil, Other, false, false},
	} {
		if got := Classify(tc.err); got != tc.kind {
			t.Errorf("Classify(%v) = %d, want %d", tc.err, got, tc.kind)
		}
		if got := IsInstanceNotFound(tc.err); got != tc.instanceNotFound {
			t.Errorf("IsInstanceNotFound(%v) = %v", tc.err, got)
		}
		if got := IsIncorrectState(tc.err); got != tc.inState {
			t.Errorf("IsIncorrectState(%v) = %v", tc.err, got)
		}
	}
}
