// Package etcdtest runs real etcd servers for tests: one member in the
// test's own process (Start), or a cluster whose members are processes
// of their own (StartCluster), so that a test can SIGKILL one. Only tests
// import it (those of registry/etcdstore and cmd/dividere), and it is a
// module of its own, which keeps etcd's server out of every other import
// graph.
package etcdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/dividere-go/dividere/internal/testproc"
	"github.com/dividere-go/dividere/internal/testutil"
)

// HelperName is the name under which TestMain must hand Helper to
// testproc.Main for StartCluster to work.
const HelperName = "etcd-member"

// Start runs a one-member etcd in this process until the test ends and
// returns its "etcd://host:port" URL.
func Start(t testing.TB) string {
	t.Helper()
	url, stop, err := Run(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

// Run runs a one-member etcd in this process with its data in dir, for
// Examples, which have no test to end; it returns the member's URL and
// what stops it.
func Run(dir string) (url string, stop func(), err error) { return run(dir, nil) }

// StartTLS is Start with TLS on the client port: it returns the URL and
// the PEM file of the CA that signed the member's certificate.
func StartTLS(t testing.TB) (url, caFile string) {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile, err := writeCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := run(dir, &transport.TLSInfo{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, caFile
}

func run(dir string, tlsInfo *transport.TLSInfo) (url string, stop func(), err error) {
	// Ports below the ephemeral range: one from there could be handed to
	// another process's connecting socket before etcd binds it (seen in CI).
	cp, err := testutil.LowPort()
	if err != nil {
		return "", nil, err
	}
	pp, err := testutil.LowPort()
	if err != nil {
		return "", nil, err
	}
	cfg := config("solo", filepath.Join(dir, "data"), cp, pp, fmt.Sprintf("solo=http://127.0.0.1:%d", pp), "new")
	if tlsInfo != nil {
		client, _ := neturl.Parse(fmt.Sprintf("https://127.0.0.1:%d", cp))
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []neturl.URL{*client}, []neturl.URL{*client}
		cfg.ClientTLSInfo = *tlsInfo
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return "", nil, fmt.Errorf("etcd did not start")
	}
	return fmt.Sprintf("etcd://127.0.0.1:%d", cp), e.Close, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := testutil.LowPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func config(name, dir string, clientPort, peerPort int, cluster, state string) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.LogLevel = "panic" // a killed member makes the others log errors: expected here
	cfg.InitialClusterToken = "dividere-test"
	client, _ := neturl.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	peer, _ := neturl.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []neturl.URL{*client}, []neturl.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []neturl.URL{*peer}, []neturl.URL{*peer}
	cfg.InitialCluster = cluster
	cfg.ClusterState = state
	return cfg
}

// Helper is the helper process of one cluster member; its arguments are
// name, data directory, client port, peer port, initial cluster and
// cluster state ("new" or "existing"). It says READY once it listens and
// SERVING once it has joined the cluster, then runs until killed.
func Helper(args []string) int {
	if len(args) != 6 {
		fmt.Println("ERR etcd member: want name dir client-port peer-port cluster state")
		return 2
	}
	var cp, pp int
	fmt.Sscan(args[2], &cp)
	fmt.Sscan(args[3], &pp)
	e, err := embed.StartEtcd(config(args[0], args[1], cp, pp, args[4], args[5]))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY")
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("SERVING")
	case err := <-e.Err():
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("ERR", <-e.Err())
	return 1
}

// Member is one member of a Cluster.
type Member struct {
	Name                  string
	Dir                   string
	ClientPort, PeerPort  int
	proc                  *testproc.Proc
	cluster, clusterState string
}

// Endpoint is the member's client address, host:port.
func (m *Member) Endpoint() string { return fmt.Sprintf("127.0.0.1:%d", m.ClientPort) }

// Cluster is an etcd cluster of member processes.
type Cluster struct {
	t       testing.TB
	Members []*Member
}

// StartCluster starts n members, each a process, and waits until all
// serve; they are killed when the test ends.
func StartCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var peers []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), Dir: filepath.Join(t.TempDir(), "etcd"), ClientPort: freePort(t), PeerPort: freePort(t),
			clusterState: "new"}
		peers = append(peers, fmt.Sprintf("%s=http://127.0.0.1:%d", m.Name, m.PeerPort))
		c.Members = append(c.Members, m)
	}
	// Every member must run before any can serve: start them all, then wait.
	for _, m := range c.Members {
		m.cluster = strings.Join(peers, ",")
		m.start(t)
	}
	for _, m := range c.Members {
		m.proc.Expect(t, "SERVING", 60*time.Second)
	}
	return c
}

func (m *Member) start(t *testing.T) {
	m.proc = testproc.Start(t, HelperName, m.Name, m.Dir, fmt.Sprint(m.ClientPort), fmt.Sprint(m.PeerPort), m.cluster, m.clusterState)
}

// URL is "etcd://" and every member's endpoint.
func (c *Cluster) URL() string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint())
	}
	return "etcd://" + strings.Join(eps, ",")
}

// Kill SIGKILLs member i.
func (c *Cluster) Kill(i int) { c.Members[i].proc.Kill() }

// Restart starts member i again on its data directory after Kill and
// waits until it serves.
func (c *Cluster) Restart(t *testing.T, i int) {
	m := c.Members[i]
	m.clusterState = "existing"
	m.start(t)
	m.proc.Expect(t, "SERVING", 60*time.Second)
}

// Leader returns the index of the member that leads the cluster, asking
// the members that are up.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	cli, err := c.Client(c.URL())
	if err != nil {
		return -1, err
	}
	defer cli.Close()
	for i, m := range c.Members {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, "http://"+m.Endpoint())
		cancel()
		if err == nil && st.Leader == st.Header.MemberId && st.Leader != 0 {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no member leads")
}

// Client connects to the members url lists ("etcd://a,b" or one
// endpoint); the caller closes it.
func (c *Cluster) Client(url string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: strings.Split(strings.TrimPrefix(url, "etcd://"), ","),
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// writeCerts writes a CA and a certificate it signed for 127.0.0.1 into
// dir.
func writeCerts(dir string) (caFile, certFile, keyFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dividere test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "etcd"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", "", err
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "etcd.pem"), filepath.Join(dir, "etcd-key.pem")
	for _, f := range []struct {
		path, kind string
		der        []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), 0o600); err != nil {
			return "", "", "", err
		}
	}
	return caFile, certFile, keyFile, nil
}
