package enforcer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/awsaudit/awsaudit/enforcer"
)

// evFixture returns a testdata file's bytes.
func evFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// evJSONEqual fails t unless got and want hold the same JSON value.
func evJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", " ")
		wb, _ := json.MarshalIndent(w, "", " ")
		t.Fatalf("JSON differs\ngot:  %s\nwant: %s", gb, wb)
	}
}

var evFixtures = []string{
	"event-iamuser.json", "event-assumedrole.json", "event-federateduser.json",
	"event-autoscaling.json", "event-awsservice.json", "event-multi.json", "event-failed.json",
}

// TestFixturesRoundTrip: the envelope and the typed CloudTrail detail decode and encode without
// loss, as aws-lambda-go's own event tests check.
func TestFixturesRoundTrip(t *testing.T) {
	for _, name := range evFixtures {
		t.Run(name, func(t *testing.T) {
			raw := evFixture(t, name)
			var env events.EventBridgeEvent
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			evJSONEqual(t, out, raw)

			var d enforcer.CloudTrailDetail
			if err := json.Unmarshal(env.Detail, &d); err != nil {
				t.Fatal(err)
			}
			out, err = json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			evJSONEqual(t, out, env.Detail)
		})
	}
}

func TestParseEventFixtures(t *testing.T) {
	tests := []struct {
		file   string
		want   enforcer.Launch
		reason enforcer.DropReason
	}{
		{file: "event-iamuser.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a01", EventTime: time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC),
			Region: "us-east-1", AccountID: "123456789012", InstanceIDs: []string{"i-0a1b2c3d4e5f60718"},
			Caller: enforcer.Caller{Type: "IAMUser", Name: "alice", ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012", UserNames: []string{"alice"}},
		}},
		{file: "event-assumedrole.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a02", EventTime: time.Date(2026, 11, 26, 11, 30, 5, 0, time.UTC),
			Region: "eu-west-1", AccountID: "123456789012", InstanceIDs: []string{"i-0bb11cc22dd33ee44"},
			Caller: enforcer.Caller{
				Type: "AssumedRole", Name: "AWSReservedSSO_Developer_0123456789abcdef/bob@example.com",
				ARN:       "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/bob@example.com",
				AccountID: "123456789012", UserNames: []string{"bob@example.com"},
			},
		}},
		{file: "event-federateduser.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a03", EventTime: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
			Region: "us-west-2", AccountID: "123456789012", InstanceIDs: []string{"i-0cc22dd33ee44ff55"},
			Caller: enforcer.Caller{
				Type: "FederatedUser", Name: "carol", ARN: "arn:aws:sts::123456789012:federated-user/carol",
				AccountID: "123456789012", UserNames: []string{"carol", "federation-broker"},
			},
		}},
		// Auto Scaling launches with its service-linked role, invoked by the service: the caller
		// is the service, and the session name "AutoScaling" is no user name.
		{file: "event-autoscaling.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a06", EventTime: time.Date(2026, 11, 26, 15, 20, 0, 0, time.UTC),
			Region: "us-east-1", AccountID: "123456789012", InstanceIDs: []string{"i-047be45c593a7157f"},
			Caller: enforcer.Caller{
				Type: "AssumedRole", Name: "autoscaling.amazonaws.com",
				ARN:       "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
				AccountID: "123456789012", InvokedBy: "autoscaling.amazonaws.com",
			},
		}},
		// A service calling from an account of its own.
		{file: "event-awsservice.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a04", EventTime: time.Date(2026, 11, 26, 13, 15, 0, 0, time.UTC),
			Region: "us-east-1", AccountID: "123456789012", InstanceIDs: []string{"i-0dd33ee44ff556677"},
			Caller: enforcer.Caller{Type: "AWSService", Name: "autoscaling.amazonaws.com", InvokedBy: "autoscaling.amazonaws.com"},
		}},
		{file: "event-multi.json", want: enforcer.Launch{
			EventID: "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a05", EventTime: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC),
			Region: "ap-southeast-2", AccountID: "123456789012",
			InstanceIDs: []string{"i-0e000000000000001", "i-0e000000000000002", "i-0e000000000000003"},
			Caller:      enforcer.Caller{Type: "IAMUser", Name: "alice", ARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012", UserNames: []string{"alice"}},
		}},
		{file: "event-failed.json", reason: enforcer.DropFailedCall},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var env events.EventBridgeEvent
			if err := json.Unmarshal(evFixture(t, tt.file), &env); err != nil {
				t.Fatal(err)
			}
			got, err := enforcer.ParseEvent(&env)
			if tt.reason != "" {
				pe, ok := enforcer.IsPoison(err)
				if !ok || pe.Reason != tt.reason {
					t.Fatalf("err = %v, want poison %s", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// evEdit returns the fixture with its JSON changed by fn (on the decoded map).
func evEdit(t *testing.T, name string, fn func(env, detail map[string]any)) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(evFixture(t, name), &env); err != nil {
		t.Fatal(err)
	}
	fn(env, env["detail"].(map[string]any))
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEventRefusals(t *testing.T) {
	items := func(d map[string]any) map[string]any {
		return d["responseElements"].(map[string]any)["instancesSet"].(map[string]any)
	}
	tests := []struct {
		name   string
		fn     func(env, d map[string]any)
		reason enforcer.DropReason
	}{
		{"another detail-type", func(env, d map[string]any) { env["detail-type"] = "EC2 Instance State-change Notification" }, enforcer.DropUnknownKind},
		{"another source", func(env, d map[string]any) { env["source"] = "aws.s3" }, enforcer.DropUnknownKind},
		{"another call", func(env, d map[string]any) { d["eventName"] = "StartInstances" }, enforcer.DropUnknownKind},
		{"another service", func(env, d map[string]any) { d["eventSource"] = "autoscaling.amazonaws.com" }, enforcer.DropUnknownKind},
		{"detail not an object", func(env, d map[string]any) { env["detail"] = "RunInstances" }, enforcer.DropMalformed},
		{"no instances", func(env, d map[string]any) { items(d)["items"] = []any{} }, enforcer.DropNoInstances},
		{"no response", func(env, d map[string]any) { delete(d, "responseElements") }, enforcer.DropNoInstances},
		{"bad instance id", func(env, d map[string]any) {
			items(d)["items"] = []any{map[string]any{"instanceId": "i-0a1b2c3d4e5f60718 OR 1=1"}}
		}, enforcer.DropMalformed},
		{"no event id", func(env, d map[string]any) { delete(d, "eventID") }, enforcer.DropMalformed},
		{"bad region", func(env, d map[string]any) { d["awsRegion"] = "mars"; env["region"] = "mars" }, enforcer.DropMalformed},
		{"failed call", func(env, d map[string]any) { d["errorCode"] = "Server.InsufficientInstanceCapacity" }, enforcer.DropFailedCall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := evEdit(t, "event-iamuser.json", tt.fn)
			_, err := enforcer.ParseMessage(string(body))
			pe, ok := enforcer.IsPoison(err)
			if !ok || pe.Reason != tt.reason {
				t.Fatalf("err = %v, want poison %s", err, tt.reason)
			}
		})
	}
}

func TestParseEventFallsBackToTheEnvelope(t *testing.T) {
	body := evEdit(t, "event-iamuser.json", func(env, d map[string]any) {
		delete(d, "awsRegion")
		delete(d, "eventTime")
		delete(d, "recipientAccountId")
	})
	var env events.EventBridgeEvent
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	l, err := enforcer.ParseEvent(&env)
	if err != nil {
		t.Fatal(err)
	}
	if l.Region != "us-east-1" || !l.EventTime.Equal(time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)) || l.AccountID != "123456789012" {
		t.Fatalf("got %+v", l)
	}
}

func TestCallerOf(t *testing.T) {
	tests := []struct {
		name  string
		u     enforcer.UserIdentity
		want  string
		names []string
	}{
		{"root", enforcer.UserIdentity{Type: "Root", ARN: "arn:aws:iam::123456789012:root"}, "root", nil},
		{"user without userName", enforcer.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/ops/erin"}, "ops/erin", []string{"ops/erin"}},
		{"assumed role from the principal id", enforcer.UserIdentity{Type: "AssumedRole", PrincipalID: "AROAX:frank",
			SessionContext: &enforcer.SessionContext{SessionIssuer: &enforcer.SessionIssuer{Type: "Role", UserName: "deployer"}}}, "deployer/frank", []string{"frank"}},
		{"auto scaling's service-linked role", enforcer.UserIdentity{Type: "AssumedRole", InvokedBy: "autoscaling.amazonaws.com",
			ARN: "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"}, "autoscaling.amazonaws.com", nil},
		{"a service-linked role named by its issuer", enforcer.UserIdentity{Type: "AssumedRole", InvokedBy: "spotfleet.amazonaws.com", PrincipalID: "AROAX:Fleet",
			SessionContext: &enforcer.SessionContext{SessionIssuer: &enforcer.SessionIssuer{Type: "Role",
				ARN: "arn:aws:iam::123456789012:role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet", UserName: "AWSServiceRoleForEC2SpotFleet"}}},
			"spotfleet.amazonaws.com", nil},
		{"an IAM user's call a service made for them", enforcer.UserIdentity{Type: "IAMUser", UserName: "alice", InvokedBy: "cloudformation.amazonaws.com"},
			"alice", []string{"alice"}},
		{"an ordinary role's session through the console", enforcer.UserIdentity{Type: "AssumedRole", InvokedBy: "AWS Internal",
			ARN: "arn:aws:sts::123456789012:assumed-role/Admin/bob"}, "Admin/bob", []string{"bob"}},
		{"a service without invokedBy", enforcer.UserIdentity{Type: "AWSService", PrincipalID: "AIDAEXAMPLE"}, "AIDAEXAMPLE", nil},
		{"unknown type", enforcer.UserIdentity{Type: "IdentityCenterUser", UserName: "gina"}, "gina", nil},
		{"nothing at all", enforcer.UserIdentity{}, "unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := enforcer.CallerOf(tt.u)
			if c.Name != tt.want || !reflect.DeepEqual(c.UserNames, tt.names) {
				t.Fatalf("got name %q user names %q, want %q %q", c.Name, c.UserNames, tt.want, tt.names)
			}
		})
	}
}

func TestCallerMatches(t *testing.T) {
	c := enforcer.Caller{Type: "IAMUser", Name: "alice", UserNames: []string{"alice"}}
	for _, tt := range []struct {
		value string
		want  bool
	}{{"alice", true}, {" Alice ", true}, {"bob", false}, {"", false}} {
		if got := c.Matches(tt.value); got != tt.want {
			t.Errorf("Matches(%q) = %t", tt.value, got)
		}
	}
	if (enforcer.Caller{Type: "AWSService", Name: "autoscaling.amazonaws.com"}).Matches("autoscaling.amazonaws.com") {
		t.Error("a service matches a created_by tag")
	}
	asg := enforcer.CallerOf(enforcer.UserIdentity{Type: "AssumedRole", InvokedBy: "autoscaling.amazonaws.com",
		PrincipalID: "AROAEXAMPLE:AutoScaling", ARN: "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"})
	for _, v := range []string{"AutoScaling", "AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com"} {
		if asg.Matches(v) {
			t.Errorf("Auto Scaling's launch matches created_by=%s", v)
		}
	}
	if strings.Contains(enforcer.CallerOf(enforcer.UserIdentity{Type: "AWSService", InvokedBy: "x"}).Name, "unknown") {
		t.Error("service caller named unknown")
	}
}
