package endpoint_test

import (
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/bench/endpoint"
	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// pageFleet is one region whose first page holds 1,000 instances, 1% of them violators.
var pageFleet = fleet.Fleet{Base: base, Regions: []fleet.Region{{Name: "us-east-1", Instances: 2000, Violators: 20}}}

// BenchmarkSDKDescribeInstancesPage is what the SDK alone costs per listed instance: one
// DescribeInstances call whose answer is a page of 1,000 realistic instances, decoded by the
// SDK's EC2 query deserializer. in-memory answers from memory (serializing, signing, middleware
// and XML decoding only), in-memory-compact the same page without indentation (as moto answers);
// http adds a loopback HTTP round trip to the bench endpoint.
func BenchmarkSDKDescribeInstancesPage(b *testing.B) { benchmarkPage(b) }

// BenchmarkFastDescribeInstancesPage is the same with the client awsaudit builds: ec2xml decodes
// the answer (a Decoder's Use, as awsapi.Clients builds EC2 clients).
func BenchmarkFastDescribeInstancesPage(b *testing.B) { benchmarkPage(b, ec2xml.New(nil).Use) }

func benchmarkPage(b *testing.B, opts ...func(*ec2.Options)) {
	page, _ := endpoint.Page(pageFleet, "us-east-1", 0, 1000)
	in := &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: aws.String("instance-state-name"), Values: enforcer.ListedStates}},
		MaxResults: aws.Int32(1000),
	}
	run := func(b *testing.B, client *ec2.Client) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			out, err := client.DescribeInstances(b.Context(), in)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out.Reservations)
		}
		if n != 1000 {
			b.Fatalf("%d reservations decoded, want 1000", n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/instance")
	}
	b.Run("in-memory", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		run(b, ec2.NewFromConfig(endpoint.InMemoryConfig(page, "us-east-1"), opts...))
	})
	// EC2 indents its XML; moto does not. The decoder's cost follows the bytes.
	b.Run("in-memory-compact", func(b *testing.B) {
		compact := compactXML(page)
		b.SetBytes(int64(len(compact)))
		run(b, ec2.NewFromConfig(endpoint.InMemoryConfig(compact, "us-east-1"), opts...))
	})
	b.Run("http", func(b *testing.B) {
		srv, err := endpoint.Start(pageFleet)
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		b.SetBytes(int64(len(page)))
		run(b, ec2.NewFromConfig(endpoint.Config(srv.URL, "us-east-1"), opts...))
	})
}

var between = regexp.MustCompile(`>\s+<`)

// compactXML drops the indentation between elements, as moto answers.
func compactXML(page []byte) []byte { return between.ReplaceAll(page, []byte("><")) }
