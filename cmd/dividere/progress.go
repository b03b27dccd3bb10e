package main

import (
	"fmt"
	"os"
	"time"
)

// progress is a progress bar on standard error for long work, drawn only
// when standard error is a terminal (and the work long enough), so that
// scripts and logs get none.
type progress struct {
	e     *env
	what  string
	total int
	on    bool
	last  time.Time
	n     int
}

func newProgress(e *env, what string, total int, long bool) *progress {
	on := false
	if f, ok := e.errOut.(*os.File); ok && long && total > 0 {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{e: e, what: what, total: total, on: on}
}

func (p *progress) set(n int) {
	p.n = n
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && n < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	done := width * n / p.total
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < done {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.e.errOut, "\r\x1b[K[%s] %3d%% %s %d of %d", bar, 100*n/p.total, p.what, n, p.total)
}

func (p *progress) done() {
	if p.on && p.n > 0 {
		fmt.Fprintln(p.e.errOut)
	}
}
