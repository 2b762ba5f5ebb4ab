package mototest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

func TestMain(m *testing.M) { Main(m) }

// clean returns the shared server, reset, and a config for region.
func clean(t *testing.T, region string) (*Server, aws.Config) {
	t.Helper()
	srv := Shared(t)
	srv.Reset(t)
	return srv, srv.AWSConfig(t, region)
}

func describe(t *testing.T, cfg aws.Config, in *ec2.DescribeInstancesInput) []types.Instance {
	t.Helper()
	var out []types.Instance
	pages := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(cfg), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("describing instances in %s: %v", cfg.Region, err)
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out
}

func tagsOf(inst types.Instance) []Tag {
	tags := make([]Tag, len(inst.Tags))
	for i, tag := range inst.Tags {
		tags[i] = Tag{Key: aws.ToString(tag.Key), Value: aws.ToString(tag.Value)}
	}
	return tags
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestStartProcessClose(t *testing.T) {
	requireBinary(t)
	srv, err := StartProcess(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/moto-api/config")
	if err != nil {
		t.Fatalf("probing a started server: %v", err)
	}
	resp.Body.Close()

	if err := srv.Close(); err != nil {
		t.Fatalf("closing: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	if _, err := os.Stat(srv.LogPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log %s still there after Close (stat: %v)", srv.LogPath, err)
	}
	if processGroupAlive(srv.cmd.Process.Pid) {
		t.Errorf("process group %d still has members after Close", srv.cmd.Process.Pid)
	}
	if _, err := http.Get(srv.URL + "/moto-api/config"); err == nil {
		t.Errorf("%s still answers after Close", srv.URL)
	}
}

func TestStartOnceReportsTakenPort(t *testing.T) {
	requireBinary(t)
	bin, _ := exec.LookPath(Binary)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = startOnce(t.Context(), bin, filepath.Join(t.TempDir(), "moto.log"), port)
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("starting on a taken port: got %v, want errPortTaken", err)
	}
}

// fakeTB records Skip and Fatal instead of ending the real test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRequireBinaryWithoutMoto(t *testing.T) {
	tests := []struct {
		name        string
		require     string
		wantSkipped bool
		wantFailed  bool
		wantMsg     string
	}{
		{name: "developer machine skips", require: "", wantSkipped: true, wantMsg: "pip install 'moto[server]'"},
		{name: "CI fails", require: "1", wantFailed: true, wantMsg: EnvRequireIntegration + "=1"},
		{name: "other values skip", require: "true", wantSkipped: true, wantMsg: EnvRequireIntegration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv(EnvRequireIntegration, tt.require)
			fake := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				requireBinary(fake)
			}()
			<-done
			if fake.skipped != tt.wantSkipped || fake.failed != tt.wantFailed {
				t.Errorf("skipped=%t failed=%t, want skipped=%t failed=%t", fake.skipped, fake.failed, tt.wantSkipped, tt.wantFailed)
			}
			if !strings.Contains(fake.msg, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", fake.msg, tt.wantMsg)
			}
		})
	}
}

func TestReset(t *testing.T) {
	srv, cfg := clean(t, "us-west-2")
	RunInstance(t, cfg, Spec{Count: 2})
	if got := len(describe(t, cfg, &ec2.DescribeInstancesInput{})); got != 2 {
		t.Fatalf("before reset: %d instances, want 2", got)
	}
	srv.Reset(t)
	if got := len(describe(t, cfg, &ec2.DescribeInstancesInput{})); got != 0 {
		t.Errorf("after reset: %d instances, want 0", got)
	}
}

