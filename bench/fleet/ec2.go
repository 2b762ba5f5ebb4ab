package fleet

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 returns the instance as the SDK decodes it from a DescribeInstances page, with the fields
// awsaudit reads and the network interface it takes the attachment time from.
func (in *Instance) EC2() types.Instance {
	tags := make([]types.Tag, len(in.Tags))
	for i, t := range in.Tags {
		tags[i] = types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	code := int32(16)
	if in.State == "stopped" {
		code = 80
	}
	return types.Instance{
		InstanceId:   aws.String(in.ID),
		InstanceType: types.InstanceType(in.Type),
		State:        &types.InstanceState{Name: types.InstanceStateName(in.State), Code: aws.Int32(code)},
		Placement:    &types.Placement{AvailabilityZone: aws.String(in.Zone), Tenancy: types.TenancyDefault},
		LaunchTime:   aws.Time(in.LaunchTime),
		NetworkInterfaces: []types.InstanceNetworkInterface{{
			Attachment: &types.InstanceNetworkInterfaceAttachment{DeviceIndex: aws.Int32(0), AttachTime: aws.Time(in.AttachTime), Status: types.AttachmentStatusAttached},
		}},
		Tags: tags,
	}
}
