// Package z85 is ZeroMQ's Z85 text encoding (RFC 32) and the CURVE key
// helpers built on it: the 40-character key text that libzmq's
// zmq_curve_keypair and zmq_curve_public produce, and what key files and
// command lines carry. It is pure Go.
package z85

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// alphabet is RFC 32's: 85 printable characters that need no quoting in
// source code or shells' double quotes, in the order of their values.
const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// invalid marks a byte that is not in the alphabet.
const invalid = 0xff

// values maps a character to its value, or invalid.
var values = func() (v [256]byte) {
	for i := range v {
		v[i] = invalid
	}
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = byte(i)
	}
	return v
}()

// ErrLength is returned for input whose length Z85 cannot carry: binary
// input must be a multiple of 4 bytes, text a multiple of 5 characters.
var ErrLength = errors.New("z85: bad length")

// ErrChar is returned for text with a character outside the alphabet.
var ErrChar = errors.New("z85: invalid character")

// ErrRange is returned for a group of 5 characters whose value does not
// fit in 4 bytes (anything above "%nSc0"), which no encoder produces.
var ErrRange = errors.New("z85: group out of range")

// EncodedLen is the length of the text for n bytes (n a multiple of 4).
func EncodedLen(n int) int { return n / 4 * 5 }

// DecodedLen is the number of bytes that n characters (a multiple of 5)
// decode to.
func DecodedLen(n int) int { return n / 5 * 4 }

// Encode returns the Z85 text of src, whose length must be a multiple of
// 4 (RFC 32 leaves padding to the caller).
func Encode(src []byte) (string, error) {
	if len(src)%4 != 0 {
		return "", fmt.Errorf("%w: %d bytes is not a multiple of 4", ErrLength, len(src))
	}
	return string(AppendEncode(make([]byte, 0, EncodedLen(len(src))), src)), nil
}

// AppendEncode appends the Z85 text of src to dst. len(src) must be a
// multiple of 4; the remainder, if any, is ignored, so callers check the
// length first (Encode does).
func AppendEncode(dst, src []byte) []byte {
	for ; len(src) >= 4; src = src[4:] {
		v := binary.BigEndian.Uint32(src)
		var g [5]byte
		for i := 4; i >= 0; i-- {
			g[i] = alphabet[v%85]
			v /= 85
		}
		dst = append(dst, g[:]...)
	}
	return dst
}

// Decode returns the bytes that the Z85 text s encodes. Its length must
// be a multiple of 5 and every character in the alphabet.
func Decode(s string) ([]byte, error) {
	return AppendDecode(make([]byte, 0, DecodedLen(len(s))), s)
}

// AppendDecode appends the bytes that s encodes to dst; on error dst is
// returned as it came.
func AppendDecode(dst []byte, s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return dst, fmt.Errorf("%w: %d characters is not a multiple of 5", ErrLength, len(s))
	}
	start := len(dst)
	for i := 0; i < len(s); i += 5 {
		var v uint64 // 85^5 > 2^32: a group may overflow 32 bits
		for j := i; j < i+5; j++ {
			d := values[s[j]]
			if d == invalid {
				return dst[:start], fmt.Errorf("%w %q at offset %d", ErrChar, s[j], j)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return dst[:start], fmt.Errorf("%w: %q at offset %d", ErrRange, s[i:i+5], i)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(v))
	}
	return dst, nil
}
