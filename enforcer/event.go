package enforcer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// What the EventBridge rule of the event path matches: a CloudTrail management event of EC2's
// RunInstances.
const (
	DetailTypeCloudTrail  = "AWS API Call via CloudTrail"
	SourceEC2             = "aws.ec2"
	EventSourceEC2        = "ec2.amazonaws.com"
	EventNameRunInstances = "RunInstances"
)

// CloudTrailDetail is the detail of an EventBridge "AWS API Call via CloudTrail" event: one
// CloudTrail record, with the fields documented in "CloudTrail record contents for management,
// data, and network activity events"
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)
// and the caller as documented in "CloudTrail userIdentity element"
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
// Parts awsaudit does not read (the request, the response, TLS details, …) are kept raw, so a
// record decodes and encodes without loss; the response of RunInstances is read by
// InstanceIDs.
type CloudTrailDetail struct {
	EventVersion                 string          `json:"eventVersion,omitempty"`
	UserIdentity                 UserIdentity    `json:"userIdentity"`
	EventTime                    time.Time       `json:"eventTime"`
	EventSource                  string          `json:"eventSource"`
	EventName                    string          `json:"eventName"`
	AWSRegion                    string          `json:"awsRegion"`
	SourceIPAddress              string          `json:"sourceIPAddress,omitempty"`
	UserAgent                    string          `json:"userAgent,omitempty"`
	ErrorCode                    string          `json:"errorCode,omitempty"`
	ErrorMessage                 string          `json:"errorMessage,omitempty"`
	RequestParameters            json.RawMessage `json:"requestParameters,omitempty"`
	ResponseElements             json.RawMessage `json:"responseElements,omitempty"`
	AdditionalEventData          json.RawMessage `json:"additionalEventData,omitempty"`
	RequestID                    string          `json:"requestID,omitempty"`
	EventID                      string          `json:"eventID"`
	ReadOnly                     *bool           `json:"readOnly,omitempty"`
	Resources                    json.RawMessage `json:"resources,omitempty"`
	EventType                    string          `json:"eventType,omitempty"`
	APIVersion                   string          `json:"apiVersion,omitempty"`
	ManagementEvent              *bool           `json:"managementEvent,omitempty"`
	RecipientAccountID           string          `json:"recipientAccountId,omitempty"`
	SharedEventID                string          `json:"sharedEventID,omitempty"`
	VPCEndpointID                string          `json:"vpcEndpointId,omitempty"`
	VPCEndpointAccountID         string          `json:"vpcEndpointAccountId,omitempty"`
	EventCategory                string          `json:"eventCategory,omitempty"`
	SessionCredentialFromConsole string          `json:"sessionCredentialFromConsole,omitempty"`
	TLSDetails                   json.RawMessage `json:"tlsDetails,omitempty"`
	Addendum                     json.RawMessage `json:"addendum,omitempty"`
	EdgeDeviceDetails            json.RawMessage `json:"edgeDeviceDetails,omitempty"`
	ServiceEventDetails          json.RawMessage `json:"serviceEventDetails,omitempty"`
}

// UserIdentity is who made the call: CloudTrail's userIdentity element.
type UserIdentity struct {
	// Type is IAMUser, AssumedRole, FederatedUser, AWSService, Root, AWSAccount,
	// IdentityCenterUser, SAMLUser, WebIdentityUser or Unknown.
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
	// InvokedBy names the AWS service that made the call on the caller's behalf, such as
	// autoscaling.amazonaws.com.
	InvokedBy        string          `json:"invokedBy,omitempty"`
	IdentityProvider string          `json:"identityProvider,omitempty"`
	CredentialID     string          `json:"credentialId,omitempty"`
	OnBehalfOf       json.RawMessage `json:"onBehalfOf,omitempty"`
	InScopeOf        json.RawMessage `json:"inScopeOf,omitempty"`
}

// SessionContext describes temporary credentials: for an assumed role or a federated user,
// who issued them.
type SessionContext struct {
	SessionIssuer       *SessionIssuer  `json:"sessionIssuer,omitempty"`
	WebIDFederationData json.RawMessage `json:"webIdFederationData,omitempty"`
	Attributes          json.RawMessage `json:"attributes,omitempty"`
	SourceIdentity      string          `json:"sourceIdentity,omitempty"`
	EC2RoleDelivery     string          `json:"ec2RoleDelivery,omitempty"`
	AssumedRoot         string          `json:"assumedRoot,omitempty"`
}

// SessionIssuer is the role or user that issued temporary credentials.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// runInstancesResponse is the part of RunInstances' responseElements that names what was
// launched.
type runInstancesResponse struct {
	InstancesSet struct {
		Items []struct {
			InstanceID string `json:"instanceId"`
		} `json:"items"`
	} `json:"instancesSet"`
}

