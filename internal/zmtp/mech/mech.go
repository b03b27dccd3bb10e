// Package mech holds ZMTP security mechanisms: what runs between the
// greeting and the first message, and what, if anything, it does to
// every frame after (RFC 37's NULL here; CURVE, RFC 25 and 26, beside
// it). A mechanism reads and writes commands through Conn and knows
// nothing of sockets.
package mech

import (
	"errors"
	"fmt"

	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// Conn is the command channel a mechanism handshakes over.
type Conn interface {
	// WriteCommand sends one command frame and flushes it.
	WriteCommand(name string, data ...[]byte) error
	// ReadCommand reads the next frame, which must be a command.
	ReadCommand() (wire.Command, error)
}

// Mechanism runs one side of a handshake. A Mechanism value serves one
// connection; a Factory makes one per connection.
type Mechanism interface {
	// Name is the mechanism's name in the greeting ("NULL", "CURVE").
	Name() string
	// AsServer is the greeting's as-server bit.
	AsServer() bool
	// Handshake exchanges the mechanism's commands after the greetings,
	// sending local as this side's metadata.
	Handshake(c Conn, local wire.Metadata) (Result, error)
}

// Factory makes the Mechanism for one connection.
type Factory func() Mechanism

// Result is what a completed handshake established.
type Result struct {
	Peer wire.Metadata // what the peer said of itself
	// UserID is who the peer was authenticated as ("" when it was not),
	// as libzmq's "User-Id" message property.
	UserID string
	// Codec transforms message frames after the handshake; nil leaves
	// them as they are.
	Codec Codec
}

// Codec seals every frame sent and opens every frame received once a
// mechanism that encrypts has completed its handshake.
type Codec interface {
	// Seal appends the wire form of one frame (flags FlagMore or
	// FlagCommand, and body) to dst.
	Seal(dst []byte, flags byte, body []byte) ([]byte, error)
	// SealedSize bounds how many bytes Seal writes for a body of n bytes.
	SealedSize(n int) int
	// Open turns a frame as read into the frame it carries.
	Open(f wire.Frame) (wire.Frame, error)
}

// ErrAuth marks a peer refused by authentication.
var ErrAuth = errors.New("zmtp: authentication failed")

// ErrPeerError is a handshake the peer ended with an ERROR command.
var ErrPeerError = fmt.Errorf("%w: peer sent ERROR", wire.ErrProtocol)

// expectReady reads the peer's READY (or its ERROR) and parses its
// metadata.
func expectReady(c Conn) (wire.Metadata, error) {
	cmd, err := c.ReadCommand()
	if err != nil {
		return nil, err
	}
	switch cmd.Name {
	case wire.CmdReady:
		return wire.ParseMetadata(cmd.Data)
	case wire.CmdError:
		reason, _ := wire.ParseError(cmd.Data)
		return nil, fmt.Errorf("%w: %q", ErrPeerError, reason)
	}
	return nil, fmt.Errorf("%w: %s during the NULL handshake", wire.ErrProtocol, cmd.Name)
}

// Null is the NULL mechanism: each side sends READY with its metadata,
// and nothing is authenticated or encrypted.
type Null struct{}

// NewNull is the Factory of the NULL mechanism.
func NewNull() Mechanism { return Null{} }

// Name returns "NULL".
func (Null) Name() string { return "NULL" }

// AsServer is false: NULL has no server.
func (Null) AsServer() bool { return false }

// Handshake sends READY and reads the peer's.
func (Null) Handshake(c Conn, local wire.Metadata) (Result, error) {
	if err := c.WriteCommand(wire.CmdReady, wire.AppendMetadata(nil, local...)); err != nil {
		return Result{}, err
	}
	peer, err := expectReady(c)
	if err != nil {
		return Result{}, err
	}
	return Result{Peer: peer}, nil
}
