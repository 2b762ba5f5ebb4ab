package cli

import (
	"fmt"
	"io"
	"slices"
)

// Exit codes, documented in README.md.
const (
	// ExitOK: the run completed.
	ExitOK = 0
	// ExitError: anything not below (AWS unreachable, no credentials, an internal error).
	ExitError = 1
	// ExitInvalid: invalid input, refused before any AWS call.
	ExitInvalid = 2
	// ExitUnverified: a region was unverified (its canary check failed) or not reached.
	ExitUnverified = 3
	// ExitFailed: some actions or document writes failed.
	ExitFailed = 4
)

// precedence orders the codes when several apply: 2, 1, 4, 3.
var precedence = []int{ExitInvalid, ExitError, ExitFailed, ExitUnverified}

// cause is one reason for a non-zero exit.
type cause struct {
	code int
	msg  string
}

// outcome gathers every cause of a run; all are printed, the code is the first by precedence.
type outcome struct {
	causes []cause
}

func (o *outcome) add(code int, format string, args ...any) {
	o.causes = append(o.causes, cause{code: code, msg: fmt.Sprintf(format, args...)})
}

// code returns the exit code: the cause that comes first in precedence, else 0.
func (o *outcome) code() int {
	best := ExitOK
	for _, c := range o.causes {
		if best == ExitOK || slices.Index(precedence, c.code) < slices.Index(precedence, best) {
			best = c.code
		}
	}
	return best
}

// print writes every cause, one line each, to w, and returns the exit code.
func (o *outcome) print(w io.Writer) int {
	for _, c := range o.causes {
		fmt.Fprintf(w, "awsaudit: %s (exit %d)\n", c.msg, c.code)
	}
	return o.code()
}
