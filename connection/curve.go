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
	"weak"

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

// zAPDomain is the ZAP domain dividere's CURVE servers authenticate in.
const zAPDomain = "dividere"

// WithCurveServer makes the socket a CURVE server with key pair k: every
// connection is encrypted, and, when an Authenticator runs, only the
// clients it allows get in.
func WithCurveServer(k KeyPair) Option {
	return option(func(c *config) { c.curveServer = &k })
}

// WithCurveClient makes the socket a CURVE client with key pair k,
// talking to servers whose public key is serverPublic.
func WithCurveClient(serverPublic string, k KeyPair) Option {
	return option(func(c *config) { c.curveClient, c.curveServerKey = &k, serverPublic })
}

// WithCurveAllowList gives a CURVE server socket (WithCurveServer) an
// access list of its own: only the clients l allows get in, whatever the
// process's Authenticator allows. Sockets given the same list share it,
// and a change to it applies to their next handshakes.
//
// On the pure-Go engine the socket's handshakes ask l directly. On
// libzmq the socket authenticates in a ZAP domain of l's own, which the
// process's Authenticator answers from l: there, it holds only while an
// Authenticator runs (the constructor fails when none does), since
// libzmq without a ZAP handler lets every client in.
func WithCurveAllowList(l *AllowList) Option {
	return option(func(c *config) { c.curveAllow = l })
}

// WithCurveAllow is WithCurveAllowList with a list of its own holding the
// given client public keys (Z85; "*": any client that completes the
// handshake). A bad key makes the constructor fail with ErrKey.
func WithCurveAllow(keys ...string) Option {
	l := newAllowList(nil)
	l.err = l.SetKeys(keys...)
	return WithCurveAllowList(l)
}

// curveAllowCheck fails when the socket has an allow list it cannot use.
func (c *config) curveAllowCheck() error {
	if c.curveAllow == nil {
		return nil
	}
	if c.curveServer == nil {
		return fmt.Errorf("%w: WithCurveAllow (or WithCurveAllowList) without WithCurveServer", ErrOption)
	}
	return c.curveAllow.err
}

