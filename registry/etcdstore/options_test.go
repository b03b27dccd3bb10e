package etcdstore_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// The options of the connection Open makes are a compile error given to
// New, whose client is the caller's; the others go to either.
func TestOptionScoping(t *testing.T) {
	p := compiletest.Program{
		Imports: []string{"log/slog", "time", "clientv3 go.etcd.io/etcd/client/v3", "github.com/dividere-go/dividere/registry/etcdstore"},
		Prelude: "var c *clientv3.Client",
	}
	const refused = "does not implement etcdstore.Option"
	compiletest.Check(t,
		p.Case("every option where it applies", "", `etcdstore.New(c, etcdstore.WithPrefix("/p/"), etcdstore.WithCache(), etcdstore.WithLogger(slog.Default()), etcdstore.WithTimeout(time.Second))
	etcdstore.Open("etcd://h:2379", etcdstore.WithTLS(nil), etcdstore.WithAuth("u", "p"), etcdstore.WithPrefix("/p/"), etcdstore.WithCache())`),
		p.Case("TLS for a client the caller made", refused, `etcdstore.New(c, etcdstore.WithTLS(nil))`),
		p.Case("credentials for a client the caller made", refused, `etcdstore.New(c, etcdstore.WithAuth("u", "p"))`),
	)
}
