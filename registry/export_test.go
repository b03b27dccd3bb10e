package registry

// Revision returns the highest revision w delivered (0: none), for the
// tests of catching up.
func Revision(w *Watcher) uint64 { return w.revision() }

// Addresses returns the endpoints c talks to: requests, notices and
// change notices.
func Addresses(c *Client) (requests, notices, watch string) {
	return c.cfg.requests, c.cfg.notices, c.cfg.watch
}
