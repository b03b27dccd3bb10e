package main

var expected = []string{"received msg-0", "received msg-9"}
