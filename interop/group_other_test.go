//go:build !unix

package interop_test

import (
	"os"
	"syscall"
)

// ownGroup: outside unix the peer keeps this process's group; the tests
// run on Linux, and this file keeps the package compiling (and vetted)
// for the other release targets.
func ownGroup() *syscall.SysProcAttr { return nil }

// killGroup kills p alone.
func killGroup(p *os.Process) { p.Kill() }
