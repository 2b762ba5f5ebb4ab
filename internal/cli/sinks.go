package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
)

// sinkSet is where a command's documents go: an NDJSON file or stdout, Elasticsearch, or both.
type sinkSet struct {
	sink    document.Sink
	ndjson  string
	esURL   string
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

func (s *sinkSet) close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// describe says where documents went, for the closing lines.
func (s *sinkSet) describe(w io.Writer, n int) {
	switch {
	case s.ndjson == "" && s.esURL == "":
		fmt.Fprintf(w, "awsaudit: %d document(s) not written anywhere (give --ndjson FILE or --es-url URL)\n", n)
	default:
		if s.ndjson != "" && s.ndjson != "-" {
			fmt.Fprintf(w, "awsaudit: %d document(s) written to %s\n", n, s.ndjson)
		}
		if s.esURL != "" {
			fmt.Fprintf(w, "awsaudit: %d document(s) sent to Elasticsearch at %s\n", n, s.esURL)
		}
	}
}

// spool writes the documents err says were not written to a spool file, and records the
// failure (exit 4) naming the file, or, when even that fails, the loss.
func (s *sinkSet) spool(w io.Writer, runID string, docs []document.Document, err error, out *outcome, dir string) {
	unwritten, ok := document.Unwritten(err)
	if !ok {
		unwritten = docs
	}
	path, serr := document.WriteSpool(dir, runID, unwritten)
	if serr != nil {
		out.add(ExitFailed, "%v; and spooling %d document(s) failed too, they are lost: %v", err, len(unwritten), serr)
		return
	}
	out.add(ExitFailed, "%v; %d document(s) spooled to %s (send them later with: awsaudit ship %s)", err, len(unwritten), path, path)
}
