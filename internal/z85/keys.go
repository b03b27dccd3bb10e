package z85

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// KeySize is the size of a CURVE (Curve25519) key in bytes.
const KeySize = 32

// KeyTextSize is the size of a CURVE key as Z85 text.
const KeyTextSize = 40

// ErrKey is returned for text that is not a CURVE key: 40 characters of
// Z85.
var ErrKey = errors.New("z85: bad CURVE key")

// EncodeKey returns the 40-character Z85 text of a key.
func EncodeKey(k [KeySize]byte) string {
	return string(AppendEncode(make([]byte, 0, KeyTextSize), k[:]))
}

// DecodeKey parses a key's 40-character Z85 text. The error does not
// quote the text, which may be a secret key.
func DecodeKey(s string) ([KeySize]byte, error) {
	var k [KeySize]byte
	if len(s) != KeyTextSize {
		return k, fmt.Errorf("%w: want %d Z85 characters, got %d", ErrKey, KeyTextSize, len(s))
	}
	if _, err := AppendDecode(k[:0], s); err != nil {
		// Strip the text from the decoder's error: only where it failed.
		switch {
		case errors.Is(err, ErrChar):
			return [KeySize]byte{}, fmt.Errorf("%w: a character outside the Z85 alphabet", ErrKey)
		default:
			return [KeySize]byte{}, fmt.Errorf("%w: not Z85 (%v)", ErrKey, errors.Unwrap(err))
		}
	}
	return k, nil
}

// NewKey makes a fresh CURVE key pair as raw bytes: a random secret and
// its public key, as libsodium's crypto_box_keypair makes them.
func NewKey() (public, secret [KeySize]byte, err error) {
	if _, err = rand.Read(secret[:]); err != nil {
		return public, secret, fmt.Errorf("z85: curve key pair: %w", err)
	}
	public, err = Public(secret)
	return public, secret, err
}

// Public returns the public key of a secret key (Curve25519 scalar
// multiplication of the base point).
func Public(secret [KeySize]byte) ([KeySize]byte, error) {
	var public [KeySize]byte
	p, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err != nil {
		return public, fmt.Errorf("z85: public key: %w", err)
	}
	copy(public[:], p)
	return public, nil
}

// NewKeyPair makes a fresh CURVE key pair as Z85 text, as
// zmq_curve_keypair does.
func NewKeyPair() (public, secret string, err error) {
	pub, sec, err := NewKey()
	if err != nil {
		return "", "", err
	}
	return EncodeKey(pub), EncodeKey(sec), nil
}

// PublicFromSecret returns the Z85 public key of a Z85 secret key, as
// zmq_curve_public does.
func PublicFromSecret(secret string) (string, error) {
	sec, err := DecodeKey(secret)
	if err != nil {
		return "", err
	}
	pub, err := Public(sec)
	if err != nil {
		return "", err
	}
	return EncodeKey(pub), nil
}
