// Package testutil holds the small helpers every package's tests share.
package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/lifecycle"
)

// Ctx is a context bounded by d and by the test's end.
func Ctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// OK checks a constructor's error: OK(connection.NewDealer(ep))(t).
func OK[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// CloseAll closes cs when the test ends.
func CloseAll(t *testing.T, cs ...io.Closer) {
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
}

// Eventually polls cond every 10 ms until it holds or d passes, and
// returns how long it took. It is for conditions with no event to wait
// on, such as "the name service forgot a dead service".
func Eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !Poll(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
	return time.Since(start)
}

// Poll polls cond every 10 ms until it holds (true) or d passes (false).
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Buffer is a bytes.Buffer safe for a writer goroutine (a logger, a
// command) and the test reading it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Leaks returns an error listing the goroutines, other than the
// caller's, that run dividere code (the project's own, or its tests'),
// once they have had five seconds to end. A test binary that calls it
// after its tests have run fails on what they left behind: it is a leak
// check with no dependency (goleak's would enter every user's module
// graph).
func Leaks() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := running()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines left running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // a goroutine on its way out: look again
	}
}

// VerifyNoLeaks runs the tests, then Leaks, and exits: for TestMain.
func VerifyNoLeaks(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Leaks(); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// running returns the stacks of the goroutines, other than the caller's,
// in which dividere code runs or which dividere code created.
func running() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "github.com/dividere-go/dividere") { // the first is the caller
			out = append(out, g)
		}
	}
	return out
}

// Server is what every dividere server is: built, then served.
type Server interface {
	Serve(context.Context) error
	Close() error
}

// Serve runs s.Serve until the test ends, then closes s and checks that
// Serve returned ErrServerClosed promptly.
func Serve(t *testing.T, s Server) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, lifecycle.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10 s of Close")
		}
	})
}

// Port returns a free TCP port on 127.0.0.1 below the kernel's ephemeral
// range, for a test that names a port before anything binds it (a
// client started before its server, a server restarted on its port): a
// port from the ephemeral range (endpoint.FreePort's) may be handed to
// any socket that binds port 0 meanwhile.
func Port(t *testing.T) int {
	t.Helper()
	p, err := LowPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LowPort is Port for code without a test at hand (a helper process's
// set-up): a free port below the kernel's ephemeral range.
func LowPort() (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 20000
	for range 1000 {
		p := from + rand.IntN(max(low-from, 1))
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port below the ephemeral range")
}
