//go:build unix

package interop_test

import (
	"os"
	"syscall"
)

// ownGroup puts a peer in a process group of its own, so that the end of
// the test kills what the peer started too (the original's MpMsgReactor
// forks a process, which would otherwise outlive it holding its output
// open).
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills p's whole group.
func killGroup(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGKILL) }
