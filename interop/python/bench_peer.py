#!/usr/bin/python3
"""The Python side of `dividere bench`: the same workloads through pyzmq and
the protobuf envelope, measured in Python, printed as one JSON line.

Usage: bench_peer.py pubsub SIZE N | reqrep N
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zmq  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402

import Envelope_pb2  # noqa: E402
import TestMsgs_pb2  # noqa: E402


def encode(msg):
    a = any_pb2.Any()
    a.Pack(msg)
    return Envelope_pb2.msgEnvelope(msgName=msg.DESCRIPTOR.full_name, msg=a).SerializeToString()


def decode(data):
    env = Envelope_pb2.msgEnvelope()
    env.ParseFromString(data)
    m = TestMsgs_pb2.Echo()
    env.msg.Unpack(m)
    return m


def pubsub(size, n):
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.SNDHWM, 100000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 100000)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("tcp://127.0.0.1:%d" % port)
    pub.recv()  # the subscription: no late joiner
    payload = encode(TestMsgs_pb2.Echo(data=b"x" * max(0, size - 23)))
    got = [0, 0.0]

    def receive():
        while True:
            if not sub.poll(500):
                return
            decode(sub.recv())
            got[0] += 1
            got[1] = time.perf_counter()
            if got[0] == n:
                return

    t = threading.Thread(target=receive)
    t.start()
    start = time.perf_counter()
    for _ in range(n):
        pub.send(payload)
    t.join()
    took = got[1] - start
    print(json.dumps({"rate": got[0] / took if took > 0 else 0, "lost": n - got[0], "bytes": len(payload)}))
    ctx.destroy(linger=0)


def reqrep(n):
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    req = ctx.socket(zmq.REQ)
    req.connect("tcp://127.0.0.1:%d" % port)

    def serve():
        for _ in range(n):
            rep.send(encode(decode(rep.recv())))

    t = threading.Thread(target=serve)
    t.start()
    msg = encode(TestMsgs_pb2.Echo(data=b"x" * 76))
    lat = []
    for _ in range(n):
        s = time.perf_counter()
        req.send(msg)
        decode(req.recv())
        lat.append(time.perf_counter() - s)
    t.join()
    lat.sort()
    print(json.dumps({"p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)]}))
    ctx.destroy(linger=0)


if __name__ == "__main__":
    if sys.argv[1] == "pubsub":
        pubsub(int(sys.argv[2]), int(sys.argv[3]))
    else:
        reqrep(int(sys.argv[2]))
