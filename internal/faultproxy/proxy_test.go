package faultproxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/awsaudit/awsaudit/internal/faultproxy"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// setup resets the shared moto and puts a fresh proxy in front of it. It
// returns the proxy, a config that goes through it and one that goes
// straight to moto (for building the world without counting calls).
func setup(t *testing.T, region string) (p *faultproxy.Proxy, viaProxy, direct aws.Config) {
	t.Helper()
	srv := mototest.Shared(t)
	srv.Reset(t)
	p = faultproxy.Start(t, srv.URL)
	return p, mototest.Config(p.URL, region), srv.AWSConfig(t, region)
}

// noRetries returns cfg with the SDK's retries off, so one injected fault is
// one returned error.
func noRetries(cfg aws.Config) aws.Config {
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	return cfg
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}

// sdkCall is one cheap read-only call per service the project uses.
type sdkCall struct {
	service      string // SigV4 signing name
	operation    string
	throttleCode string // the code Throttle must produce for this protocol
	do           func(ctx context.Context, cfg aws.Config) error
	// motoLacks is set when moto cannot answer the call: the test checks
	// injected answers only.
	motoLacks bool
}

var sdkCalls = []sdkCall{
	{service: "ec2", operation: "DescribeInstances", throttleCode: "RequestLimitExceeded", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		return err
	}},
	{service: "iam", operation: "ListUsers", throttleCode: "Throttling", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := iam.NewFromConfig(cfg).ListUsers(ctx, &iam.ListUsersInput{})
		return err
	}},
	{service: "sts", operation: "GetCallerIdentity", throttleCode: "Throttling", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{service: "sqs", operation: "ListQueues", throttleCode: "ThrottlingException", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	}},
	{service: "ssm", operation: "DescribeParameters", throttleCode: "ThrottlingException", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := ssm.NewFromConfig(cfg).DescribeParameters(ctx, &ssm.DescribeParametersInput{})
		return err
	}},
	{service: "events", operation: "ListRules", throttleCode: "ThrottlingException", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := eventbridge.NewFromConfig(cfg).ListRules(ctx, &eventbridge.ListRulesInput{})
		return err
	}},
	{service: "secretsmanager", operation: "ListSecrets", throttleCode: "ThrottlingException", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := secretsmanager.NewFromConfig(cfg).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		return err
	}},
	{service: "monitoring", operation: "ListMetrics", throttleCode: "Throttling", do: func(ctx context.Context, cfg aws.Config) error {
		_, err := cloudwatch.NewFromConfig(cfg, mototest.CloudWatchQueryProtocol).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
		return err
	}},
}

// cborCall is CloudWatch with the SDK's default protocol, Smithy RPC v2
// CBOR, which moto does not serve: only injected answers can be tested.
var cborCall = sdkCall{service: "monitoring", operation: "ListMetrics", throttleCode: "ThrottlingException", do: func(ctx context.Context, cfg aws.Config) error {
	_, err := cloudwatch.NewFromConfig(cfg).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
	return err
}, motoLacks: true}

func TestSDKThroughProxy(t *testing.T) {
	for _, c := range sdkCalls {
		t.Run(c.service, func(t *testing.T) {
			p, cfg, _ := setup(t, "eu-west-1")
			if err := c.do(t.Context(), noRetries(cfg)); err != nil {
				t.Fatalf("%s %s through the proxy: %v", c.service, c.operation, err)
			}
			want := map[faultproxy.Call]int{{Service: c.service, Operation: c.operation, Region: "eu-west-1"}: 1}
			if got := p.Calls(); !equalCalls(got, want) {
				t.Errorf("Calls() = %v, want %v", got, want)
			}
		})
	}
}

