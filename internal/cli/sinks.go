package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
)

// sinkSet is where a command's documents go: an NDJSON file or stdout, Elasticsearch, or both.
type sinkSet struct {
	sink   document.Sink
	ndjson string
	esURL  string
	// closers are closed by close, in order: the NDJSON file, the Elasticsearch sink.
	closers []io.Closer
}

// openSinks opens the NDJSON output and the Elasticsearch sink the flags and environment ask
// for. Without either, documents are only shown.
func openSinks(ctx context.Context, of *outputFlags, es config.ES, env Env, log *slog.Logger) (*sinkSet, error) {
	s := &sinkSet{ndjson: of.ndjson}
	var multi document.Multi
	switch of.ndjson {
	case "":
	case "-":
		multi = append(multi, document.NewNDJSON(env.Stdout))
	default:
		f, err := os.Create(of.ndjson)
		if err != nil {
			return nil, fmt.Errorf("--ndjson: %w", err)
		}
		s.closers = append(s.closers, f)
		multi = append(multi, document.NewNDJSON(f))
	}
	if es.Enabled() {
		sink, err := openElasticsearch(ctx, es, log)
		if err != nil {
			s.close()
			return nil, err
		}
		s.esURL = config.RedactURL(es.URL)
		if c, ok := sink.(io.Closer); ok { // *essink.Sink: its client's connections
			s.closers = append(s.closers, c)
		}
		multi = append(multi, sink)
	}
	switch len(multi) {
	case 0:
		s.sink = document.Discard{}
	case 1:
		s.sink = multi[0]
	default:
		s.sink = multi
	}
	return s, nil
}

// close closes the NDJSON file and releases the Elasticsearch client's connections. Nothing is
// written then (every Write has returned), so a failure to close loses nothing and is ignored.
func (s *sinkSet) close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// describe says where documents went, for the closing lines: of docs documents, those writeErr
// (the sink's error) does not list as unwritten by that sink.
func (s *sinkSet) describe(w io.Writer, docs int, writeErr error) {
	if s.ndjson == "" && s.esURL == "" {
		fmt.Fprintf(w, "awsaudit: %d document(s) not written anywhere (give --ndjson FILE or --es-url URL)\n", docs)
		return
	}
	file, es := unwrittenBySink(writeErr, docs)
	if s.ndjson != "" && s.ndjson != "-" {
		fmt.Fprintf(w, "awsaudit: %s written to %s\n", countOf(docs-file, docs), s.ndjson)
	}
	if s.esURL != "" {
		fmt.Fprintf(w, "awsaudit: %s written to Elasticsearch at %s\n", countOf(docs-es, docs), s.esURL)
	}
}

// unwrittenBySink counts the documents writeErr lists as not written, for the NDJSON sink and
// for Elasticsearch apart: with both, document.Multi joins one *document.WriteError per sink,
// each naming its sink, and document.Unwritten would add them up. An error that lists no
// documents counts all as unwritten by both.
func unwrittenBySink(writeErr error, docs int) (file, es int) {
	if writeErr == nil {
		return 0, 0
	}
	wes := writeErrors(writeErr)
	if len(wes) == 0 {
		return docs, docs
	}
	for _, we := range wes {
		if we.Sink == ndjsonSinkName {
			file += len(we.Failed)
		} else {
			es += len(we.Failed)
		}
	}
	return min(file, docs), min(es, docs)
}

// ndjsonSinkName is the Sink of the *document.WriteError a document.NDJSON returns.
const ndjsonSinkName = "ndjson"

// writeErrors returns every *document.WriteError in err's tree (errors.Join and %w wrapping).
func writeErrors(err error) []*document.WriteError {
	switch e := err.(type) {
	case *document.WriteError:
		return []*document.WriteError{e}
	case interface{ Unwrap() []error }:
		var out []*document.WriteError
		for _, inner := range e.Unwrap() {
			out = append(out, writeErrors(inner)...)
		}
		return out
	case interface{ Unwrap() error }:
		return writeErrors(e.Unwrap())
	}
	return nil
}

// countOf is "N document(s)" when all n landed, else "N of TOTAL document(s)".
func countOf(n, total int) string {
	if n == total {
		return fmt.Sprintf("%d document(s)", n)
	}
	return fmt.Sprintf("%d of %d document(s)", n, total)
}

// spool writes the documents err says were not written to a spool file, and records the
// failure (exit 4) naming the file, or, when even that fails, the loss.
func (s *sinkSet) spool(w io.Writer, runID string, docs []document.Document, err error, out *outcome, dir string) {
	unwritten := document.Unwritten(err, docs)
	path, serr := document.WriteSpool(dir, runID, unwritten)
	if serr != nil {
		out.add(ExitFailed, "%v; and spooling %d document(s) failed too, they are lost: %v", err, len(unwritten), serr)
		return
	}
	out.add(ExitFailed, "%v; %d document(s) spooled to %s (send them later with: awsaudit ship %s)", err, len(unwritten), path, path)
}

// session is what sweep and enforce build the same way once the user's input is checked: the
// progress logger, the document sinks, the AWS clients and, with --stats, the call counter.
type session struct {
	log     *slog.Logger
	es      config.ES
	sinks   *sinkSet
	counter *awsapi.Counter
	clients *awsapi.Clients
}

// openSession builds the session. A code other than ExitOK means stop with it; the cause has been
// printed. The caller closes the session.
func openSession(ctx context.Context, env Env, of *outputFlags, af *awsFlags) (*session, int) {
	log, err := logger(env.Stderr, of.logLevel, of.logFormat)
	if err != nil {
		return nil, refuse(env.Stderr, err)
	}
	es, err := of.es(env.Getenv)
	if err != nil {
		return nil, refuse(env.Stderr, err)
	}
	sinks, err := openSinks(ctx, of, es, env, log)
	if err != nil {
		return nil, refuse(env.Stderr, err)
	}
	af.warn(env.Stderr)
	s := &session{log: log, es: es, sinks: sinks}
	if of.stats {
		s.counter = awsapi.NewCounter()
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: af.homeRegion, AccessKey: af.accessKey, SecretKey: af.secretKey, Counter: s.counter})
	if err != nil {
		sinks.close()
		fmt.Fprintf(env.Stderr, "awsaudit: %v (exit %d)\n", err, ExitError)
		return nil, ExitError
	}
	s.clients = awsapi.NewClients(cfg)
	s.clients.Log = log
	return s, ExitOK
}

func (s *session) close() { s.sinks.close() }
