package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

// runInstancesPattern is the EventBridge pattern terraform/ deploys: successful RunInstances
// calls, as CloudTrail reports them.
const runInstancesPattern = `{"source":["aws.ec2"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["ec2.amazonaws.com"],"eventName":["RunInstances"],"errorCode":[{"exists":false}]}}`

// demoGrace is the event path's grace period in the demo; the queue's delay is the same, as
// terraform/ sets it (min(grace, 900 s)).
const demoGrace = 10 * time.Second

// eventPath builds the pipeline in moto (a delay queue, a rule with the RunInstances pattern
// targeting it), launches a tagged and an untagged instance, injects their CloudTrail events
// (moto never emits them) and runs `awsaudit enforce` until the queue is empty.
func (d *demo) eventPath(ctx context.Context) error {
	title("3. The event path: RunInstances -> EventBridge -> SQS delay queue -> awsaudit enforce")
	cfg := mototest.Config(d.moto.URL, home)
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String("awsaudit-demo-events"),
		Attributes: map[string]string{"DelaySeconds": fmt.Sprint(int(demoGrace.Seconds()))},
	})
	if err != nil {
		return fmt.Errorf("creating the queue: %w", err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("awsaudit-run-instances"), EventPattern: aws.String(runInstancesPattern)}); err != nil {
		return fmt.Errorf("creating the rule: %w", err)
	}
	queueARN := "arn:aws:sqs:" + home + ":" + mototest.AccountID + ":awsaudit-demo-events"
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("awsaudit-run-instances"),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN)}}}); err != nil {
		return fmt.Errorf("targeting the queue: %w", err)
	}
	fmt.Printf("queue %s (delay %v), rule awsaudit-run-instances -> queue\n", aws.ToString(q.QueueUrl), demoGrace)

	client := ec2.NewFromConfig(cfg)
	tagged, err := launch(ctx, client, []string{"Name", "new-web", "created_by", "alice", "department", "eng", "project", "shop"})
	if err != nil {
		return err
	}
	untagged, err := launch(ctx, client, []string{"Name", "quick-test"})
	if err != nil {
		return err
	}
	d.names[tagged], d.names[untagged] = home+"/new-web", home+"/quick-test"
	for i, id := range []string{tagged, untagged} {
		if err := putRunInstancesEvent(ctx, eb, fmt.Sprintf("demo-event-%d", i+1), "alice", id); err != nil {
			return err
		}
	}
	fmt.Printf("launched new-web (tagged, %s) and quick-test (untagged, %s); their CloudTrail events are on the queue\n", tagged, untagged)
	if err := d.awsaudit(ctx, 0, "enforce", "--queue-url", aws.ToString(q.QueueUrl), "-r", home, "-t", scheme, "-g", demoGrace.String(), "-k",
		"--until-empty", "--wait-time", "2", "--retry-delay", "2", "--es-url", d.es.URL,
		"--ndjson", filepath.Join(d.dir, "events.ndjson"), "--log-level", "warn"); err != nil {
		return err
	}
	if err := printEventDocuments(filepath.Join(d.dir, "events.ndjson")); err != nil {
		return err
	}
	fmt.Println("instance states now:")
	for _, id := range []string{tagged, untagged} {
		out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return err
		}
		state := out.Reservations[0].Instances[0].State.Name
		fmt.Printf("  %-24s %s\n", d.names[id], state)
		if want := map[string]ec2types.InstanceStateName{tagged: ec2types.InstanceStateNameRunning, untagged: ec2types.InstanceStateNameTerminated}[id]; state != want {
			return fmt.Errorf("the event path left %s %s, the demo expects %s", d.names[id], state, want)
		}
	}
	return nil
}

// putRunInstancesEvent puts the CloudTrail event of a RunInstances call by user on the default
// bus, as CloudTrail would.
func putRunInstancesEvent(ctx context.Context, eb *eventbridge.Client, eventID, user, instanceID string) error {
	detail, err := json.Marshal(map[string]any{
		"eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
		"eventTime": time.Now().UTC().Format(time.RFC3339), "awsRegion": home, "eventID": eventID,
		"eventType": "AwsApiCall", "recipientAccountId": mototest.AccountID,
		"userIdentity": map[string]any{"type": "IAMUser", "userName": user, "accountId": mototest.AccountID,
			"arn": "arn:aws:iam::" + mototest.AccountID + ":user/" + user, "principalId": "AIDAEXAMPLE"},
		"responseElements": map[string]any{"instancesSet": map[string]any{"items": []map[string]string{{"instanceId": instanceID}}}},
	})
	if err != nil {
		return err
	}
	out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.ec2"), DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(string(detail)),
	}}})
	if err != nil || out.FailedEntryCount > 0 {
		return fmt.Errorf("putting the event: %v (%d failed)", err, out.FailedEntryCount)
	}
	return nil
}

// printEventDocuments shows what the enforcer wrote: one rollup per CloudTrail event and a
// document per violator.
func printEventDocuments(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	docs, err := document.ReadBulk(f)
	if err != nil {
		return err
	}
	fmt.Println("documents the enforcer wrote (op create, so a redelivered event cannot overwrite them):")
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			return err
		}
		if d.Index == document.DefaultAuditIndex {
			fmt.Printf("  rollup   %-22s event %v: %v instance(s), %v violator(s), creator %v\n", d.ID, m["run_id"], m["instance_count"], m["violator_count"], m["creator"])
			continue
		}
		fmt.Printf("  violator %-22s %v %v: outcome %v, missing %v, creator %v\n", d.ID, m["region"], m["id"], m["outcome"], m["missing_tags"], m["creator"])
	}
	return nil
}
