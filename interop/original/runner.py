#!/usr/bin/python3
"""Drives the original Python dividere's own classes for the interop tests
(interop/original_test.go), one scenario per process. The original is
imported from PYTHONPATH, where the test put links to its modules beside
its compiled schema; nothing of it is copied here.

Two shims, as the original's NOTES.md says: protobuf 4.21 lacks
message_factory.GetMessageClass, and the registry client would find its
address by contacting a public DNS server.

Usage: runner.py SCENARIO ARGS...   (see the functions below)
It prints READY once set up, then runs until its standard input closes.
"""
import sys
import threading

import google.protobuf.message_factory as message_factory
from google.protobuf import symbol_database, text_format

if not hasattr(message_factory, "GetMessageClass"):
    message_factory.GetMessageClass = lambda desc: symbol_database.Default().GetPrototype(desc)

import dividere  # noqa: E402
from dividere import MsgLib  # noqa: E402
import TestMsg_pb2  # noqa: E402,F401  (its types join the descriptor pool)

dividere.registry.ServiceRegistry.Client.getLocalIp = lambda self: "127.0.0.1"


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class EchoServer(dividere.messaging.LoadBalancingPattern.Server.ServerMsgReactor):
    """A LoadBalancingPattern server answering ServiceLookupReq with itself."""

    def handleServiceLookupReq(self, sock, id, msg):
        say("GOT " + msg.serviceName)
        sock.send((id, msg))


class UnreliableServer(dividere.messaging.LoadBalancingPattern.Server.ServerMsgReactor):
    """The original's own test server that ignores every other request."""

    def __init__(self, objs):
        self.fail_ = True
        super().__init__(objs)

    def handleServiceLookupReq(self, sock, id, msg):
        if not self.fail_:
            sock.send((id, msg))
            say("ANSWERED " + msg.serviceName)
        else:
            say("IGNORED " + msg.serviceName)
        self.fail_ = not self.fail_


def lb_server(endpoint, mode):
    """LoadBalancingPattern.Server (messaging level) on a broker's back end."""
    cls = UnreliableServer if mode == "unreliable" else EchoServer
    s = dividere.messaging.LoadBalancingPattern.Server(endpoint, cls([dividere.messaging.Dealer(endpoint)]))
    say("READY")
    sys.stdin.read()
    s.stop()


class ConnWorker(dividere.connection.LoadBalancingPattern.Worker):
    """The connection-level worker: it answers heartbeats, and says what it got."""

    def handlebytes(self, msg):
        say("GOT " + repr(msg))


def lb_worker_conn(endpoint):
    w = ConnWorker(endpoint)
    say("READY")
    sys.stdin.read()
    w.stop()


def lb_broker(fe_port, be_port):
    """LoadBalancingPattern.Broker (messaging level) on fixed ports."""
    b = dividere.messaging.LoadBalancingPattern.Broker(int(fe_port), int(be_port))
    say("READY")
    sys.stdin.read()
    b.stop()


def service(name):
    """An original Service (on the name service at localhost:5000/5001, as
    the original has it) named orig.NAME, answering ServiceLookupReq with
    itself."""

    def handle(self, msg):
        self.send(msg)

    cls = type(name, (dividere.service.Service,), {"__module__": "orig", "handleServiceLookupReq": handle})
    s = cls()
    say("READY " + s.name_)
    sys.stdin.read()
    s.stop()


def nameservice():
    """The original's name service, on its fixed ports 5000 and 5001."""
    s = dividere.registry.ServiceRegistry.Server()
    say("READY")
    sys.stdin.read()
    s.stop()


def text(m):
    return "%s %s" % (m.DESCRIPTOR.name, text_format.MessageToString(m, as_one_line=True))


def sub(endpoint, count):
    """An original messaging.Subscriber of every type, connected to
    endpoint: says GOT <type> <message> for the first COUNT messages."""
    s = dividere.messaging.Subscriber(endpoint)
    say("READY")
    for _ in range(int(count)):
        say("GOT " + text(s.recv()))
    sys.stdin.read()


def rep(port):
    """An original messaging.Response on tcp://*:PORT that echoes every
    request, saying GOT <type> <message>."""
    r = dividere.messaging.Response("tcp://*:" + port)

    def serve():
        while True:
            m = r.recv()
            say("GOT " + text(m))
            r.send(m)

    threading.Thread(target=serve, daemon=True).start()
    say("READY")
    sys.stdin.read()


def req(endpoint, *names):
    """An original messaging.Request to endpoint: sends ServiceLookupReq
    for each name and says REPLY <type> <message>, and for an ack, what
    its ok field says."""
    r = dividere.messaging.Request(endpoint)
    say("READY")
    for n in names:
        r.send(MsgLib.ServiceLookupReq(serviceName=n))
        m = r.recv()
        if m.DESCRIPTOR.name == "ack":
            say("REPLY ack ok=%s" % m.ok)
        else:
            say("REPLY " + text(m))
    sys.stdin.read()


SCENARIOS = {
    "sub": sub,
    "rep": rep,
    "req": req,
    "service": service,
    "nameservice": nameservice,
    "lb-server": lb_server,
    "lb-worker-conn": lb_worker_conn,
    "lb-broker": lb_broker,
}

if __name__ == "__main__":
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    finally:
        # The original's threads do not all end on stop(): leave at once.
        sys.stdout.flush()
        import os
        os._exit(0)
