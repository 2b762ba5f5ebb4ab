package ec2xml_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// TestDecodeAsTheSDK decodes each case with Decode and with the SDK: Decode must take the
// answers it is meant to and read them exactly as the SDK does, and leave the others.
func TestDecodeAsTheSDK(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			took := checkBoth(t, []byte(c.body))
			if took != c.fast {
				_, err := ec2xml.Decode([]byte(c.body))
				t.Fatalf("Decode took the answer: %t, want %t (%v)", took, c.fast, err)
			}
		})
	}
}

// TestDecodeFieldValues pins what Decode reads from EC2's page, beside the SDK comparison.
func TestDecodeFieldValues(t *testing.T) {
	out, err := ec2xml.Decode([]byte(page(reservation(instance("i-1", "stopped",
		tag("a&amp;b", "&lt;&#233;&#x1F600;")+tag("empty", "")+replace(tag("missing", "x"), "<value>x</value>", ""),
		eni("1", "0", "2026-03-04T05:06:09.000Z")+eni("0", "0", "2026-03-04T05:06:10.000Z"))))))
	if err != nil {
		t.Fatal(err)
	}
	in := out.Reservations[0].Instances[0]
	if *in.InstanceId != "i-1" || in.State.Name != "stopped" || *in.Placement.AvailabilityZone != "us-east-1a" ||
		in.LaunchTime.Format("2006-01-02T15:04:05Z07:00") != "2026-03-04T05:06:07Z" || out.NextToken != nil {
		t.Errorf("instance %s", dump(out))
	}
	if len(in.Tags) != 3 || *in.Tags[0].Key != "a&b" || *in.Tags[0].Value != "<é😀" ||
		in.Tags[1].Value == nil || *in.Tags[1].Value != "" || in.Tags[2].Value != nil {
		t.Errorf("tags %s", dump(out))
	}
	if len(in.NetworkInterfaces) != 2 || *in.NetworkInterfaces[1].Attachment.DeviceIndex != 0 ||
		in.NetworkInterfaces[1].Attachment.AttachTime.Second() != 10 {
		t.Errorf("interfaces %s", dump(out))
	}
	if in.InstanceType != "" || in.ImageId != nil || out.Reservations[0].OwnerId != nil {
		t.Errorf("fields awsaudit does not read were filled: %+v", in)
	}
}

// TestDecodeErrorSaysWhere checks that a refusal names its place in the body.
func TestDecodeErrorSaysWhere(t *testing.T) {
	body := replace(stdPage, "<value>alice</value>", "<value>&nbsp;</value>")
	_, err := ec2xml.Decode([]byte(body))
	var se *ec2xml.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *SyntaxError", err)
	}
	if want := strings.Index(body, "&nbsp;"); se.Offset != want {
		t.Errorf("offset %d, want %d (%v)", se.Offset, want, err)
	}
}

// TestDecodeRecordedPages decodes the pages in testdata (moto_server's, recorded by
// TestDecodeMotoPages -record; EC2's shape, rendered by bench/endpoint): Decode must take them
// and read them as the SDK does.
func TestDecodeRecordedPages(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(pages) < 2 {
		t.Fatalf("%d pages in testdata: %v", len(pages), err)
	}
	for _, p := range pages {
		t.Run(filepath.Base(p), func(t *testing.T) {
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !checkBoth(t, body) {
				_, err := ec2xml.Decode(body)
				t.Fatalf("Decode left the page to the SDK: %v", err)
			}
		})
	}
}
