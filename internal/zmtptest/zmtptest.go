// Package zmtptest is a raw ZMTP 3.0 peer for tests of hostile input: it
// speaks just enough of the protocol (the NULL mechanism) to get past a
// libzmq socket's handshake as any socket type, then sends whatever
// frames a test wants, however malformed or large, without a libzmq
// socket of its own that could choke on them first.
package zmtptest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Conn is one raw ZMTP connection.
type Conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// Dial connects to a libzmq tcp endpoint ("tcp://host:port" or
// "host:port") and completes the NULL handshake as socketType ("SUB",
// "REQ", "DEALER", …).
func Dial(endpoint, socketType string) (*Conn, error) {
	addr := strings.TrimPrefix(endpoint, "tcp://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	z := &Conn{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 64<<10)}
	if err := z.handshake(socketType); err != nil {
		c.Close()
		return nil, fmt.Errorf("zmtp handshake with %s: %w", addr, err)
	}
	return z, nil
}

func (z *Conn) handshake(socketType string) error {
	greeting := make([]byte, 64)
	greeting[0], greeting[9] = 0xFF, 0x7F
	greeting[10], greeting[11] = 3, 0
	copy(greeting[12:], "NULL")
	if _, err := z.c.Write(greeting); err != nil {
		return err
	}
	z.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer z.c.SetReadDeadline(time.Time{})
	peer := make([]byte, 64)
	if _, err := io.ReadFull(z.r, peer); err != nil {
		return err
	}
	// READY with the Socket-Type property.
	body := append([]byte{5}, "READY"...)
	body = append(body, byte(len("Socket-Type")))
	body = append(body, "Socket-Type"...)
	body = binary.BigEndian.AppendUint32(body, uint32(len(socketType)))
	body = append(body, socketType...)
	if err := z.write(0x04, body); err != nil {
		return err
	}
	if err := z.w.Flush(); err != nil {
		return err
	}
	flags, _, err := z.ReadFrame()
	if err != nil {
		return err
	}
	if flags&0x04 == 0 {
		return fmt.Errorf("expected the peer's READY command, got flags %#x", flags)
	}
	return nil
}

func (z *Conn) write(flags byte, body []byte) error {
	var hdr []byte
	if len(body) > 255 {
		hdr = binary.BigEndian.AppendUint64([]byte{flags | 0x02}, uint64(len(body)))
	} else {
		hdr = []byte{flags, byte(len(body))}
	}
	if _, err := z.w.Write(hdr); err != nil {
		return err
	}
	_, err := z.w.Write(body)
	return err
}

// Send sends one message of the given frames.
func (z *Conn) Send(frames ...[]byte) error {
	if err := z.Queue(frames...); err != nil {
		return err
	}
	return z.w.Flush()
}

// Queue buffers one message to go with the next Send or Flush: a flood
// of small messages in few system calls.
func (z *Conn) Queue(frames ...[]byte) error {
	for i, f := range frames {
		flags := byte(0)
		if i < len(frames)-1 {
			flags = 0x01
		}
		if err := z.write(flags, f); err != nil {
			return err
		}
	}
	return nil
}

// Flush sends what Queue buffered.
func (z *Conn) Flush() error { return z.w.Flush() }

// ReadFrame reads one frame (or command) and its flags.
func (z *Conn) ReadFrame() (flags byte, body []byte, err error) {
	if flags, err = z.r.ReadByte(); err != nil {
		return 0, nil, err
	}
	var n uint64
	if flags&0x02 != 0 {
		var b [8]byte
		if _, err = io.ReadFull(z.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	} else {
		s, err := z.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n = uint64(s)
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	body = make([]byte, n)
	_, err = io.ReadFull(z.r, body)
	return flags, body, err
}

// Recv reads one whole message, skipping commands (such as PINGs).
func (z *Conn) Recv(timeout time.Duration) ([][]byte, error) {
	z.c.SetReadDeadline(time.Now().Add(timeout))
	defer z.c.SetReadDeadline(time.Time{})
	var msg [][]byte
	for {
		flags, body, err := z.ReadFrame()
		if err != nil {
			return nil, err
		}
		if flags&0x04 != 0 {
			continue
		}
		msg = append(msg, body)
		if flags&0x01 == 0 {
			return msg, nil
		}
	}
}

// WaitClosed reads until the peer closes the connection (it dropped
// us), and reports whether it did within timeout.
func (z *Conn) WaitClosed(timeout time.Duration) bool {
	z.c.SetReadDeadline(time.Now().Add(timeout))
	defer z.c.SetReadDeadline(time.Time{})
	_, err := io.Copy(io.Discard, z.r)
	return err == nil // EOF: closed; a timeout is an error
}

// Close closes the connection.
func (z *Conn) Close() error { return z.c.Close() }
