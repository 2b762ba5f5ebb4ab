package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
)

// shippedSuffix marks a spool file ship is done with.
const shippedSuffix = ".shipped"

// spoolFile is one spool file and the documents it holds.
type spoolFile struct {
	path string
	docs []document.Document
}

// runShip sends spool files (the _bulk NDJSON a sweep spools, or any --ndjson output) to
// Elasticsearch.
//
// Every file is read and checked before anything is sent: a malformed one stops the command
// (exit 2) naming the file and line, as does a document for an index whose template this run
// does not install (--audit-index and --violator-index must name the sweep's indices), and
// credentials Elasticsearch refuses. Elasticsearch unreachable stops it too, with every file left
// as it is (exit 4). Then, file by file, as below, until a file fails because Elasticsearch has
// become unavailable (or refuses the credentials, or the command is interrupted): that file is
// dealt with as below, and the files after it are left as they are, named (exit 4), rather
// than each waiting out the retries again:
//   - every document landed: the file is renamed FILE.shipped, so a later `ship *.ndjson` skips
//     it and the record of what was sent stays (renamed, not removed);
//   - some documents were rejected (Elasticsearch refused them as they are, a mapping or parsing
//     error): each is listed with its reason and is not spooled again, since sending it again
//     would fail the same way (exit 4);
//   - some could not be written for now (Elasticsearch unavailable, a privilege missing, ...):
//     they go to a new spool file beside it, named in the output (exit 4);
//   - whenever some landed or were rejected, the file is renamed FILE.shipped, since each of its
//     documents is now in Elasticsearch, rejected, or in the new file; when none landed and none
//     were rejected, it is left as it is, to ship again later (exit 4).
//
// Shipping a file again is harmless: sweep documents are written with index and their
// deterministic ids (a document replaces itself), event documents with create (one already
// there counts as landed, the first kept).
func runShip(ctx context.Context, args []string, env Env) int {
	fset, help := newFlagSet("awsaudit ship", "awsaudit ship [--es-url URL] [--es-ca-file FILE] SPOOL...", env)
	var of outputFlags
	of.registerES(fset)
	of.registerLogLevel(fset)
	if code, done := parse(fset, help, args, env); done {
		return code
	}
	if fset.NArg() == 0 {
		return refuse(env.Stderr, errors.New("ship needs one or more spool files (see awsaudit ship -h)"))
	}
	for _, a := range fset.Args() {
		if strings.HasPrefix(a, "-") {
			return refuse(env.Stderr, fmt.Errorf("%q after a spool file: flags go before the spool files (see awsaudit ship -h)", a))
		}
	}
	log, err := logger(env.Stderr, of.logLevel, of.logFormat)
	if err != nil {
		return refuse(env.Stderr, err)
	}
	es, err := of.es(env.Getenv)
	if err != nil {
		return refuse(env.Stderr, err)
	}
	if !es.Enabled() {
		return refuse(env.Stderr, fmt.Errorf("ship sends to Elasticsearch: give --es-url URL or set %s", config.EnvESURL))
	}

	var (
		files []spoolFile
		errs  []error
	)
	for _, path := range fset.Args() {
		f, err := readSpool(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, f)
	}
	if len(errs) > 0 {
		return refuse(env.Stderr, errors.Join(errs...))
	}
	if err := checkIndices(files, es.Indices); err != nil {
		return refuse(env.Stderr, err)
	}

	sink, err := essink.New(essink.FromES(es, log))
	if err != nil {
		return refuse(env.Stderr, err)
	}
	defer sink.Close()
	var out outcome
	if err := sink.EnsureTemplates(ctx); err != nil {
		// Unlike a sweep, ship has nothing to do without Elasticsearch: it stops at once rather
		// than wait out the retries again for each file.
		if errors.Is(err, essink.ErrUnavailable) || ctx.Err() != nil {
			// An attempt still under way (the context ended first) goes on retrying, and
			// logging, in the background: stop it, so that nothing follows the closing lines.
			sink.Close()
			out.add(ExitFailed, "%v; nothing shipped, the files are left as they are (ship them again later)", err)
			return out.print(env.Stderr)
		}
		return refuse(env.Stderr, esHint(err))
	}
	shipFiles(ctx, sink, files, env.Stdout, &out)
	return out.print(env.Stderr)
}

