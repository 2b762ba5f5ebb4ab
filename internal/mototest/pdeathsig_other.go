//go:build unix && !linux

package mototest

import "syscall"

// setParentDeathSignal is a no-op where Pdeathsig does not exist: a test
// binary killed before its cleanups run can leave moto_server behind.
func setParentDeathSignal(*syscall.SysProcAttr) {}
