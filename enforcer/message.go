package enforcer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/awsaudit/awsaudit/internal/document"
)

// The enforcer's queue carries three kinds of message: the EventBridge envelope of a RunInstances
// call, delivered by the rule; a "recheck", which the enforcer sends itself while instances of an
// event are not decided yet (in their grace period, not yet visible, or after a transient action
// failure); and "documents", documents a sink did not take after an action, spooled on the
// queue so they are never lost. The enforcer's own messages are small JSON objects marked with
// MessageMarker and versioned.
type MessageKind string

// The kinds of message.
const (
	KindEvent     MessageKind = "event"
	KindRecheck   MessageKind = "recheck"
	KindDocuments MessageKind = "documents"
)

// MessageMarker is the key that marks the enforcer's own messages; its value is the kind.
const MessageMarker = "awsaudit"

// MessageVersion is the version of the recheck and documents formats this build writes and
// reads. A message of another version is poison: it is dropped with a log line (and the sweep
// catches its instances).
const MessageVersion = 1

// MaxMessageBytes is the most an enforcer message may hold: SQS's classic limit of 256 KiB, less
// room for attributes.
const MaxMessageBytes = 250_000

// DropReason says why a message is dropped.
type DropReason string

// The reasons a message is dropped rather than retried.
const (
	// DropNotJSON: the body is not a JSON object.
	DropNotJSON DropReason = "not_json"
	// DropUnknownKind: neither a CloudTrail RunInstances event nor an enforcer message.
	DropUnknownKind DropReason = "unknown_kind"
	// DropUnsupportedVersion: an enforcer message of a version this build does not read.
	DropUnsupportedVersion DropReason = "unsupported_version"
	// DropMalformed: the right kind, but a required field is missing or wrong.
	DropMalformed DropReason = "malformed"
	// DropNoInstances: the event or recheck names no instance.
	DropNoInstances DropReason = "no_instances"
	// DropFailedCall: the RunInstances call failed (errorCode): it launched nothing.
	DropFailedCall DropReason = "failed_call"
	// DropNotFound: EC2 still does not show the instances after the not-found allowance.
	DropNotFound DropReason = "instance_not_found"
	// DropRegion: the event is from a region the policy does not audit.
	DropRegion DropReason = "region_not_audited"
	// DropAccount: the event is from another account than the enforcer's.
	DropAccount DropReason = "other_account"
	// DropRecheckTooLarge: the event's recheck does not fit in a queue message even without its
	// rollup's violators list (thousands of instances still pending): the instances it would
	// carry are left to the sweep.
	DropRecheckTooLarge DropReason = "recheck_too_large"
)

// PoisonError is a message that must be dropped, not retried: retrying cannot make it succeed.
type PoisonError struct {
	Reason DropReason
	Detail string
}

func (e *PoisonError) Error() string { return string(e.Reason) + ": " + e.Detail }

func poison(r DropReason, format string, args ...any) *PoisonError {
	return &PoisonError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// IsPoison returns the *PoisonError in err's chain, if there is one.
func IsPoison(err error) (*PoisonError, bool) {
	var pe *PoisonError
	ok := errors.As(err, &pe)
	return pe, ok
}

// Recheck is the "recheck" message, and how the handler carries any event: the event's identity,
// the instances still to decide, and what was decided so far for the event's rollup. Its JSON
// form, version 1:
//
//	{"awsaudit":"recheck","version":1,"event_id":"…","event_time":"2026-11-26T10:00:00Z",
//	 "region":"us-east-1","account_id":"123456789012",
//	 "creator":{"type":"IAMUser","name":"alice","arn":"…","user_names":["alice"]},
//	 "instance_count":2,"pending":["i-0123456789abcdef0"],"attempt":1,"acted":0,
//	 "rollup":{…the event's rollup document so far…}}
type Recheck struct {
	Marker    string    `json:"awsaudit"`
	Version   int       `json:"version"`
	EventID   string    `json:"event_id"`
	EventTime time.Time `json:"event_time"`
	Region    string    `json:"region"`
	AccountID string    `json:"account_id,omitempty"`
	Creator   Caller    `json:"creator"`
	// InstanceCount is how many instances the event launched.
	InstanceCount int `json:"instance_count"`
	// Pending are the instances not decided yet.
	Pending []string `json:"pending"`
	// Attempt counts the rechecks sent for the event so far.
	Attempt int `json:"attempt"`
	// Acted counts the instances stopped or terminated for the event so far, for the policy's
	// per-run action limit.
	Acted int `json:"acted,omitempty"`
	// Retries counts, per instance, the actions retried after a transient failure.
	Retries map[string]int `json:"retries,omitempty"`
	// Rollup is the event's rollup so far: verdicts, violators and outcomes of the instances
	// already decided. Nil until the first instance is decided.
	Rollup *document.Rollup `json:"rollup,omitempty"`
}

// NewRecheck returns the state of a launch before anything is decided.
func NewRecheck(l Launch) *Recheck {
	return &Recheck{
		Marker: string(KindRecheck), Version: MessageVersion,
		EventID: l.EventID, EventTime: l.EventTime, Region: l.Region, AccountID: l.AccountID,
		Creator: l.Caller, InstanceCount: len(l.InstanceIDs), Pending: l.InstanceIDs,
	}
}

// Encode returns the message body, at most MaxMessageBytes long. When r would be longer, the
// rollup it carries loses entries of its violators list, from the end, until it fits: they are
// counted in ViolatorsOmitted, every other count is kept, and each has its own violator document
// already. r is changed accordingly. A recheck that still does not fit (its pending list alone
// is too long) is a *PoisonError with DropRecheckTooLarge: sending it would fail every time, and
// splitting it would split the rollup, so the instances it would carry are left to the sweep.
func (r *Recheck) Encode() (string, error) {
	r.Marker, r.Version = string(KindRecheck), MessageVersion
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encoding the recheck of event %s: %w", r.EventID, err)
	}
	for len(b) > MaxMessageBytes && r.Rollup != nil && len(r.Rollup.Violators) > 0 {
		if err := trimViolators(r.Rollup, len(b)-MaxMessageBytes); err != nil {
			return "", fmt.Errorf("encoding the recheck of event %s: %w", r.EventID, err)
		}
		if b, err = json.Marshal(r); err != nil {
			return "", fmt.Errorf("encoding the recheck of event %s: %w", r.EventID, err)
		}
	}
	if len(b) > MaxMessageBytes {
		return "", poison(DropRecheckTooLarge, "the recheck of event %s is %d bytes with %d instance(s) pending, more than a queue message holds (%d) even without the rollup's violators list",
			r.EventID, len(b), len(r.Pending), MaxMessageBytes)
	}
	return string(b), nil
}

