package endpoint_test

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/awsaudit/awsaudit/bench/endpoint"
	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// TestEC2XMLReadsThePagesAsTheSDK decodes every page of a fleet, as EC2 indents it and compacted
// as moto sends it, with ec2xml and with the SDK: ec2xml must take each page and read each
// instance as the SDK does, and the listing through a client using an ec2xml.Decoder must be the
// fleet.
func TestEC2XMLReadsThePagesAsTheSDK(t *testing.T) {
	f := fleet.Fleet{Base: base, Regions: []fleet.Region{{Name: "us-east-1", Instances: 2100, Violators: 21}, {Name: "sa-east-1", Instances: 3, Violators: 1}}}
	for _, r := range f.Regions {
		for n, last := 0, false; !last; n++ {
			var page []byte
			page, last = endpoint.Page(f, r.Name, n, 1000)
			for _, body := range [][]byte{page, compactXML(page)} {
				fast, err := ec2xml.Decode(body)
				if err != nil {
					t.Fatalf("%s page %d: ec2xml left it to the SDK: %v", r.Name, n, err)
				}
				sdk, err := ec2.NewFromConfig(endpoint.InMemoryConfig(body, r.Name)).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(fast.NextToken) != aws.ToString(sdk.NextToken) || (fast.NextToken == nil) != last || len(fast.Reservations) != len(sdk.Reservations) {
					t.Fatalf("%s page %d: token %v and %d reservations, the SDK's %v and %d", r.Name, n,
						fast.NextToken, len(fast.Reservations), sdk.NextToken, len(sdk.Reservations))
				}
				for i, res := range sdk.Reservations {
					if len(fast.Reservations[i].Instances) != len(res.Instances) {
						t.Fatalf("%s page %d reservation %d: %d instances, the SDK's %d", r.Name, n, i, len(fast.Reservations[i].Instances), len(res.Instances))
					}
					for j := range res.Instances {
						want := enforcer.FromEC2(r.Name, &res.Instances[j])
						if got := enforcer.FromEC2(r.Name, &fast.Reservations[i].Instances[j]); !reflect.DeepEqual(got, want) {
							t.Fatalf("%s page %d reservation %d: %+v, the SDK's %+v", r.Name, n, i, got, want)
						}
					}
				}
			}
		}
	}

	srv, err := endpoint.Start(f)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, r := range f.Regions {
		pages := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(endpoint.Config(srv.URL, r.Name), ec2xml.New(nil).Use), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
		i := 0
		for pages.HasMorePages() {
			page, err := pages.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range page.Reservations {
				for j := range res.Instances {
					got, want := enforcer.FromEC2(r.Name, &res.Instances[j]), f.Instance(r, i)
					if got.ID != want.ID || got.State != want.State || got.AvailabilityZone != want.Zone || !got.LaunchTime.Equal(want.LaunchTime) ||
						!got.AttachTime.Equal(want.AttachTime) || len(got.Tags) != len(want.Tags) {
						t.Fatalf("%s instance %d: %+v, want %+v", r.Name, i, got, want)
					}
					for k, tag := range want.Tags {
						if got.Tags[k] != (enforcer.Tag{Key: tag.Key, Value: tag.Value}) {
							t.Fatalf("%s instance %d tag %d: %+v, want %+v", r.Name, i, k, got.Tags[k], tag)
						}
					}
					i++
				}
			}
		}
		if i != r.Instances {
			t.Errorf("%s: %d instances listed, want %d", r.Name, i, r.Instances)
		}
	}
}
