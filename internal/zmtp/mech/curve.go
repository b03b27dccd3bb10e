package mech

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/salsa20/salsa"

	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp/wire"
)

// The CURVE mechanism: ZMTP's RFC 25 carrying CurveZMQ (RFC 26).
//
//	C:HELLO    C', Box[64 zeros](C'->S)
//	S:WELCOME  Box[S' + cookie](S->C'), cookie = Box[C' + s'](K)
//	C:INITIATE cookie, Box[C + vouch + metadata](C'->S'), vouch = Box[C' + S](C->S')
//	S:READY    Box[metadata](S'->C')
//	MESSAGE    Box[flags + frame](C'->S' or S'->C'), short nonces going up
//
// C and S are the permanent keys, C' and S' the keys made for one
// connection, K the server's cookie key.

// Command names of CurveZMQ.
const (
	cmdHello    = "HELLO"
	cmdWelcome  = "WELCOME"
	cmdInitiate = "INITIATE"
	cmdMessage  = "MESSAGE"
)

// Sizes of CurveZMQ's fields, and of each command's data (what follows
// the name): a command of any other size is refused before any crypto.
const (
	keySize       = 32
	shortNonce    = 8
	longNonce     = 16
	overhead      = box.Overhead // 16: what a box adds to what it holds
	helloPadding  = 72           // zeros: HELLO outweighs WELCOME, so a spoofed source gains no amplification
	helloSig      = 64           // the zeros in HELLO's box
	cookieSize    = longNonce + overhead + 2*keySize
	vouchSize     = longNonce + overhead + 2*keySize
	helloData     = 2 + helloPadding + keySize + shortNonce + overhead + helloSig // 194
	welcomeData   = longNonce + overhead + keySize + cookieSize                   // 160
	initiateMin   = cookieSize + shortNonce + overhead + keySize + vouchSize      // 248
	readyMin      = shortNonce + overhead                                         // 24
	messageMin    = shortNonce + overhead + 1                                     // 25
	maxHandshake  = wire.DefaultMaxCommandSize                                    // INITIATE and READY carry metadata only
	messageHeader = 1 + len(cmdMessage) + shortNonce                              // before the box

	// CurveOverhead is how many bytes a MESSAGE's body adds to the
	// frame it carries: name, short nonce, the box's tag and the flags
	// byte. Every MESSAGE is a frame without MORE (as libzmq sends it),
	// so once CURVE is up the reader's frame limit must allow a frame of
	// MaxMessageSize plus this, and the limits on messages apply to the
	// frames Open returns.
	CurveOverhead = messageHeader + overhead + 1
)

// Nonce prefixes (RFC 26): each box's nonce says what it is, so that no
// box can be replayed as another kind even under the same key.
var (
	prefixHello    = [16]byte([]byte("CurveZMQHELLO---"))
	prefixInitiate = [16]byte([]byte("CurveZMQINITIATE"))
	prefixReady    = [16]byte([]byte("CurveZMQREADY---"))
	prefixMsgC     = [16]byte([]byte("CurveZMQMESSAGEC"))
	prefixMsgS     = [16]byte([]byte("CurveZMQMESSAGES"))
	prefixWelcome  = [8]byte([]byte("WELCOME-"))
	prefixCookie   = [8]byte([]byte("COOKIE--"))
	prefixVouch    = [8]byte([]byte("VOUCH---"))
)

// Message flags inside a MESSAGE box (libzmq's: bit 0 MORE, bit 1 a ZMTP
// command such as PING or SUBSCRIBE).
const (
	boxMore    = 0x01
	boxCommand = 0x02
)

// ErrCurveBox is a MESSAGE (or handshake box) that does not open: sent
// with other keys, or changed on the way.
var ErrCurveBox = fmt.Errorf("%w: CURVE box does not open", wire.ErrProtocol)

// ErrCurveNonce is a MESSAGE whose short nonce does not go up: replayed
// or reordered.
var ErrCurveNonce = fmt.Errorf("%w: CURVE nonce replayed or out of order", wire.ErrProtocol)

// RemoteSetter is implemented by mechanisms that want the peer's network
// address, for access control: the engine calls SetRemote before
// Handshake when it knows the address.
type RemoteSetter interface {
	SetRemote(net.Addr)
}

