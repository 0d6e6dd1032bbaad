//go:build !unix

package ec2test

import (
	"os"
	"os/exec"
)

// ownProcessGroup does nothing: process groups are Unix's.
func ownProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup kills p alone.
func killProcessGroup(p *os.Process) { _ = p.Kill() }