// goCurve sets the Go engine's mechanism for the CURVE options: a
// server's connections share one Factory (its cookie keys), and ask the
// socket's AllowList, or else the process's Authenticator if one runs,
// as libzmq's ZAP would.
func (c *config) goCurve(o *zmtp.Options) error {
	if err := c.curveAllowCheck(); err != nil {
		return err
	}
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
		authorize := authorizeGo
		if l := c.curveAllow; l != nil {
			logger, name := c.logger, c.name
			authorize = func(cl mech.CurveClient) error { return l.authorize(cl, logger, name) }
		}
		o.Mechanism = mech.CurveServerConfig{Secret: sec, Authorize: authorize}.Factory()
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

// hostOf is the IP address of a peer's network address, as ZAP gives it.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	addr := a.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// authorizeGo lets a CURVE client into a Go-engine server without an
// AllowList of its own: any, when no Authenticator runs (as libzmq
// without a ZAP handler), else whom it allows.
func authorizeGo(cl mech.CurveClient) error {
	a := goAuth.Load()
	if a == nil {
		return nil
	}
	if why, _ := a.decide(hostOf(cl.Remote), "CURVE", cl.Public[:], a.log, ""); why != "" {
		return errors.New(why)
	}
	return nil
}

// accessRules are the rules of an Authenticator or of an AllowList: a
// client gets in when its public key is on the key list and its address
// passes the IP rules.
type accessRules struct {
	warn *ratelog.Limiter // a storm of refused peers is summarised

	mu      sync.RWMutex
	keys    map[string]bool // raw 32-byte public keys
	anyKey  bool
	allowIP []*net.IPNet
	denyIP  []*net.IPNet

	allowed, refused atomic.Uint64
}

func newRules() accessRules {
	return accessRules{warn: ratelog.Default(), keys: map[string]bool{}}
}

// SetKeys replaces the allow list of client public keys (Z85). "*" lets
// any client with a valid CURVE handshake in (encryption without
// authentication).
func (a *accessRules) SetKeys(keys ...string) error {
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
func (a *accessRules) SetAddresses(allow, deny []string) error {
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

// Stats returns the counts of decisions so far.
func (a *accessRules) Stats() AuthStats {
	return AuthStats{Allowed: a.allowed.Load(), Refused: a.refused.Load()}
}

// decide says whether a client at address, using mechanism with the
// given public key (nil for none), gets in: "" when it does, or why not,
// which is logged to log (rate-limited) and counted; user is the
// identity it gets in as (its key in Z85). socket names the server
// socket in the log, when it is known.
func (a *accessRules) decide(address, mechanism string, key []byte, log *slog.Logger, socket string) (why, user string) {
	refuse := func(why string) (string, string) {
		a.refused.Add(1)
		if log == nil {
			log = slog.Default()
		}
		args := []any{"address", address, "mechanism", mechanism, "why", why}
		if socket != "" {
			args = append(args, "socket", socket)
		}
		a.warn.Warn(log, "connection refused", args...)
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

// AllowList is the access list of one CURVE server socket, or of a few
// that share it (WithCurveAllowList), in place of the process-wide
// Authenticator: the same key list and IP rules, changed while it is in
// use; refusals are logged, rate-limited, with their reason, and
// counted, in its Stats and in each socket's Stats().AuthFailures.
type AllowList struct {
	accessRules
	log *slog.Logger // nil: the socket's logger
	err error        // a bad key given to WithCurveAllow

	domainOnce sync.Once
	domain     string // its ZAP domain on libzmq
}

func newAllowList(logger *slog.Logger) *AllowList {
	return &AllowList{accessRules: newRules(), log: logger}
}

// NewAllowList makes an access list holding the given client public keys
// (Z85; "*": any client that completes the handshake). Refusals are
// logged to logger, or, when it is nil, to the logger of the socket that
// refused.
func NewAllowList(logger *slog.Logger, keys ...string) (*AllowList, error) {
	l := newAllowList(logger)
	if err := l.SetKeys(keys...); err != nil {
		return nil, err
	}
	return l, nil
}

// authorize decides for a Go-engine server socket named socket, which
// logs to logger.
func (l *AllowList) authorize(cl mech.CurveClient, logger *slog.Logger, socket string) error {
	if l.log != nil {
		logger = l.log
	}
	if why, _ := l.decide(hostOf(cl.Remote), "CURVE", cl.Public[:], logger, socket); why != "" {
		return errors.New(why)
	}
	return nil
}

// Authenticator decides which clients this process's CURVE servers let
// in (on libzmq, by answering its ZAP requests): a client gets in when
// its public key is on the allow list and its address passes the IP
// rules. Both can be changed while it runs. Refusals are logged,
// rate-limited, with their reason, and counted. One runs per process at
// a time. A server socket with an AllowList of its own
// (WithCurveAllowList) answers to that list instead.
type Authenticator struct {
	accessRules
	authZ // the libzmq engine's ZAP handler
	log   *slog.Logger
	done  chan struct{}
}

// StartAuthenticator starts the authenticator of dividere's libzmq
// context (of another, WithContext); until keys are allowed, every CURVE
// client is refused.
func StartAuthenticator(logger *slog.Logger, opts ...Option) (*Authenticator, error) {
	if logger == nil {
		logger = slog.Default()
	}
	a := &Authenticator{accessRules: newRules(), log: logger, done: make(chan struct{})}
	if err := a.start(opts); err != nil {
		return nil, fmt.Errorf("authenticator (is another one running?): %w", err)
	}
	return a, nil
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

// AuthStats counts an Authenticator's or an AllowList's decisions.
type AuthStats struct{ Allowed, Refused uint64 }

// Close stops the authenticator. CURVE servers without an AllowList of
// their own then let in any client that knows their public key, as when
// no Authenticator ever ran (on libzmq, as libzmq does without a ZAP
// handler). On the pure-Go engine, sockets with an AllowList keep
// answering to it; on libzmq they too let every client in, since their
// list is enforced through the Authenticator's ZAP handler.
func (a *Authenticator) Close() error { return a.stop() }

// zapDomains maps the ZAP domain of each AllowList in use on libzmq to
// the list; a list no socket holds any more goes, with its entry.
var zapDomains struct {
	sync.Mutex
	next  uint64
	lists map[string]weak.Pointer[AllowList]
}

// zapDomain is l's ZAP domain, made on first use.
func (l *AllowList) zapDomain() string {
	l.domainOnce.Do(func() {
		zapDomains.Lock()
		defer zapDomains.Unlock()
		if zapDomains.lists == nil {
			zapDomains.lists = map[string]weak.Pointer[AllowList]{}
		}
		for d, w := range zapDomains.lists {
			if w.Value() == nil {
				delete(zapDomains.lists, d)
			}
		}
		zapDomains.next++
		l.domain = fmt.Sprintf("%s/%d", zAPDomain, zapDomains.next)
		zapDomains.lists[l.domain] = weak.Make(l)
	})
	return l.domain
}

// allowListOf is the AllowList of a ZAP domain; ok is false for a domain
// that is not an AllowList's (zAPDomain's, or another program's).
func allowListOf(domain string) (l *AllowList, ok bool) {
	zapDomains.Lock()
	defer zapDomains.Unlock()
	w, ok := zapDomains.lists[domain]
	return w.Value(), ok
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
