package etcdstore

import clientv3 "go.etcd.io/etcd/client/v3"

// Client returns s's etcd client, for tests that reach etcd beside it.
func Client(s Store) *clientv3.Client { return s.(*store).c }

// Endpoints is endpoints, for its test.
var Endpoints = endpoints
