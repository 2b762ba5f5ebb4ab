package ec2xml_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// canned is an HTTP client that answers every request with one status and body.
type canned struct {
	status int
	body   []byte
}

func (c canned) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode:    c.status,
		Status:        strconv.Itoa(c.status) + " " + http.StatusText(c.status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/xml;charset=UTF-8"}, "X-Amzn-Requestid": {"canned-request"}},
		ContentLength: int64(len(c.body)),
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		Request:       req,
	}, nil
}

// cannedClient returns an EC2 client whose every call is answered with body, without retries.
func cannedClient(status int, body []byte, opts ...func(*ec2.Options)) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://canned.invalid"),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       canned{status: status, body: body},
		RetryMaxAttempts: 1,
	}, opts...)
}

// sdkDecode decodes body as the SDK alone does, through a whole DescribeInstances call.
func sdkDecode(body []byte) (*ec2.DescribeInstancesOutput, error) {
	return cannedClient(http.StatusOK, body).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
}

// project keeps of out what awsaudit reads (and what Decode fills): the reservations' and
// instances' structure, NextToken, and per instance its id, state name, zone, launch time, tags
// and its interfaces' attachments' times and indices; nil and empty kept apart.
func project(out *ec2.DescribeInstancesOutput) *ec2.DescribeInstancesOutput {
	p := &ec2.DescribeInstancesOutput{NextToken: out.NextToken}
	if out.Reservations == nil {
		return p
	}
	p.Reservations = make([]types.Reservation, len(out.Reservations))
	for i, r := range out.Reservations {
		if r.Instances == nil {
			continue
		}
		p.Reservations[i].Instances = make([]types.Instance, len(r.Instances))
		for j, in := range r.Instances {
			q := &p.Reservations[i].Instances[j]
			q.InstanceId = in.InstanceId
			q.LaunchTime = in.LaunchTime
			q.Tags = in.Tags
			if in.State != nil {
				q.State = &types.InstanceState{Name: in.State.Name}
			}
			if in.Placement != nil {
				q.Placement = &types.Placement{AvailabilityZone: in.Placement.AvailabilityZone}
			}
			if in.NetworkInterfaces == nil {
				continue
			}
			q.NetworkInterfaces = make([]types.InstanceNetworkInterface, len(in.NetworkInterfaces))
			for k, ni := range in.NetworkInterfaces {
				if a := ni.Attachment; a != nil {
					q.NetworkInterfaces[k].Attachment = &types.InstanceNetworkInterfaceAttachment{
						AttachTime: a.AttachTime, DeviceIndex: a.DeviceIndex, NetworkCardIndex: a.NetworkCardIndex,
					}
				}
			}
		}
	}
	return p
}

// sameAsSDK reports how fast (Decode's result, or a client's through Use) differs from what the
// SDK decoded, sdk, in what awsaudit reads; "" when it does not. Beyond the projection, it compares what enforcer.FromEC2
// makes of each instance, so a field FromEC2 starts to read and Decode does not fill shows here.
func sameAsSDK(fast, sdk *ec2.DescribeInstancesOutput) string {
	if got, want := project(fast), project(sdk); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("decoded\n%s\nthe SDK decoded\n%s", dump(got), dump(want))
	}
	bare := *fast
	bare.ResultMetadata = middleware.Metadata{}
	if !reflect.DeepEqual(project(fast), &bare) {
		return "Decode filled fields beyond those awsaudit reads"
	}
	for i, r := range sdk.Reservations {
		for j := range r.Instances {
			want := enforcer.FromEC2("r", &r.Instances[j])
			if got := enforcer.FromEC2("r", &fast.Reservations[i].Instances[j]); !reflect.DeepEqual(got, want) {
				return fmt.Sprintf("reservation %d instance %d: FromEC2 makes %+v of it, of the SDK's %+v", i, j, got, want)
			}
		}
	}
	return ""
}

// dump renders what project keeps, nil and empty apart.
func dump(out *ec2.DescribeInstancesOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next token %s, reservations %s\n", str(out.NextToken), size(out.Reservations == nil, len(out.Reservations)))
	for i, r := range out.Reservations {
		fmt.Fprintf(&b, " reservation %d: instances %s\n", i, size(r.Instances == nil, len(r.Instances)))
		for j, in := range r.Instances {
			fmt.Fprintf(&b, "  instance %d: id %s launched %v", j, str(in.InstanceId), in.LaunchTime)
			if in.State != nil {
				fmt.Fprintf(&b, " state %q", in.State.Name)
			}
			if in.Placement != nil {
				fmt.Fprintf(&b, " zone %s", str(in.Placement.AvailabilityZone))
			}
			fmt.Fprintf(&b, " tags %s", size(in.Tags == nil, len(in.Tags)))
			for _, t := range in.Tags {
				fmt.Fprintf(&b, " %s=%s", str(t.Key), str(t.Value))
			}
			fmt.Fprintf(&b, " interfaces %s", size(in.NetworkInterfaces == nil, len(in.NetworkInterfaces)))
			for _, ni := range in.NetworkInterfaces {
				if a := ni.Attachment; a != nil {
					fmt.Fprintf(&b, " [%v %v %v]", ptrString(a.DeviceIndex), ptrString(a.NetworkCardIndex), ptrString(a.AttachTime))
				} else {
					b.WriteString(" [no attachment]")
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func str(s *string) string {
	if s == nil {
		return "nil"
	}
	return strconv.Quote(*s)
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func size(isNil bool, n int) string {
	if isNil {
		return "nil"
	}
	return strconv.Itoa(n)
}

// checkBoth decodes body with Decode and with the SDK. It fails t when Decode succeeds where
// the SDK fails or differs from it, and reports whether Decode succeeded.
func checkBoth(t *testing.T, body []byte) bool {
	t.Helper()
	fast, err := ec2xml.Decode(body)
	if err != nil {
		return false
	}
	sdk, serr := sdkDecode(body)
	if serr != nil {
		t.Fatalf("Decode read what the SDK refuses (%v):\n%s", serr, body)
	}
	if d := sameAsSDK(fast, sdk); d != "" {
		t.Fatalf("Decode differs from the SDK on\n%s\n%s", body, d)
	}
	return true
}