// sharedKey computes the key of the boxes between secret's owner and
// peer, as box.Precompute does (X25519, then HSalsa20), but refusing a
// peer key of low order, whose shared secret is all zeros whatever our
// secret is: a box keyed by it proves nothing.
func sharedKey(dst *[32]byte, peer, secret *[32]byte) error {
	s, err := curve25519.X25519(secret[:], peer[:])
	if err != nil {
		return fmt.Errorf("%w: CURVE: peer key of low order", wire.ErrProtocol)
	}
	copy(dst[:], s)
	clear(s)
	var zero [16]byte
	salsa.HSalsa20(dst, &zero, dst, &salsa.Sigma)
	return nil
}

func shortNonceOf(prefix *[16]byte, n uint64) [24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix[:])
	binary.BigEndian.PutUint64(nonce[16:], n)
	return nonce
}

func longNonceOf(prefix *[8]byte, b []byte) [24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix[:])
	copy(nonce[8:], b[:longNonce])
	return nonce
}

func randomLong() ([longNonce]byte, error) {
	var b [longNonce]byte
	_, err := rand.Read(b[:])
	return b, err
}

// peerError turns an ERROR a CURVE server sent during the handshake into
// an error. A ZAP status code (300, 400, 500: what libzmq's servers send
// when their authenticator refuses, and ours too) is a refusal of our
// credentials, and so ErrAuth, as libzmq's clients report it.
func peerError(data []byte) error {
	reason, _ := wire.ParseError(data)
	switch reason {
	case "300", "400", "500":
		return fmt.Errorf("%w: %w: %q", ErrAuth, ErrPeerError, reason)
	}
	return fmt.Errorf("%w: %q", ErrPeerError, reason)
}

// unexpected is a command out of place in the handshake.
func unexpected(want string, got wire.Command) error {
	return fmt.Errorf("%w: CURVE: %s where %s was due", wire.ErrProtocol, got.Name, want)
}

// ---- client ----

// NewCurveClient returns the Factory of CURVE clients with the permanent
// key pair (public, secret) that talk to the server whose permanent
// public key is serverPublic. Each connection makes its own transient
// keys. A public key that is not secret's fails every handshake, since
// the server would refuse its vouch anyway.
func NewCurveClient(serverPublic, public, secret [32]byte) Factory {
	keys := &curveClientKeys{server: serverPublic, public: public, secret: secret}
	if p, err := z85.Public(secret); err != nil || p != public {
		keys.bad = errors.New("zmtp: CURVE client: the public key is not the secret key's")
	}
	return func() Mechanism { return &curveClient{keys: keys} }
}

type curveClientKeys struct {
	server, public, secret [32]byte
	bad                    error // set when public is not secret's
}

// curveClient is the client side of one connection.
type curveClient struct{ keys *curveClientKeys }

// Name returns "CURVE".
func (*curveClient) Name() string { return "CURVE" }

// AsServer is false.
func (*curveClient) AsServer() bool { return false }

