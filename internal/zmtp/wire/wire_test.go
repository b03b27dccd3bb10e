package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestGreetingRoundTrip(t *testing.T) {
	g := Greeting{Major: 3, Minor: 1, Mechanism: "CURVE", AsServer: true}
	b := g.Append(nil)
	if len(b) != GreetingSize {
		t.Fatalf("greeting is %d bytes", len(b))
	}
	got, err := ParseGreeting(b)
	if err != nil || got != g {
		t.Fatalf("ParseGreeting = %+v, %v; want %+v", got, err, g)
	}
	if !got.AtLeast31() {
		t.Fatal("3.1 is not at least 3.1")
	}
	if (Greeting{Major: 3, Minor: 0}).AtLeast31() {
		t.Fatal("3.0 is at least 3.1")
	}
}

func TestGreetingRefusesOldAndGarbage(t *testing.T) {
	ok := Greeting{Major: 3, Mechanism: "NULL"}.Append(nil)
	for name, mutate := range map[string]func([]byte){
		"ZMTP 2.0":  func(b []byte) { b[10] = 1 },
		"no 0xff":   func(b []byte) { b[0] = 'G' },
		"no 0x7f":   func(b []byte) { b[9] = 0 },
		"bad mech":  func(b []byte) { b[13] = 'u' },
		"as-server": func(b []byte) { b[32] = 7 },
	} {
		b := append([]byte(nil), ok...)
		mutate(b)
		if _, err := ParseGreeting(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: ParseGreeting error %v, want ErrProtocol", name, err)
		}
	}
	if err := CheckSignature([]byte("GET / HTTP")); !errors.Is(err, ErrProtocol) {
		t.Errorf("HTTP: %v", err)
	}
}

func TestFramesShortAndLong(t *testing.T) {
	msg := [][]byte{{}, bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{2}, 256), []byte("x")}
	b := AppendMessage(nil, msg)
	if len(b) != MessageSize(msg) {
		t.Fatalf("MessageSize %d, wrote %d", MessageSize(msg), len(b))
	}
	if b[2+0] != FlagMore || b[2+257] != FlagMore|FlagLong {
		t.Fatalf("flags: short %#x, long %#x", b[2], b[259])
	}
	r := NewReader(bufio.NewReader(bytes.NewReader(b)), Limits{MaxMessageSize: -1})
	for i, want := range msg {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Body, want) || f.More() != (i < len(msg)-1) || f.IsCommand() {
			t.Fatalf("frame %d: %d bytes more=%v", i, len(f.Body), f.More())
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the message: %v", err)
	}
}

func TestHugeAnnouncedFrameCostsNothing(t *testing.T) {
	var b []byte
	b = append(b, FlagLong)
	b = binary.BigEndian.AppendUint64(b, 1<<60)
	r := NewReader(bufio.NewReader(bytes.NewReader(b)), Limits{MaxMessageSize: 1 << 20})
	if _, err := r.ReadFrame(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("2^60-byte frame: %v, want ErrTooLarge", err)
	}
	// Without a limit, a large announced frame allocates only as its
	// bytes arrive: a peer that stops after the header got a chunk.
	b = b[:1]
	b = binary.BigEndian.AppendUint64(b, 1<<31)
	r = NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(b), strings.NewReader("abc"))), Limits{MaxMessageSize: -1})
	if _, err := r.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("unlimited, cut short: %v", err)
	}
}

func TestMessageLimitsAcrossFrames(t *testing.T) {
	msg := [][]byte{make([]byte, 600), make([]byte, 600)}
	r := NewReader(bufio.NewReader(bytes.NewReader(AppendMessage(nil, msg))), Limits{MaxMessageSize: 1000})
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1200 bytes over a 1000 limit: %v", err)
	}
	many := make([][]byte, 5)
	r = NewReader(bufio.NewReader(bytes.NewReader(AppendMessage(nil, many))), Limits{MaxMessageSize: -1, MaxFrames: 4})
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = r.ReadFrame()
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("5 frames over a limit of 4: %v", err)
	}
}

func TestCommandsAndMetadata(t *testing.T) {
	props := AppendMetadata(nil, Property{"Socket-Type", []byte("DEALER")}, Property{"Identity", []byte{0, 1}})
	b := AppendCommand(nil, CmdReady, props)
	b = AppendPing(b, Ping{TTL: 30, Context: []byte("ctx")})
	b = AppendError(b, "go away")
	r := NewReader(bufio.NewReader(bytes.NewReader(b)), Limits{})
	f, err := r.ReadFrame()
	if err != nil || !f.IsCommand() {
		t.Fatal(f, err)
	}
	c, err := ParseCommand(f.Body)
	if err != nil || c.Name != CmdReady {
		t.Fatal(c, err)
	}
	md, err := ParseMetadata(c.Data)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := md.Get("socket-type"); string(v) != "DEALER" {
		t.Fatalf("Socket-Type %q", v)
	}
	if v, ok := md.Get("IDENTITY"); !ok || !bytes.Equal(v, []byte{0, 1}) {
		t.Fatalf("Identity %q", v)
	}
	f, _ = r.ReadFrame()
	c, _ = ParseCommand(f.Body)
	p, err := ParsePing(c.Data)
	if err != nil || c.Name != CmdPing || p.TTL != 30 || string(p.Context) != "ctx" {
		t.Fatal(c, p, err)
	}
	f, _ = r.ReadFrame()
	c, _ = ParseCommand(f.Body)
	if reason, err := ParseError(c.Data); err != nil || reason != "go away" {
		t.Fatal(reason, err)
	}
	for _, bad := range [][]byte{{}, {0}, {5, 'a'}} {
		if _, err := ParseCommand(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseCommand(%q): %v", bad, err)
		}
	}
	for _, bad := range [][]byte{{3, 'a', 'b'}, {1, 'a', 0, 0, 0, 9}, {1, ' ', 0, 0, 0, 0}} {
		if _, err := ParseMetadata(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseMetadata(%q): %v", bad, err)
		}
	}
}

func TestCommandLimits(t *testing.T) {
	b := AppendCommand(nil, CmdSubscribe, make([]byte, 2000))
	r := NewReader(bufio.NewReader(bytes.NewReader(b)), Limits{MaxCommandSize: 1000})
	if _, err := r.ReadFrame(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized command: %v", err)
	}
	bad := []byte{FlagCommand | FlagMore, 1, 'x'}
	r = NewReader(bufio.NewReader(bytes.NewReader(bad)), Limits{})
	if _, err := r.ReadFrame(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("command with MORE: %v", err)
	}
	r = NewReader(bufio.NewReader(bytes.NewReader([]byte{0x80, 0})), Limits{})
	if _, err := r.ReadFrame(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("reserved flags: %v", err)
	}
}

func TestCompatible(t *testing.T) {
	for _, c := range []struct {
		a, b string
		ok   bool
	}{{"REQ", "REP", true}, {"REQ", "PUB", false}, {"SUB", "XPUB", true}, {"ROUTER", "ROUTER", true},
		{"PUSH", "PULL", true}, {"PULL", "PULL", false}, {"PAIR", "PAIR", true}, {"REP", "REP", false}} {
		if Compatible(c.a, c.b) != c.ok || Compatible(c.b, c.a) != c.ok {
			t.Errorf("%s-%s: want %v", c.a, c.b, c.ok)
		}
	}
}
