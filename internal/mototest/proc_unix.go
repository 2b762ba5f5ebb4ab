//go:build unix

package mototest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts moto_server in its own process group so Close can signal
// the pyenv shim, Python and anything they spawn at once.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

func terminate(cmd *exec.Cmd) { signalGroup(cmd, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) { signalGroup(cmd, syscall.SIGKILL) }

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	// A negative pid addresses the whole group; ESRCH just means it is gone.
	syscall.Kill(-cmd.Process.Pid, sig)
}