// Handshake sends HELLO and INITIATE, checks the server's WELCOME and
// READY, and returns the Codec of the connection's messages.
func (m *curveClient) Handshake(c Conn, local wire.Metadata) (Result, error) {
	k := m.keys
	if k.bad != nil {
		return Result{}, k.bad
	}
	tpub, tsec, err := box.GenerateKey(rand.Reader) // C', c'
	if err != nil {
		return Result{}, err
	}
	defer clear(tsec[:])
	var toServer [32]byte // C'<->S: HELLO and WELCOME
	defer clear(toServer[:])
	if err := sharedKey(&toServer, &k.server, tsec); err != nil {
		return Result{}, fmt.Errorf("zmtp: CURVE: the server key is not usable: %w", err)
	}

	// HELLO. Its short nonce starts the client's sequence, which
	// INITIATE and every MESSAGE continue.
	seq := uint64(1)
	hello := make([]byte, 0, helloData)
	hello = append(hello, 1, 0) // CurveZMQ 1.0
	hello = append(hello, make([]byte, helloPadding)...)
	hello = append(hello, tpub[:]...)
	hello = binary.BigEndian.AppendUint64(hello, seq)
	nonce := shortNonceOf(&prefixHello, seq)
	var sig [helloSig]byte
	hello = box.SealAfterPrecomputation(hello, sig[:], &nonce, &toServer)
	if err := c.WriteCommand(cmdHello, hello); err != nil {
		return Result{}, err
	}

	// WELCOME: the server's transient key and its cookie, from the
	// server's permanent key, so opening it authenticates the server.
	cmd, err := c.ReadCommand()
	if err != nil {
		return Result{}, helloUnanswered(err)
	}
	switch {
	case cmd.Name == wire.CmdError:
		return Result{}, peerError(cmd.Data)
	case cmd.Name != cmdWelcome:
		return Result{}, unexpected(cmdWelcome, cmd)
	case len(cmd.Data) != welcomeData:
		return Result{}, fmt.Errorf("%w: CURVE: WELCOME of %d bytes", wire.ErrProtocol, len(cmd.Data))
	}
	nonce = longNonceOf(&prefixWelcome, cmd.Data)
	welcome, ok := box.OpenAfterPrecomputation(nil, cmd.Data[longNonce:], &nonce, &toServer)
	if !ok {
		return Result{}, fmt.Errorf("%w: CURVE: WELCOME does not open: the server does not hold the key we know it by", ErrAuth)
	}
	var serverT [32]byte // S'
	copy(serverT[:], welcome)
	cookie := welcome[keySize:]

	var session [32]byte // C'<->S': INITIATE, READY, MESSAGE
	if err := sharedKey(&session, &serverT, tsec); err != nil {
		return Result{}, err
	}
	codec := newCurveCodec(&session, &prefixMsgC, &prefixMsgS)
	clear(session[:])

	// INITIATE: our permanent key, vouched for by a box from it to S'
	// that names C' and S, so that the vouch cannot be replayed on
	// another connection or to another server.
	vn, err := randomLong()
	if err != nil {
		return Result{}, err
	}
	nonce = longNonceOf(&prefixVouch, vn[:])
	var vouched [2 * keySize]byte
	copy(vouched[:], tpub[:])
	copy(vouched[keySize:], k.server[:])
	body := make([]byte, 0, keySize+vouchSize+metadataSize(local)+overhead)
	body = append(body, k.public[:]...)
	body = append(body, vn[:]...)
	var vouchKey [32]byte // C<->S'
	defer clear(vouchKey[:])
	if err := sharedKey(&vouchKey, &serverT, &k.secret); err != nil {
		return Result{}, err
	}
	body = box.SealAfterPrecomputation(body, vouched[:], &nonce, &vouchKey)
	body = wire.AppendMetadata(body, local...)
	seq++
	nonce = shortNonceOf(&prefixInitiate, seq)
	initiate := make([]byte, 0, cookieSize+shortNonce+len(body)+overhead)
	initiate = append(initiate, cookie...)
	initiate = binary.BigEndian.AppendUint64(initiate, seq)
	initiate = box.SealAfterPrecomputation(initiate, body, &nonce, &codec.key)
	if err := c.WriteCommand(cmdInitiate, initiate); err != nil {
		return Result{}, err
	}
	codec.sent = seq

	// READY, or the server's refusal.
	if cmd, err = c.ReadCommand(); err != nil {
		return Result{}, err
	}
	switch {
	case cmd.Name == wire.CmdError:
		return Result{}, peerError(cmd.Data)
	case cmd.Name != wire.CmdReady:
		return Result{}, unexpected(wire.CmdReady, cmd)
	case len(cmd.Data) < readyMin || len(cmd.Data) > maxHandshake:
		return Result{}, fmt.Errorf("%w: CURVE: READY of %d bytes", wire.ErrProtocol, len(cmd.Data))
	}
	rseq := binary.BigEndian.Uint64(cmd.Data)
	nonce = shortNonceOf(&prefixReady, rseq)
	md, ok := box.OpenAfterPrecomputation(nil, cmd.Data[shortNonce:], &nonce, &codec.key)
	if !ok {
		return Result{}, fmt.Errorf("%w: CURVE: READY", ErrCurveBox)
	}
	peer, err := wire.ParseMetadata(md)
	if err != nil {
		return Result{}, err
	}
	codec.received = rseq
	return Result{Peer: peer, Codec: codec}, nil
}