func equalCalls(a, b map[faultproxy.Call]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestThrottle(t *testing.T) {
	throttles := retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}
	for _, c := range append(slices.Clone(sdkCalls), cborCall) {
		name := c.service
		if c.motoLacks {
			name += " cbor"
		}
		t.Run(name, func(t *testing.T) {
			p, cfg, _ := setup(t, "us-west-2")
			rule := p.Add(faultproxy.Rule{Service: c.service, Action: c.operation, Times: 1, Respond: faultproxy.Throttle()})

			err := c.do(t.Context(), noRetries(cfg))
			if got := errorCode(err); got != c.throttleCode {
				t.Fatalf("error %v has code %q, want %q", err, got, c.throttleCode)
			}
			if throttles.IsErrorThrottle(err) != aws.TrueTernary {
				t.Errorf("SDK does not classify %v as throttling", err)
			}
			if got := httpStatus(err); got != http.StatusBadRequest {
				t.Errorf("HTTP status %d, want 400", got)
			}

			err = c.do(t.Context(), noRetries(cfg))
			if code := errorCode(err); (!c.motoLacks && err != nil) || code == c.throttleCode {
				t.Errorf("after the rule's one use: %v, want the call forwarded", err)
			}
			if rule.Hits() != 1 {
				t.Errorf("rule hits = %d, want 1", rule.Hits())
			}
			if got := p.Count(c.service, c.operation); got != 2 {
				t.Errorf("Count = %d, want 2", got)
			}
		})
	}
}

func TestThrottleRetriedBySDK(t *testing.T) {
	p, cfg, _ := setup(t, "us-west-2")
	// mototest's retryer makes 3 attempts: two throttles, then success.
	p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Times: 2, Respond: faultproxy.Throttle()})
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("DescribeInstances with two throttles and three attempts: %v", err)
	}
	if got := p.Count("ec2", "DescribeInstances"); got != 3 {
		t.Errorf("DescribeInstances sent %d times, want 3", got)
	}
}

func TestServerError(t *testing.T) {
	retryables := retry.IsErrorRetryables(retry.DefaultRetryables)
	tests := []struct {
		name     string
		call     sdkCall
		status   int
		wantCode string
	}{
		{"ec2 500", sdkCalls[0], 500, "InternalError"},
		{"ec2 503", sdkCalls[0], 503, "Unavailable"},
		{"sts 500", sdkCalls[2], 500, "InternalFailure"},
		{"sqs 503", sdkCalls[3], 503, "ServiceUnavailable"},
		{"cloudwatch query 503", sdkCalls[7], 503, "ServiceUnavailable"},
		{"cloudwatch cbor 500", cborCall, 500, "InternalFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cfg, _ := setup(t, "us-west-2")
			p.Add(faultproxy.Rule{Service: tt.call.service, Respond: faultproxy.ServerError(tt.status)})
			err := tt.call.do(t.Context(), noRetries(cfg))
			if got := errorCode(err); got != tt.wantCode {
				t.Errorf("error %v has code %q, want %q", err, got, tt.wantCode)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("HTTP status %d, want %d", got, tt.status)
			}
			if retryables.IsErrorRetryable(err) != aws.TrueTernary {
				t.Errorf("SDK does not classify %v as retryable", err)
			}
		})
	}
}

func TestAPIErrorForOneInstance(t *testing.T) {
	p, cfg, direct := setup(t, "us-west-2")
	ids := mototest.RunInstance(t, direct, mototest.Spec{Count: 3})
	victim := ids[1]
	rule := p.Add(faultproxy.Rule{
		Service: "ec2", Action: "TerminateInstances", Region: "us-west-2",
		Match:   faultproxy.InstanceID(victim),
		Respond: faultproxy.APIError(400, "OperationNotPermitted", "The instance '"+victim+"' may not be terminated."),
	})
	client := ec2.NewFromConfig(noRetries(cfg))

	for _, id := range ids {
		_, err := client.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		switch {
		case id == victim && errorCode(err) != "OperationNotPermitted":
			t.Errorf("terminating %s: %v, want OperationNotPermitted", id, err)
		case id != victim && err != nil:
			t.Errorf("terminating %s: %v, want success", id, err)
		}
	}
	if rule.Hits() != 1 {
		t.Errorf("rule hits = %d, want 1", rule.Hits())
	}
	if got := mototest.State(t, direct, victim); got != "running" {
		t.Errorf("victim state = %s, want running (the request never reached moto)", got)
	}
}

