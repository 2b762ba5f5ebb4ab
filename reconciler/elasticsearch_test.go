package reconciler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// The sweep's documents land in Elasticsearch (the project's ES 8 test server, strict mappings)
// exactly as decided: field by field the same as the NDJSON the same sweep wrote.
func TestSweepWritesToElasticsearch(t *testing.T) {
	e := newEnv(t)
	es := estest.Start(t)
	sink, err := essink.New(essink.Config{URL: es.URL, Indices: document.DefaultIndices()})
	if err != nil {
		t.Fatal(err)
	}
	var ndjson bytes.Buffer
	sw := e.sweeper(policy(t, enforcer.ActionTerminate), &ndjson)
	sw.Sink = document.Multi{document.NewNDJSON(&ndjson), sink}
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.WriteErr != nil {
		t.Fatalf("write error: %v", rep.WriteErr)
	}
	docs, err := document.ReadBulk(&ndjson)
	if err != nil {
		t.Fatal(err)
	}
	if got := es.Count(document.DefaultViolatorIndex) + es.Count(document.DefaultAuditIndex); got != len(docs) {
		t.Fatalf("%d documents in Elasticsearch, %d in the NDJSON", got, len(docs))
	}
	for _, d := range docs {
		stored, ok := es.Doc(d.Index, d.ID)
		if !ok {
			t.Errorf("%s/%s not in Elasticsearch", d.Index, d.ID)
			continue
		}
		var want map[string]any
		if err := json.Unmarshal(d.Body, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stored.Source, want) {
			t.Errorf("%s/%s differs:\n  es: %v\nfile: %v", d.Index, d.ID, stored.Source, want)
		}
	}
	// A second write of the same run (a retry) leaves one copy of each.
	if err := sink.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if got := es.Count(document.DefaultViolatorIndex) + es.Count(document.DefaultAuditIndex); got != len(docs) {
		t.Fatalf("after a rewrite: %d documents, want %d", got, len(docs))
	}
}