// helloUnanswered explains a connection closed in answer to HELLO: what
// a server does when its key is not the one we hold, as libzmq's does.
func helloUnanswered(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("zmtp: CURVE: the server closed the connection after HELLO (is its public key the one we hold?): %w", err)
	}
	return err
}

func metadataSize(m wire.Metadata) int {
	n := 0
	for _, p := range m {
		n += 1 + len(p.Name) + 4 + len(p.Value)
	}
	return n
}

// ---- server ----

// CurveServerConfig is a CURVE server's permanent key and its access
// rules; Factory makes the Factory of its mechanisms.
type CurveServerConfig struct {
	// Secret is the server's permanent secret key; its public key is
	// what clients must know.
	Secret [32]byte
	// Authorize decides whether a client, whose permanent key its vouch
	// has proved, gets in; nil lets in every client that knows the
	// server's public key. A refusal is sent to the client as an ERROR
	// with ZAP's status "400", which libzmq clients report as an
	// authentication failure, and Handshake returns an error wrapping
	// both ErrAuth and Authorize's error.
	Authorize func(CurveClient) error
	// CookieLifetime is how long one cookie key seals cookies before the
	// next replaces it; a cookie opens for up to twice that. 0: a minute.
	CookieLifetime time.Duration

	now func() time.Time // tests turn the clock
}

// CurveClient is what a CURVE server's Authorize learns of a client.
type CurveClient struct {
	Public   [32]byte      // the client's permanent public key, proven by its vouch
	Remote   net.Addr      // the client's address; nil when the engine did not give it
	Metadata wire.Metadata // what the client said of itself in INITIATE
}

// UserID is the Z85 text of the client's key: the "User-Id" that
// libzmq's authenticator reports, and Result.UserID.
func (c CurveClient) UserID() string { return z85.EncodeKey(c.Public) }

// NewCurveServer returns the Factory of CURVE servers with the permanent
// secret key secret; allow, unless nil, decides which client keys get
// in (see CurveServerConfig.Authorize).
func NewCurveServer(secret [32]byte, allow func(clientPublic [32]byte) error) Factory {
	cfg := CurveServerConfig{Secret: secret}
	if allow != nil {
		cfg.Authorize = func(c CurveClient) error { return allow(c.Public) }
	}
	return cfg.Factory()
}

// Factory returns the Factory of the server's mechanisms. Its mechanisms
// share the server's cookie keys: make one Factory per socket (or per
// server key) and use it for every connection.
func (cfg CurveServerConfig) Factory() Factory {
	s := &curveServerKeys{secret: cfg.Secret, authorize: cfg.Authorize}
	pub, err := z85.Public(cfg.Secret)
	if err != nil {
		s.bad = err
	}
	s.public = pub
	life := cfg.CookieLifetime
	if life <= 0 {
		life = time.Minute
	}
	s.cookies.life = life
	s.cookies.now = cfg.now
	if s.cookies.now == nil {
		s.cookies.now = time.Now
	}
	s.crypto = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))
	return func() Mechanism { return &curveServer{keys: s} }
}

// curveServerKeys is what a server's connections share.
type curveServerKeys struct {
	public, secret [32]byte
	authorize      func(CurveClient) error
	cookies        cookieKeys
	bad            error
	crypto         chan struct{} // slots for handshake crypto (see acquire)
}

// acquire waits for a slot to do a handshake's public-key crypto in and
// returns its release, which may be called more than once. A server
// socket has GOMAXPROCS-1 slots (at least one): a flood of HELLOs, each
// costing two X25519 operations, then leaves a processor to the
// connections already up, and queues the handshakes beyond, each bounded
// by the engine's handshake timeout, rather than letting them take every
// processor. No slot is held while waiting on the network.
func (k *curveServerKeys) acquire() (release func()) {
	k.crypto <- struct{}{}
	var once sync.Once
	return func() { once.Do(func() { <-k.crypto }) }
}

// cookieKeys holds the keys that seal cookies: the server's only memory
// of a connection between WELCOME and INITIATE is the cookie the client
// hands back. The key is replaced every lifetime and the previous one
// kept, so a cookie opens for between one and two lifetimes.
type cookieKeys struct {
	life time.Duration
	now  func() time.Time

	mu        sync.Mutex
	cur, prev [32]byte
	born      time.Time // of cur; zero: none yet
	hasPrev   bool
}

