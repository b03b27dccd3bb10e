package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/internal/testutil"
)

// The connection layer against the original's own connection classes:
// the scenarios of its tests/connectionTests.py, bytes only.

// echoResponses serves rs, each answering every request with itself,
// until the test ends.
func echoResponses(t *testing.T, rs ...*connection.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.Recv(ctx)
				if err != nil {
					return
				}
				if r.Send(ctx, m...) != nil {
					return
				}
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, r := range rs {
			r.Close()
		}
	})
}

// Pub/sub of bytes (test00–04): numbered messages, then messages of
// lengths up to 81,919 bytes, over tcp and ipc: Go publishes to the
// original's Subscriber, whose Publisher sends them on to Go.
func TestOriginalConnectionPubSub(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			var in, out string
			if transport == "tcp" {
				in, out = "@tcp://127.0.0.1:0", fmt.Sprintf("tcp://*:%d", testutil.Port(t))
			} else {
				dir := t.TempDir()
				in, out = "@ipc://"+filepath.Join(dir, "in"), "ipc://"+filepath.Join(dir, "out")
			}
			pub, err := connection.NewPublisher(in)
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			relay := startOriginal(t, "conn-relay", pub.Endpoint(), out)
			defer relay.Stdin.Close()
			sub, err := connection.NewSubscriber(">" + strings.Replace(out, "*", "127.0.0.1", 1))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			ctx := tctx(t, 60*time.Second)
			got := make(chan []byte, 1024)
			go func() {
				defer close(got)
				for {
					m, err := sub.Recv(ctx)
					if err != nil {
						return
					}
					got <- m.Payload()
				}
			}()
			sync := []byte("sync")
			handshake(t, ctx, func() error { return pub.Send(ctx, sync) }, got)
			var sent [][]byte
			for i := range 10 {
				sent = append(sent, fmt.Appendf(nil, "message-%03d", i))
			}
			for _, n := range []int{1, 2, 255, 256, 4095, 4096, 8192, 65535, 65536, 81919} {
				sent = append(sent, bytes.Repeat([]byte("X"), n))
			}
			for _, m := range sent {
				if err := pub.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range sent {
				for {
					m, ok := <-got
					if !ok {
						t.Fatalf("subscriber ended waiting for %d bytes", len(want))
					}
					if bytes.Equal(m, sync) {
						continue
					}
					if !bytes.Equal(m, want) {
						t.Fatalf("through the original: %d bytes %.20q, want %d bytes %.20q", len(m), m, len(want), want)
					}
					break
				}
			}
		})
	}
}

// Request/Response of bytes (test05–08, test15): Go to the original's
// Response; the original's Request round-robin over three Go Responses;
// the original's Dealer to a Go Response, with the empty frame.
func TestOriginalConnectionRequestResponse(t *testing.T) {
	t.Run("Go requests, the original answers", func(t *testing.T) {
		port := testutil.Port(t)
		rep := startOriginal(t, "conn-rep", strconv.Itoa(port))
		defer rep.Stdin.Close()
		req, err := connection.NewRequest(fmt.Sprintf(">tcp://127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		ctx := tctx(t, 30*time.Second)
		for i := range 10 {
			msg := fmt.Appendf(nil, "message-%03d", i)
			got, err := req.Call(ctx, msg)
			if err != nil || !bytes.Equal(got.Payload(), msg) {
				t.Fatalf("the original's echo: %q %v", got, err)
			}
		}
	})
	t.Run("the original requests round-robin over Go", func(t *testing.T) {
		var rs []*connection.Response
		var eps []string
		for range 3 {
			r, err := connection.NewResponse("@tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
			eps = append(eps, r.Endpoint())
		}
		echoResponses(t, rs...)
		ctx := tctx(t, 30*time.Second)
		req := startOriginal(t, append([]string{"conn-req", "6"}, eps...)...)
		defer req.Stdin.Close()
		for i := range 6 {
			req.expect(t, ctx, fmt.Sprintf("REPLY b'abcd-%d'", i))
		}
		for _, r := range rs {
			if st := r.Stats(); st.Received == 0 {
				t.Errorf("a Response got none of the requests: %+v", st)
			}
		}
	})
	t.Run("the original's Dealer to a Go Response", func(t *testing.T) {
		r, err := connection.NewResponse("@tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoResponses(t, r)
		d := startOriginal(t, "conn-dealer-client", r.Endpoint(), "20", "empty")
		defer d.Stdin.Close()
		d.expect(t, tctx(t, 30*time.Second), "OK 20")
	})
}

// Dealers across proxies (test09–11): the original's Dealer clients and
// workers across a Go Proxy, Go's across the original's, each reply
// routed back to the client that asked.
func TestOriginalConnectionProxy(t *testing.T) {
	t.Run("the original's clients and workers across a Go Proxy", func(t *testing.T) {
		p, err := connection.NewProxy("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		testutil.Serve(t, p)
		ctx := tctx(t, 60*time.Second)
		for range 2 {
			w := startOriginal(t, "conn-dealer-worker", p.Backend.Endpoint())
			defer w.Stdin.Close()
		}
		var clients []*pyPeer
		for range 3 {
			c := startOriginal(t, "conn-dealer-client", p.Frontend.Endpoint(), "200")
			defer c.Stdin.Close()
			clients = append(clients, c)
		}
		for _, c := range clients {
			c.expect(t, ctx, "OK 200")
		}
	})
	t.Run("Go clients and workers across the original's Proxy", func(t *testing.T) {
		fe, be := testutil.Port(t), testutil.Port(t)
		p := startOriginal(t, "proxy", strconv.Itoa(fe), strconv.Itoa(be))
		defer p.Stdin.Close()
		ctx := tctx(t, 60*time.Second)
		var rs []*connection.Response
		for range 2 {
			r, err := connection.NewResponse(fmt.Sprintf(">tcp://127.0.0.1:%d", be))
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		echoResponses(t, rs...)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for c := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := connection.NewRequest(fmt.Sprintf(">tcp://127.0.0.1:%d", fe))
				if err != nil {
					errs <- err
					return
				}
				defer req.Close()
				for i := range 200 {
					msg := fmt.Appendf(nil, "message %d.%d", c, i)
					got, err := req.Call(ctx, msg)
					if err != nil || !bytes.Equal(got.Payload(), msg) {
						errs <- fmt.Errorf("client %d, request %d: %q %v", c, i, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// And the original's Dealer worker behind it, for a Go Dealer.
		for _, r := range rs {
			r.Close() // the original's worker is the only one left
		}
		w := startOriginal(t, "conn-dealer-worker", fmt.Sprintf("tcp://localhost:%d", be))
		defer w.Stdin.Close()
		d, err := connection.NewDealer(fmt.Sprintf(">tcp://127.0.0.1:%d", fe))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		// Until the proxy has seen the closed Responses go, its back end
		// may still hand a request to one of them, where it is lost: a
		// client of a plain proxy sends again, as a lazy-pirate one does.
		for {
			attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := d.Send(attempt, []byte("message go.1"))
			var got connection.Message
			if err == nil {
				got, err = d.Recv(attempt)
			}
			cancel()
			if err == nil && string(got.Payload()) == "ack go.1" {
				break
			}
			if err == nil || ctx.Err() != nil || !errors.Is(err, connection.ErrTimeout) {
				t.Fatalf("the original's worker across its proxy: %q %v", got, err)
			}
		}
	})
}