// shipFiles ships the files in turn (shipFile) until one fails for a cause the next would fail
// for too (stopCause); the files after it are named and left as they are.
func shipFiles(ctx context.Context, sink document.Sink, files []spoolFile, stdout io.Writer, out *outcome) {
	for i, f := range files {
		cause := shipFile(ctx, sink, f, stdout, out)
		if cause == nil {
			continue
		}
		if rest := files[i+1:]; len(rest) > 0 {
			paths := make([]string, len(rest))
			for j, r := range rest {
				paths[j] = r.path
			}
			out.add(ExitFailed, "stopped after %s (%v): not sent, left as they are (ship them again later): %s", f.path, cause, strings.Join(paths, ", "))
		}
		return
	}
}

// readSpool reads and checks one spool file.
func readSpool(path string) (spoolFile, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(path + shippedSuffix); serr == nil {
			return spoolFile{}, fmt.Errorf("%s: already shipped (it is now %s%s)", path, path, shippedSuffix)
		}
	}
	if err != nil {
		return spoolFile{}, fmt.Errorf("reading spool file: %w", err)
	}
	defer file.Close()
	docs, err := document.ReadBulk(file)
	if err != nil {
		return spoolFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return spoolFile{path: path, docs: docs}, nil
}

// checkIndices refuses documents for an index whose template this run does not install (the
// sweep that spooled them had other index names). Writing them would make Elasticsearch create
// that index with dynamic mappings instead of awsaudit's strict ones, which only a reindex undoes.
func checkIndices(files []spoolFile, idx document.Indices) error {
	var (
		errs []error
		seen []string
	)
	for _, f := range files {
		for _, d := range f.docs {
			if d.Index == idx.Audit || d.Index == idx.Violator || slices.Contains(seen, d.Index) {
				continue
			}
			seen = append(seen, d.Index)
			errs = append(errs, fmt.Errorf("%s: documents for the index %q, whose template this run does not install (it installs %q and %q); "+
				"nothing was sent, since Elasticsearch would create %q with dynamic mappings, which only a reindex undoes: give --audit-index and --violator-index as the sweep that spooled them had them",
				f.path, d.Index, idx.Audit, idx.Violator, d.Index))
		}
	}
	return errors.Join(errs...)
}

// shipFile writes one file's documents and deals with the file as runShip describes. It returns
// why the files after it should not be tried (stopCause), or nil.
func shipFile(ctx context.Context, sink document.Sink, f spoolFile, stdout io.Writer, out *outcome) (stop error) {
	err := sink.Write(ctx, f.docs)
	refused, retry := splitFailures(err, f.docs)
	stop = stopCause(ctx, retry)
	landed := len(f.docs) - len(refused.Failed) - len(retry.Failed)
	fmt.Fprintf(stdout, "%s: %d of %d document(s) landed\n", f.path, landed, len(f.docs))
	for _, r := range refused.Failed {
		fmt.Fprintf(stdout, "%s: rejected: %v\n", f.path, r.Err)
	}
	if err == nil {
		if shipped, rerr := markShipped(f.path); rerr != nil {
			out.add(ExitError, "%s: every document landed, but renaming the file failed (shipping it again is harmless): %v", f.path, rerr)
		} else if shipped != f.path {
			fmt.Fprintf(stdout, "%s: renamed to %s\n", f.path, shipped)
		}
		return stop
	}
	if landed == 0 && len(refused.Failed) == 0 {
		out.add(ExitFailed, "%s: %v; the file is left as it is (ship it again later)", f.path, err)
		return stop
	}
	var rest string
	if len(retry.Failed) > 0 {
		var serr error
		rest, serr = document.WriteSpool(filepath.Dir(f.path), spoolRunID(f.path), retry.Docs())
		if serr != nil {
			out.add(ExitFailed, "%s: %v; and writing the %d document(s) to send again to a new spool file failed (%v), so the file is left as it is (shipping it again lands each document once)",
				f.path, err, len(retry.Failed), serr)
			return stop
		}
	}
	shipped, rerr := markShipped(f.path)
	if rerr != nil {
		if rest != "" {
			out.add(ExitError, "%s: renaming the file failed (%v); ship %s, not it, to avoid sending what landed again (harmless, but slower)", f.path, rerr, rest)
		} else {
			out.add(ExitError, "%s: renaming the file failed (%v); nothing in it is left to send", f.path, rerr)
		}
		shipped = f.path
	} else if shipped != f.path {
		fmt.Fprintf(stdout, "%s: renamed to %s\n", f.path, shipped)
	}
	if len(refused.Failed) > 0 {
		out.add(ExitFailed, "%s: %v; Elasticsearch rejected them as they are (each is listed with its reason), so they are not spooled again: sending them again would fail the same way (%s keeps them)",
			f.path, refused, shipped)
	}
	if len(retry.Failed) > 0 {
		out.add(ExitFailed, "%s: %v; %d document(s) spooled to %s (send them later with: awsaudit ship %s)", f.path, retry, len(retry.Failed), rest, rest)
	}
	return stop
}