// keys returns the key to seal with, and the keys a cookie may open
// with, turning them over when they are due.
func (k *cookieKeys) keys() (cur, prev [32]byte, hasPrev bool, err error) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.born.IsZero() || now.Sub(k.born) >= k.life || now.Before(k.born) {
		var next [32]byte
		if _, err := rand.Read(next[:]); err != nil {
			return cur, prev, false, err
		}
		// A key older than two lifetimes opens nothing any more.
		k.hasPrev = !k.born.IsZero() && now.Sub(k.born) < 2*k.life && !now.Before(k.born)
		if k.hasPrev {
			k.prev = k.cur
		} else {
			clear(k.prev[:])
		}
		k.cur, k.born = next, now
	}
	return k.cur, k.prev, k.hasPrev, nil
}

// curveServer is the server side of one connection. Between WELCOME
// and INITIATE it holds no secret of the connection: only the nonce of
// the cookie it sent and HELLO's short nonce.
type curveServer struct {
	keys   *curveServerKeys
	remote net.Addr
}

// Name returns "CURVE".
func (*curveServer) Name() string { return "CURVE" }

// AsServer is true.
func (*curveServer) AsServer() bool { return true }

// SetRemote gives Authorize the client's address.
func (m *curveServer) SetRemote(a net.Addr) { m.remote = a }

// zapRefused is the reason of the ERROR a refused client gets: ZAP's
// status code, which libzmq's clients turn into an authentication
// failure event; the details stay in the server's log.
const zapRefused = "400"

// Handshake answers HELLO with WELCOME and INITIATE with READY.
func (m *curveServer) Handshake(c Conn, local wire.Metadata) (Result, error) {
	k := m.keys
	if k.bad != nil {
		return Result{}, k.bad
	}
	cookieNonce, helloSeq, err := m.welcome(c)
	if err != nil {
		return Result{}, err
	}
	return m.ready(c, local, cookieNonce, helloSeq)
}

// welcome reads HELLO and sends WELCOME: one key exchange, one box
// opened and one sealed, one transient key made, and nothing kept but
// the cookie's nonce, which binds INITIATE to this connection.
func (m *curveServer) welcome(c Conn) (cookieNonce [longNonce]byte, helloSeq uint64, err error) {
	k := m.keys
	cmd, err := c.ReadCommand()
	if err != nil {
		return cookieNonce, 0, err
	}
	release := k.acquire()
	defer release()
	d := cmd.Data
	switch {
	case cmd.Name != cmdHello:
		return cookieNonce, 0, unexpected(cmdHello, cmd)
	case len(d) != helloData:
		return cookieNonce, 0, fmt.Errorf("%w: CURVE: HELLO of %d bytes", wire.ErrProtocol, len(d))
	case d[0] != 1 || d[1] != 0:
		return cookieNonce, 0, fmt.Errorf("%w: CURVE: HELLO of CurveZMQ %d.%d", wire.ErrProtocol, d[0], d[1])
	}
	for _, b := range d[2 : 2+helloPadding] {
		if b != 0 {
			return cookieNonce, 0, fmt.Errorf("%w: CURVE: HELLO padding is not zeros", wire.ErrProtocol)
		}
	}
	var clientT [32]byte // C'
	copy(clientT[:], d[2+helloPadding:])
	helloSeq = binary.BigEndian.Uint64(d[2+helloPadding+keySize:])
	var toClient [32]byte // S<->C'
	defer clear(toClient[:])
	if err := sharedKey(&toClient, &clientT, &k.secret); err != nil {
		return cookieNonce, 0, err
	}
	nonce := shortNonceOf(&prefixHello, helloSeq)
	var sig [helloSig]byte
	if _, ok := box.OpenAfterPrecomputation(sig[:0], d[2+helloPadding+keySize+shortNonce:], &nonce, &toClient); !ok {
		// Sealed for another server key. Say nothing, as RFC 26 allows
		// and libzmq does: an answer would only help a prober.
		return cookieNonce, 0, fmt.Errorf("%w: CURVE: HELLO does not open: the client holds another server key", ErrAuth)
	}
	var zero [helloSig]byte
	if subtle.ConstantTimeCompare(sig[:], zero[:]) != 1 {
		return cookieNonce, 0, fmt.Errorf("%w: CURVE: HELLO signature is not zeros", wire.ErrProtocol)
	}

	// The cookie carries C' and s' sealed with the cookie key: the only
	// copy of s' the server keeps.
	tpub, tsec, err := box.GenerateKey(rand.Reader) // S', s'
	if err != nil {
		return cookieNonce, 0, err
	}
	defer clear(tsec[:])
	ckey, _, _, err := k.cookies.keys()
	if err != nil {
		return cookieNonce, 0, err
	}
	defer clear(ckey[:])
	if cookieNonce, err = randomLong(); err != nil {
		return cookieNonce, 0, err
	}
	var inCookie [2 * keySize]byte
	copy(inCookie[:], clientT[:])
	copy(inCookie[keySize:], tsec[:])
	defer clear(inCookie[:])
	var plain [keySize + cookieSize]byte
	copy(plain[:], tpub[:])
	copy(plain[keySize:], cookieNonce[:])
	nonce = longNonceOf(&prefixCookie, cookieNonce[:])
	secretbox.Seal(plain[keySize+longNonce:keySize+longNonce], inCookie[:], &nonce, &ckey)

	wn, err := randomLong()
	if err != nil {
		return cookieNonce, 0, err
	}
	out := make([]byte, 0, welcomeData)
	out = append(out, wn[:]...)
	nonce = longNonceOf(&prefixWelcome, wn[:])
	out = box.SealAfterPrecomputation(out, plain[:], &nonce, &toClient)
	clear(plain[:])
	release()
	return cookieNonce, helloSeq, c.WriteCommand(cmdWelcome, out)
}