func TestRunInstance(t *testing.T) {
	const region = "us-west-2"
	tests := []struct {
		name     string
		spec     Spec
		wantN    int
		wantAZ   string
		wantType types.InstanceType
		wantAMI  string
	}{
		{name: "defaults", spec: Spec{}, wantN: 1, wantAZ: "us-west-2a", wantType: DefaultInstanceType, wantAMI: DefaultImageID},
		{
			name: "ordered tags, count, zone, type",
			spec: Spec{
				Tags:             []Tag{{"team", "a"}, {"Name", "web"}, {"created_by", "cody"}},
				Count:            3,
				AvailabilityZone: "us-west-2c",
				InstanceType:     types.InstanceTypeM5Large,
			},
			wantN: 3, wantAZ: "us-west-2c", wantType: types.InstanceTypeM5Large, wantAMI: DefaultImageID,
		},
		{name: "map tags", spec: Spec{Tags: TagsFrom(map[string]string{"b": "2", "a": "1"})}, wantN: 1, wantAZ: "us-west-2a", wantType: DefaultInstanceType, wantAMI: DefaultImageID},
		{name: "AMI outside moto's catalogue", spec: Spec{ImageID: "ami-0123456789abcdef0"}, wantN: 1, wantAZ: "us-west-2a", wantType: DefaultInstanceType, wantAMI: "ami-0123456789abcdef0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := clean(t, region)
			ids := RunInstance(t, cfg, tt.spec)
			if len(ids) != tt.wantN {
				t.Fatalf("got %d ids, want %d", len(ids), tt.wantN)
			}
			insts := describe(t, cfg, &ec2.DescribeInstancesInput{InstanceIds: ids})
			if len(insts) != tt.wantN {
				t.Fatalf("described %d instances, want %d", len(insts), tt.wantN)
			}
			for _, inst := range insts {
				if got := tagsOf(inst); !slices.Equal(got, tt.spec.Tags) {
					t.Errorf("%s tags = %v, want %v", aws.ToString(inst.InstanceId), got, tt.spec.Tags)
				}
				if got := aws.ToString(inst.Placement.AvailabilityZone); got != tt.wantAZ {
					t.Errorf("zone = %s, want %s", got, tt.wantAZ)
				}
				if inst.InstanceType != tt.wantType {
					t.Errorf("type = %s, want %s", inst.InstanceType, tt.wantType)
				}
				if got := aws.ToString(inst.ImageId); got != tt.wantAMI {
					t.Errorf("image = %s, want %s", got, tt.wantAMI)
				}
				if got := State(t, cfg, aws.ToString(inst.InstanceId)); got != "running" {
					t.Errorf("state = %s, want running", got)
				}
			}
		})
	}
}

func TestProtect(t *testing.T) {
	tests := []struct {
		name        string
		termination bool
		stop        bool
		wantStop    string // error code of StopInstances, "" for success
		wantTerm    string // error code of TerminateInstances, "" for success
	}{
		{name: "unprotected", wantStop: "", wantTerm: ""},
		{name: "termination protected", termination: true, wantStop: "", wantTerm: "OperationNotPermitted"},
		{name: "stop protected", stop: true, wantStop: "OperationNotPermitted", wantTerm: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := clean(t, "eu-west-1")
			client := ec2.NewFromConfig(cfg)
			for _, op := range []struct {
				name string
				want string
				call func(id string) error
			}{
				{"StopInstances", tt.wantStop, func(id string) error {
					_, err := client.StopInstances(t.Context(), &ec2.StopInstancesInput{InstanceIds: []string{id}})
					return err
				}},
				{"TerminateInstances", tt.wantTerm, func(id string) error {
					_, err := client.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
					return err
				}},
			} {
				id := RunInstance(t, cfg, Spec{})[0]
				Protect(t, cfg, id, tt.termination, tt.stop)
				err := op.call(id)
				if got := errorCode(err); got != op.want || (op.want == "" && err != nil) {
					t.Errorf("%s: error %v (code %q), want code %q", op.name, err, got, op.want)
				}
			}
		})
	}

	t.Run("lifted protection allows terminate", func(t *testing.T) {
		_, cfg := clean(t, "eu-west-1")
		id := RunInstance(t, cfg, Spec{})[0]
		Protect(t, cfg, id, true, true)
		Protect(t, cfg, id, false, false)
		Terminate(t, cfg, id)
		if got := State(t, cfg, id); got != "terminated" {
			t.Errorf("state = %s, want terminated", got)
		}
	})
}

