//go:build !unix

package pgtest

import "os/exec"

// runAs does nothing: only Unix has users to switch to (and PostgreSQL's
// refusal to run as root).
func runAs(c *exec.Cmd, uid, gid int) {}
