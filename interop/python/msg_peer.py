#!/usr/bin/python3
"""Messaging-layer peer for dividere's interop tests: pyzmq + protobuf only,
with the code generated from dividere's proto/ files, speaking the docs/protocol.md
envelope (msgEnvelope with an Any) the way the Python original does.

Usage: msg_peer.py MODE ENDPOINT [N]
Prints READY (with the bound endpoint for modes that bind), then does its
part and exits 0 on success, non-zero on any failure.

  rep   ENDPOINT N   bind REP; answer N StringMsg requests with StringMsg("py:" + value)
  req   ENDPOINT N   connect REQ; send N StringMsg, expect StringMsg("go:" + value)
  pub   ENDPOINT N   bind XPUB; after two subscriptions, publish N rounds of
                     Int32Msg, StringMsg, Msg01, Msg012, then ShutdownEvent
  sub   ENDPOINT     connect SUB to Msg01 and ShutdownEvent only; print
                     "<type> <n>" per message until ShutdownEvent
  service  REGISTRY NAME N   bind a REP on a free port, register NAME with the
                     name service at REGISTRY using only the original
                     RegisterService, answer N StringMsg with "py-service:" + value,
                     then unregister
  lookup   REGISTRY NAME     look NAME up with the original ServiceLookupReq,
                     call it with StringMsg("from python"), print the answer
  lookups  REGISTRY NAME N   look NAME up N times, print HALF, wait for a line
                     on standard input, look it up N times more, print
                     "OK <lookups> <retries>"

REGISTRY is one name-service endpoint or several, comma-separated (name
service instances sharing one store): the REQ connects to all of them with
ZMQ_IMMEDIATE, so requests go only to instances that are up, and a request
that times out is sent again on a new socket (the "lazy pirate").
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zmq  # noqa: E402
from google.protobuf import any_pb2, symbol_database  # noqa: E402

import Envelope_pb2  # noqa: E402
import MsgLib_pb2  # noqa: E402
import TestMsgs_pb2  # noqa: E402

TIMEOUT_MS = 10000


def encode(msg):
    a = any_pb2.Any()
    a.Pack(msg)
    return Envelope_pb2.msgEnvelope(msgName=msg.DESCRIPTOR.full_name, msg=a).SerializeToString()


def decode(data):
    env = Envelope_pb2.msgEnvelope()
    env.ParseFromString(data)
    cls = symbol_database.Default().GetSymbol(env.msgName)
    msg = cls()
    if not env.msg.Unpack(msg):
        sys.exit("envelope %s does not hold a %s" % (env.msgName, env.msgName))
    return msg


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def topic(cls):
    """The exact per-type subscription prefix: 0x0A, varint(len), name."""
    name = cls.DESCRIPTOR.full_name.encode()
    return b"\x0a" + varint(len(name)) + name


class Registry:
    """A REQ to one or several name-service instances, with failover."""

    def __init__(self, ctx, endpoints, timeout_ms=1000, tries=3):
        self.ctx, self.endpoints = ctx, endpoints.split(",")
        self.timeout_ms, self.tries, self.retries = timeout_ms, tries, 0
        self.sock = None
        self.open()

    def open(self):
        if self.sock is not None:
            self.sock.close(linger=0)
        self.sock = self.ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        for ep in self.endpoints:
            self.sock.connect(ep)

    def call(self, msg):
        for _ in range(self.tries):
            self.sock.send(encode(msg))
            if self.sock.poll(self.timeout_ms):
                return decode(self.sock.recv_multipart()[-1])
            self.retries += 1
            self.open()  # that instance is gone: a REQ cannot send again before it hears
        sys.exit("no name service answered %d tries" % self.tries)

    def close(self):
        self.sock.close(linger=0)


def main():
    mode, endpoint = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 0
    ctx = zmq.Context.instance()
    if mode == "rep":
        s = ctx.socket(zmq.REP)
        s.bind(endpoint)
        ready(s)
        for _ in range(n):
            m = decode(recv(s))
            expect(isinstance(m, TestMsgs_pb2.StringMsg), "rep got %r" % m)
            s.send(encode(TestMsgs_pb2.StringMsg(value="py:" + m.value)))
    elif mode == "req":
        s = ctx.socket(zmq.REQ)
        s.connect(endpoint)
        ready(None)
        for i in range(n):
            s.send(encode(TestMsgs_pb2.StringMsg(value="q%d" % i)))
            m = decode(recv(s))
            expect(isinstance(m, TestMsgs_pb2.StringMsg) and m.value == "go:q%d" % i, "req got %r" % m)
    elif mode == "pub":
        s = ctx.socket(zmq.XPUB)
        s.bind(endpoint)
        ready(s)
        subs = 0
        while subs < 2:
            if recv(s)[:1] == b"\x01":
                subs += 1
        for i in range(n):
            s.send(encode(TestMsgs_pb2.Int32Msg(value=i)))
            s.send(encode(TestMsgs_pb2.StringMsg(value="s%d" % i)))
            s.send(encode(TestMsgs_pb2.Msg01(n=i)))
            s.send(encode(TestMsgs_pb2.Msg012(n=i)))
        s.send(encode(MsgLib_pb2.ShutdownEvent()))
    elif mode == "sub":
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, topic(TestMsgs_pb2.Msg01))
        s.setsockopt(zmq.SUBSCRIBE, topic(MsgLib_pb2.ShutdownEvent))
        s.connect(endpoint)
        ready(None)
        while True:
            m = decode(recv(s))
            name = m.DESCRIPTOR.full_name
            print(name, getattr(m, "n", ""), flush=True)
            if name == "ShutdownEvent":
                break
    elif mode == "service":
        name, n = sys.argv[3], int(sys.argv[4])
        s = ctx.socket(zmq.REP)
        port = s.bind_to_random_port("tcp://127.0.0.1")
        reg = Registry(ctx, endpoint)
        ack = reg.call(MsgLib_pb2.RegisterService(serviceName=name, server="127.0.0.1", port=port))
        expect(isinstance(ack, MsgLib_pb2.ack) and ack.ok, "register: %r" % ack)
        ready(s)
        for _ in range(n):
            m = decode(recv(s))
            s.send(encode(TestMsgs_pb2.StringMsg(value="py-service:" + m.value)))
        reg.call(MsgLib_pb2.UnregisterService(serviceName=name, server="127.0.0.1", port=port))
        reg.close()
    elif mode == "lookup":
        name = sys.argv[3]
        reg = Registry(ctx, endpoint)
        ready(None)
        rep = reg.call(MsgLib_pb2.ServiceLookupReq(serviceName=name))
        expect(isinstance(rep, MsgLib_pb2.ServiceLookupRep) and rep.port != 0, "lookup: %r" % rep)
        s = ctx.socket(zmq.REQ)
        s.connect("tcp://%s:%d" % (rep.server, rep.port))
        s.send(encode(TestMsgs_pb2.StringMsg(value="from python")))
        print(decode(recv(s)).value, flush=True)
        reg.close()
    elif mode == "lookups":
        name, n = sys.argv[3], int(sys.argv[4])
        s, reg = None, Registry(ctx, endpoint)
        ready(None)
        found = 0
        for half in range(2):
            for _ in range(n):
                rep = reg.call(MsgLib_pb2.ServiceLookupReq(serviceName=name))
                expect(isinstance(rep, MsgLib_pb2.ServiceLookupRep) and rep.port != 0, "lookup: %r" % rep)
                found += 1
            if half == 0:
                print("HALF", flush=True)
                sys.stdin.readline()
        print("OK", found, reg.retries, flush=True)
        reg.close()
    else:
        sys.exit("unknown mode " + mode)
    if s is not None:
        s.close(linger=1000)
    ctx.term()


def ready(sock):
    ep = sock.getsockopt(zmq.LAST_ENDPOINT).decode() if sock is not None else ""
    print("READY", ep.replace("0.0.0.0", "127.0.0.1"), flush=True)


def recv(s):
    if not s.poll(TIMEOUT_MS):
        sys.exit("timed out waiting for a message")
    return s.recv_multipart()[-1]


def expect(ok, what):
    if not ok:
        sys.exit(what)


if __name__ == "__main__":
    main()