func TestAPIErrorProtocols(t *testing.T) {
	tests := []struct {
		call     sdkCall
		status   int
		wantCode string
	}{
		{sdkCalls[0], 403, "UnauthorizedOperation"},
		{sdkCalls[1], 403, "AccessDenied"},
		{sdkCalls[3], 400, "AWS.SimpleQueueService.NonExistentQueue"},
		{sdkCalls[4], 400, "ParameterNotFound"},
		{sdkCalls[7], 403, "AccessDenied"},
		{cborCall, 400, "InvalidParameterCombination"},
	}
	for _, tt := range tests {
		t.Run(tt.call.service+" "+tt.wantCode, func(t *testing.T) {
			p, cfg, _ := setup(t, "us-west-2")
			p.Add(faultproxy.Rule{Respond: faultproxy.APIError(tt.status, tt.wantCode, "injected <&> message")})
			err := tt.call.do(t.Context(), noRetries(cfg))
			if got := errorCode(err); got != tt.wantCode {
				t.Errorf("error %v has code %q, want %q", err, got, tt.wantCode)
			}
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorMessage() != "injected <&> message" {
				t.Errorf("message = %q, want it unchanged", apiErr.ErrorMessage())
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("HTTP status %d, want %d", got, tt.status)
			}
		})
	}
}

func TestEmptyDescribeInstances(t *testing.T) {
	p, cfg, direct := setup(t, "us-west-2")
	mototest.RunInstance(t, direct, mototest.Spec{Count: 2})
	p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Respond: faultproxy.EmptyDescribeInstances()})

	pages := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(noRetries(cfg)), &ec2.DescribeInstancesInput{})
	n := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		if len(page.Reservations) != 0 || page.NextToken != nil {
			t.Errorf("page has %d reservations, NextToken %v; want none", len(page.Reservations), page.NextToken)
		}
		n++
	}
	if n != 1 {
		t.Errorf("paginator read %d pages, want 1", n)
	}
}

func TestStripTags(t *testing.T) {
	p, cfg, direct := setup(t, "us-west-2")
	ids := mototest.RunInstance(t, direct, mototest.Spec{Count: 2, Tags: []mototest.Tag{{Key: "Name", Value: "web"}}})
	rule := p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Respond: faultproxy.StripTags()})

	describe := func() []types.Instance {
		t.Helper()
		out, err := ec2.NewFromConfig(noRetries(cfg)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		var insts []types.Instance
		for _, r := range out.Reservations {
			insts = append(insts, r.Instances...)
		}
		return insts
	}

	stripped := describe()
	if len(stripped) != len(ids) {
		t.Fatalf("got %d instances, want %d", len(stripped), len(ids))
	}
	for _, inst := range stripped {
		if inst.Tags != nil {
			t.Errorf("%s has tags %v, want nil", aws.ToString(inst.InstanceId), inst.Tags)
		}
		if inst.State == nil || inst.State.Name != types.InstanceStateNameRunning {
			t.Errorf("%s lost its state: %+v", aws.ToString(inst.InstanceId), inst.State)
		}
	}

	rule.Remove()
	for _, inst := range describe() {
		if len(inst.Tags) != 1 {
			t.Errorf("after Remove, %s has tags %v, want Name=web", aws.ToString(inst.InstanceId), inst.Tags)
		}
	}
}

func TestRewrite(t *testing.T) {
	p, cfg, direct := setup(t, "us-west-2")
	id := mototest.RunInstance(t, direct, mototest.Spec{})[0]
	p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Respond: faultproxy.Rewrite(func(body []byte) []byte {
		return []byte(strings.ReplaceAll(string(body), "<name>running</name>", "<name>stopped</name>"))
	})})
	if got := mototest.State(t, cfg, id); got != "stopped" {
		t.Errorf("state through the rewriting proxy = %s, want stopped", got)
	}
	if got := mototest.State(t, direct, id); got != "running" {
		t.Errorf("state in moto = %s, want running", got)
	}
}

