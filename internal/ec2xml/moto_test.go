package ec2xml_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

var record = flag.Bool("record", false, "write the first moto page of TestDecodeMotoPages to testdata/moto-page.xml")

// recorder keeps the DescribeInstances answers its client receives.
type recorder struct {
	inner aws.HTTPClient
	mu    sync.Mutex
	pages [][]byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.Do(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte("<DescribeInstancesResponse")) {
		r.mu.Lock()
		r.pages = append(r.pages, body)
		r.mu.Unlock()
	}
	return resp, nil
}

// TestDecodeMotoPages launches instances of every shape awsaudit meets in moto_server — tags
// with XML's special characters, non-ASCII, blank and empty values, 50 tags, several network
// interfaces, stopped and terminated instances, several reservations — and lists them the ways
// awsaudit does (the sweep's state filter in small pages, the second read's instance-id
// filter, the canary's tag filter). Decode must take every page moto answers and read it as the
// SDK does, and a client with Use must list the same instances as the SDK alone.
func TestDecodeMotoPages(t *testing.T) {
	srv := mototest.Start(t)
	cfg := srv.AWSConfig(t, "us-east-1")

	special := []mototest.Tag{
		{Key: "created_by", Value: "alice"},
		{Key: "a&b", Value: `<x> & "q" 'y'`},
		{Key: "Ünïcödé", Value: "日本語 😀 é"},
		{Key: "empty", Value: ""},
		{Key: "blank", Value: "   "},
		{Key: "tab\tand space", Value: "line one\nline two"},
		{Key: "]]>", Value: "<![CDATA[x]]>"},
	}
	ids := mototest.RunInstance(t, cfg, mototest.Spec{Count: 3, Tags: special})
	var many []mototest.Tag
	for i := range 50 {
		many = append(many, mototest.Tag{Key: fmt.Sprintf("key-%02d", i), Value: strings.Repeat("v", i)})
	}
	ids = append(ids, mototest.RunInstance(t, cfg, mototest.Spec{Tags: many, AvailabilityZone: "us-east-1b"})...)
	ids = append(ids, mototest.RunInstance(t, cfg, mototest.Spec{Count: 2})...)
	ids = append(ids, mototest.CreateCanary(t, cfg, "us-east-1"))
	ids = append(ids, runWithInterfaces(t, cfg))
	mototest.Stop(t, cfg, ids[1], ids[3])
	mototest.Terminate(t, cfg, ids[4])
	for range 6 {
		ids = append(ids, mototest.RunInstance(t, cfg, mototest.Spec{Tags: []mototest.Tag{{Key: "project", Value: "p&q"}}})...)
	}

	rec := &recorder{inner: cfg.HTTPClient}
	cfg.HTTPClient = rec
	plain := ec2.NewFromConfig(cfg)
	fast := ec2.NewFromConfig(cfg, ec2xml.New(nil).Use)
	inputs := []*ec2.DescribeInstancesInput{
		{},
		{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: enforcer.ListedStates}}, MaxResults: aws.Int32(5)},
		{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids[:4]}}, MaxResults: aws.Int32(1000)},
		{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"api-canary-us-east-1"}}}},
		{InstanceIds: ids[5:7]},
	}
	listed := 0
	for _, in := range inputs {
		got := list(t, fast, in)
		want := list(t, plain, in)
		if len(got) != len(want) {
			t.Fatalf("%d pages with Use, %d without", len(got), len(want))
		}
		for i := range got {
			if d := sameAsSDK(got[i], want[i]); d != "" {
				t.Fatalf("input %+v page %d: %s", in, i, d)
			}
			for _, r := range got[i].Reservations {
				listed += len(r.Instances)
			}
		}
	}
	if listed < len(ids)+5 {
		t.Fatalf("%d instances listed in all, want at least %d: the listings missed instances", listed, len(ids)+5)
	}

	if len(rec.pages) < 2*len(inputs) {
		t.Fatalf("%d pages recorded", len(rec.pages))
	}
	for i, body := range rec.pages {
		if !checkBoth(t, body) {
			_, err := ec2xml.Decode(body)
			t.Fatalf("page %d: Decode left moto's page to the SDK: %v\n%s", i, err, body)
		}
	}
	if *record {
		if err := os.WriteFile(filepath.Join("testdata", "moto-page.xml"), rec.pages[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// list pages through a listing and returns every page.
func list(t *testing.T, api ec2.DescribeInstancesAPIClient, in *ec2.DescribeInstancesInput) []*ec2.DescribeInstancesOutput {
	t.Helper()
	var pages []*ec2.DescribeInstancesOutput
	p := ec2.NewDescribeInstancesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing %+v: %v", in, err)
		}
		pages = append(pages, page)
	}
	return pages
}

// runWithInterfaces launches an instance with three network interfaces and returns its id.
func runWithInterfaces(t *testing.T, cfg aws.Config) string {
	t.Helper()
	client := ec2.NewFromConfig(cfg)
	subnets, err := client.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{})
	if err != nil || len(subnets.Subnets) == 0 {
		t.Fatalf("finding a subnet: %v", err)
	}
	subnet := subnets.Subnets[0].SubnetId
	var enis []types.InstanceNetworkInterfaceSpecification
	for i := range int32(3) {
		enis = append(enis, types.InstanceNetworkInterfaceSpecification{DeviceIndex: aws.Int32(i), SubnetId: subnet})
	}
	out, err := client.RunInstances(t.Context(), &ec2.RunInstancesInput{
		ImageId: aws.String(mototest.DefaultImageID), InstanceType: mototest.DefaultInstanceType,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), NetworkInterfaces: enis,
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("enis"), Value: aws.String("3")}}}},
	})
	if err != nil {
		t.Fatalf("running an instance with interfaces: %v", err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}
