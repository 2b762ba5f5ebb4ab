package mototest

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// CloudWatchQueryProtocol is a cloudwatch.Options function that makes a
// client speak the AWS query protocol, the only CloudWatch protocol moto
// 5.2.1 fully serves. cloudwatch v1.75.7 defaults to Smithy RPC v2 CBOR,
// which moto does not implement (every call answers 404 with HTML), and
// moto's AWS JSON 1.0 support fails PutMetricData with HTTP 500. Use it only
// against moto; against AWS keep the SDK default.
//
//	cloudwatch.NewFromConfig(cfg, mototest.CloudWatchQueryProtocol)
func CloudWatchQueryProtocol(o *cloudwatch.Options) {
	o.Protocol = awsquery.New(schemas.GraniteServiceVersion20100801)
}