// stopCause says why documents that may land later (retry) were not written when the cause
// would fail the next file the same way: the command was interrupted, Elasticsearch is
// unavailable (unreachable, or still answering 429 or 5xx after the retries), or it refuses
// the credentials; nil otherwise.
func stopCause(ctx context.Context, retry *document.WriteError) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, f := range retry.Failed {
		switch {
		case errors.Is(f.Err, essink.ErrUnavailable):
			return essink.ErrUnavailable
		case essink.IsAuth(f.Err):
			return errors.New("Elasticsearch refused the credentials")
		}
	}
	return nil
}

// splitFailures sorts the documents err says were not written into those Elasticsearch rejected
// (see rejected) and those that may land when sent again. An error that lists no documents
// leaves every document to send again.
func splitFailures(err error, docs []document.Document) (refused, retry *document.WriteError) {
	refused, retry = &document.WriteError{Sink: "elasticsearch"}, &document.WriteError{Sink: "elasticsearch"}
	if err == nil {
		return refused, retry
	}
	var we *document.WriteError
	if !errors.As(err, &we) {
		for _, d := range docs {
			retry.Failed = append(retry.Failed, document.Failure{Doc: d, Err: err})
		}
		return refused, retry
	}
	refused.Sink, retry.Sink = we.Sink, we.Sink
	for _, f := range we.Failed {
		if rejected(f.Err) {
			refused.Failed = append(refused.Failed, f)
		} else {
			retry.Failed = append(retry.Failed, f)
		}
	}
	return refused, retry
}

// rejected reports whether Elasticsearch refused a document for what it is, so that sending it
// again cannot land it: an item answered 400, a mapping or parsing error such as
// strict_dynamic_mapping_exception or document_parsing_exception. A closed index also answers
// 400 but can be opened. Items failed for availability (429, 5xx), a missing privilege (403) or a
// missing index (404), and documents whose request failed as a whole, may land later.
func rejected(err error) bool {
	var ie *essink.ItemError
	return errors.As(err, &ie) && ie.Status == http.StatusBadRequest && ie.Type != "index_closed_exception"
}

// markShipped renames a spool file FILE.shipped (a file already so named keeps its name).
func markShipped(path string) (string, error) {
	if strings.HasSuffix(path, shippedSuffix) {
		return path, nil
	}
	to := path + shippedSuffix
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}

// spoolRunID names the spool file of a file's remaining documents after it:
// awsaudit-spool-RUN-123.ndjson leaves awsaudit-spool-RUN-123-456.ndjson.
func spoolRunID(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), shippedSuffix)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return strings.TrimPrefix(base, "awsaudit-spool-")
}
