package mech

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// streamConn is a ZMTP connection as the tests drive it, without the
// engine: the greeting, then a Mechanism's handshake through Conn, then
// frames through its Codec.
type streamConn struct {
	nc    net.Conn
	fr    *wire.Reader
	codec Codec
	wmu   sync.Mutex
}

func newStreamConn(nc net.Conn) *streamConn {
	// CURVE carries every frame in a command: let commands be as large
	// as the messages the tests send.
	lim := wire.Limits{MaxMessageSize: -1, MaxCommandSize: 16 << 20}
	return &streamConn{nc: nc, fr: wire.NewReader(bufio.NewReader(nc), lim)}
}

// WriteCommand implements Conn.
func (s *streamConn) WriteCommand(name string, data ...[]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.nc.Write(wire.AppendCommand(nil, name, data...))
	return err
}

// ReadCommand implements Conn.
func (s *streamConn) ReadCommand() (wire.Command, error) {
	f, err := s.fr.ReadFrame()
	if err != nil {
		return wire.Command{}, err
	}
	if !f.IsCommand() {
		return wire.Command{}, fmt.Errorf("%w: a message during the handshake", wire.ErrProtocol)
	}
	return wire.ParseCommand(f.Body)
}

// greet exchanges ZMTP greetings for m and checks the peer's.
func (s *streamConn) greet(m Mechanism) (wire.Greeting, error) {
	g := wire.Greeting{Major: wire.VersionMajor, Minor: wire.VersionMinor, Mechanism: m.Name(), AsServer: m.AsServer()}
	errc := make(chan error, 1)
	go func() { _, err := s.nc.Write(g.Append(nil)); errc <- err }()
	var b [wire.GreetingSize]byte
	_, err := io.ReadFull(s.nc, b[:])
	if werr := <-errc; err == nil {
		err = werr
	}
	if err != nil {
		return wire.Greeting{}, err
	}
	pg, err := wire.ParseGreeting(b[:])
	if err != nil {
		return pg, err
	}
	if pg.Mechanism != m.Name() {
		return pg, fmt.Errorf("peer mechanism %q", pg.Mechanism)
	}
	return pg, nil
}

// handshake runs m on the connection after the greeting.
func (s *streamConn) handshake(m Mechanism, local wire.Metadata) (Result, error) {
	if _, err := s.greet(m); err != nil {
		return Result{}, err
	}
	if rs, ok := m.(RemoteSetter); ok {
		rs.SetRemote(s.nc.RemoteAddr())
	}
	res, err := m.Handshake(s, local)
	s.codec = res.Codec
	return res, err
}

// send writes a message, frame by frame, through the codec.
func (s *streamConn) send(frames ...[]byte) error {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = wire.FlagMore
		}
		var err error
		if b, err = s.codec.Seal(b, flags, f); err != nil {
			return err
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.nc.Write(b)
	return err
}

// sendCommand writes a ZMTP command (PING, PONG) through the codec.
func (s *streamConn) sendCommand(name string, data ...[]byte) error {
	body := append([]byte{byte(len(name))}, name...)
	for _, d := range data {
		body = append(body, d...)
	}
	b, err := s.codec.Seal(nil, wire.FlagCommand, body)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err = s.nc.Write(b)
	return err
}

// recvFrame reads and opens one frame.
func (s *streamConn) recvFrame() (wire.Frame, error) {
	f, err := s.fr.ReadFrame()
	if err != nil {
		return f, err
	}
	return s.codec.Open(f)
}

// recv reads one whole message; commands it meets go to onCommand (nil:
// PINGs are answered, anything else ignored).
func (s *streamConn) recv(onCommand func(wire.Command)) ([][]byte, error) {
	var msg [][]byte
	for {
		f, err := s.recvFrame()
		if err != nil {
			return nil, err
		}
		if f.IsCommand() {
			cmd, err := wire.ParseCommand(f.Body)
			if err != nil {
				return nil, err
			}
			if onCommand != nil {
				onCommand(cmd)
			} else if cmd.Name == wire.CmdPing {
				p, err := wire.ParsePing(cmd.Data)
				if err != nil {
					return nil, err
				}
				if err := s.sendCommand(wire.CmdPong, p.Context); err != nil {
					return nil, err
				}
			}
			continue
		}
		msg = append(msg, f.Body)
		if !f.More() {
			return msg, nil
		}
	}
}

// pair is a client and a server after their handshake over net.Pipe.
type pair struct {
	c, s       *streamConn
	cres, sres Result
	cerr, serr error
}

// handshakePair runs client against server over net.Pipe, each side
// closing its end when its handshake fails so that the other's read
// ends, and the whole bounded by a deadline.
func handshakePair(t testing.TB, client, server Factory, cmd, smd wire.Metadata) *pair {
	t.Helper()
	a, b := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	p := &pair{c: newStreamConn(a), s: newStreamConn(b)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if p.cres, p.cerr = p.c.handshake(client(), cmd); p.cerr != nil {
			a.Close()
		}
	}()
	go func() {
		defer wg.Done()
		if p.sres, p.serr = p.s.handshake(server(), smd); p.serr != nil {
			b.Close()
		}
	}()
	wg.Wait()
	a.SetDeadline(time.Time{})
	b.SetDeadline(time.Time{})
	t.Cleanup(func() { a.Close(); b.Close() })
	return p
}

// keyPair makes a raw CURVE key pair.
func keyPair(t testing.TB) (public, secret [32]byte) {
	t.Helper()
	public, secret, err := z85.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return public, secret
}

// chanConn is one end of an in-memory command channel: cheaper than a
// pipe, for the fuzz target and the benchmarks. A side that fails closes
// its out channel, which ends the other's reads.
type chanConn struct {
	in     <-chan []byte
	out    chan<- []byte
	tamper func(name string, data []byte) []byte // nil: none
	once   sync.Once
}

func chanPair() (*chanConn, *chanConn) {
	ab, ba := make(chan []byte, 4), make(chan []byte, 4)
	return &chanConn{in: ba, out: ab}, &chanConn{in: ab, out: ba}
}

var errChanClosed = errors.New("chanConn: closed")

// WriteCommand implements Conn.
func (c *chanConn) WriteCommand(name string, data ...[]byte) error {
	var d []byte
	for _, p := range data {
		d = append(d, p...)
	}
	if c.tamper != nil {
		d = c.tamper(name, d)
	}
	body := append([]byte{byte(len(name))}, name...)
	c.out <- append(body, d...)
	return nil
}

// ReadCommand implements Conn.
func (c *chanConn) ReadCommand() (wire.Command, error) {
	b, ok := <-c.in
	if !ok {
		return wire.Command{}, io.EOF
	}
	return wire.ParseCommand(b)
}

func (c *chanConn) close() { c.once.Do(func() { close(c.out) }) }

// chanHandshake runs a client and a server over chanPair.
func chanHandshake(client, server Mechanism, cmd, smd wire.Metadata, tamperClient func(string, []byte) []byte) (cres, sres Result, cerr, serr error) {
	cc, sc := chanPair()
	cc.tamper = tamperClient
	done := make(chan struct{})
	go func() {
		defer close(done)
		sres, serr = server.Handshake(sc, smd)
		sc.close()
		for range sc.in { // let the client's writes through
		}
	}()
	cres, cerr = client.Handshake(cc, cmd)
	cc.close()
	for range cc.in {
	}
	<-done
	return
}
