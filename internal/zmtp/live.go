package zmtp

// What a facade over a socket changes or watches while it runs.

// SetXPubNoDrop switches Options.XPubNoDrop on a socket in use: a
// publisher waits for full subscribers while they keep up, and drops for
// them once one is found slow.
func (s *Socket) SetXPubNoDrop(on bool) {
	s.mu.Lock()
	s.opt.XPubNoDrop = on
	s.mu.Unlock()
	if !on {
		signal(s.wnotify) // a waiting sender now goes through
	}
}

// RecvNotify is signalled when a message may have arrived: a caller
// that waits on several sockets at once selects on theirs, then tries
// to receive. It is the channel Recv itself waits on, so a caller that
// takes a signal and does not receive makes a concurrent Recv wait for
// the next one.
func (s *Socket) RecvNotify() <-chan struct{} { return s.rnotify }
