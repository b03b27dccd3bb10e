// Package ratelog keeps a flood of bad input from filling the log: the
// first lines of each kind are written as they come, the rest of that
// second are counted, and one summary line says how many there were.
//
// Counters in Stats stay exact whatever is logged; this only bounds how
// many bytes an attacker can make a process write.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults: per kind of line, Burst lines pass in each Window; the rest
// are summed into one summary line at the window's end.
const (
	Burst  = 5
	Window = time.Second
)

// Limiter rate-limits log lines by kind (their message). The zero value
// is not usable; New makes one. It is safe for concurrent use.
type Limiter struct {
	burst  int
	window time.Duration

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	start      time.Time // of the current window
	n          int       // lines seen in it
	suppressed int       // of those, not written
	level      slog.Level
	log        *slog.Logger
	args       []any // of the last suppressed line
	timer      *time.Timer
}

// New returns a Limiter passing burst lines of each kind per window.
func New(burst int, window time.Duration) *Limiter {
	return &Limiter{burst: max(burst, 1), window: window, kinds: map[string]*kind{}}
}

// Default returns a Limiter with the package defaults.
func Default() *Limiter { return New(Burst, Window) }

// Warn logs msg at warn level unless too many lines of this msg came
// within the window.
func (l *Limiter) Warn(log *slog.Logger, msg string, args ...any) {
	l.Log(log, slog.LevelWarn, msg, args...)
}

// Log logs msg at level, subject to the limit.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	k := l.kinds[msg]
	if k == nil {
		k = &kind{start: now}
		l.kinds[msg] = k
	}
	if now.Sub(k.start) >= l.window && k.timer == nil {
		k.start, k.n = now, 0
	}
	k.n++
	if k.n <= l.burst {
		l.mu.Unlock()
		log.Log(context.Background(), level, msg, args...)
		return
	}
	k.suppressed++
	k.level, k.log, k.args = level, log, args
	if k.timer == nil {
		k.timer = time.AfterFunc(k.start.Add(l.window).Sub(now), func() { l.flush(msg) })
	}
	l.mu.Unlock()
}

// flush writes the summary of a window in which lines were suppressed.
func (l *Limiter) flush(msg string) {
	l.mu.Lock()
	k := l.kinds[msg]
	n, level, log, args := k.suppressed, k.level, k.log, k.args
	k.suppressed, k.timer, k.args = 0, nil, nil
	k.start, k.n = time.Now(), 0
	l.mu.Unlock()
	if n > 0 {
		log.Log(context.Background(), level, msg+" (repeated; the last shown)",
			append(append([]any(nil), args...), "suppressed", n, "window", l.window)...)
	}
}

// Stop cancels pending summaries; lines counted but not yet summarised
// are written now.
func (l *Limiter) Stop() {
	l.mu.Lock()
	var pending []string
	for msg, k := range l.kinds {
		if k.timer != nil && k.timer.Stop() {
			pending = append(pending, msg)
		}
	}
	l.mu.Unlock()
	for _, msg := range pending {
		l.flush(msg)
	}
}
