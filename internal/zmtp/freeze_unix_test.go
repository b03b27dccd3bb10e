//go:build unix

package zmtp

import "syscall"

// stop and resume freeze and thaw the whole process, libzmq's I/O
// threads with it: a peer gone silent with its connections open.
func (p *zmqPeer) stop()   { p.cmd.Process.Signal(syscall.SIGSTOP) }
func (p *zmqPeer) resume() { p.cmd.Process.Signal(syscall.SIGCONT) }
