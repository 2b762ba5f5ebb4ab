package enforcer

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DescribeAPI is the listing half of the EC2 API; *ec2.Client satisfies it, and so does the
// SDK's paginator input.
type DescribeAPI interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// EC2API is the part of the EC2 API the safe actions call.
type EC2API interface {
	DescribeAPI
	DescribeInstanceAttribute(ctx context.Context, in *ec2.DescribeInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error)
	ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

// ListedStates are the instance states the sweep lists: every state an instance that costs
// money (or can again) is in.
var ListedStates = []string{"pending", "running", "stopping", "stopped"}

// FromEC2 converts an instance as DescribeInstances returned it. The EC2 clients' decoder
// (internal/ec2xml) fills only the fields read here; a field awsaudit starts to read from a
// listing must be added there too (its tests compare FromEC2 of both decoders' output).
func FromEC2(region string, in *types.Instance) Instance {
	out := Instance{
		ID:     aws.ToString(in.InstanceId),
		Region: region,
	}
	if in.State != nil {
		out.State = string(in.State.Name)
	}
	if in.Placement != nil {
		out.AvailabilityZone = aws.ToString(in.Placement.AvailabilityZone)
	}
	out.LaunchTime = aws.ToTime(in.LaunchTime)
	for _, ni := range in.NetworkInterfaces {
		// The primary interface: device index 0 on network card 0 (instances with several
		// network cards have a device 0 on each).
		if a := ni.Attachment; a != nil && aws.ToInt32(a.DeviceIndex) == 0 && aws.ToInt32(a.NetworkCardIndex) == 0 {
			out.AttachTime = aws.ToTime(a.AttachTime)
			break
		}
	}
	if len(in.Tags) > 0 {
		out.Tags = make([]Tag, len(in.Tags))
		for i, t := range in.Tags {
			out.Tags[i] = Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)}
		}
	}
	return out
}

// filterChunk is how many instance ids go into one instance-id filter; EC2 takes up to 200
// values per filter.
const filterChunk = 200

// ReadInstances reads the given instances again, in every state, with the instance-id filter:
// unlike InstanceIds, a filter does not fail the whole call when one instance is gone. Absent
// instances are absent from the result.
func ReadInstances(ctx context.Context, api DescribeAPI, region string, ids []string) (map[string]Instance, error) {
	out := make(map[string]Instance, len(ids))
	for start := 0; start < len(ids); start += filterChunk {
		chunk := ids[start:min(start+filterChunk, len(ids))]
		in := &ec2.DescribeInstancesInput{
			Filters:    []types.Filter{{Name: aws.String("instance-id"), Values: chunk}},
			MaxResults: aws.Int32(1000),
		}
		p := ec2.NewDescribeInstancesPaginator(api, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading %d instance(s) in %s: %w", len(chunk), region, err)
			}
			for _, r := range page.Reservations {
				for i := range r.Instances {
					inst := FromEC2(region, &r.Instances[i])
					out[inst.ID] = inst
				}
			}
		}
	}
	return out, nil
}
