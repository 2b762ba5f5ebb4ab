// Package seed launches a benchmark fleet (package fleet) in moto_server: per region the canary
// (stopped), the compliant instances and the violators, each group launched with RunInstances
// MinCount = MaxCount = a batch, since moto launches a batch of hundreds in about the time a few
// single launches take. An instance takes the tags of the first instance of its batch, so a
// batch shares its Name; what the policy makes of each instance is still the fleet's.
package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/bench/fleet"
)

// ImageID is an AMI in moto's catalogue.
const ImageID = "ami-12c6146b"

// Options tune the launches.
type Options struct {
	// Batch is the most compliant instances per RunInstances call (default 250).
	Batch int
	// ViolatorBatch is the most violators per call (default 25); 1 gives each violator its own
	// reservation, so it can be protected on its own.
	ViolatorBatch int
	// Progress, when set, is told about each region seeded.
	Progress func(region string, instances int, took time.Duration)
}

// Region is what was launched in one region.
type Region struct {
	Name string
	// Reservations counts the RunInstances calls: moto's MaxResults counts reservations, so a
	// listing takes ceil(Reservations/1000) pages there.
	Reservations int
	Instances    int
	Canary       string
	Violators    []string
	Compliant    []string
}

// Seed launches f in the moto_server cfg points at (cfg.Region is overridden per region).
func Seed(ctx context.Context, cfg aws.Config, f fleet.Fleet, o Options) ([]Region, error) {
	if o.Batch <= 0 {
		o.Batch = 250
	}
	if o.ViolatorBatch <= 0 {
		o.ViolatorBatch = 25
	}
	var out []Region
	for _, r := range f.Regions {
		t0 := time.Now()
		client := ec2.NewFromConfig(cfg, func(opt *ec2.Options) { opt.Region = r.Name })
		sr := Region{Name: r.Name}
		ids, err := launch(ctx, client, r.Name, 0, 1, fleet.CanaryTags(r.Name))
		if err != nil {
			return nil, err
		}
		sr.Canary = ids[0]
		sr.Reservations++
		if err := Stop(ctx, client, ids...); err != nil {
			return nil, err
		}
		// Group the instances by kind, in fleet order, and launch each group in batches.
		var compliant, violators []int
		for i := 1; i < r.Instances; i++ {
			if r.KindOf(i) == fleet.Violator {
				violators = append(violators, i)
			} else {
				compliant = append(compliant, i)
			}
		}
		for start := 0; start < len(compliant); start += o.Batch {
			batch := compliant[start:min(start+o.Batch, len(compliant))]
			in := f.Instance(r, batch[0])
			ids, err := launch(ctx, client, r.Name, start/o.Batch, len(batch), fleet.CompliantTags(in.Index))
			if err != nil {
				return nil, err
			}
			sr.Compliant = append(sr.Compliant, ids...)
			sr.Reservations++
		}
		for start := 0; start < len(violators); start += o.ViolatorBatch {
			batch := violators[start:min(start+o.ViolatorBatch, len(violators))]
			in := f.Instance(r, batch[0])
			ids, err := launch(ctx, client, r.Name, start/o.ViolatorBatch, len(batch), fleet.ViolatorTags(in.Seq, in.Index))
			if err != nil {
				return nil, err
			}
			sr.Violators = append(sr.Violators, ids...)
			sr.Reservations++
		}
		sr.Instances = 1 + len(sr.Compliant) + len(sr.Violators)
		if o.Progress != nil {
			o.Progress(r.Name, sr.Instances, time.Since(t0))
		}
		out = append(out, sr)
	}
	return out, nil
}

// launch runs count instances with tags in zone a, b or c of region by batch number.
func launch(ctx context.Context, client *ec2.Client, region string, batch, count int, tags []fleet.Tag) ([]string, error) {
	tt := make([]types.Tag, len(tags))
	for i, t := range tags {
		tt[i] = types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	out, err := client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId:           aws.String(ImageID),
		InstanceType:      types.InstanceTypeT3Micro,
		MinCount:          aws.Int32(int32(count)),
		MaxCount:          aws.Int32(int32(count)),
		Placement:         &types.Placement{AvailabilityZone: aws.String(region + string(rune('a'+batch%3)))},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tt}},
	})
	if err != nil {
		return nil, fmt.Errorf("running %d instances in %s: %w", count, region, err)
	}
	ids := make([]string, len(out.Instances))
	for i, in := range out.Instances {
		ids[i] = aws.ToString(in.InstanceId)
	}
	return ids, nil
}

// Stop stops the instances and waits until they are stopped.
func Stop(ctx context.Context, client *ec2.Client, ids ...string) error {
	if _, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids}); err != nil {
		return fmt.Errorf("stopping %v: %w", ids, err)
	}
	w := ec2.NewInstanceStoppedWaiter(client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 30*time.Second); err != nil {
		return fmt.Errorf("waiting for %v to stop: %w", ids, err)
	}
	return nil
}

// Protect turns termination or stop protection on for id.
func Protect(ctx context.Context, client *ec2.Client, id string, termination, stop bool) error {
	if termination {
		if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("protecting %s from termination: %w", id, err)
		}
	}
	if stop {
		if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), DisableApiStop: &types.AttributeBooleanValue{Value: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("protecting %s from stopping: %w", id, err)
		}
	}
	return nil
}