// ready reads INITIATE: the cookie (which must be the one this
// connection was given), the client's permanent key and its vouch, and
// its metadata; then it asks Authorize and sends READY.
func (m *curveServer) ready(c Conn, local wire.Metadata, cookieNonce [longNonce]byte, helloSeq uint64) (Result, error) {
	k := m.keys
	cmd, err := c.ReadCommand()
	if err != nil {
		return Result{}, err
	}
	release := k.acquire()
	defer release()
	d := cmd.Data
	switch {
	case cmd.Name != cmdInitiate:
		return Result{}, unexpected(cmdInitiate, cmd)
	case len(d) < initiateMin || len(d) > maxHandshake:
		return Result{}, fmt.Errorf("%w: CURVE: INITIATE of %d bytes", wire.ErrProtocol, len(d))
	case subtle.ConstantTimeCompare(d[:longNonce], cookieNonce[:]) != 1:
		// The cookie key is the server's, not the connection's: without
		// this, a recorded HELLO and INITIATE replayed on a new
		// connection within the key's life would open, and the recorded
		// MESSAGEs after them with them.
		return Result{}, fmt.Errorf("%w: CURVE: INITIATE with a cookie not sent on this connection", wire.ErrProtocol)
	}
	seq := binary.BigEndian.Uint64(d[cookieSize:])
	if seq <= helloSeq {
		return Result{}, fmt.Errorf("%w: INITIATE after HELLO %d", ErrCurveNonce, helloSeq)
	}

	cur, prev, hasPrev, err := k.cookies.keys()
	if err != nil {
		return Result{}, err
	}
	var inCookie [2 * keySize]byte
	defer clear(inCookie[:])
	nonce := longNonceOf(&prefixCookie, d)
	_, ok := secretbox.Open(inCookie[:0], d[longNonce:cookieSize], &nonce, &cur)
	if !ok && hasPrev {
		_, ok = secretbox.Open(inCookie[:0], d[longNonce:cookieSize], &nonce, &prev)
	}
	clear(cur[:])
	clear(prev[:])
	if !ok {
		return Result{}, fmt.Errorf("%w: CURVE: the cookie does not open (expired?)", wire.ErrProtocol)
	}
	var clientT, tsec [32]byte // C', s'
	copy(clientT[:], inCookie[:])
	copy(tsec[:], inCookie[keySize:])
	defer clear(tsec[:])
	var session [32]byte
	if err := sharedKey(&session, &clientT, &tsec); err != nil {
		return Result{}, err
	}
	codec := newCurveCodec(&session, &prefixMsgS, &prefixMsgC)
	clear(session[:])

	nonce = shortNonceOf(&prefixInitiate, seq)
	body, ok := box.OpenAfterPrecomputation(nil, d[cookieSize+shortNonce:], &nonce, &codec.key)
	if !ok {
		return Result{}, fmt.Errorf("%w: CURVE: INITIATE", ErrCurveBox)
	}
	var client [32]byte // C
	copy(client[:], body)
	vouch := body[keySize : keySize+vouchSize]
	nonce = longNonceOf(&prefixVouch, vouch)
	var vouchKey [32]byte // C<->S'
	defer clear(vouchKey[:])
	if err := sharedKey(&vouchKey, &client, &tsec); err != nil {
		return Result{}, fmt.Errorf("%w: CURVE: client key: %w", ErrAuth, err)
	}
	var vouched [2 * keySize]byte
	if _, ok := box.OpenAfterPrecomputation(vouched[:0], vouch[longNonce:], &nonce, &vouchKey); !ok {
		return Result{}, fmt.Errorf("%w: CURVE: the vouch does not open: the client does not hold the secret of the key it claims", ErrAuth)
	}
	if subtle.ConstantTimeCompare(vouched[:keySize], clientT[:]) != 1 || subtle.ConstantTimeCompare(vouched[keySize:], k.public[:]) != 1 {
		return Result{}, fmt.Errorf("%w: CURVE: the vouch is for another connection or server", ErrAuth)
	}
	peer, err := wire.ParseMetadata(body[keySize+vouchSize:])
	if err != nil {
		return Result{}, err
	}
	if lt, ok := local.Get("Socket-Type"); ok {
		if pt, _ := peer.Get("Socket-Type"); !wire.Compatible(string(lt), string(pt)) {
			release()
			c.WriteCommand(wire.CmdError, errorReason("invalid socket type"))
			return Result{}, fmt.Errorf("%w: CURVE: a %s cannot talk to %q", wire.ErrProtocol, lt, pt)
		}
	}
	release() // Authorize may take its time: it holds no slot
	if k.authorize != nil {
		if err := k.authorize(CurveClient{Public: client, Remote: m.remote, Metadata: peer}); err != nil {
			c.WriteCommand(wire.CmdError, errorReason(zapRefused))
			return Result{}, fmt.Errorf("%w: CURVE client %s refused: %w", ErrAuth, z85.EncodeKey(client), err)
		}
	}

	// READY opens the server's sequence of short nonces.
	codec.sent++
	nonce = shortNonceOf(&prefixReady, codec.sent)
	md := wire.AppendMetadata(nil, local...)
	out := make([]byte, 0, shortNonce+len(md)+overhead)
	out = binary.BigEndian.AppendUint64(out, codec.sent)
	out = box.SealAfterPrecomputation(out, md, &nonce, &codec.key)
	if err := c.WriteCommand(wire.CmdReady, out); err != nil {
		return Result{}, err
	}
	codec.received = seq
	return Result{Peer: peer, UserID: z85.EncodeKey(client), Codec: codec}, nil
}

