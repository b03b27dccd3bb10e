package zmtp

// ring is a FIFO of messages.
type ring struct {
	buf  [][][]byte
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) push(m [][]byte) {
	if r.n == len(r.buf) {
		nb := make([][][]byte, max(8, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
}

func (r *ring) pop() [][]byte {
	if r.n == 0 {
		return nil
	}
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 && len(r.buf) > 1024 {
		r.buf, r.head = nil, 0 // give back what a burst grew
	}
	return m
}

func (r *ring) clear() {
	clear(r.buf)
	r.head, r.n = 0, 0
}

// signal is a wake-up for whoever waits on c, never blocking the one who
// signals: a wake-up sent while nobody waits is kept for the next.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
