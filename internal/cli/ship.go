package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/logkey"
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
// (exit 2) naming the file and line, as do credentials Elasticsearch refuses. Elasticsearch
// unreachable stops it too, with every file left as it is (exit 4). Then, file by file:
//   - every document landed: the file is renamed FILE.shipped, so a later `ship *.ndjson` skips
//     it and the record of what was sent stays (renamed, not removed);
//   - some landed: the rest go to a new spool file beside it, named in the output, and the file
//     is renamed FILE.shipped, since each of its documents is now in Elasticsearch or in the new
//     file (exit 4);
//   - none landed: the file is left as it is, to ship again later (exit 4).
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
	log, err := logger(env.Stderr, of.logLevel)
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
	warnUnconfiguredIndices(log, files, es.Indices)

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
			out.add(ExitFailed, "%v; nothing shipped, the files are left as they are (ship them again later)", err)
			return out.print(env.Stderr)
		}
		return refuse(env.Stderr, esHint(err))
	}
	for _, f := range files {
		shipFile(ctx, sink, f, env.Stdout, &out)
	}
	return out.print(env.Stderr)
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

// warnUnconfiguredIndices warns about documents for indices whose templates this run does not
// install (the sweep that spooled them had other index names).
func warnUnconfiguredIndices(log *slog.Logger, files []spoolFile, idx document.Indices) {
	var other []string
	for _, f := range files {
		for _, d := range f.docs {
			if d.Index != idx.Audit && d.Index != idx.Violator && !slices.Contains(other, d.Index) {
				other = append(other, d.Index)
				log.Warn("spooled documents are for an index whose template this run does not install; give --audit-index and --violator-index as the sweep had them",
					logkey.Index, d.Index)
			}
		}
	}
}

// shipFile writes one file's documents and deals with the file as runShip describes.
func shipFile(ctx context.Context, sink document.Sink, f spoolFile, stdout io.Writer, out *outcome) {
	err := sink.Write(ctx, f.docs)
	unwritten, ok := document.Unwritten(err)
	if err != nil && !ok {
		unwritten = f.docs
	}
	landed := len(f.docs) - len(unwritten)
	fmt.Fprintf(stdout, "%s: %d of %d document(s) landed\n", f.path, landed, len(f.docs))
	switch {
	case err == nil:
		if shipped, rerr := markShipped(f.path); rerr != nil {
			out.add(ExitError, "%s: every document landed, but renaming the file failed (shipping it again is harmless): %v", f.path, rerr)
		} else if shipped != f.path {
			fmt.Fprintf(stdout, "%s: renamed to %s\n", f.path, shipped)
		}
	case landed == 0:
		out.add(ExitFailed, "%s: %v; the file is left as it is (ship it again later)", f.path, err)
	default:
		rest, serr := document.WriteSpool(filepath.Dir(f.path), spoolRunID(f.path), unwritten)
		if serr != nil {
			out.add(ExitFailed, "%s: %v; and writing the rest to a new spool file failed (%v), so the file is left as it is (shipping it again lands each document once)", f.path, err, serr)
			return
		}
		if _, rerr := markShipped(f.path); rerr != nil {
			out.add(ExitError, "%s: renaming the file failed (%v); ship %s, not it, to avoid sending what landed again (harmless, but slower)", f.path, rerr, rest)
		}
		out.add(ExitFailed, "%s: %v; %d document(s) spooled to %s (send them later with: awsaudit ship %s)", f.path, err, len(unwritten), rest, rest)
	}
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