func TestAfterForward(t *testing.T) {
	p, cfg, direct := setup(t, "us-west-2")
	ids := mototest.RunInstance(t, direct, mototest.Spec{Count: 2})
	rule := p.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances", Match: faultproxy.InstanceID(ids[0]),
		Respond: faultproxy.AfterForward(faultproxy.ServerError(500))})
	_, err := ec2.NewFromConfig(noRetries(cfg)).TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: ids})
	if got := errorCode(err); got != "InternalError" || httpStatus(err) != 500 {
		t.Fatalf("terminating through AfterForward: %v, want InternalError with status 500", err)
	}
	// The answer was lost, the action was not: moto terminated both.
	for _, id := range ids {
		if got := mototest.State(t, direct, id); got != "terminated" {
			t.Errorf("%s is %s in moto, want terminated", id, got)
		}
	}
	if rule.Hits() != 1 {
		t.Errorf("rule hits = %d, want 1", rule.Hits())
	}
}

func TestDropConnection(t *testing.T) {
	p, cfg, _ := setup(t, "us-west-2")
	p.Add(faultproxy.Rule{Service: "sts", Times: 1, Respond: faultproxy.DropConnection()})
	client := sts.NewFromConfig(noRetries(cfg))

	_, err := client.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err == nil {
		t.Fatal("GetCallerIdentity over a dropped connection succeeded")
	}
	if code := errorCode(err); code != "" {
		t.Errorf("dropped connection gave API error code %q, want a transport error", code)
	}
	if _, err := client.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("next call: %v", err)
	}

	// The SDK's standard retryer treats the dropped connection (EOF) as
	// retryable.
	p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Times: 1, Respond: faultproxy.DropConnection()})
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("DescribeInstances with retries after one dropped connection: %v", err)
	}
	if got := p.Count("ec2", "DescribeInstances"); got != 2 {
		t.Errorf("DescribeInstances sent %d times, want 2", got)
	}
}

func TestDelay(t *testing.T) {
	t.Run("forwards after the delay", func(t *testing.T) {
		p, cfg, _ := setup(t, "us-west-2")
		p.Add(faultproxy.Rule{Service: "sts", Respond: faultproxy.Delay(time.Millisecond)})
		if _, err := sts.NewFromConfig(noRetries(cfg)).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("delayed call: %v", err)
		}
	})
	t.Run("client can give up", func(t *testing.T) {
		p, cfg, _ := setup(t, "us-west-2")
		rule := p.Add(faultproxy.Rule{Service: "sts", Respond: faultproxy.Delay(time.Hour)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := sts.NewFromConfig(noRetries(cfg)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			done <- err
		}()
		for rule.Hits() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled delayed call: %v, want context.Canceled", err)
		}
	})
}

