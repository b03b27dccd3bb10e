package wire

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Command names of ZMTP 3.1.
const (
	CmdReady     = "READY"
	CmdError     = "ERROR"
	CmdPing      = "PING"
	CmdPong      = "PONG"
	CmdSubscribe = "SUBSCRIBE"
	CmdCancel    = "CANCEL"
)

// Command is a parsed command frame.
type Command struct {
	Name string
	Data []byte // what follows the name; aliases the frame's body
}

// ParseCommand splits a command frame's body into name and data.
func ParseCommand(body []byte) (Command, error) {
	if len(body) < 1 || int(body[0]) > len(body)-1 || body[0] == 0 {
		return Command{}, fmt.Errorf("%w: malformed command", ErrProtocol)
	}
	n := int(body[0])
	return Command{Name: string(body[1 : 1+n]), Data: body[1+n:]}, nil
}

// AppendCommand appends a command frame named name whose data is the
// concatenation of data.
func AppendCommand(b []byte, name string, data ...[]byte) []byte {
	size := 1 + len(name)
	for _, d := range data {
		size += len(d)
	}
	b = AppendFrameHeader(b, FlagCommand, size)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

// Property is one metadata property.
type Property struct {
	Name  string
	Value []byte
}

// AppendMetadata appends properties in the form READY and INITIATE carry.
func AppendMetadata(b []byte, props ...Property) []byte {
	for _, p := range props {
		b = append(b, byte(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Value)))
		b = append(b, p.Value...)
	}
	return b
}

// Metadata is what a peer said of itself. Names compare without regard
// to case, as RFC 37 says.
type Metadata []Property

// Get returns the value of the property named name and whether there is
// one.
func (m Metadata) Get(name string) ([]byte, bool) {
	for _, p := range m {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// ParseMetadata parses properties. The values alias b.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || len(b) < 1+n+4 {
			return nil, fmt.Errorf("%w: malformed metadata", ErrProtocol)
		}
		name := string(b[1 : 1+n])
		for i := 0; i < len(name); i++ {
			if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
				return nil, fmt.Errorf("%w: metadata name %q", ErrProtocol, name)
			}
		}
		vlen := binary.BigEndian.Uint32(b[1+n:])
		rest := b[1+n+4:]
		if uint64(vlen) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: metadata value overruns the command", ErrProtocol)
		}
		m = append(m, Property{Name: name, Value: rest[:vlen:vlen]})
		b = rest[vlen:]
	}
	return m, nil
}

// Ping is a PING command's data.
type Ping struct {
	TTL     uint16 // deciseconds; 0: none
	Context []byte // at most 16 bytes
}

// AppendPing appends a PING command.
func AppendPing(b []byte, p Ping) []byte {
	var ttl [2]byte
	binary.BigEndian.PutUint16(ttl[:], p.TTL)
	return AppendCommand(b, CmdPing, ttl[:], p.Context)
}

// ParsePing parses a PING command's data.
func ParsePing(data []byte) (Ping, error) {
	if len(data) < 2 || len(data) > 2+16 {
		return Ping{}, fmt.Errorf("%w: malformed PING", ErrProtocol)
	}
	return Ping{TTL: binary.BigEndian.Uint16(data), Context: data[2:]}, nil
}

// AppendPong appends a PONG command answering a PING with ctx.
func AppendPong(b []byte, ctx []byte) []byte { return AppendCommand(b, CmdPong, ctx) }

// AppendError appends an ERROR command; the reason is cut to 255 bytes.
func AppendError(b []byte, reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	return AppendCommand(b, CmdError, []byte{byte(len(reason))}, []byte(reason))
}

// ParseError returns an ERROR command's reason.
func ParseError(data []byte) (string, error) {
	if len(data) < 1 || int(data[0]) != len(data)-1 {
		return "", fmt.Errorf("%w: malformed ERROR", ErrProtocol)
	}
	return string(data[1:]), nil
}
