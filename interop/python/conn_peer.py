#!/usr/bin/python3
"""Connection-layer peer for dividere's interop tests: plain pyzmq, no Go.

Usage: conn_peer.py MODE ENDPOINT [ARG]
Prints READY (with the bound endpoint for modes that bind) when it is set
up, then does its part and exits 0 on success, non-zero on any failure.

  rep      ENDPOINT N        bind REP, answer N requests with b"py:" + request
  req      ENDPOINT N        connect REQ, make N requests, expect b"go:" + request
  pub      ENDPOINT N        bind PUB; wait for a subscriber, send N messages on
                             topics "a." and "b." then b"END"
  sub      ENDPOINT TOPIC    connect SUB to TOPIC and b"END"; print each message
                             until END
  router   ENDPOINT N        bind ROUTER, answer N messages along their route
  dealer   ENDPOINT N        connect DEALER, send N messages, expect N replies
  curvereq ENDPOINT N SERVER_PUBLIC CLIENT_PUBLIC CLIENT_SECRET
                             connect REQ with CURVE, make N requests, expect b"go:" + request
"""
import sys
import zmq

TIMEOUT_MS = 10000


def main():
    mode, endpoint = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    ctx = zmq.Context.instance()
    if mode == "rep":
        s = ctx.socket(zmq.REP)
        s.bind(endpoint)
        ready(s)
        for _ in range(int(arg)):
            m = recv(s)
            s.send(b"py:" + m)
    elif mode == "req":
        s = ctx.socket(zmq.REQ)
        s.connect(endpoint)
        ready(None)
        for i in range(int(arg)):
            m = b"hello %d" % i
            s.send(m)
            got = recv(s)
            expect(got == b"go:" + m, "req got %r" % got)
    elif mode == "pub":
        s = ctx.socket(zmq.XPUB)  # a PUB that can tell when someone subscribed
        s.bind(endpoint)
        ready(s)
        subs = 0
        while subs < 2:  # the Go subscriber subscribes to its topic and END
            ev = recv(s)
            if ev[:1] == b"\x01":
                subs += 1
        for i in range(int(arg)):
            s.send(b"a.%d" % i)
            s.send(b"b.%d" % i)
        s.send(b"END")
    elif mode == "sub":
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, arg.encode())
        s.setsockopt(zmq.SUBSCRIBE, b"END")
        s.connect(endpoint)
        ready(None)
        while True:
            m = recv(s)
            print(m.decode(), flush=True)
            if m == b"END":
                break
    elif mode == "curvereq":
        s = ctx.socket(zmq.REQ)
        s.curve_serverkey = sys.argv[4].encode()
        s.curve_publickey = sys.argv[5].encode()
        s.curve_secretkey = sys.argv[6].encode()
        s.connect(endpoint)
        ready(None)
        for i in range(int(arg)):
            m = b"secret %d" % i
            s.send(m)
            got = recv(s)
            expect(got == b"go:" + m, "curvereq got %r" % got)
    elif mode == "router":
        s = ctx.socket(zmq.ROUTER)
        s.bind(endpoint)
        ready(s)
        for _ in range(int(arg)):
            frames = recv_multipart(s)
            s.send_multipart(frames[:-1] + [b"py:" + frames[-1]])
    elif mode == "dealer":
        s = ctx.socket(zmq.DEALER)
        s.connect(endpoint)
        ready(None)
        n = int(arg)
        for i in range(n):
            s.send(b"d%d" % i)
        got = sorted(recv_multipart(s)[-1] for _ in range(n))
        expect(got == sorted(b"go:d%d" % i for i in range(n)), "dealer got %r" % got)
    else:
        sys.exit("unknown mode " + mode)
    s.close(linger=1000)
    ctx.term()


def ready(sock):
    ep = sock.getsockopt(zmq.LAST_ENDPOINT).decode() if sock is not None else ""
    print("READY", ep.replace("0.0.0.0", "127.0.0.1"), flush=True)


def recv(s):
    return recv_multipart(s)[-1]


def recv_multipart(s):
    if not s.poll(TIMEOUT_MS):
        sys.exit("timed out waiting for a message")
    return s.recv_multipart()


def expect(ok, what):
    if not ok:
        sys.exit(what)


if __name__ == "__main__":
    main()
