#!/usr/bin/python3
"""One libzmq socket (through pyzmq), driven by internal/zmtp's conformance
tests over stdin and stdout: one JSON object a line each way.

Requests (frames and topics are base64):
  {"op": "open", "type": "DEALER", "opts": {...}}   options: see OPTIONS
  {"op": "bind", "ep": "tcp://127.0.0.1:*"}         replies {"ep": the endpoint bound}
  {"op": "connect" | "unbind" | "disconnect", "ep": ...}
  {"op": "subscribe" | "unsubscribe", "topic": ...}
  {"op": "send", "frames": [...], "timeout": ms}
  {"op": "recv", "timeout": ms}                     replies {"frames": [...]}
A large frame need not cross the pipe as text: a frame sent may be
{"fill": block, "size": n}, the block repeated to n bytes, and a frame
received over BIG bytes comes as {"size": n, "sha256": hex digest}.
  {"op": "close"}                                   replies, then exits
The option "zap_allow", a list of Z85 client keys, runs a ZAP handler
that lets only those CURVE clients in.
Every reply has "ok"; a failure has "err", libzmq's errno name (EAGAIN on
a timeout, EHOSTUNREACH, ...), and "msg".

Run it with /usr/bin/python3, which has Debian's python3-zmq.
"""
import base64
import errno
import hashlib
import json
import sys
import threading

import zmq
from zmq.utils import z85

TYPES = ("PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB")

# Option name in a request -> libzmq socket option.
OPTIONS = {
    "identity": zmq.ROUTING_ID,  # base64
    "routing_mandatory": zmq.ROUTER_MANDATORY,
    "router_handover": zmq.ROUTER_HANDOVER,
    "xpub_nodrop": zmq.XPUB_NODROP,
    "heartbeat_ivl": zmq.HEARTBEAT_IVL,  # ms, as every duration here
    "heartbeat_timeout": zmq.HEARTBEAT_TIMEOUT,
    "heartbeat_ttl": zmq.HEARTBEAT_TTL,
    "reconnect_ivl": zmq.RECONNECT_IVL,
    "linger": zmq.LINGER,
    "sndhwm": zmq.SNDHWM,
    "rcvhwm": zmq.RCVHWM,
    # CURVE: a bool, and keys as 40-character Z85 text.
    "curve_server": zmq.CURVE_SERVER,
    "curve_secretkey": zmq.CURVE_SECRETKEY,
    "curve_publickey": zmq.CURVE_PUBLICKEY,
    "curve_serverkey": zmq.CURVE_SERVERKEY,
}

# Options whose value is text, set as bytes.
TEXT = ("curve_secretkey", "curve_publickey", "curve_serverkey")


BIG = 64 << 10


def frame_in(f):
    if isinstance(f, str):
        return base64.b64decode(f)
    block, n = base64.b64decode(f["fill"]), f["size"]
    return (block * (n // len(block) + 1))[:n]


def frame_out(f):
    if len(f) > BIG:
        return {"size": len(f), "sha256": hashlib.sha256(f).hexdigest()}
    return base64.b64encode(f).decode()


def zap_handler(ctx, allowed, ready):
    """Answers libzmq's ZAP requests (RFC 27): a CURVE client whose key
    (Z85) is in allowed gets in, any other is refused with 400."""
    zap = ctx.socket(zmq.REP)
    zap.linger = 0
    zap.bind("inproc://zeromq.zap.01")
    ready.set()
    while True:
        try:
            req = zap.recv_multipart()
        except zmq.ZMQError:
            return
        key = z85.encode(req[6]).decode() if len(req) > 6 and len(req[6]) == 32 else ""
        if key in allowed:
            zap.send_multipart([req[0], req[1], b"200", b"OK", key.encode(), b""])
        else:
            zap.send_multipart([req[0], req[1], b"400", b"not on the list", b"", b""])


class Peer:
    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = None

    def op_open(self, req):
        opts = dict(req.get("opts", {}))
        allowed = opts.pop("zap_allow", None)  # a list of Z85 keys: run a ZAP handler
        if allowed is not None:
            ready = threading.Event()
            threading.Thread(target=zap_handler, args=(self.ctx, set(allowed), ready), daemon=True).start()
            ready.wait()
        self.sock = self.ctx.socket(getattr(zmq, req["type"]))
        self.sock.setsockopt(zmq.LINGER, 0)  # a test's peer never outlives it
        for name, value in opts.items():
            if name == "identity":
                value = base64.b64decode(value)
            elif name in TEXT:
                value = value.encode()
            elif isinstance(value, bool):
                value = int(value)
            self.sock.setsockopt(OPTIONS[name], value)

    def op_bind(self, req):
        self.sock.bind(req["ep"])
        return {"ep": self.sock.getsockopt_string(zmq.LAST_ENDPOINT)}

    def op_connect(self, req):
        self.sock.connect(req["ep"])

    def op_unbind(self, req):
        self.sock.unbind(req["ep"])

    def op_disconnect(self, req):
        self.sock.disconnect(req["ep"])

    def op_subscribe(self, req):
        self.sock.setsockopt(zmq.SUBSCRIBE, base64.b64decode(req["topic"]))

    def op_unsubscribe(self, req):
        self.sock.setsockopt(zmq.UNSUBSCRIBE, base64.b64decode(req["topic"]))

    def op_send(self, req):
        self.sock.setsockopt(zmq.SNDTIMEO, req.get("timeout", 5000))
        self.sock.send_multipart([frame_in(f) for f in req["frames"]])

    def op_recv(self, req):
        self.sock.setsockopt(zmq.RCVTIMEO, req.get("timeout", 5000))
        frames = self.sock.recv_multipart()
        return {"frames": [frame_out(f) for f in frames]}

    def op_close(self, req):
        self.sock.close()
        self.ctx.term()


def main():
    peer = Peer()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            rep = getattr(peer, "op_" + req["op"])(req) or {}
            rep["ok"] = True
        except zmq.ZMQError as e:
            rep = {"ok": False, "err": errno.errorcode.get(e.errno, str(e.errno)), "msg": str(e)}
        sys.stdout.write(json.dumps(rep) + "\n")
        sys.stdout.flush()
        if req["op"] == "close":
            return


if __name__ == "__main__":
    main()
