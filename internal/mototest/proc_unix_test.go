//go:build unix

package mototest

import (
	"errors"
	"syscall"
)

// processGroupAlive reports whether any process is left in group pgid.
func processGroupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
