package mech

import (
	"crypto/rand"
	"fmt"
	"testing"

	"golang.org/x/crypto/curve25519"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// BenchmarkCurveHandshake is one whole handshake, both sides in this
// process (over channels, no I/O): what a connection costs in CPU.
func BenchmarkCurveHandshake(b *testing.B) {
	spub, ssec := keyPair(b)
	cpub, csec := keyPair(b)
	client, server := NewCurveClient(spub, cpub, csec), NewCurveServer(ssec, nil)
	cmd, smd := md("DEALER", wire.Property{Name: "Identity", Value: []byte("bench")}), md("ROUTER")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, cerr, serr := chanHandshake(client(), server(), cmd, smd, nil); cerr != nil || serr != nil {
			b.Fatal(cerr, serr)
		}
	}
}

// helloConn plays a client that sends one HELLO and ignores the answer.
type helloConn struct{ hello []byte }

func (h helloConn) ReadCommand() (wire.Command, error) {
	return wire.Command{Name: cmdHello, Data: h.hello}, nil
}
func (helloConn) WriteCommand(string, ...[]byte) error { return nil }

// BenchmarkCurveHello is what one HELLO costs the server, up to its
// WELCOME: the price of a flood of HELLOs from clients that go no
// further.
func BenchmarkCurveHello(b *testing.B) {
	spub, ssec := keyPair(b)
	var hello []byte
	cc, sc := chanPair()
	go func() {
		c, _ := wire.ParseCommand(<-sc.in)
		hello = c.Data
		sc.close()
	}()
	cpub, csec := keyPair(b)
	NewCurveClient(spub, cpub, csec)().Handshake(cc, nil)
	server := NewCurveServer(ssec, nil)
	conn := helloConn{hello}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := server().(*curveServer).welcome(conn); err != nil {
			b.Fatal(err)
		}
	}
}

var benchSizes = []int{100, 1 << 10, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkCurveSeal seals one frame into a reused buffer, as the
// engine's writer does.
func BenchmarkCurveSeal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			c, _ := codecs(b)
			body := make([]byte, n)
			var dst []byte
			var err error
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if dst, err = c.Seal(dst[:0], wire.FlagMore, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCurveOpen opens frames sealed beforehand (in batches, outside
// the timer).
func BenchmarkCurveOpen(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			c, s := codecs(b)
			body := make([]byte, n)
			const batch = 256
			frames := make([]wire.Frame, batch)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i += batch {
				b.StopTimer()
				m := min(batch, b.N-i)
				for j := 0; j < m; j++ {
					frames[j] = sealed(b, c, 0, string(body))
				}
				b.StartTimer()
				for j := 0; j < m; j++ {
					if _, err := s.Open(frames[j]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkCurveX25519 is one Curve25519 scalar multiplication, the unit
// of a handshake's cost: a HELLO costs the server two (the key shared
// with C', and S'), a whole handshake four on each side.
func BenchmarkCurveX25519(b *testing.B) {
	var s [32]byte
	rand.Read(s[:])
	for b.Loop() {
		if _, err := curve25519.X25519(s[:], curve25519.Basepoint); err != nil {
			b.Fatal(err)
		}
	}
}
