package mototest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// AutoScalingGroupTag is the tag EC2 Auto Scaling puts on group members.
const AutoScalingGroupTag = "aws:autoscaling:groupName"

// RunAutoScalingMember launches instances that look like members of Auto
// Scaling group: spec's tags plus AutoScalingGroupTag=group, appended last as
// Auto Scaling does. It returns their ids.
//
// It fakes membership with RunInstances TagSpecifications, which only moto
// allows (AWS refuses user tags with the aws: prefix). moto 5.2.1 can also
// run a real group (CreateLaunchTemplate + CreateAutoScalingGroup launch
// members tagged like this, plus aws:ec2launchtemplate:id/version), but
// that needs github.com/aws/aws-sdk-go-v2/service/autoscaling, which is not
// in go.mod. A fake member is not known to moto's Auto Scaling: terminating
// it does not make a group launch a replacement.
func RunAutoScalingMember(t testing.TB, cfg aws.Config, group string, spec Spec) []string {
	t.Helper()
	spec.Tags = append(append([]Tag(nil), spec.Tags...), Tag{Key: AutoScalingGroupTag, Value: group})
	return RunInstance(t, cfg, spec)
}
