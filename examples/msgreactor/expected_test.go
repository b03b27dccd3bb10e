package main

var expected = []string{"request: orders is at localhost:6000", "event: heartbeat from worker-1", "reactor stopped: 3 messages handled"}
