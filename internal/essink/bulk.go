package essink

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// bulkFilter keeps only what the sink reads of a _bulk answer.
var bulkFilter = []string{"errors", "items.*.status", "items.*.error"}

// Write writes docs with _bulk, in batches of at most BatchDocs documents and BatchBytes bytes,
// checking every item. Items failed with 429 or 5xx are sent again, up to ItemRetryMax times; a
// create that finds its document already there (409) counts as written. Whatever was not
// written is listed in the returned *document.WriteError, each with its reason, in the order of
// docs.
func (s *Sink) Write(ctx context.Context, docs []document.Document) error {
	if len(docs) == 0 {
		return nil
	}
	if err := s.EnsureTemplates(ctx); err != nil {
		return writeError(failAll(nil, allPositions(len(docs)), fmt.Errorf("not sent: %w", err)), docs)
	}
	// A document _bulk cannot express would fail its whole batch: it fails alone, unsent.
	var failed []failure
	valid := make([]int, 0, len(docs))
	for i, d := range docs {
		if (d.Op != document.OpIndex && d.Op != document.OpCreate) || d.Index == "" || d.ID == "" {
			failed = append(failed, failure{pos: i, err: fmt.Errorf("%q %s/%s: not sent: a document needs an index, an id, and the op index or create", d.Op, d.Index, d.ID)})
			continue
		}
		valid = append(valid, i)
	}
	enc := encode(docs)
	var abort error
	for start := 0; start < len(valid); {
		end := enc.batchEnd(valid, start, s.cfg.BatchDocs, s.cfg.BatchBytes)
		batch := valid[start:end]
		start = end
		if abort == nil && ctx.Err() != nil {
			abort = ctx.Err()
		}
		if abort != nil {
			failed = failAll(failed, batch, fmt.Errorf("not sent after an earlier batch failed: %w", abort))
			continue
		}
		f, err := s.writeBatch(ctx, docs, enc, batch)
		failed = append(failed, f...)
		abort = err
	}
	if len(failed) > 0 {
		return writeError(failed, docs)
	}
	return nil
}

// failure is one document not written: its position in the call's docs, and why.
type failure struct {
	pos int
	err error
}

func failAll(failed []failure, pos []int, err error) []failure {
	for _, p := range pos {
		failed = append(failed, failure{pos: p, err: err})
	}
	return failed
}

func writeError(failed []failure, docs []document.Document) *document.WriteError {
	slices.SortStableFunc(failed, func(a, b failure) int { return cmp.Compare(a.pos, b.pos) })
	we := &document.WriteError{Sink: sinkName, Failed: make([]document.Failure, len(failed))}
	for i, f := range failed {
		we.Failed[i] = document.Failure{Doc: docs[f.pos], Err: f.err}
	}
	return we
}

