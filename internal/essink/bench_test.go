package essink_test

import (
	"testing"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// BenchmarkWrite writes a sweep's 1,000 violator documents (two _bulk requests at the default
// batch size) to the test server, over loopback HTTP. The documents keep their ids, so each
// iteration replaces the previous one's, as a rerun of a sweep does.
func BenchmarkWrite(b *testing.B) {
	srv := estest.Start(b)
	cfg := fastConfig(b, srv)
	cfg.Log = nil
	s := newSink(b, cfg)
	if err := s.EnsureTemplates(bg); err != nil {
		b.Fatal(err)
	}
	docs := violatorDocs(b, "bench", 1000)
	size := 0
	for _, d := range docs {
		size += len(document.AppendBulk(nil, d))
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(bg, docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(docs)*b.N)/b.Elapsed().Seconds(), "docs/s")
	if n := srv.Count(document.DefaultViolatorIndex); n != len(docs) {
		b.Fatalf("%d documents stored, want %d", n, len(docs))
	}
}
