package document_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/document"
)

var benchT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func benchHeader() document.Header {
	return document.Header{
		Timestamp: document.At(benchT0), RunID: "sweep-123456789012-20261126T120000.000Z", Source: document.SourceSweep,
		Account: "example-prod", AccountID: "123456789012", TagScheme: "created_by,department,project", Action: "terminate",
	}
}

// benchViolator is a typical violator document: eight tags, one missing and one invalid.
func benchViolator(i int) *document.Violator {
	f := false
	return &document.Violator{
		Header: benchHeader(), ID: fmt.Sprintf("i-0%016x", 0xabc00+i), Region: "us-west-2", AvailabilityZone: "us-west-2a", State: "running",
		Tags: []string{"Name=scratch-00017", "created_by=bob", "department=  ", "environment=production", "cost-center=cc-4410",
			"team=platform", "application=storefront", "owner=ops@example.com"},
		Age: 125.5, LaunchTime: document.At(benchT0.Add(-125*time.Minute - 30*time.Second)),
		Verdict: "violator", MissingTags: []string{"project"}, InvalidTags: []string{"department=  "},
		Problems: []string{"missing project", `department="  ": blank value`},
		Outcome:  document.Terminated, DisableAPITermination: &f, DisableAPIStop: &f,
	}
}

// BenchmarkDocument is the encoding of the documents a sweep writes: New of one violator
// document, AppendBulk of it into a _bulk body, and New of a rollup listing 1,000 violators (the
// most a rollup lists).
func BenchmarkDocument(b *testing.B) {
	b.Run("new-violator", func(b *testing.B) {
		v := benchViolator(0)
		b.ReportAllocs()
		var d document.Document
		for b.Loop() {
			var err error
			if d, err = document.New(document.DefaultViolatorIndex, "run:i-1", document.OpIndex, v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(d.Body)), "body-bytes")
	})
	b.Run("append-bulk", func(b *testing.B) {
		d, err := document.New(document.DefaultViolatorIndex, document.ViolatorID("sweep-123456789012-20261126T120000.000Z", "i-0abc"), document.OpIndex, benchViolator(0))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			buf = document.AppendBulk(buf[:0], d)
		}
		b.ReportMetric(float64(len(buf)), "bulk-bytes")
	})
	b.Run("new-rollup-1000", func(b *testing.B) {
		r := document.NewRollup(benchHeader())
		r.InstanceCount = 100000
		for i := range document.MaxRollupViolators {
			r.AddViolator(benchViolator(i))
		}
		r.RegionsVerified = []string{"eu-west-1", "us-east-1", "us-west-2"}
		b.ReportAllocs()
		var d document.Document
		for b.Loop() {
			var err error
			if d, err = document.New(document.DefaultAuditIndex, "run", document.OpIndex, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(d.Body)), "body-bytes")
	})
}