// errorReason is an ERROR command's data.
func errorReason(r string) []byte { return append([]byte{byte(len(r))}, r...) }

// ---- messages ----

// curveCodec seals and opens MESSAGE commands with the connection's
// session key. Seal is called by one goroutine (the writer) and Open by
// one other (the reader): each touches only its own direction's state.
type curveCodec struct {
	key            [32]byte
	sendNonce      [24]byte // prefix set; the last 8 bytes per message
	recvNonce      [24]byte
	sent, received uint64 // the last short nonce sent, and received
	plain          []byte // Seal's flags+body: a box may not overlap what it seals
	slab           []byte // Open carves small plaintexts out of it
}

func newCurveCodec(key *[32]byte, send, recv *[16]byte) *curveCodec {
	c := &curveCodec{key: *key}
	copy(c.sendNonce[:], send[:])
	copy(c.recvNonce[:], recv[:])
	return c
}

// plainKeep bounds the Seal buffer kept between calls, so one huge
// message does not pin its size for the connection's life.
const plainKeep = 1 << 20

// slabSize and slabMax: plaintexts up to slabMax share slabSize
// allocations, as the engine does for plain frames.
const (
	slabSize = 32 << 10
	slabMax  = 1<<10 + 1 // a 1 KiB frame and its flags byte
)