func TestCreateCanary(t *testing.T) {
	_, cfg := clean(t, "us-east-1")
	id := CreateCanary(t, cfg, "ap-southeast-2")

	other := cfg
	other.Region = "ap-southeast-2"
	if got := State(t, other, id); got != "stopped" {
		t.Errorf("canary state = %s, want stopped", got)
	}
	insts := describe(t, other, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if got, want := tagsOf(insts[0]), CanaryTags("ap-southeast-2"); !slices.Equal(got, want) {
		t.Errorf("canary tags = %v, want %v", got, want)
	}
	if n := len(describe(t, cfg, &ec2.DescribeInstancesInput{})); n != 0 {
		t.Errorf("%d instances in cfg's own region us-east-1, want 0 (canary belongs to ap-southeast-2)", n)
	}
}

func TestRunAutoScalingMember(t *testing.T) {
	_, cfg := clean(t, "us-west-2")
	ids := RunAutoScalingMember(t, cfg, "web-asg", Spec{Tags: []Tag{{"Name", "web"}}, Count: 2})
	RunInstance(t, cfg, Spec{Tags: []Tag{{"Name", "loner"}}})

	members := describe(t, cfg, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + AutoScalingGroupTag), Values: []string{"web-asg"}},
	}})
	var got []string
	for _, inst := range members {
		got = append(got, aws.ToString(inst.InstanceId))
		if want := []Tag{{"Name", "web"}, {AutoScalingGroupTag, "web-asg"}}; !slices.Equal(tagsOf(inst), want) {
			t.Errorf("member tags = %v, want %v", tagsOf(inst), want)
		}
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("tag filter found %v, want %v", got, ids)
	}
}

func TestEnv(t *testing.T) {
	srv := &Server{URL: "http://127.0.0.1:5555"}
	env := srv.Env("eu-central-1")
	for _, want := range []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:5555",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=eu-central-1",
		"AWS_EC2_METADATA_DISABLED=true",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("Env() = %v, missing %s", env, want)
		}
	}
}

func TestConfigIgnoresEndpointEnvironment(t *testing.T) {
	_, cfg := clean(t, "us-west-2")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1")
	t.Setenv("AWS_PROFILE", "no-such-profile")
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("DescribeInstances with a hostile environment: %v", err)
	}
}

func BenchmarkStartProcess(b *testing.B) {
	requireBinary(b)
	var starting time.Duration
	for b.Loop() {
		begin := time.Now()
		srv, err := StartProcess(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		starting += time.Since(begin)
		srv.Close()
	}
	b.ReportMetric(float64(starting.Milliseconds())/float64(b.N), "start-ms/op")
}

func BenchmarkReset(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			srv := Shared(b)
			cfg := srv.AWSConfig(b, "us-west-2")
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if n > 0 {
					RunInstance(b, cfg, Spec{Count: n, Tags: []Tag{{"Name", "bench"}}})
				}
				b.StartTimer()
				srv.Reset(b)
			}
		})
	}
}

func TestCloudWatchQueryProtocol(t *testing.T) {
	_, cfg := clean(t, "us-west-2")
	client := cloudwatch.NewFromConfig(cfg, CloudWatchQueryProtocol)
	if _, err := client.PutMetricData(t.Context(), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("awsaudit"),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("violations"),
			Value:      aws.Float64(3),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("region"), Value: aws.String("us-west-2")}},
		}},
	}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	out, err := client.ListMetrics(t.Context(), &cloudwatch.ListMetricsInput{Namespace: aws.String("awsaudit")})
	if err != nil {
		t.Fatalf("ListMetrics: %v", err)
	}
	if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].MetricName) != "violations" {
		t.Errorf("ListMetrics = %+v, want the one metric put", out.Metrics)
	}
}

func TestSharedRestartsAfterCrash(t *testing.T) {
	first := Shared(t)
	kill(first.cmd)
	<-first.exited
	second := Shared(t)
	if second == first {
		t.Fatal("Shared returned the crashed server")
	}
	second.Reset(t)
}
