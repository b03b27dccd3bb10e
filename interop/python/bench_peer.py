#!/usr/bin/python3
"""The Python (pyzmq) side of the benchmark suite (bench/): one role per
process, speaking the suite's line protocol: READY [words] once set up,
GO on standard input to start, RESULT {json} at the end.

Usage: bench_peer.py pub SIZE N | sub SIZE N ENDPOINT | rep | req ENDPOINT ROUNDS
"""
import json
import sys
import threading
import time

import zmq


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_go(event):
    for line in sys.stdin:
        if line.strip() == "GO":
            break
    event.set()


def pub(size, n):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 0)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    say("READY tcp://127.0.0.1:%d" % port)
    go = threading.Event()
    threading.Thread(target=wait_go, args=(go,), daemon=True).start()
    payload = bytearray(size)
    payload[0] = ord("P")
    while not go.wait(0.005):
        s.send(bytes(payload))
    payload[0] = ord("D")
    data = bytes(payload)
    start = time.perf_counter()
    for _ in range(n):
        s.send(data)
    took = time.perf_counter() - start
    payload[0] = ord("E")
    for _ in range(10):
        s.send(bytes(payload))
    say("RESULT " + json.dumps({"sent": n, "seconds": took}))
    sys.stdin.read()  # linger until the parent ends us


def sub(size, n, endpoint):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    while s.recv()[0] != ord("P"):
        pass
    say("READY")
    got, first, last = 0, 0.0, 0.0
    while True:
        if not s.poll(2000):
            break
        m = s.recv()
        k = m[0]
        if k == ord("D"):
            last = time.perf_counter()
            if got == 0:
                first = last
            got += 1
        elif k == ord("E"):
            break
    say("RESULT " + json.dumps({"received": got, "seconds": last - first}))
    sys.stdin.read()  # linger: the parent reads what we used, then ends us


def rep():
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    say("READY tcp://127.0.0.1:%d" % port)
    while True:
        s.send(s.recv())


def req(endpoint, rounds):
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.connect(endpoint)
    msg = b"x" * 100
    for _ in range(200):
        s.send(msg)
        s.recv()
    say("READY")
    wait_go(threading.Event())
    lat = []
    start = time.perf_counter()
    for _ in range(rounds):
        t = time.perf_counter()
        s.send(msg)
        s.recv()
        lat.append(time.perf_counter() - t)
    took = time.perf_counter() - start
    lat.sort()
    say("RESULT " + json.dumps({"received": rounds, "rate": rounds / took,
                                "p50": lat[len(lat) // 2], "p99": lat[len(lat) * 99 // 100]}))
    sys.stdin.read()  # linger: the parent reads what we used, then ends us


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "pub":
        pub(int(sys.argv[2]), int(sys.argv[3]))
    elif role == "sub":
        sub(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif role == "rep":
        rep()
    else:
        req(sys.argv[2], int(sys.argv[3]))
