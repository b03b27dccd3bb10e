package z85

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RFC 32's example.
var helloWorld = []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}

func TestRFCVector(t *testing.T) {
	s, err := Encode(helloWorld)
	if err != nil || s != "HelloWorld" {
		t.Fatalf("Encode = %q, %v; want HelloWorld", s, err)
	}
	b, err := Decode("HelloWorld")
	if err != nil || !bytes.Equal(b, helloWorld) {
		t.Fatalf("Decode = %x, %v; want %x", b, err, helloWorld)
	}
}

// zmq_curve's man page test keys: the client's pair, which zmq_curve_public
// must map one to the other.
const (
	manClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	manClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
	manServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	manServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
)

func TestPublicFromSecretManPage(t *testing.T) {
	for _, p := range [][2]string{{manClientPublic, manClientSecret}, {manServerPublic, manServerSecret}} {
		got, err := PublicFromSecret(p[1])
		if err != nil || got != p[0] {
			t.Errorf("PublicFromSecret = %q, %v; want %q", got, err, p[0])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for n := 0; n <= 64; n += 4 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		if n == 8 {
			for i := range b {
				b[i] = 0xff // the largest group, "%nSc0"
			}
		}
		s, err := Encode(b)
		if err != nil || len(s) != EncodedLen(n) {
			t.Fatalf("Encode(%d bytes) = %q, %v", n, s, err)
		}
		got, err := Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Decode(Encode(%x)) = %x, %v", b, got, err)
		}
	}
	if s, _ := Encode([]byte{0xff, 0xff, 0xff, 0xff}); s != "%nSc0" {
		t.Errorf("Encode(ffffffff) = %q, want %%nSc0", s)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Encode([]byte{1, 2, 3}); !errors.Is(err, ErrLength) {
		t.Errorf("Encode of 3 bytes: %v, want ErrLength", err)
	}
	if _, err := Decode("Hello"[:4]); !errors.Is(err, ErrLength) {
		t.Errorf("Decode of 4 characters: %v, want ErrLength", err)
	}
	if _, err := Decode("Hell\"World"); !errors.Is(err, ErrChar) || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("Decode with a quote: %v, want ErrChar at offset 4", err)
	}
	if _, err := Decode("Hello~orld"); !errors.Is(err, ErrChar) {
		t.Errorf("Decode with ~: %v, want ErrChar", err)
	}
	if _, err := Decode("%nSc1"); !errors.Is(err, ErrRange) {
		t.Errorf("Decode(%%nSc1): %v, want ErrRange", err)
	}
	if _, err := Decode("#####"); !errors.Is(err, ErrRange) {
		t.Errorf("Decode(#####): %v, want ErrRange", err)
	}
	if _, err := DecodeKey(manClientSecret[:39]); !errors.Is(err, ErrKey) {
		t.Errorf("DecodeKey of 39 characters: %v, want ErrKey", err)
	}
	bad := manClientSecret[:10] + "~" + manClientSecret[11:]
	_, err := DecodeKey(bad)
	if !errors.Is(err, ErrKey) || strings.Contains(err.Error(), manClientSecret[:10]) {
		t.Errorf("DecodeKey with ~: %v, want ErrKey without the key's text", err)
	}
	if _, err := PublicFromSecret("short"); !errors.Is(err, ErrKey) {
		t.Errorf("PublicFromSecret(short): %v, want ErrKey", err)
	}
}

func TestNewKeyPair(t *testing.T) {
	pub, sec, err := NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != KeyTextSize || len(sec) != KeyTextSize || pub == sec {
		t.Fatalf("NewKeyPair = %q, %q", pub, sec)
	}
	if got, err := PublicFromSecret(sec); err != nil || got != pub {
		t.Fatalf("PublicFromSecret(secret) = %q, %v; want %q", got, err, pub)
	}
	pub2, _, _ := NewKeyPair()
	if pub2 == pub {
		t.Fatal("two key pairs alike")
	}
}

// python runs a script under Debian's pyzmq, which links libzmq and
// libsodium: the reference these helpers must agree with.
func python(t *testing.T, script string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{"-c", script}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && strings.Contains(string(ee.Stderr), "No module named 'zmq'") {
			t.Skip("python3 has no zmq module")
		}
		t.Fatalf("python3: %v", err)
	}
	return strings.Fields(string(out))
}

func TestAgainstPyzmq(t *testing.T) {
	const script = `
import sys, zmq
from zmq.utils import z85
if not zmq.has("curve"):
    print("nocurve"); sys.exit(0)
for _ in range(8):
    pub, sec = zmq.curve_keypair()
    print(pub.decode(), sec.decode(), zmq.curve_public(sec).decode())
raw = bytes.fromhex(sys.argv[1])
print(z85.encode(raw).decode())
print(z85.decode(sys.argv[2].encode()).hex())
print(zmq.curve_public(sys.argv[2].encode()).decode())
`
	raw := make([]byte, 64)
	for i := range raw {
		raw[i] = byte(255 - 3*i)
	}
	ourPub, ourSec, err := NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	out := python(t, script, hex.EncodeToString(raw), ourSec)
	if len(out) == 1 && out[0] == "nocurve" {
		t.Skip("pyzmq's libzmq has no CURVE")
	}
	if len(out) != 8*3+3 {
		t.Fatalf("python printed %q", out)
	}
	for i := 0; i < 8; i++ {
		pub, sec, pub2 := out[3*i], out[3*i+1], out[3*i+2]
		if pub != pub2 {
			t.Fatalf("pyzmq: curve_public %q != keypair's %q", pub2, pub)
		}
		got, err := PublicFromSecret(sec)
		if err != nil || got != pub {
			t.Fatalf("PublicFromSecret(pyzmq's secret) = %q, %v; want %q", got, err, pub)
		}
		for _, s := range []string{pub, sec} {
			k, err := DecodeKey(s)
			if err != nil || EncodeKey(k) != s {
				t.Fatalf("DecodeKey/EncodeKey(%q) = %q, %v", s, EncodeKey(k), err)
			}
		}
	}
	if want, _ := Encode(raw); out[24] != want {
		t.Errorf("pyzmq encodes %x as %q, we as %q", raw, out[24], want)
	}
	sec, _ := DecodeKey(ourSec)
	if out[25] != hex.EncodeToString(sec[:]) {
		t.Errorf("pyzmq decodes our secret to %s, we to %x", out[25], sec)
	}
	if out[26] != ourPub {
		t.Errorf("pyzmq's curve_public of our secret is %q, ours %q", out[26], ourPub)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("HelloWorld")
	f.Add("%nSc0")
	f.Add("#####")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			return
		}
		if back, err := Encode(b); err != nil || back != s {
			t.Fatalf("Encode(Decode(%q)) = %q, %v", s, back, err)
		}
	})
}
