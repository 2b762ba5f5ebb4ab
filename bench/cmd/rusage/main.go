// Command rusage runs a command and writes its own CPU time and peak RSS as JSON, like
// /usr/bin/time: `rusage -o FILE -- CMD ARGS...`. The command's stdin, stdout and stderr are
// rusage's; rusage exits 0 whatever the command did (its exit code is in FILE).
//
// SIGTERM and SIGINT sent to rusage are passed on to the command.
//
// The bench harness starts every measured process through rusage because Linux carries the RSS
// high-water mark of the address space a process replaces into its own ru_maxrss at exec: a child
// the harness starts directly (Go starts children with vfork, sharing the harness's memory until
// exec) reports at least the harness's peak RSS, hundreds of MB once the at-scale pages are
// rendered. rusage's own address space is a few MB, so the command's figure is its own.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// Result is what rusage writes.
type Result struct {
	ExitCode  int     `json:"exit_code"`
	UserMS    float64 `json:"user_ms"`
	SysMS     float64 `json:"sys_ms"`
	MaxRSSKB  int64   `json:"maxrss_kb"`
	WallMS    float64 `json:"wall_ms"`
	StartErr  string  `json:"start_error,omitempty"`
	Signalled string  `json:"signal,omitempty"`
}

func main() {
	out := flag.String("o", "", "file to write the result to")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: rusage -o FILE -- CMD ARGS...")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	t0 := time.Now()
	err := cmd.Start()
	if err == nil {
		// SIGTERM and SIGINT are for the command: pass them on, and report once it has exited.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			for s := range sigs {
				cmd.Process.Signal(s)
			}
		}()
		err = cmd.Wait()
	}
	r := Result{WallMS: float64(time.Since(t0).Microseconds()) / 1000}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Signalled = ws.Signal().String()
		}
	default:
		r.ExitCode, r.StartErr = -1, err.Error()
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.UserMS = float64(ru.Utime.Sec)*1000 + float64(ru.Utime.Usec)/1000
			r.SysMS = float64(ru.Stime.Sec)*1000 + float64(ru.Stime.Usec)/1000
			r.MaxRSSKB = int64(ru.Maxrss) // kilobytes on Linux
		}
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(1)
	}
}
