package faultproxy

import (
	"net/url"
	"slices"
	"strings"
)

// Rule injects a fault into the requests it matches. Empty fields match
// anything.
type Rule struct {
	// Service is the SigV4 signing name: ec2, iam, sts, sqs, ssm, events,
	// secretsmanager, monitoring.
	Service string
	// Action is the operation name, e.g. TerminateInstances.
	Action string
	// Region is the region the request is signed for.
	Region string
	// Match narrows the rule by request parameters (Request.Form), e.g.
	// InstanceID("i-123") for one instance in a TerminateInstances batch.
	Match func(form url.Values) bool
	// Times is how many matching requests the rule answers before it steps
	// aside; 0 means all of them.
	Times int
	// Respond answers the matched request. Required.
	Respond Responder
}

// Handle is a rule added to a proxy.
type Handle struct {
	p    *Proxy
	rule Rule
	hits int // guarded by p.mu
}

// Hits returns how many requests the rule has answered.
func (h *Handle) Hits() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.hits
}

// Remove takes the rule off the proxy.
func (h *Handle) Remove() {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	h.p.rules = slices.DeleteFunc(h.p.rules, func(x *Handle) bool { return x == h })
}

func (h *Handle) matches(req *Request) bool {
	r := h.rule
	switch {
	case r.Times > 0 && h.hits >= r.Times:
		return false
	case r.Service != "" && r.Service != req.Service:
		return false
	case r.Action != "" && r.Action != req.Operation:
		return false
	case r.Region != "" && r.Region != req.Region:
		return false
	case r.Match != nil && !r.Match(req.Form):
		return false
	}
	return true
}

// InstanceID returns a Rule.Match that picks requests naming instance id in
// an InstanceId.N list (TerminateInstances, StopInstances,
// DescribeInstances …).
func InstanceID(id string) func(url.Values) bool {
	return ListContains("InstanceId", id)
}

// ListContains returns a Rule.Match that picks query-protocol requests whose
// list parameter name (name.1, name.2, …) contains value.
func ListContains(name, value string) func(url.Values) bool {
	return func(form url.Values) bool {
		for k, vs := range form {
			index, ok := strings.CutPrefix(k, name+".")
			if ok && isDigits(index) && slices.Contains(vs, value) {
				return true
			}
		}
		return false
	}
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
