package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dividere-go/dividere/internal/etcdtest"
	"github.com/dividere-go/dividere/registry"
	"github.com/dividere-go/dividere/registry/etcdstore"
)

// Two name-service instances share one etcd cluster, and a client uses
// etcd directly: a registration made anywhere is found everywhere.
func Example() {
	// A real etcd for the example; in production, your cluster:
	// "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379".
	dir, _ := os.MkdirTemp("", "etcd-example")
	defer os.RemoveAll(dir)
	url, stop, err := etcdtest.Run(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var addrs []string
	for range 2 { // what `dividere registry -store etcd://...` runs
		st, _ := etcdstore.Open(url, etcdstore.WithCache())
		defer st.Close()
		ns, err := registry.NewServer(registry.WithStore(st), registry.WithEndpoints("@tcp://127.0.0.1:0", "@tcp://127.0.0.1:0", ""),
			registry.WithLogger(quiet))
		if err != nil {
			fmt.Println(err)
			return
		}
		go ns.Serve(context.Background())
		defer ns.Close()
		requests, _, _ := ns.Endpoints()
		addrs = append(addrs, requests)
	}

	// A service registers on etcd directly, no name service between.
	st, _ := etcdstore.Open(url)
	defer st.Close()
	direct, _ := registry.NewClient(registry.WithStore(st))
	defer direct.Close()
	direct.Register(ctx, registry.Instance{Service: "orders", Server: "10.0.0.7", Port: 7000, TTL: 10 * time.Second})

	// A client lists both name-service instances and fails over between them.
	c, _ := registry.NewClient(registry.WithAddress(addrs[0] + "," + addrs[1]))
	defer c.Close()
	for range 2 {
		in, err := c.Lookup(ctx, "orders")
		for err != nil && ctx.Err() == nil { // an instance's cache has it within milliseconds
			time.Sleep(10 * time.Millisecond)
			in, err = c.Lookup(ctx, "orders")
		}
		fmt.Println(in.Endpoint(), err)
	}
	// Output:
	// tcp://10.0.0.7:7000 <nil>
	// tcp://10.0.0.7:7000 <nil>
}
