package awsapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// pageClient answers every request with one DescribeInstances page.
type pageClient string

func (c pageClient) Do(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(string(c))), Request: req}, nil
}

const page = `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><reservationSet><item><instancesSet><item>
<instanceId>i-1</instanceId><instanceType>t3.micro</instanceType><tagSet><item><key>project</key><value>VALUE</value></item></tagSet>
</item></instancesSet></item></reservationSet></DescribeInstancesResponse>`

// TestClientsDecodeWithEC2XML checks that Clients' EC2 clients read DescribeInstances with
// ec2xml (which fills only what awsaudit reads), and log at debug an answer left to the SDK.
func TestClientsDecodeWithEC2XML(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		fast        bool
	}{
		{"decoded by ec2xml", "checkout", true},
		{"left to the SDK", "<![CDATA[checkout]]>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := NewClients(aws.Config{
				Region:       "us-east-1",
				BaseEndpoint: aws.String("http://canned.invalid"),
				Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
				HTTPClient:   pageClient(strings.Replace(page, "VALUE", tc.value, 1)),
			})
			c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			out, err := c.EC2("eu-west-1").DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
			if err != nil {
				t.Fatal(err)
			}
			in := out.Reservations[0].Instances[0]
			if aws.ToString(in.InstanceId) != "i-1" || aws.ToString(in.Tags[0].Value) != "checkout" {
				t.Fatalf("instance %+v", in)
			}
			if fast := in.InstanceType == ""; fast != tc.fast {
				t.Errorf("read by ec2xml: %t, want %t", fast, tc.fast)
			}
			if logged := strings.Contains(logs.String(), "region=eu-west-1"); logged == tc.fast {
				t.Errorf("logged %q", logs.String())
			}
		})
	}
}