func allPositions(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// encoded is the call's documents in _bulk form, encoded once: document i is
// buf[off[i]:off[i+1]].
type encoded struct {
	buf []byte
	off []int
}

func encode(docs []document.Document) encoded {
	size := 0
	for _, d := range docs {
		size += len(d.Body) + len(d.Index) + len(d.ID) + 40
	}
	e := encoded{buf: make([]byte, 0, size), off: make([]int, len(docs)+1)}
	for i, d := range docs {
		e.buf = document.AppendBulk(e.buf, d)
		e.off[i+1] = len(e.buf)
	}
	return e
}

// batchEnd returns the end (in pos) of the batch starting at pos[start]: as many documents as
// fit in maxDocs and maxBytes, and at least one.
func (e encoded) batchEnd(pos []int, start, maxDocs, maxBytes int) int {
	size := e.size(pos[start])
	end := start + 1
	for end < len(pos) && end-start < maxDocs && size+e.size(pos[end]) <= maxBytes {
		size += e.size(pos[end])
		end++
	}
	return end
}

func (e encoded) size(p int) int { return e.off[p+1] - e.off[p] }

// body returns the NDJSON of the documents at pos: a slice of buf when they are contiguous.
func (e encoded) body(pos []int) []byte {
	first, last := pos[0], pos[len(pos)-1]
	if last-first == len(pos)-1 {
		return e.buf[e.off[first]:e.off[last+1]]
	}
	var b []byte
	for _, p := range pos {
		b = append(b, e.buf[e.off[p]:e.off[p+1]]...)
	}
	return b
}

// writeBatch sends one batch and resends its items that failed with 429 or 5xx. It returns the
// documents not written and, when the request itself failed in a way later batches would share
// (Elasticsearch unavailable, credentials refused, the context ended), that error.
func (s *Sink) writeBatch(ctx context.Context, docs []document.Document, enc encoded, pending []int) ([]failure, error) {
	var failed []failure
	for round := 0; ; round++ {
		items, err := s.bulk(ctx, enc.body(pending), len(pending))
		if err != nil {
			failed = failAll(failed, pending, err)
			if ctx.Err() != nil || errors.Is(err, ErrUnavailable) || IsAuth(err) {
				return failed, err
			}
			return failed, nil
		}
		var (
			retry    []int
			retryErr []error
			existed  int
		)
		for i, it := range items {
			p := pending[i]
			ie := s.itemError(docs[p], it)
			switch {
			case ie == nil:
				if it.Status == http.StatusConflict {
					existed++
				}
			case ie.Status == http.StatusTooManyRequests || ie.Status >= 500:
				retry = append(retry, p)
				retryErr = append(retryErr, ie)
			default:
				failed = append(failed, failure{pos: p, err: ie})
			}
		}
		if existed > 0 {
			s.cfg.Log.Debug("documents already in Elasticsearch; the first one written is kept", logkey.Count, existed)
		}
		if len(retry) == 0 {
			return failed, nil
		}
		if round >= s.cfg.ItemRetryMax {
			for i, p := range retry {
				failed = append(failed, failure{pos: p, err: fmt.Errorf("after %d attempts: %w", round+1, retryErr[i])})
			}
			return failed, nil
		}
		wait := jitter(s.cfg.RetryWaitMin, s.cfg.RetryWaitMax, round)
		s.cfg.Log.Warn("Elasticsearch refused some documents for now; sending them again", logkey.Count, len(retry),
			logkey.Attempt, round+2, logkey.Reason, retryErr[0].Error(), "wait_ms", wait.Milliseconds())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return failAll(failed, retry, fmt.Errorf("%w while waiting to send again (%w)", ctx.Err(), retryErr[0])), ctx.Err()
		case <-t.C:
		}
		pending = retry
	}
}

// bulkItem is one item of a _bulk answer.
type bulkItem struct {
	Status int          `json:"status"`
	Error  *esException `json:"error"`
}

// bulk sends one _bulk request of n documents and returns its items in order.
func (s *Sink) bulk(ctx context.Context, body []byte, n int) ([]bulkItem, error) {
	res, err := s.send(ctx, esapi.BulkRequest{Body: bytes.NewReader(body), FilterPath: bulkFilter})
	if err != nil {
		return nil, fmt.Errorf("sending _bulk to %s: %w", s.url, err)
	}
	if !ok(res) {
		return nil, fmt.Errorf("sending _bulk to %s: %w", s.url, s.failure(res))
	}
	defer res.Body.Close()
	var got struct {
		Items []map[string]bulkItem `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		return nil, fmt.Errorf("reading the _bulk answer from %s: %w", s.url, err)
	}
	if len(got.Items) != n {
		return nil, fmt.Errorf("reading the _bulk answer from %s: %d items for %d documents", s.url, len(got.Items), n)
	}
	items := make([]bulkItem, n)
	for i, m := range got.Items {
		if len(m) != 1 {
			return nil, fmt.Errorf("reading the _bulk answer from %s: item %d has %d actions", s.url, i, len(m))
		}
		for _, it := range m {
			items[i] = it
		}
	}
	return items, nil
}

// itemError returns why an item was not written, or nil when it was. A create that found its
// document already there was written: the first document recorded wins.
func (s *Sink) itemError(d document.Document, it bulkItem) *ItemError {
	if it.Status >= 200 && it.Status < 300 {
		return nil
	}
	e := &ItemError{Op: d.Op, Index: d.Index, ID: d.ID, Status: it.Status}
	if it.Error != nil {
		e.Type, e.Reason = it.Error.Type, s.red.String(it.Error.reason())
	}
	if it.Status == http.StatusConflict && d.Op == document.OpCreate && e.Type == "version_conflict_engine_exception" {
		return nil
	}
	return e
}
