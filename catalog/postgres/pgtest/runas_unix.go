//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// runAs makes c run as the user uid and group gid.
func runAs(c *exec.Cmd, uid, gid int) {
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}
