//go:build !unix

package mototest

import "os/exec"

func setProcAttr(*exec.Cmd) {}

// terminate and kill can only reach the direct child here; there are no
// process groups to signal.
func terminate(cmd *exec.Cmd) { kill(cmd) }

func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}
