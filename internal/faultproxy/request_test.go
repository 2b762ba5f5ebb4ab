package faultproxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"
)

func TestParseRequest(t *testing.T) {
	const scope = "AWS4-HMAC-SHA256 Credential=AKID/20261126/%s/%s/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	auth := func(region, service string) string {
		return strings.Replace(strings.Replace(scope, "%s", region, 1), "%s", service, 1)
	}
	tests := []struct {
		name    string
		target  string
		body    string
		headers map[string]string
		want    Call
		proto   Protocol
	}{
		{
			name: "ec2 query", target: "/", body: "Action=DescribeInstances&Version=2016-11-15",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": auth("us-west-2", "ec2")},
			want:    Call{"ec2", "DescribeInstances", "us-west-2"}, proto: ProtocolEC2Query,
		},
		{
			name: "iam query", target: "/", body: "Action=GetUser&Version=2010-05-08",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth("us-east-1", "iam")},
			want:    Call{"iam", "GetUser", "us-east-1"}, proto: ProtocolQuery,
		},
		{
			name: "sqs json 1.0", target: "/", body: `{"QueueUrl":"x"}`,
			headers: map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ReceiveMessage", "Authorization": auth("eu-west-1", "sqs")},
			want:    Call{"sqs", "ReceiveMessage", "eu-west-1"}, proto: ProtocolJSON,
		},
		{
			name: "cloudwatch cbor", target: "/service/GraniteServiceVersion20100801/operation/PutMetricData",
			headers: map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Authorization": auth("ap-south-1", "monitoring")},
			want:    Call{"monitoring", "PutMetricData", "ap-south-1"}, proto: ProtocolCBOR,
		},
		{
			name: "presigned query", target: "/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F20261126%2Fus-east-2%2Fsts%2Faws4_request",
			want: Call{"sts", "GetCallerIdentity", "us-east-2"}, proto: ProtocolQuery,
		},
		{name: "moto api", target: "/moto-api/reset", proto: ProtocolOther},
		{
			name: "malformed credential", target: "/", body: "Action=DescribeInstances",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/us-west-2"},
			want:    Call{"", "DescribeInstances", ""}, proto: ProtocolQuery,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got := parseRequest(r, []byte(tt.body))
			if got.Call != tt.want || got.Protocol != tt.proto {
				t.Errorf("parsed %+v %s, want %+v %s", got.Call, got.Protocol, tt.want, tt.proto)
			}
		})
	}
}

func TestCBORStringMap(t *testing.T) {
	for _, s := range []string{"", "ThrottlingException", strings.Repeat("x", 200), strings.Repeat("y", 70000)} {
		v, err := cbor.Decode(cborStringMap("__type", "Code", "message", s))
		if err != nil {
			t.Fatalf("decoding a %d-byte message: %v", len(s), err)
		}
		m, ok := v.(cbor.Map)
		if !ok || m["__type"] != cbor.String("Code") || m["message"] != cbor.String(s) {
			t.Errorf("decoded %d-byte message to %#v", len(s), v)
		}
	}
}
