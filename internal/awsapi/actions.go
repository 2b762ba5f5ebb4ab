package awsapi

// The IAM actions each awsaudit component calls, as IAM names them ("service:Action"). They are
// the code's side of least privilege, and two tests keep them honest:
//
//   - terraform_test.go reads the IAM policies in terraform/ and fails when a function's role
//     is missing an action listed here, or grants one that is neither listed here nor one of the
//     infrastructure's own (the event source mapping's SQS calls, logs, KMS);
//   - integration tests count the operations the code really makes (Counter, through ActionFor)
//     and fail when one is not listed here.
//
// Change a list together with the code that makes the call and with terraform/iam.tf.

// EnforcerActions are the actions the enforcer Lambda calls: the second read and the actions on
// an instance, the canary check of its region, IAM lookups of creators, the account alias for the
// documents, settings and secrets by name, and recheck messages to its own queue.
var EnforcerActions = []string{
	"ec2:DescribeInstances",
	"ec2:DescribeInstanceAttribute",
	"ec2:ModifyInstanceAttribute",
	"ec2:StopInstances",
	"ec2:TerminateInstances",
	"iam:GetUser",
	"iam:ListAccountAliases",
	"sts:GetCallerIdentity",
	"sqs:SendMessage",
	"ssm:GetParameter",
	"secretsmanager:GetSecretValue",
}

// ReconcilerActions are the actions the reconciler Lambda calls: the enforcer's (the sweep uses
// the same decisions and actions) and region discovery; its SendMessage spools the documents
// Elasticsearch did not take.
var ReconcilerActions = []string{
	"ec2:DescribeInstances",
	"ec2:DescribeInstanceAttribute",
	"ec2:DescribeRegions",
	"ec2:ModifyInstanceAttribute",
	"ec2:StopInstances",
	"ec2:TerminateInstances",
	"iam:GetUser",
	"iam:ListAccountAliases",
	"sts:GetCallerIdentity",
	"sqs:SendMessage",
	"ssm:GetParameter",
	"secretsmanager:GetSecretValue",
}

// WorkerActions are the actions the CLI's SQS worker (awsaudit enforce) calls besides
// EnforcerActions: in Lambda the event source mapping polls the queue; the worker polls it itself.
var WorkerActions = []string{
	"sqs:ReceiveMessage",
	"sqs:DeleteMessage",
	"sqs:GetQueueAttributes",
	"sqs:ChangeMessageVisibility",
	"sqs:SendMessage",
}

// NoPermissionActions are actions that IAM does not control: they succeed whatever the policy
// says, so policies need not grant them.
var NoPermissionActions = []string{
	"sts:GetCallerIdentity",
}

// iamPrefixes maps SDK service ids (what Counter records) to IAM service prefixes.
var iamPrefixes = map[string]string{
	"EC2":             "ec2",
	"IAM":             "iam",
	"STS":             "sts",
	"SQS":             "sqs",
	"SSM":             "ssm",
	"Secrets Manager": "secretsmanager",
	"CloudWatch":      "cloudwatch",
	"CloudWatch Logs": "logs",
	"EventBridge":     "events",
	"Lambda":          "lambda",
	"KMS":             "kms",
}

// batchActions are operations that IAM authorizes as another action.
var batchActions = map[string]string{
	"sqs:SendMessageBatch":             "sqs:SendMessage",
	"sqs:DeleteMessageBatch":           "sqs:DeleteMessage",
	"sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

// ActionFor returns the IAM action that authorizes an SDK operation, given the service id and
// operation name a Counter records (such as "EC2", "DescribeInstances"). It reports false for a
// service it does not know.
func ActionFor(serviceID, operation string) (string, bool) {
	prefix, ok := iamPrefixes[serviceID]
	if !ok || operation == "" {
		return "", false
	}
	a := prefix + ":" + operation
	if b, ok := batchActions[a]; ok {
		a = b
	}
	return a, true
}
