// Package cli is the awsaudit command line: `sweep` (the default, with the original tool's
// flags), `enforce` (the event path as an SQS worker), `ship` (replay a spool file), `policy
// check`, and `version`. cmd/awsaudit only calls Run; tests call it too, with their own
// environment.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
)

// Version is set at build time with -ldflags "-X github.com/awsaudit/awsaudit/internal/cli.Version=v1.2.3".
var Version = "dev"

// Env is what the command line gets from its process, so tests can give their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         config.Getenv
	// StdoutIsTerminal chooses the table output by default.
	StdoutIsTerminal bool
	Now              func() time.Time
}

// OSEnv returns the process's environment.
func OSEnv() Env {
	tty := false
	if fi, err := os.Stdout.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StdoutIsTerminal: tty, Now: time.Now}
}

const usage = `awsaudit keeps an AWS account's EC2 instances inside its tag scheme.

Usage:
  awsaudit [sweep] [flags]           sweep every audited region once (the original tool's job)
  awsaudit enforce --queue-url URL   run the event path as a long-polling SQS worker
  awsaudit ship SPOOL...             send spooled documents to Elasticsearch
  awsaudit policy check FILE         validate a policy file and print what it means
  awsaudit version                   print the version

Run 'awsaudit COMMAND -h' for a command's flags. Exit codes: 0 completed; 2 invalid input;
3 a region unverified or unreached; 4 some actions or document writes failed; 1 anything else.
`

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	cmd := "sweep"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "sweep":
		return runSweep(ctx, args, env)
	case "enforce":
		return runEnforce(ctx, args, env)
	case "ship":
		return runShip(ctx, args, env)
	case "policy":
		return runPolicy(args, env)
	case "version":
		fmt.Fprintln(env.Stdout, versionString())
		return ExitOK
	case "help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "awsaudit: unknown command %q (commands: sweep, enforce, ship, policy check, version; see awsaudit -h)\n", cmd)
	return ExitInvalid
}

// versionString is the version, with the VCS revision the binary was built from when known.
func versionString() string {
	v := "awsaudit " + Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// newFlagSet returns a flag set that reports errors instead of exiting, with -h/--help.
func newFlagSet(name, synopsis string, env Env) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	help := new(bool)
	fs.BoolVar(help, "h", false, "print this help")
	fs.BoolVar(help, "help", false, "print this help")
	fs.Usage = func() {
		fmt.Fprintf(env.Stdout, "Usage: %s\n\nFlags:\n", synopsis)
		printFlags(env.Stdout, fs)
	}
	return fs, help
}

// printFlags lists the flags with their aliases together: "-t, --tags LIST".
func printFlags(w io.Writer, fs *flag.FlagSet) {
	type entry struct {
		names []*flag.Flag
	}
	var entries []*entry
	byValue := map[flag.Value]*entry{}
	fs.VisitAll(func(f *flag.Flag) {
		if e, ok := byValue[f.Value]; ok {
			e.names = append(e.names, f)
			return
		}
		e := &entry{names: []*flag.Flag{f}}
		byValue[f.Value] = e
		entries = append(entries, e)
	})
	for _, e := range entries {
		slices.SortFunc(e.names, func(a, b *flag.Flag) int { return len(a.Name) - len(b.Name) })
		var names []string
		for _, f := range e.names {
			if len(f.Name) == 1 {
				names = append(names, "-"+f.Name)
			} else {
				names = append(names, "--"+f.Name)
			}
		}
		arg, usage := flag.UnquoteUsage(e.names[0])
		line := "  " + strings.Join(names, ", ")
		if arg != "" {
			line += " " + strings.ToUpper(arg)
		}
		if def := e.names[0].DefValue; def != "" && def != "false" && def != "0" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(w, "%-34s %s\n", line, usage)
	}
}

// parse parses args; it returns done when the command should stop with code (help, or a bad
// flag, reported on stderr as invalid input).
func parse(fs *flag.FlagSet, help *bool, args []string, env Env) (code int, done bool) {
	// The flag package prints the usage on a parse error too; here it goes out only when asked
	// for, so a typo never writes the help text into stdout (a --ndjson - or --output json stream).
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp) || (err == nil && *help):
		fs.Usage()
		return ExitOK, true
	case err != nil:
		fmt.Fprintf(env.Stderr, "awsaudit: %v (see %s -h)\n", err, fs.Name())
		return ExitInvalid, true
	case fs.NArg() > 0 && fs.Name() != "awsaudit ship" && fs.Name() != "awsaudit policy check":
		fmt.Fprintf(env.Stderr, "awsaudit: unexpected argument %q (flags go before arguments; see %s -h)\n", fs.Arg(0), fs.Name())
		return ExitInvalid, true
	}
	return ExitOK, false
}

// refuse prints each line of err as invalid input and returns ExitInvalid.
func refuse(w io.Writer, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "awsaudit: %s\n", line)
	}
	return ExitInvalid
}

// logger returns the progress logger on stderr.
func logger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}
