package document

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Sink is where documents go: an NDJSON file, Elasticsearch, several at once.
type Sink interface {
	// Write writes docs. When some are not written it returns an error; a *WriteError among
	// its wrapped errors lists exactly the documents that were not written, so a caller can spool
	// or re-queue them and lose nothing.
	Write(ctx context.Context, docs []Document) error
}

// Failure is one document a sink did not write, and why.
type Failure struct {
	Doc Document
	Err error
}

// WriteError lists the documents a sink did not write.
type WriteError struct {
	Sink   string
	Failed []Failure
}

// Error summarises the failures: how many, and the first few reasons.
func (e *WriteError) Error() string {
	var reasons []string
	seen := map[string]bool{}
	for _, f := range e.Failed {
		r := f.Err.Error()
		if !seen[r] && len(reasons) < 3 {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	return fmt.Sprintf("%s: %d document(s) not written: %s", e.Sink, len(e.Failed), strings.Join(reasons, "; "))
}

// Docs returns the documents that were not written.
func (e *WriteError) Docs() []Document {
	docs := make([]Document, len(e.Failed))
	for i, f := range e.Failed {
		docs[i] = f.Doc
	}
	return docs
}

// Unwritten returns the documents of a write of docs that err says were not written: those its
// *WriteErrors list, or all of docs when err does not say (nothing is assumed written). A
// document two sinks both failed to write is listed once.
func Unwritten(err error, docs []Document) []Document {
	wes := writeErrors(err)
	if len(wes) == 0 {
		return docs
	}
	var out []Document
	seen := map[[2]string]bool{}
	for _, we := range wes {
		for _, d := range we.Docs() {
			if k := [2]string{d.Index, d.ID}; !seen[k] {
				seen[k] = true
				out = append(out, d)
			}
		}
	}
	return out
}

func writeErrors(err error) []*WriteError {
	if err == nil {
		return nil
	}
	if we, ok := err.(*WriteError); ok {
		return []*WriteError{we}
	}
	var out []*WriteError
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, writeErrors(e)...)
		}
	case interface{ Unwrap() error }:
		out = writeErrors(u.Unwrap())
	}
	return out
}

// NDJSON writes documents in _bulk form (an action line, then the document) to a writer, so the
// output can be replayed into Elasticsearch with _bulk. It is safe for concurrent use.
type NDJSON struct {
	mu sync.Mutex
	w  io.Writer
}

// NewNDJSON returns a sink writing to w.
func NewNDJSON(w io.Writer) *NDJSON { return &NDJSON{w: w} }

// Write writes every document, or none when the writer fails.
func (s *NDJSON) Write(_ context.Context, docs []Document) error {
	var buf []byte
	for _, d := range docs {
		buf = AppendBulk(buf, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf); err != nil {
		failed := make([]Failure, len(docs))
		for i, d := range docs {
			failed[i] = Failure{Doc: d, Err: err}
		}
		return &WriteError{Sink: "ndjson", Failed: failed}
	}
	return nil
}

// Multi writes to every sink; its error joins theirs.
type Multi []Sink

// Write writes docs to each sink in turn, whatever the others did.
func (m Multi) Write(ctx context.Context, docs []Document) error {
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, docs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Discard is a sink that drops everything, for runs that write no documents.
type Discard struct{}

// Write drops docs.
func (Discard) Write(context.Context, []Document) error { return nil }

// WriteSpool writes docs in _bulk NDJSON form to a new file in dir named for the run, synced to
// disk, and returns its path. `awsaudit ship PATH` replays it.
func WriteSpool(dir, runID string, docs []Document) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating spool directory: %w", err)
	}
	name := "awsaudit-spool-" + strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == '\\' || r == ' ' {
			return '_'
		}
		return r
	}, runID) + ".ndjson"
	f, err := os.CreateTemp(dir, strings.TrimSuffix(name, ".ndjson")+"-*.ndjson")
	if err != nil {
		return "", fmt.Errorf("creating spool file: %w", err)
	}
	var buf []byte
	for _, d := range docs {
		buf = AppendBulk(buf, d)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return "", fmt.Errorf("writing spool file %s: %w", f.Name(), err)
	}
	// On disk before the path is named as holding the documents: a crash or power loss after
	// the caller reports them spooled must not leave an empty or truncated file.
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("syncing spool file %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("closing spool file %s: %w", f.Name(), err)
	}
	return filepath.Clean(f.Name()), nil
}
