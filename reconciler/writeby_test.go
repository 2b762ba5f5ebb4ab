package reconciler_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/document"
)

// hangingSink is an Elasticsearch that never answers: a write lasts until its context ends, and
// then nothing is written. It keeps the deadline the write was given.
type hangingSink struct {
	deadline    time.Time
	hasDeadline bool
}

func (s *hangingSink) Write(ctx context.Context, docs []document.Document) error {
	s.deadline, s.hasDeadline = ctx.Deadline()
	<-ctx.Done()
	we := &document.WriteError{Sink: "hanging"}
	for _, d := range docs {
		we.Failed = append(we.Failed, document.Failure{Doc: d, Err: ctx.Err()})
	}
	return we
}

// WriteBy bounds the write: a sink that never answers gives up at WriteBy, and the report says
// which documents were not written (all of them), for the caller to spool in the time left.
func TestSweepWriteByBoundsTheWrite(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	sw := e.sweeper(policy(t, enforcer.ActionReport), &buf)
	sink := &hangingSink{}
	sw.Sink = sink
	writeBy := time.Now().Add(500 * time.Millisecond)
	sw.WriteBy = func() time.Time { return writeBy }
	rep, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sink.hasDeadline || !sink.deadline.Equal(writeBy) {
		t.Fatalf("the write's deadline is %v (set: %t), want WriteBy %v", sink.deadline, sink.hasDeadline, writeBy)
	}
	var we *document.WriteError
	if !errors.As(rep.WriteErr, &we) || !errors.Is(we.Failed[0].Err, context.DeadlineExceeded) {
		t.Fatalf("write error %v", rep.WriteErr)
	}
	if unwritten := document.Unwritten(rep.WriteErr, rep.Documents); len(unwritten) != len(rep.Documents) || len(rep.Documents) < 2 {
		t.Fatalf("%d of %d documents reported unwritten", len(unwritten), len(rep.Documents))
	}
}

// Without WriteBy the write keeps no deadline of the run's context (the CLI writes whatever
// happened to the run).
func TestSweepWritesWithoutTheRunsDeadline(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	sw := e.sweeper(policy(t, enforcer.ActionReport), &buf)
	var rec deadlineSink
	sw.Sink = document.Multi{document.NewNDJSON(&buf), &rec}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	rep, err := sw.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.WriteErr != nil || !rec.called || rec.hasDeadline {
		t.Fatalf("write error %v, called %t, deadline set %t", rep.WriteErr, rec.called, rec.hasDeadline)
	}
}

// deadlineSink writes nothing and records whether the write had a deadline.
type deadlineSink struct{ called, hasDeadline bool }

func (s *deadlineSink) Write(ctx context.Context, _ []document.Document) error {
	_, s.hasDeadline = ctx.Deadline()
	s.called = true
	return nil
}
