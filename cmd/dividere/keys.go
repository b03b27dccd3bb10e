package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/dividere-go/dividere/connection"
)

func init() {
	commands["keygen"] = command{"write a CURVE key pair: keygen [-o FILE]", runKeygen}
}

func runKeygen(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "keygen", "")
	out := f.String("o", "", "write the pair to this file (mode 0600) instead of standard output")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	k, err := connection.NewKeyPair()
	if err != nil {
		return err
	}
	text := "# dividere CURVE key pair: share the public key, keep the secret one\n" + k.String()
	if *out == "" {
		fmt.Fprint(e.out, text)
		return nil
	}
	if err := os.WriteFile(*out, []byte(text), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "public-key = %q (written with its secret to %s)\n", k.Public, *out)
	return nil
}

// curveFlags are the CURVE flags every command takes: a server's key pair
// and the client keys it allows, or a client's key pair and its server's
// public key. Keys are Z85 text or files written by keygen.
type curveFlags struct {
	serverKey, allow, clientKey, serverPublic *string
}

// curve adds the CURVE flags of a command that serves (server) or of one
// that connects (client): each command shows only those that apply.
func (f *flags) curve(server bool) *curveFlags {
	empty := ""
	if server {
		return &curveFlags{
			serverKey:    f.String("curve-server", "", "serve with CURVE encryption using this key pair file"),
			allow:        f.String("curve-allow", "", "with -curve-server: the client public keys allowed in (comma-separated keys or key files); none: any client, encrypted"),
			clientKey:    &empty,
			serverPublic: &empty,
		}
	}
	return &curveFlags{
		serverKey:    &empty,
		allow:        &empty,
		clientKey:    f.String("curve-key", "", "connect with CURVE using this key pair file (default: a fresh pair)"),
		serverPublic: f.String("curve-server-key", "", "connect with CURVE to a server with this public key (Z85 or key file)"),
	}
}

// serverOptions returns the options for a serving socket and starts the
// authenticator when keys are listed; stop releases it.
func (c *curveFlags) serverOptions(e *env) (opts []connection.Option, stop func(), err error) {
	stop = func() {}
	if c == nil {
		return nil, stop, nil
	}
	if *c.serverKey == "" {
		if *c.allow != "" {
			return nil, stop, usageError{"-curve-allow needs -curve-server"}
		}
		return nil, stop, nil
	}
	k, err := connection.LoadKeyPair(*c.serverKey)
	if err != nil || k.Secret == "" {
		return nil, stop, usageError{fmt.Sprintf("-curve-server: %v (need a pair with its secret key)", err)}
	}
	if *c.allow != "" {
		keys, err := publicKeys(*c.allow)
		if err != nil {
			return nil, stop, err
		}
		auth, err := connection.StartAuthenticator(e.log)
		if err != nil {
			return nil, stop, err
		}
		if err := auth.SetKeys(keys...); err != nil {
			auth.Close()
			return nil, stop, usageError{err.Error()}
		}
		stop = func() { auth.Close() }
	}
	return []connection.Option{connection.WithCurveServer(k)}, stop, nil
}

// clientOptions returns the options for a connecting socket.
func (c *curveFlags) clientOptions() ([]connection.Option, error) {
	if c == nil {
		return nil, nil
	}
	if *c.serverPublic == "" {
		if *c.clientKey != "" {
			return nil, usageError{"-curve-key needs -curve-server-key"}
		}
		return nil, nil
	}
	server, err := publicKey(*c.serverPublic)
	if err != nil {
		return nil, usageError{fmt.Sprintf("-curve-server-key: %v", err)}
	}
	var k connection.KeyPair
	if *c.clientKey != "" {
		if k, err = connection.LoadKeyPair(*c.clientKey); err != nil || k.Secret == "" {
			return nil, usageError{fmt.Sprintf("-curve-key: %v (need a pair with its secret key)", err)}
		}
	} else if k, err = connection.NewKeyPair(); err != nil {
		return nil, err
	}
	return []connection.Option{connection.WithCurveClient(server, k)}, nil
}

// publicKeys reads a comma-separated list of keys or key files.
func publicKeys(list string) ([]string, error) {
	var keys []string
	for _, item := range strings.Split(list, ",") {
		key, err := publicKey(item)
		if err != nil {
			return nil, usageError{fmt.Sprintf("key %q: %v", item, err)}
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// publicKey reads a Z85 public key given as text or as a key file.
func publicKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if key, err := connection.ParseKey(s); err == nil {
		return key, nil
	}
	k, err := connection.LoadKeyPair(s)
	if err != nil {
		return "", err
	}
	return k.Public, nil
}
