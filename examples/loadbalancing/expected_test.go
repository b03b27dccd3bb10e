package main

var expected = []string{"client 0 job 4 done by worker", "client 1 job 4 done by worker", "10 replies"}
