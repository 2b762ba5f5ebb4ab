package mototest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CanaryTags are the tags of the default canary instance in region, in the
// order CreateCanary applies them.
func CanaryTags(region string) []Tag {
	return []Tag{
		{Key: "created_by", Value: "cody"},
		{Key: "project", Value: "API canary"},
		{Key: "department", Value: "sysops"},
		{Key: "Name", Value: "api-canary-" + region},
	}
}

// CreateCanary launches the default canary instance in region (overriding
// cfg's region) with CanaryTags, stops it, waits until it is stopped and
// returns its id.
func CreateCanary(t testing.TB, cfg aws.Config, region string) string {
	t.Helper()
	cfg.Region = region
	id := RunInstance(t, cfg, Spec{Tags: CanaryTags(region)})[0]
	Stop(t, cfg, id)
	return id
}
