package faultproxy

import (
	"bytes"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Protocol is the AWS wire protocol of a request, which decides the shape of
// an injected error.
type Protocol string

// The protocols the proxy recognises.
const (
	// ProtocolEC2Query is EC2's form-encoded query protocol
	// (Action=DescribeInstances); errors are <Response><Errors>.
	ProtocolEC2Query Protocol = "ec2query"
	// ProtocolQuery is the query protocol of IAM, STS, SNS and others;
	// errors are <ErrorResponse>.
	ProtocolQuery Protocol = "awsquery"
	// ProtocolJSON is AWS JSON 1.0/1.1 (SQS, SSM, EventBridge, Secrets
	// Manager), operation in X-Amz-Target.
	ProtocolJSON Protocol = "awsjson"
	// ProtocolCBOR is Smithy RPC v2 CBOR (CloudWatch in current SDKs),
	// operation in the URL path.
	ProtocolCBOR Protocol = "rpcv2cbor"
	// ProtocolOther is anything else (REST protocols, moto's own API).
	ProtocolOther Protocol = "other"
)

// Call identifies what a request asked for: the SigV4 signing name, the
// operation and the region from the signature's credential scope.
type Call struct {
	Service   string // e.g. ec2, iam, sts, sqs, monitoring
	Operation string // e.g. DescribeInstances, ReceiveMessage
	Region    string // e.g. us-west-2
}

// Request is one client request as the proxy parsed it, handed to a
// Responder.
type Request struct {
	Call
	Protocol Protocol
	// Form holds query-protocol parameters (form body and URL query); for
	// other protocols only the URL query.
	Form url.Values
	// Body is the raw request body.
	Body []byte
	// HTTP is the incoming request. Use Forward rather than reading its
	// body.
	HTTP *http.Request

	forward func(http.ResponseWriter, *http.Request)
}

// Forward sends the request upstream unchanged and streams the answer to w.
// It may be called more than once.
func (r *Request) Forward(w http.ResponseWriter) {
	r.HTTP.Body = readCloser{bytes.NewReader(r.Body)}
	r.forward(w, r.HTTP)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// parseRequest works out service, region, operation and protocol from the
// headers the SDKs send. It never fails: what it cannot tell stays empty.
func parseRequest(r *http.Request, body []byte) *Request {
	req := &Request{Body: body, HTTP: r, Form: r.URL.Query(), Protocol: ProtocolOther}
	req.Service, req.Region = credentialScope(r)

	switch target := r.Header.Get("X-Amz-Target"); {
	case target != "":
		// AmazonSQS.ReceiveMessage, AmazonSSM.GetParameter, AWSEvents.PutEvents
		req.Protocol = ProtocolJSON
		req.Operation = target[strings.LastIndexByte(target, '.')+1:]
	case strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor"):
		// /service/GraniteServiceVersion20100801/operation/PutMetricData
		req.Protocol = ProtocolCBOR
		req.Operation = path.Base(r.URL.Path)
	case isForm(r) || req.Form.Has("Action"):
		if isForm(r) {
			// A malformed pair is skipped; the rest still parses.
			form, _ := url.ParseQuery(string(body))
			for k, v := range form {
				req.Form[k] = append(req.Form[k], v...)
			}
		}
		req.Protocol = ProtocolQuery
		if req.Service == "ec2" {
			req.Protocol = ProtocolEC2Query
		}
		req.Operation = req.Form.Get("Action")
	}
	return req
}

func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// credentialScope reads service and region from the SigV4 credential scope,
// AKID/20261126/us-west-2/ec2/aws4_request, in the Authorization header or a
// presigned URL's X-Amz-Credential.
func credentialScope(r *http.Request) (service, region string) {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "", ""
		}
		cred, _, _ = strings.Cut(after, ",")
	}
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) < 5 {
		return "", ""
	}
	n := len(parts)
	return parts[n-2], parts[n-3]
}