// Seal appends a MESSAGE carrying one frame.
func (c *curveCodec) Seal(dst []byte, flags byte, body []byte) ([]byte, error) {
	if c.sent == math.MaxUint64 {
		return dst, errors.New("zmtp: CURVE: short nonces exhausted")
	}
	c.sent++
	var f byte
	if flags&wire.FlagMore != 0 {
		f |= boxMore
	}
	if flags&wire.FlagCommand != 0 {
		f |= boxCommand
	}
	c.plain = append(append(c.plain[:0], f), body...)
	binary.BigEndian.PutUint64(c.sendNonce[16:], c.sent)
	// A data frame without MORE, as libzmq sends it: MORE and the
	// command bit travel inside the box, out of an observer's sight.
	dst = wire.AppendFrameHeader(dst, 0, CurveOverhead+len(body))
	dst = append(dst, byte(len(cmdMessage)))
	dst = append(dst, cmdMessage...)
	dst = append(dst, c.sendNonce[16:]...)
	dst = box.SealAfterPrecomputation(dst, c.plain, &c.sendNonce, &c.key)
	if cap(c.plain) > plainKeep {
		c.plain = nil
	}
	return dst, nil
}

// SealedSize bounds what Seal writes for a body of n bytes.
func (c *curveCodec) SealedSize(n int) int {
	return wire.HeaderSize(CurveOverhead+n) + CurveOverhead + n
}

// Open opens a MESSAGE into the frame it carries. A frame that
// is not a MESSAGE, whose nonce does not go up, or whose box does not
// open is an error, after which the connection must close. f.Body is not
// kept.
func (c *curveCodec) Open(f wire.Frame) (wire.Frame, error) {
	// The frame's own flags say nothing: libzmq sends MESSAGE as a data
	// frame without MORE, and a command frame is as good. What it is
	// and whether more follows are in the box.
	b := f.Body
	if len(b) < 1+len(cmdMessage) || int(b[0]) != len(cmdMessage) || string(b[1:1+len(cmdMessage)]) != cmdMessage {
		if cmd, err := wire.ParseCommand(b); err == nil && f.IsCommand() && cmd.Name == wire.CmdError {
			reason, _ := wire.ParseError(cmd.Data)
			return wire.Frame{}, fmt.Errorf("%w: %q", ErrPeerError, reason)
		}
		return wire.Frame{}, fmt.Errorf("%w: CURVE: a frame that is not a MESSAGE after the handshake", wire.ErrProtocol)
	}
	b = b[1+len(cmdMessage):]
	if len(b) < messageMin {
		return wire.Frame{}, fmt.Errorf("%w: CURVE: MESSAGE of %d bytes", wire.ErrProtocol, len(b))
	}
	seq := binary.BigEndian.Uint64(b)
	if seq <= c.received {
		return wire.Frame{}, fmt.Errorf("%w: %d after %d", ErrCurveNonce, seq, c.received)
	}
	copy(c.recvNonce[16:], b[:shortNonce])
	sealed := b[shortNonce:]
	n := len(sealed) - overhead
	var out []byte
	if n <= slabMax {
		if cap(c.slab)-len(c.slab) < n {
			c.slab = make([]byte, 0, slabSize)
		}
		out = c.slab[len(c.slab) : len(c.slab) : len(c.slab)+n]
	} else {
		out = make([]byte, 0, n)
	}
	plain, ok := box.OpenAfterPrecomputation(out, sealed, &c.recvNonce, &c.key)
	if !ok {
		return wire.Frame{}, ErrCurveBox
	}
	if n <= slabMax {
		c.slab = c.slab[:len(c.slab)+n]
	}
	c.received = seq
	var flags byte
	switch plain[0] & (boxMore | boxCommand) { // the other bits are reserved: ignored, as libzmq does
	case 0:
	case boxMore:
		flags = wire.FlagMore
	case boxCommand:
		flags = wire.FlagCommand
	default:
		return wire.Frame{}, fmt.Errorf("%w: CURVE: MESSAGE flags %#x: a command with MORE", wire.ErrProtocol, plain[0])
	}
	return wire.Frame{Flags: flags, Body: plain[1:len(plain):len(plain)]}, nil
}