func TestCallCounting(t *testing.T) {
	srv := mototest.Shared(t)
	srv.Reset(t)
	p := faultproxy.Start(t, srv.URL)
	west := ec2.NewFromConfig(mototest.Config(p.URL, "us-west-2"))
	eu := ec2.NewFromConfig(mototest.Config(p.URL, "eu-central-1"))
	for range 3 {
		if _, err := west.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eu.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eu.DescribeRegions(t.Context(), &ec2.DescribeRegionsInput{}); err != nil {
		t.Fatal(err)
	}
	// moto's own API is not an AWS call and is not counted.
	if resp, err := http.Get(p.URL + "/moto-api/config"); err == nil {
		resp.Body.Close()
	}

	want := map[faultproxy.Call]int{
		{Service: "ec2", Operation: "DescribeInstances", Region: "us-west-2"}:    3,
		{Service: "ec2", Operation: "DescribeInstances", Region: "eu-central-1"}: 1,
		{Service: "ec2", Operation: "DescribeRegions", Region: "eu-central-1"}:   1,
	}
	if got := p.Calls(); !equalCalls(got, want) {
		t.Errorf("Calls() = %v, want %v", got, want)
	}
	if got := p.Count("ec2", "DescribeInstances"); got != 4 {
		t.Errorf("Count(ec2, DescribeInstances) = %d, want 4", got)
	}
	p.ResetCalls()
	if got := p.Calls(); len(got) != 0 {
		t.Errorf("after ResetCalls, Calls() = %v", got)
	}
}

func TestRuleSelection(t *testing.T) {
	p, cfg, _ := setup(t, "us-west-2")
	east := mototest.Config(p.URL, "us-east-1")
	// The region-specific rule comes first and wins in its region; the
	// catch-all answers elsewhere. A rule for another action never fires.
	regional := p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Region: "us-east-1", Respond: faultproxy.APIError(400, "RegionalFault", "x")})
	anyRegion := p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Respond: faultproxy.APIError(400, "GlobalFault", "x")})
	other := p.Add(faultproxy.Rule{Service: "ec2", Action: "StopInstances", Respond: faultproxy.Throttle()})

	for _, tt := range []struct {
		cfg  aws.Config
		want string
	}{{east, "RegionalFault"}, {cfg, "GlobalFault"}, {east, "RegionalFault"}} {
		_, err := ec2.NewFromConfig(noRetries(tt.cfg)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
		if got := errorCode(err); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.cfg.Region, got, tt.want)
		}
	}
	if regional.Hits() != 2 || anyRegion.Hits() != 1 || other.Hits() != 0 {
		t.Errorf("hits regional=%d any=%d other=%d, want 2 1 0", regional.Hits(), anyRegion.Hits(), other.Hits())
	}

	p.Clear()
	if _, err := ec2.NewFromConfig(noRetries(east)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("after Clear: %v", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	p, cfg, _ := setup(t, "us-west-2")
	const workers, each = 8, 5
	throttled := p.Add(faultproxy.Rule{Service: "ec2", Action: "DescribeInstances", Times: workers, Respond: faultproxy.Throttle()})
	client := ec2.NewFromConfig(cfg)

	var wg sync.WaitGroup
	errs := make([]error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, errs[w*each+i] = client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if throttled.Hits() != workers {
		t.Errorf("throttle hits = %d, want %d", throttled.Hits(), workers)
	}
	if got := p.Count("ec2", "DescribeInstances"); got != workers*each+workers {
		t.Errorf("Count = %d, want %d (every request plus one retry per throttle)", got, workers*each+workers)
	}
}

func TestInstanceIDMatch(t *testing.T) {
	tests := []struct {
		name string
		form string
		want bool
	}{
		{"only id", "Action=TerminateInstances&InstanceId.1=i-b", true},
		{"later in batch", "InstanceId.1=i-a&InstanceId.2=i-b&InstanceId.3=i-c", true},
		{"absent", "InstanceId.1=i-a&InstanceId.2=i-c", false},
		{"other parameter", "Filter.1.Value.1=i-b", false},
		{"not a list index", "InstanceId.x=i-b", false},
		{"prefix of another name", "InstanceIdSet.1=i-b", false},
	}
	match := faultproxy.InstanceID("i-b")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			if got := match(form); got != tt.want {
				t.Errorf("InstanceID(i-b)(%s) = %t, want %t", tt.form, got, tt.want)
			}
		})
	}
}

func TestAddNilResponderPanics(t *testing.T) {
	p := faultproxy.Start(t, "http://127.0.0.1:1")
	defer func() {
		if recover() == nil {
			t.Error("Add with nil Respond did not panic")
		}
	}()
	p.Add(faultproxy.Rule{Service: "ec2"})
}

func TestNewRejectsBadTarget(t *testing.T) {
	for _, target := range []string{"", "127.0.0.1:5000", "::"} {
		if p, err := faultproxy.New(target); err == nil {
			p.Close()
			t.Errorf("New(%q) succeeded", target)
		}
	}
}