// trimViolators drops entries from the end of ru's violators list until at least over bytes of
// JSON are gone (or none is left), and counts them in ViolatorsOmitted.
func trimViolators(ru *document.Rollup, over int) error {
	n := len(ru.Violators)
	for n > 0 && over > 0 {
		n--
		b, err := json.Marshal(ru.Violators[n])
		if err != nil {
			return err
		}
		over -= len(b) + 1 // and its comma
	}
	ru.ViolatorsOmitted += len(ru.Violators) - n
	ru.Violators = ru.Violators[:n:n]
	return nil
}

func (r *Recheck) check() error {
	switch {
	case r.EventID == "":
		return poison(DropMalformed, "recheck without event_id")
	case r.EventTime.IsZero():
		return poison(DropMalformed, "recheck of event %s without event_time", r.EventID)
	case len(r.Pending) == 0:
		return poison(DropNoInstances, "recheck of event %s names no instance", r.EventID)
	}
	if err := CheckRegion(r.Region); err != nil {
		return poison(DropMalformed, "recheck of event %s: %v", r.EventID, err)
	}
	for _, id := range r.Pending {
		if !instanceIDPattern.MatchString(id) {
			return poison(DropMalformed, "recheck of event %s: %q is not an instance id", r.EventID, id)
		}
	}
	return nil
}

// QueuedDocument is one document in a documents message.
type QueuedDocument struct {
	Index string          `json:"index"`
	ID    string          `json:"id"`
	Op    document.Op     `json:"op"`
	Body  json.RawMessage `json:"body"`
}

// DocumentsMessage is the "documents" message: documents to write, spooled on the queue because a
// sink did not take them. Its JSON form, version 1:
//
//	{"awsaudit":"documents","version":1,"run_id":"…","documents":[
//	 {"index":"aws-tag-violator","id":"…:i-0123456789abcdef0","op":"create","body":{…}}]}
type DocumentsMessage struct {
	Marker    string           `json:"awsaudit"`
	Version   int              `json:"version"`
	RunID     string           `json:"run_id,omitempty"`
	Documents []QueuedDocument `json:"documents"`
}

// Docs returns the documents to write.
func (m *DocumentsMessage) Docs() []document.Document {
	docs := make([]document.Document, len(m.Documents))
	for i, d := range m.Documents {
		docs[i] = document.Document{Index: d.Index, ID: d.ID, Op: d.Op, Body: d.Body}
	}
	return docs
}

func (m *DocumentsMessage) check() error {
	if len(m.Documents) == 0 {
		return poison(DropMalformed, "documents message without documents")
	}
	for i, d := range m.Documents {
		switch {
		case d.Index == "" || d.ID == "":
			return poison(DropMalformed, "document %d has no index or id", i+1)
		case d.Op != document.OpCreate && d.Op != document.OpIndex:
			return poison(DropMalformed, "document %d: op %q is not create or index", i+1, d.Op)
		case len(d.Body) == 0 || d.Body[0] != '{' || !json.Valid(d.Body):
			return poison(DropMalformed, "document %d: body is not a JSON object", i+1)
		}
	}
	return nil
}

