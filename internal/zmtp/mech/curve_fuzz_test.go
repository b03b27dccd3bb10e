package mech

import (
	"sync"
	"testing"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

var fuzzKeys = sync.OnceValue(func() (k struct{ spub, ssec, cpub, csec [32]byte }) {
	k.spub, k.ssec, _ = z85.NewKey()
	k.cpub, k.csec, _ = z85.NewKey()
	return k
})

// Fuzz targets: which command of a real handshake the fuzzer changes.
const (
	fuzzHello = iota
	fuzzInitiate
	fuzzClientMessage
	fuzzWelcome
	fuzzReady
	fuzzServerMessage
	fuzzTargets
)

// mutate changes orig as mode says, with data: replace it, XOR data into
// it from an offset, cut it, or extend it.
func mutate(mode byte, orig, data []byte) []byte {
	switch mode % 4 {
	case 0:
		return append([]byte(nil), data...)
	case 1:
		b := append([]byte(nil), orig...)
		if len(data) == 0 || len(b) == 0 {
			return b
		}
		off := int(data[0]) * len(b) / 256
		for i, x := range data[1:] {
			b[(off+i)%len(b)] ^= x
		}
		return b
	case 2:
		if len(data) == 0 {
			return orig
		}
		return append([]byte(nil), orig[:int(data[0])*len(orig)/256]...)
	default:
		return append(append([]byte(nil), orig...), data...)
	}
}

// FuzzCurveHandshake runs a genuine client against a genuine server and
// lets the fuzzer change one of their commands (HELLO, WELCOME, INITIATE,
// READY, or a MESSAGE either way) on the way; it also opens the fuzzer's
// bytes as a MESSAGE. Nothing may panic or hang, a changed handshake
// command must fail the handshake, and a changed MESSAGE must not open
// as anything but what was sent.
func FuzzCurveHandshake(f *testing.F) {
	for target := byte(0); target < fuzzTargets; target++ {
		f.Add(target, byte(1), []byte{})                   // untouched
		f.Add(target, byte(1), []byte{128, 1})             // one bit in the middle
		f.Add(target, byte(2), []byte{200})                // cut
		f.Add(target, byte(3), []byte{0, 0, 0, 0})         // extended
		f.Add(target, byte(0), []byte("\x00\x00\x00\x01")) // replaced
	}
	f.Fuzz(func(t *testing.T, target, mode byte, data []byte) {
		k := fuzzKeys()
		target %= fuzzTargets
		changed := false
		tamper := func(want string) func(string, []byte) []byte {
			return func(name string, d []byte) []byte {
				if name != want {
					return d
				}
				out := mutate(mode, d, data)
				changed = string(out) != string(d)
				return out
			}
		}
		cc, sc := chanPair()
		switch target {
		case fuzzHello:
			cc.tamper = tamper(cmdHello)
		case fuzzInitiate:
			cc.tamper = tamper(cmdInitiate)
		case fuzzWelcome:
			sc.tamper = tamper(cmdWelcome)
		case fuzzReady:
			sc.tamper = tamper(wire.CmdReady)
		}
		client := NewCurveClient(k.spub, k.cpub, k.csec)()
		server := NewCurveServer(k.ssec, func([32]byte) error { return nil })()
		var sres Result
		var serr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			sres, serr = server.Handshake(sc, md("ROUTER", wire.Property{Name: "X-S", Value: []byte("s")}))
			sc.close()
			for range sc.in {
			}
		}()
		cres, cerr := client.Handshake(cc, md("DEALER", wire.Property{Name: "X-C", Value: []byte("c")}))
		cc.close()
		for range cc.in {
		}
		<-done
		if target <= fuzzReady && target != fuzzClientMessage && changed {
			if cerr == nil && serr == nil {
				t.Fatalf("a changed %d went through the handshake", target)
			}
			return
		}
		if cerr != nil || serr != nil {
			if !changed {
				t.Fatalf("handshake: %v, %v", cerr, serr)
			}
			return
		}
		for _, dir := range []struct {
			tx, rx Codec
			tamper bool
		}{{cres.Codec, sres.Codec, target == fuzzClientMessage}, {sres.Codec, cres.Codec, target == fuzzServerMessage}} {
			for i, body := range []string{"first", "", "third frame"} {
				flags := byte(0)
				if i == 1 {
					flags = wire.FlagMore
				}
				b, err := dir.tx.Seal(nil, flags, []byte(body))
				if err != nil {
					t.Fatal(err)
				}
				h := wire.HeaderSize(len(b) - 2)
				fb := b[h:]
				if dir.tamper && i == 1 {
					fb = mutate(mode, fb, data)
				}
				f, err := dir.rx.Open(wire.Frame{Flags: b[0] &^ wire.FlagLong, Body: fb})
				if err != nil {
					break // the connection would close here
				}
				if string(f.Body) != body || f.Flags != flags {
					t.Fatalf("frame %d opened as %q (flags %#x), sent %q (%#x)", i, f.Body, f.Flags, body, flags)
				}
			}
		}
		// The fuzzer's bytes as a frame of their own.
		for _, fl := range []byte{0, wire.FlagCommand} {
			if f, err := sres.Codec.Open(wire.Frame{Flags: fl, Body: data}); err == nil {
				t.Fatalf("the fuzzer forged a MESSAGE: %q", f.Body)
			}
		}
	})
}
