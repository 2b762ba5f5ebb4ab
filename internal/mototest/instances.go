package mototest

import (
	"cmp"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DefaultImageID is an AMI id from moto's built-in catalogue, present in
// every region. moto 5.2.1 does not validate ImageId on RunInstances unless
// MOTO_ENABLE_AMI_VALIDATION is set, so any ami-… id launches; this one also
// works with validation on.
const DefaultImageID = "ami-12c6146b"

// DefaultInstanceType is what Spec launches when InstanceType is empty.
const DefaultInstanceType = types.InstanceTypeT3Micro

// waitTimeout bounds the state waiters. moto changes state at once, so the
// waiters normally return on their first DescribeInstances.
const waitTimeout = 30 * time.Second

// Tag is one EC2 tag.
type Tag struct {
	Key, Value string
}

// TagsFrom turns a map into tags sorted by key, for specs where order does
// not matter.
func TagsFrom(m map[string]string) []Tag {
	tags := make([]Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, Tag{Key: k, Value: m[k]})
	}
	return tags
}

// Spec describes instances to launch with RunInstance.
type Spec struct {
	// Tags go on the instances through RunInstances TagSpecifications, in
	// this order; moto returns them in the same order. Keys with the aws:
	// prefix are accepted by moto (AWS refuses them).
	Tags []Tag
	// Count is how many instances to launch in one reservation; 0 means 1.
	Count int
	// AvailabilityZone, e.g. us-west-2b; empty lets moto choose (the
	// region's "a" zone). moto rejects zones the region does not have.
	AvailabilityZone string
	// InstanceType defaults to DefaultInstanceType.
	InstanceType types.InstanceType
	// ImageID defaults to DefaultImageID.
	ImageID string
}

// RunInstance launches the instances spec describes in cfg's region and
// returns their ids. They are running as soon as this returns (moto reports
// pending in the RunInstances answer and running from then on).
func RunInstance(t testing.TB, cfg aws.Config, spec Spec) []string {
	t.Helper()
	count := int32(max(spec.Count, 1))
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String(cmp.Or(spec.ImageID, DefaultImageID)),
		InstanceType: cmp.Or(spec.InstanceType, DefaultInstanceType),
		MinCount:     aws.Int32(count),
		MaxCount:     aws.Int32(count),
	}
	if len(spec.Tags) > 0 {
		tags := make([]types.Tag, len(spec.Tags))
		for i, tag := range spec.Tags {
			tags[i] = types.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)}
		}
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
	}
	if spec.AvailabilityZone != "" {
		in.Placement = &types.Placement{AvailabilityZone: aws.String(spec.AvailabilityZone)}
	}
	out, err := ec2.NewFromConfig(cfg).RunInstances(t.Context(), in)
	if err != nil {
		t.Fatalf("running %d instances in %s: %v", count, cfg.Region, err)
	}
	ids := make([]string, len(out.Instances))
	for i, inst := range out.Instances {
		ids[i] = aws.ToString(inst.InstanceId)
	}
	return ids
}

// Protect sets termination protection (DisableApiTermination) and stop
// protection (DisableApiStop) on instance id, both explicitly, so false
// lifts a protection. moto ignores DisableApiTermination on RunInstances;
// this is the way to protect test instances. moto enforces both: protected
// instances answer OperationNotPermitted to TerminateInstances and
// StopInstances respectively.
func Protect(t testing.TB, cfg aws.Config, id string, termination, stop bool) {
	t.Helper()
	client := ec2.NewFromConfig(cfg)
	if _, err := client.ModifyInstanceAttribute(t.Context(), &ec2.ModifyInstanceAttributeInput{
		InstanceId:            aws.String(id),
		DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(termination)},
	}); err != nil {
		t.Fatalf("setting termination protection of %s to %t: %v", id, termination, err)
	}
	if _, err := client.ModifyInstanceAttribute(t.Context(), &ec2.ModifyInstanceAttributeInput{
		InstanceId:     aws.String(id),
		DisableApiStop: &types.AttributeBooleanValue{Value: aws.Bool(stop)},
	}); err != nil {
		t.Fatalf("setting stop protection of %s to %t: %v", id, stop, err)
	}
}

// Stop stops the instances and waits until they are stopped.
func Stop(t testing.TB, cfg aws.Config, ids ...string) {
	t.Helper()
	client := ec2.NewFromConfig(cfg)
	if _, err := client.StopInstances(t.Context(), &ec2.StopInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatalf("stopping %v: %v", ids, err)
	}
	waiter := ec2.NewInstanceStoppedWaiter(client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := waiter.Wait(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: ids}, waitTimeout); err != nil {
		t.Fatalf("waiting for %v to stop: %v", ids, err)
	}
}

// Terminate terminates the instances and waits until they are terminated.
// It does not lift protections; see Protect.
func Terminate(t testing.TB, cfg aws.Config, ids ...string) {
	t.Helper()
	client := ec2.NewFromConfig(cfg)
	if _, err := client.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatalf("terminating %v: %v", ids, err)
	}
	waiter := ec2.NewInstanceTerminatedWaiter(client, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := waiter.Wait(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: ids}, waitTimeout); err != nil {
		t.Fatalf("waiting for %v to terminate: %v", ids, err)
	}
}

// State returns the state name of instance id (pending, running, stopping,
// stopped, shutting-down, terminated).
func State(t testing.TB, cfg aws.Config, id string) string {
	t.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("describing %s: %v", id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id && inst.State != nil {
				return string(inst.State.Name)
			}
		}
	}
	t.Fatalf("describing %s in %s: instance not in the answer", id, cfg.Region)
	return ""
}
