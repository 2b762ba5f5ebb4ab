// Package faultproxy is a fault-injecting reverse proxy for integration
// tests: it sits on a free loopback port in front of moto and produces the
// failures moto cannot (throttling, 5xx, empty or tag-less DescribeInstances
// listings, one instance refusing to terminate, an action whose answer is
// lost, dropped connections, latency). Point the SDK at Proxy.URL instead of moto's URL.
//
//	srv := mototest.Shared(t)
//	p := faultproxy.Start(t, srv.URL)
//	cfg := mototest.Config(p.URL, "us-west-2")
//	p.Add(faultproxy.Rule{Service: "ec2", Action: "TerminateInstances",
//		Match: faultproxy.InstanceID(id), Times: 1,
//		Respond: faultproxy.APIError(400, "OperationNotPermitted", "protected")})
//
// Each request is parsed for its SigV4 signing name and region (the
// credential scope of the Authorization header) and its operation: the
// Action form field for the query protocols (EC2, IAM, STS), the
// X-Amz-Target header for AWS JSON (SQS, SSM, EventBridge, Secrets Manager;
// sqs v1.53.0 sends AWS JSON 1.0 "AmazonSQS.ReceiveMessage"), and the URL
// path for Smithy RPC v2 CBOR (CloudWatch v1.75.7 sends
// /service/GraniteServiceVersion20100801/operation/PutMetricData). Calls
// counts every request per (service, operation, region), including those a
// rule answered.
//
// Requests no rule claims are forwarded as received: method, path, query,
// Host, headers (signing headers included) and body; only hop-by-hop headers
// are dropped, as HTTP requires. Answers stream back. The proxy is safe for
// concurrent requests.
//
// Injected errors are shaped as each protocol's SDK deserializer reads
// them, so smithy.APIError.ErrorCode() returns the injected code and the
// SDK retryers classify Throttle as throttling and ServerError as
// retryable.
package faultproxy