// InstanceIDs returns the ids of the instances RunInstances launched, from
// responseElements.instancesSet.items[].instanceId, in order and without duplicates.
func (d *CloudTrailDetail) InstanceIDs() ([]string, error) {
	if len(d.ResponseElements) == 0 || string(d.ResponseElements) == "null" {
		return nil, nil
	}
	var r runInstancesResponse
	if err := json.Unmarshal(d.ResponseElements, &r); err != nil {
		return nil, fmt.Errorf("reading responseElements: %w", err)
	}
	var ids []string
	for _, it := range r.InstancesSet.Items {
		if !slices.Contains(ids, it.InstanceID) {
			ids = append(ids, it.InstanceID)
		}
	}
	return ids, nil
}

// Caller is who launched instances, as awsaudit records it: the creator of the documents.
type Caller struct {
	// Type is userIdentity.type (IAMUser, AssumedRole, FederatedUser, AWSService, Root, …).
	Type string `json:"type"`
	// Name is how documents name the caller: the service (autoscaling.amazonaws.com) when an
	// AWS service made the call (invokedBy); otherwise the IAM user name, role/session for an
	// assumed role, or the federated user's name.
	Name string `json:"name"`
	// ARN is userIdentity.arn: for a service's call, the role session it used (Auto Scaling's
	// assumed-role/AWSServiceRoleForAutoScaling/AutoScaling).
	ARN       string `json:"arn,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	// UserNames are the names a created_by tag naming this caller would carry: the IAM user;
	// the session name of an assumed role (people's sessions carry their names); the federated
	// user's name and the IAM user that issued its credentials. None for root and for a call an
	// AWS service made, whatever credentials it used: Auto Scaling's session is named
	// "AutoScaling", which names no person.
	UserNames []string `json:"user_names,omitempty"`
	// InvokedBy is the AWS service that made the call (userIdentity.invokedBy).
	InvokedBy string `json:"invoked_by,omitempty"`
}

// Matches reports whether a created_by-style tag value names the caller. IAM user names are
// unique regardless of case, so case is ignored.
func (c Caller) Matches(value string) bool {
	value = strings.TrimSpace(value)
	return value != "" && slices.ContainsFunc(c.UserNames, func(n string) bool { return strings.EqualFold(n, value) })
}

// The userIdentity types awsaudit derives a caller from in a specific way; any other type is
// named by its user name, ARN or principal id. An AWSService caller is named by its invokedBy.
const (
	IdentityIAMUser       = "IAMUser"
	IdentityAssumedRole   = "AssumedRole"
	IdentityFederatedUser = "FederatedUser"
	IdentityAWSService    = "AWSService"
	IdentityRoot          = "Root"
)

// CallerOf derives the caller from a userIdentity element. A launch is an AWS service's own when
// the type is AWSService or the identity is a session of a service-linked role: Auto Scaling
// launches as an AssumedRole of AWSServiceRoleForAutoScaling (session "AutoScaling") invoked by
// autoscaling.amazonaws.com. The caller is then the service, named by invokedBy, with no user
// names (a session name is not a person); the ARN keeps the role session it used. A person's call
// that a service made on their behalf (CloudFormation, the console) also carries invokedBy, but
// stays the person's: InvokedBy records the service.
func CallerOf(u UserIdentity) Caller {
	c := Caller{Type: u.Type, ARN: u.ARN, AccountID: u.AccountID, InvokedBy: u.InvokedBy}
	var issuer *SessionIssuer
	if u.SessionContext != nil {
		issuer = u.SessionContext.SessionIssuer
	}
	switch {
	case u.Type == IdentityAWSService || (u.InvokedBy != "" && serviceLinkedSession(u, issuer)):
		c.Name = u.InvokedBy
	case u.Type == IdentityIAMUser:
		name := u.UserName
		if name == "" {
			name = arnTail(u.ARN, "user/")
		}
		c.Name = name
		c.UserNames = nonEmpty(name)
	case u.Type == IdentityAssumedRole:
		// arn:aws:sts::123456789012:assumed-role/ROLE/SESSION; the principal id is
		// AROAEXAMPLE:SESSION.
		role, session, _ := strings.Cut(arnTail(u.ARN, "assumed-role/"), "/")
		if issuer != nil && issuer.UserName != "" {
			role = issuer.UserName
		}
		if session == "" {
			_, session, _ = strings.Cut(u.PrincipalID, ":")
		}
		c.Name = strings.Trim(role+"/"+session, "/")
		c.UserNames = nonEmpty(session)
	case u.Type == IdentityFederatedUser:
		// arn:aws:sts::123456789012:federated-user/NAME, issued by an IAM user.
		name := arnTail(u.ARN, "federated-user/")
		if name == "" {
			_, name, _ = strings.Cut(u.PrincipalID, ":")
		}
		c.Name = name
		c.UserNames = nonEmpty(name)
		if issuer != nil && issuer.Type == IdentityIAMUser && issuer.UserName != "" && !strings.EqualFold(issuer.UserName, name) {
			c.UserNames = append(c.UserNames, issuer.UserName)
		}
	case u.Type == IdentityRoot:
		c.Name = "root"
	}
	if c.Name == "" {
		for _, s := range []string{u.UserName, u.ARN, u.PrincipalID, u.InvokedBy} {
			if s != "" {
				c.Name = s
				break
			}
		}
	}
	if c.Name == "" {
		c.Name = "unknown"
	}
	if c.Type == "" {
		c.Type = "Unknown"
	}
	return c
}

// serviceLinkedSession reports whether u is a session of a service-linked role. The session
// issuer's ARN says it surely: such roles live under the path /aws-service-role/. Without an
// issuer ARN, the role's name in the session's ARN (which has no path) is the clue: service-linked
// roles are named AWSServiceRoleFor….
func serviceLinkedSession(u UserIdentity, issuer *SessionIssuer) bool {
	if issuer != nil && issuer.ARN != "" {
		return strings.Contains(issuer.ARN, ":role/aws-service-role/")
	}
	return strings.HasPrefix(arnTail(u.ARN, "assumed-role/"), "AWSServiceRoleFor")
}

// arnTail returns what follows marker in an ARN's resource, or "".
func arnTail(arn, marker string) string {
	_, after, ok := strings.Cut(arn, ":"+marker)
	if !ok {
		return ""
	}
	return after
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Launch is one RunInstances call, as the event path needs it.
type Launch struct {
	// EventID is CloudTrail's eventID: the run id of the event's documents.
	EventID   string
	EventTime time.Time
	// Region is where the instances were launched (detail.awsRegion).
	Region string
	// AccountID is the account the instances belong to, when the event says.
	AccountID   string
	Caller      Caller
	InstanceIDs []string
}

// instanceIDPattern is the form of an EC2 instance id.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// ParseEvent reads an EventBridge envelope carrying CloudTrail's record of a RunInstances call.
// Anything else — another kind of event, a failed call (errorCode present: it launched
// nothing), a record without an event id or instance ids — is a *PoisonError saying why, for the
// caller to log and drop.
func ParseEvent(env *events.EventBridgeEvent) (Launch, error) {
	if env.DetailType != DetailTypeCloudTrail {
		return Launch{}, poison(DropUnknownKind, "detail-type %q is not %q", env.DetailType, DetailTypeCloudTrail)
	}
	if env.Source != "" && env.Source != SourceEC2 {
		return Launch{}, poison(DropUnknownKind, "source %q is not %s", env.Source, SourceEC2)
	}
	var d CloudTrailDetail
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return Launch{}, poison(DropMalformed, "the CloudTrail detail does not parse: %v", err)
	}
	if d.EventSource != EventSourceEC2 || d.EventName != EventNameRunInstances {
		return Launch{}, poison(DropUnknownKind, "event %s %s is not %s %s", d.EventSource, d.EventName, EventSourceEC2, EventNameRunInstances)
	}
	if d.ErrorCode != "" {
		return Launch{}, poison(DropFailedCall, "RunInstances failed with %s: it launched nothing", d.ErrorCode)
	}
	l := Launch{
		EventID:   d.EventID,
		EventTime: d.EventTime,
		Region:    d.AWSRegion,
		AccountID: d.RecipientAccountID,
		Caller:    CallerOf(d.UserIdentity),
	}
	if l.EventID == "" {
		return Launch{}, poison(DropMalformed, "the CloudTrail record has no eventID")
	}
	if l.Region == "" {
		l.Region = env.Region
	}
	if err := CheckRegion(l.Region); err != nil {
		return Launch{}, poison(DropMalformed, "awsRegion: %v", err)
	}
	if l.EventTime.IsZero() {
		l.EventTime = env.Time
	}
	if l.EventTime.IsZero() {
		return Launch{}, poison(DropMalformed, "the CloudTrail record has no eventTime")
	}
	if l.AccountID == "" {
		l.AccountID = env.AccountID
	}
	ids, err := d.InstanceIDs()
	if err != nil {
		return Launch{}, poison(DropMalformed, "%v", err)
	}
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return Launch{}, poison(DropMalformed, "%q is not an instance id", id)
		}
	}
	if len(ids) == 0 {
		return Launch{}, poison(DropNoInstances, "the RunInstances response lists no instances")
	}
	l.InstanceIDs = ids
	return l, nil
}
