package connection

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dividere-go/dividere/internal/ratelog"
	"github.com/dividere-go/dividere/internal/z85"
	"github.com/dividere-go/dividere/internal/zmtp"
	"github.com/dividere-go/dividere/internal/zmtp/mech"
)

// KeyPair is a CURVE key pair in ZeroMQ's Z85 text form (40 characters
// each).
type KeyPair struct {
	Public string
	Secret string
}

// NewKeyPair makes a fresh CURVE key pair.
func NewKeyPair() (KeyPair, error) {
	pub, sec, err := z85.NewKeyPair()
	if err != nil {
		return KeyPair{}, fmt.Errorf("curve key pair: %w", err)
	}
	return KeyPair{Public: pub, Secret: sec}, nil
}

// String renders the pair as the text LoadKeyPair reads.
func (k KeyPair) String() string {
	return fmt.Sprintf("public-key = %q\nsecret-key = %q\n", k.Public, k.Secret)
}

// ErrKey is returned for a key that is not a 40-character Z85 CURVE key.
var ErrKey = errors.New("dividere: bad CURVE key")

// ParseKey checks a Z85 key (surrounding quotes and space are ignored).
func ParseKey(s string) (string, error) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if _, err := z85.DecodeKey(s); err != nil {
		return "", fmt.Errorf("%w: want 40 Z85 characters, got %q", ErrKey, s)
	}
	return s, nil
}

// LoadKeyPair reads a key pair written by KeyPair.String (or `dividere
// keygen`). A file with only a public key gives a pair with no secret:
// what a client needs of its server.
func LoadKeyPair(path string) (KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return KeyPair{}, err
	}
	var k KeyPair
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		key, err := ParseKey(value)
		if err != nil {
			return KeyPair{}, fmt.Errorf("%s: %w", path, err)
		}
		switch strings.TrimSpace(name) {
		case "public-key":
			k.Public = key
		case "secret-key":
			k.Secret = key
		}
	}
	if k.Public == "" {
		return KeyPair{}, fmt.Errorf("%s: %w: no public-key", path, ErrKey)
	}
	return k, nil
}

// KeyPairFromEnv reads a pair from the environment variables
// PREFIX_PUBLIC_KEY and PREFIX_SECRET_KEY (the secret may be absent).
func KeyPairFromEnv(prefix string) (KeyPair, error) {
	pub, err := ParseKey(os.Getenv(prefix + "_PUBLIC_KEY"))
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s_PUBLIC_KEY: %w", prefix, err)
	}
	k := KeyPair{Public: pub}
	if s := os.Getenv(prefix + "_SECRET_KEY"); s != "" {
		if k.Secret, err = ParseKey(s); err != nil {
			return KeyPair{}, fmt.Errorf("%s_SECRET_KEY: %w", prefix, err)
		}
	}
	return k, nil
}

// ZAPDomain is the ZAP domain dividere's CURVE servers authenticate in.
const ZAPDomain = "dividere"

// WithCurveServer makes the socket a CURVE server with key pair k: every
// connection is encrypted, and, when an Authenticator runs, only the
// clients it allows get in.
func WithCurveServer(k KeyPair) Option {
	return func(c *config) { c.curveServer = &k }
}

// WithCurveClient makes the socket a CURVE client with key pair k,
// talking to servers whose public key is serverPublic.
func WithCurveClient(serverPublic string, k KeyPair) Option {
	return func(c *config) { c.curveClient, c.curveServerKey = &k, serverPublic }
}

// goCurve sets the Go engine's mechanism for the CURVE options: a
// server's connections share one Factory (its cookie keys), and ask the
// process's Authenticator, if one runs, as libzmq's ZAP would.
func (c *config) goCurve(o *zmtp.Options) error {
	key := func(what, z string) ([32]byte, error) {
		k, err := z85.DecodeKey(z)
		if err != nil {
			return k, fmt.Errorf("%w: %s", ErrKey, what)
		}
		return k, nil
	}
	switch {
	case c.curveServer != nil:
		sec, err := key("the CURVE server's secret key", c.curveServer.Secret)
		if err != nil {
			return err
		}
		o.Mechanism = mech.CurveServerConfig{Secret: sec, Authorize: authorizeGo}.Factory()
	case c.curveClient != nil:
		sp, err := key("the CURVE server's public key", c.curveServerKey)
		if err != nil {
			return err
		}
		pub, err := key("the CURVE client's public key", c.curveClient.Public)
		if err != nil {
			return err
		}
		sec, err := key("the CURVE client's secret key", c.curveClient.Secret)
		if err != nil {
			return err
		}
		o.Mechanism = mech.NewCurveClient(sp, pub, sec)
	}
	return nil
}

