// Package logkey names the structured log keys every awsaudit component uses, so logs can be
// queried the same way whichever path wrote them. Ids go in these fields, never in messages.
package logkey

// The keys.
const (
	RunID       = "run_id"
	Source      = "source"
	Account     = "account"
	AccountID   = "account_id"
	Region      = "region"
	InstanceID  = "instance_id"
	InstanceIDs = "instance_ids"
	Verdict     = "verdict"
	Outcome     = "outcome"
	Action      = "action"
	Count       = "count"
	Reason      = "reason"
	Error       = "error"
	EventID     = "event_id"
	MessageID   = "message_id"
	Kind        = "kind"
	Delay       = "delay_seconds"
	Operation   = "operation"
	Index       = "index"
	Path        = "path"
	Limit       = "limit"
	Duration    = "duration_ms"
	Regions     = "regions"
	Attempt     = "attempt"
	DryRun      = "dry_run"
	Deferred    = "deferred"
	Violators   = "violators"
	Verified    = "verified"
	Policy      = "policy"
	// ReceiveCount is SQS's ApproximateReceiveCount of a message.
	ReceiveCount = "receive_count"
	// Detail says more about a reason.
	Detail   = "detail"
	DocID    = "doc_id"
	QueueURL = "queue_url"
)
