package wire

import (
	"errors"
	"fmt"
	"strings"
)

// GreetingSize is the length of a ZMTP 3.x greeting.
const GreetingSize = 64

// SignatureSize is how much of the greeting identifies ZMTP 3.x: the
// signature (10 bytes) and the major version. A peer that has sent these
// can be refused before the rest arrives.
const SignatureSize = 11

// Version is the protocol version we speak: ZMTP 3.1.
const (
	VersionMajor = 3
	VersionMinor = 1
)

// ErrProtocol marks every violation of the protocol by a peer.
var ErrProtocol = errors.New("zmtp: protocol error")

// ErrVersion marks a peer that speaks a ZMTP version before 3.0, or no
// ZMTP at all.
var ErrVersion = fmt.Errorf("%w: unsupported ZMTP version", ErrProtocol)

// Greeting is what each side sends first.
type Greeting struct {
	Major, Minor uint8
	Mechanism    string // "NULL", "PLAIN", "CURVE"; at most 20 bytes
	AsServer     bool
}

// Append appends the greeting's 64 bytes to b.
func (g Greeting) Append(b []byte) []byte {
	var buf [GreetingSize]byte
	buf[0] = 0xff
	buf[9] = 0x7f
	buf[10] = g.Major
	buf[11] = g.Minor
	copy(buf[12:32], g.Mechanism)
	if g.AsServer {
		buf[32] = 1
	}
	return append(b, buf[:]...)
}

// CheckSignature checks the first SignatureSize bytes of a greeting, so
// that a peer that is not ZMTP 3.x is refused before it sends the rest.
func CheckSignature(b []byte) error {
	if len(b) < SignatureSize {
		return fmt.Errorf("%w: short greeting", ErrProtocol)
	}
	if b[0] != 0xff || b[9]&1 != 1 {
		return fmt.Errorf("%w: no ZMTP signature", ErrVersion)
	}
	if b[10] < 3 {
		return fmt.Errorf("%w: peer speaks ZMTP %d.x", ErrVersion, b[10])
	}
	return nil
}

// ParseGreeting parses a whole greeting.
func ParseGreeting(b []byte) (Greeting, error) {
	if len(b) != GreetingSize {
		return Greeting{}, fmt.Errorf("%w: greeting of %d bytes", ErrProtocol, len(b))
	}
	if err := CheckSignature(b); err != nil {
		return Greeting{}, err
	}
	mech := string(b[12:32])
	if i := strings.IndexByte(mech, 0); i >= 0 {
		mech = mech[:i]
	}
	for i := 0; i < len(mech); i++ {
		if c := mech[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
			return Greeting{}, fmt.Errorf("%w: mechanism name %q", ErrProtocol, mech)
		}
	}
	if b[32] > 1 {
		return Greeting{}, fmt.Errorf("%w: as-server byte %d", ErrProtocol, b[32])
	}
	return Greeting{Major: b[10], Minor: b[11], Mechanism: mech, AsServer: b[32] == 1}, nil
}

// AtLeast31 reports whether the peer's greeting announced ZMTP 3.1 or
// later, which changes how subscriptions travel and enables PING/PONG.
func (g Greeting) AtLeast31() bool { return g.Major > 3 || g.Major == 3 && g.Minor >= 1 }
