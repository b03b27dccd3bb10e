package etcdstore_test

import (
	"testing"

	"github.com/dividere-go/dividere/internal/compiletest"
)

// The options of the connection Open makes are a compile error given to
// New, whose client is the caller's; the others go to either.
func TestOptionScoping(t *testing.T) {
	const head = "package main\n\nimport (\n\t\"log/slog\"\n\t\"time\"\n\n\tclientv3 \"go.etcd.io/etcd/client/v3\"\n\n\t\"github.com/dividere-go/dividere/registry/etcdstore\"\n)\n\n" +
		"var _, _ = slog.Default, time.Second\n\n"
	compiletest.Check(t,
		compiletest.Case{Name: "every option where it applies", Src: head + `func main() {
	var c *clientv3.Client
	etcdstore.New(c, etcdstore.WithPrefix("/p/"), etcdstore.WithCache(), etcdstore.WithLogger(slog.Default()), etcdstore.WithTimeout(time.Second))
	etcdstore.Open("etcd://h:2379", etcdstore.WithTLS(nil), etcdstore.WithAuth("u", "p"), etcdstore.WithPrefix("/p/"), etcdstore.WithCache())
}
`},
		compiletest.Case{Name: "TLS for a client the caller made", Want: "does not implement etcdstore.Option", Src: head + `func main() {
	var c *clientv3.Client
	etcdstore.New(c, etcdstore.WithTLS(nil))
}
`},
		compiletest.Case{Name: "credentials for a client the caller made", Want: "does not implement etcdstore.Option", Src: head + `func main() {
	var c *clientv3.Client
	etcdstore.New(c, etcdstore.WithAuth("u", "p"))
}
`},
	)
}