// authorizeGo lets a CURVE client into a Go-engine server: any, when no
// Authenticator runs (as libzmq without a ZAP handler), else whom it
// allows.
func authorizeGo(cl mech.CurveClient) error {
	a := goAuth.Load()
	if a == nil {
		return nil
	}
	addr := ""
	if cl.Remote != nil {
		addr = cl.Remote.String()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	if why, _ := a.decide(addr, "CURVE", cl.Public[:]); why != "" {
		return errors.New(why)
	}
	return nil
}

// Authenticator decides which clients this process's CURVE servers let
// in (on libzmq, by answering its ZAP requests): a client gets in when
// its public key is on the allow list and its address passes the IP
// rules. Both can be changed while it runs. Refusals are logged and
// counted. One runs per process at a time.
type Authenticator struct {
	authZ // the libzmq engine's ZAP handler
	log   *slog.Logger
	warn  *ratelog.Limiter // a storm of refused peers is summarised
	done  chan struct{}

	mu      sync.RWMutex
	keys    map[string]bool // raw 32-byte public keys
	anyKey  bool
	allowIP []*net.IPNet
	denyIP  []*net.IPNet

	allowed, refused atomic.Uint64
}

// StartAuthenticator starts the authenticator of dividere's libzmq
// context (of another, WithContext); until keys are allowed, every CURVE
// client is refused.
func StartAuthenticator(logger *slog.Logger, opts ...Option) (*Authenticator, error) {
	if logger == nil {
		logger = slog.Default()
	}
	a := &Authenticator{log: logger, warn: ratelog.Default(), done: make(chan struct{}), keys: map[string]bool{}}
	if err := a.start(opts); err != nil {
		return nil, fmt.Errorf("authenticator (is another one running?): %w", err)
	}
	return a, nil
}

// SetKeys replaces the allow list of client public keys (Z85). "*" lets
// any client with a valid CURVE handshake in (encryption without
// authentication).
func (a *Authenticator) SetKeys(keys ...string) error {
	set := map[string]bool{}
	anyKey := false
	for _, k := range keys {
		if k == "*" {
			anyKey = true
			continue
		}
		z, err := ParseKey(k)
		if err != nil {
			return err
		}
		raw, _ := z85.DecodeKey(z)
		set[string(raw[:])] = true
	}
	a.mu.Lock()
	a.keys, a.anyKey = set, anyKey
	a.mu.Unlock()
	return nil
}

// SetAddresses replaces the IP rules: with an allow list, only addresses
// on it get in; any address on the deny list is refused. Entries are IP
// addresses or CIDR ranges.
func (a *Authenticator) SetAddresses(allow, deny []string) error {
	al, err := parseNets(allow)
	if err != nil {
		return err
	}
	de, err := parseNets(deny)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.allowIP, a.denyIP = al, de
	a.mu.Unlock()
	return nil
}

func parseNets(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range list {
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("address rule %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// AuthStats counts the authenticator's decisions.
type AuthStats struct{ Allowed, Refused uint64 }

// Stats returns the counts so far.
func (a *Authenticator) Stats() AuthStats {
	return AuthStats{Allowed: a.allowed.Load(), Refused: a.refused.Load()}
}

// Close stops the authenticator; CURVE servers then refuse everyone.
func (a *Authenticator) Close() error { return a.stop() }

// decide says whether a client at address, using mechanism with the
// given public key (nil for none), gets in: "" when it does, or why not;
// user is the identity it gets in as (its key in Z85).
func (a *Authenticator) decide(address, mechanism string, key []byte) (why, user string) {
	refuse := func(why string) (string, string) {
		a.refused.Add(1)
		a.warn.Warn(a.log, "connection refused", "address", address, "mechanism", mechanism, "why", why)
		return why, ""
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	ip := net.ParseIP(address)
	for _, n := range a.denyIP {
		if ip != nil && n.Contains(ip) {
			return refuse("address denied")
		}
	}
	if len(a.allowIP) > 0 {
		ok := false
		for _, n := range a.allowIP {
			ok = ok || (ip != nil && n.Contains(ip))
		}
		if !ok {
			return refuse("address not allowed")
		}
	}
	if mechanism != "CURVE" || len(key) != z85.KeySize {
		return refuse("not a CURVE client")
	}
	z, _ := z85.Encode(key)
	if !a.anyKey && !a.keys[string(key)] {
		return refuse("key not allowed: " + z)
	}
	a.allowed.Add(1)
	return "", z
}

// goAuth is the process's Authenticator on the Go engine, which its
// CURVE servers ask.
var goAuth atomic.Pointer[Authenticator]

func (a *Authenticator) startGo() error {
	if !goAuth.CompareAndSwap(nil, a) {
		return errors.New("an Authenticator is running already")
	}
	return nil
}

func (a *Authenticator) stopGo() error {
	if goAuth.CompareAndSwap(a, nil) {
		close(a.done)
	}
	return nil
}
