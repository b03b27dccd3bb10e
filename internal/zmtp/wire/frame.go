package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Frame flag bits.
const (
	FlagMore    = 0x01
	FlagLong    = 0x02
	FlagCommand = 0x04
)

// maxShort is the largest body a short frame carries.
const maxShort = 255

// AppendFrameHeader appends the flags and size of a frame whose body
// (size bytes) the caller writes next. flags holds FlagMore and
// FlagCommand; FlagLong is chosen here.
func AppendFrameHeader(b []byte, flags byte, size int) []byte {
	flags &^= FlagLong
	if size > maxShort {
		b = append(b, flags|FlagLong)
		return binary.BigEndian.AppendUint64(b, uint64(size))
	}
	return append(b, flags, byte(size))
}

// HeaderSize is the size of the header AppendFrameHeader writes.
func HeaderSize(size int) int {
	if size > maxShort {
		return 9
	}
	return 2
}

// AppendFrame appends one message frame.
func AppendFrame(b []byte, more bool, body []byte) []byte {
	var f byte
	if more {
		f = FlagMore
	}
	b = AppendFrameHeader(b, f, len(body))
	return append(b, body...)
}

// AppendMessage appends every frame of a message, MORE on all but the
// last.
func AppendMessage(b []byte, frames [][]byte) []byte {
	for i, f := range frames {
		b = AppendFrame(b, i < len(frames)-1, f)
	}
	return b
}

// MessageSize is the number of bytes AppendMessage writes for frames.
func MessageSize(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += HeaderSize(len(f)) + len(f)
	}
	return n
}

// Limits bound what a Reader accepts from its peer.
type Limits struct {
	// MaxMessageSize is the most bytes of frame bodies one message may
	// carry, and so the largest frame; < 0 means no limit.
	MaxMessageSize int64
	// MaxFrames is the most frames one message may have; <= 0 means no
	// limit.
	MaxFrames int
	// MaxCommandSize bounds a command's body; <= 0 means
	// DefaultMaxCommandSize.
	MaxCommandSize int
}

// DefaultMaxCommandSize bounds a command frame when Limits says nothing:
// commands carry metadata, subscriptions and heartbeats, never payload.
const DefaultMaxCommandSize = 64 << 10

// chunk is how much of a large body is allocated ahead of its bytes: a
// peer that announces a frame it never sends costs at most this much.
const chunk = 1 << 20

// Frame is one frame as read.
type Frame struct {
	Flags byte
	Body  []byte
}

// More reports whether another frame of the same message follows.
func (f Frame) More() bool { return f.Flags&FlagMore != 0 }

// IsCommand reports whether the frame is a command.
func (f Frame) IsCommand() bool { return f.Flags&FlagCommand != 0 }

// Reader reads frames from a peer, with the peer's lengths checked
// against Limits before anything is allocated.
type Reader struct {
	r      *bufio.Reader
	lim    Limits
	inMsg  int   // frames of the current message read so far
	msgLen int64 // bytes of the current message read so far
}

// NewReader reads frames from r.
func NewReader(r *bufio.Reader, lim Limits) *Reader {
	if lim.MaxCommandSize <= 0 {
		lim.MaxCommandSize = DefaultMaxCommandSize
	}
	return &Reader{r: r, lim: lim}
}

// SetLimits changes the limits for the frames read from now on.
func (r *Reader) SetLimits(lim Limits) {
	if lim.MaxCommandSize <= 0 {
		lim.MaxCommandSize = DefaultMaxCommandSize
	}
	r.lim = lim
}

// Buffered reports how many bytes are read ahead.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// ReadHeader reads a frame's flags and size, and checks them against the
// limits and the message being read.
func (r *Reader) ReadHeader() (flags byte, size int, err error) {
	flags, err = r.r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if flags&^(FlagMore|FlagLong|FlagCommand) != 0 {
		return 0, 0, fmt.Errorf("%w: reserved frame flags %#x", ErrProtocol, flags)
	}
	var n uint64
	if flags&FlagLong != 0 {
		var b [8]byte
		if _, err = io.ReadFull(r.r, b[:]); err != nil {
			return 0, 0, unexpected(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	} else {
		c, err := r.r.ReadByte()
		if err != nil {
			return 0, 0, unexpected(err)
		}
		n = uint64(c)
	}
	if flags&FlagCommand != 0 {
		if flags&FlagMore != 0 {
			return 0, 0, fmt.Errorf("%w: command frame with MORE", ErrProtocol)
		}
		if n > uint64(r.lim.MaxCommandSize) {
			return 0, 0, fmt.Errorf("%w: command of %d bytes (at most %d)", ErrTooLarge, n, r.lim.MaxCommandSize)
		}
		return flags, int(n), nil
	}
	if n > math.MaxInt32*2 && r.lim.MaxMessageSize < 0 {
		// Nothing real is this big; refuse it rather than overflow int.
		return 0, 0, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, n)
	}
	if r.lim.MaxMessageSize >= 0 && (n > uint64(r.lim.MaxMessageSize) || r.msgLen+int64(n) > r.lim.MaxMessageSize) {
		return 0, 0, fmt.Errorf("%w: message of more than %d bytes", ErrTooLarge, r.lim.MaxMessageSize)
	}
	if r.lim.MaxFrames > 0 && r.inMsg+1 > r.lim.MaxFrames {
		return 0, 0, fmt.Errorf("%w: message of more than %d frames", ErrTooLarge, r.lim.MaxFrames)
	}
	if flags&FlagMore != 0 {
		r.inMsg++
		r.msgLen += int64(n)
	} else {
		r.inMsg, r.msgLen = 0, 0
	}
	return flags, int(n), nil
}

// ErrTooLarge marks a frame or message over the reader's limits.
var ErrTooLarge = fmt.Errorf("%w: over the limit", ErrProtocol)

// ReadBody reads a body of size bytes into a new slice. A large body is
// allocated as its bytes arrive, so that announcing a size costs the
// peer as much memory as it makes us spend.
func (r *Reader) ReadBody(size int) ([]byte, error) {
	if size <= chunk {
		b := make([]byte, size)
		if _, err := io.ReadFull(r.r, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	}
	b := make([]byte, 0, chunk)
	for len(b) < size {
		n := min(size-len(b), chunk)
		if cap(b)-len(b) < n {
			nb := make([]byte, len(b), min(size, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		if _, err := io.ReadFull(r.r, b[len(b):len(b)+n]); err != nil {
			return nil, unexpected(err)
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

// ReadBodyInto reads a body of size bytes into dst's spare capacity when
// it fits, else into a new slice; it returns the body and dst extended
// by it when dst was used. It lets a caller carve many small bodies out
// of one buffer.
func (r *Reader) ReadBodyInto(dst []byte, size int) (body, rest []byte, err error) {
	if cap(dst)-len(dst) < size {
		body, err = r.ReadBody(size)
		return body, dst, err
	}
	body = dst[len(dst) : len(dst)+size : len(dst)+size]
	if _, err = io.ReadFull(r.r, body); err != nil {
		return nil, dst, unexpected(err)
	}
	return body, dst[:len(dst)+size], nil
}

// ReadFrame reads one whole frame.
func (r *Reader) ReadFrame() (Frame, error) {
	flags, size, err := r.ReadHeader()
	if err != nil {
		return Frame{}, err
	}
	body, err := r.ReadBody(size)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Flags: flags, Body: body}, nil
}

// MidMessage reports whether the frames read so far end inside a
// message (the last had MORE).
func (r *Reader) MidMessage() bool { return r.inMsg > 0 }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