// EncodeDocuments returns documents messages holding docs, as many as it takes to keep each under
// MaxMessageBytes. A document too large for any message is returned in tooLarge.
func EncodeDocuments(runID string, docs []document.Document) (bodies []string, tooLarge []document.Document, err error) {
	batches, tooLarge, err := encodeDocuments(runID, docs)
	if err != nil {
		return nil, nil, err
	}
	bodies = make([]string, len(batches))
	for i, b := range batches {
		bodies[i] = b.body
	}
	return bodies, tooLarge, nil
}

// documentsBatch is one documents message and the documents it holds.
type documentsBatch struct {
	body string
	docs []document.Document
}

// encodeDocuments is EncodeDocuments, each body with its documents.
func encodeDocuments(runID string, docs []document.Document) (batches []documentsBatch, tooLarge []document.Document, err error) {
	head, err := json.Marshal(DocumentsMessage{Marker: string(KindDocuments), Version: MessageVersion, RunID: runID, Documents: []QueuedDocument{}})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding documents of run %s: %w", runID, err)
	}
	// head ends in `[]}`: documents are spliced in before `]}`.
	prefix := head[:len(head)-2]
	var (
		cur     [][]byte
		curDocs []document.Document
	)
	size := len(head)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		b := append([]byte{}, prefix...)
		b = append(b, bytes.Join(cur, []byte(","))...)
		b = append(b, ']', '}')
		batches = append(batches, documentsBatch{body: string(b), docs: curDocs})
		cur, curDocs, size = nil, nil, len(head)
	}
	for _, d := range docs {
		b, err := json.Marshal(QueuedDocument{Index: d.Index, ID: d.ID, Op: d.Op, Body: d.Body})
		if err != nil {
			return nil, nil, fmt.Errorf("encoding document %s/%s: %w", d.Index, d.ID, err)
		}
		if len(head)+len(b) > MaxMessageBytes {
			tooLarge = append(tooLarge, d)
			continue
		}
		if size+len(b)+1 > MaxMessageBytes {
			flush()
		}
		cur = append(cur, b)
		curDocs = append(curDocs, d)
		size += len(b) + 1
	}
	flush()
	return batches, tooLarge, nil
}

// Message is one parsed queue message.
type Message struct {
	Kind MessageKind
	// Recheck is the event's state, for KindEvent (nothing decided yet) and KindRecheck.
	Recheck *Recheck
	// Documents is set for KindDocuments.
	Documents *DocumentsMessage
}

// envelopeProbe tells the kinds apart.
type envelopeProbe struct {
	Marker *string `json:"awsaudit"`
	// Version is a number in the enforcer's messages and a string ("0") in EventBridge's.
	Version    json.RawMessage `json:"version"`
	DetailType string          `json:"detail-type"`
}

// ParseMessage reads a queue message of any kind. What cannot be handled — not JSON, an unknown
// kind, an unsupported version, a message naming no instance, a failed RunInstances call — is a
// *PoisonError.
func ParseMessage(body string) (Message, error) {
	b := bytes.TrimSpace([]byte(body))
	if len(b) == 0 || b[0] != '{' {
		return Message{}, poison(DropNotJSON, "the body is not a JSON object")
	}
	var probe envelopeProbe
	if err := json.Unmarshal(b, &probe); err != nil {
		return Message{}, poison(DropNotJSON, "the body does not parse: %v", err)
	}
	if probe.Marker == nil {
		if probe.DetailType == "" {
			return Message{}, poison(DropUnknownKind, "neither an EventBridge event nor an awsaudit message")
		}
		var env events.EventBridgeEvent
		if err := json.Unmarshal(b, &env); err != nil {
			return Message{}, poison(DropMalformed, "the EventBridge envelope does not parse: %v", err)
		}
		l, err := ParseEvent(&env)
		if err != nil {
			return Message{}, err
		}
		return Message{Kind: KindEvent, Recheck: NewRecheck(l)}, nil
	}
	kind := MessageKind(*probe.Marker)
	if kind != KindRecheck && kind != KindDocuments {
		return Message{}, poison(DropUnknownKind, "awsaudit message of kind %q", kind)
	}
	if len(probe.Version) == 0 {
		return Message{}, poison(DropUnsupportedVersion, "%s message without a version", kind)
	}
	var version int
	if err := json.Unmarshal(probe.Version, &version); err != nil || version != MessageVersion {
		return Message{}, poison(DropUnsupportedVersion, "%s message version %s (this build reads version %d)", kind, probe.Version, MessageVersion)
	}
	if kind == KindDocuments {
		var m DocumentsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return Message{}, poison(DropMalformed, "documents message does not parse: %v", err)
		}
		if err := m.check(); err != nil {
			return Message{}, err
		}
		return Message{Kind: KindDocuments, Documents: &m}, nil
	}
	var r Recheck
	if err := json.Unmarshal(b, &r); err != nil {
		return Message{}, poison(DropMalformed, "recheck message does not parse: %v", err)
	}
	if err := r.check(); err != nil {
		return Message{}, err
	}
	return Message{Kind: KindRecheck, Recheck: &r}, nil
}
