package mototest

import "syscall"

// setParentDeathSignal kills moto_server if the test binary dies without
// running its cleanups (go test -timeout panics, SIGKILL), so no Python
// process outlives the test. Linux only.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
