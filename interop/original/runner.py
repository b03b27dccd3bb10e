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
import datetime
import importlib
import os
import sys
import threading
import time

import google.protobuf.message_factory as message_factory
from google.protobuf import symbol_database, text_format

if not hasattr(message_factory, "GetMessageClass"):
    message_factory.GetMessageClass = lambda desc: symbol_database.Default().GetPrototype(desc)

import zmq  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor as FD  # noqa: E402

import dividere  # noqa: E402
from dividere import MsgLib  # noqa: E402

dividere.registry.ServiceRegistry.Client.getLocalIp = lambda self: "127.0.0.1"


# The schemas a scenario's types come from: importing one puts its types in
# the descriptor pool the original's decoder looks in. The guide's
# clientMsgs and the tests' TestMsg both define Msg01, so a scenario loads
# one or the other, never both.
SCHEMAS = []


def schema(*names):
    for n in names:
        SCHEMAS.append(importlib.import_module(n))


def find(name):
    for m in SCHEMAS + [MsgLib]:
        if hasattr(m, name):
            return getattr(m, name)
    raise KeyError(name)


def test_types():
    """Every message type of the original's tests/TestMsg.proto."""
    m = find("testMsg01")
    mod = sys.modules[m.__module__]
    return [getattr(mod, n) for n in mod.DESCRIPTOR.message_types_by_name]


def fill(m, i):
    """Sets every field of m to a value made from i, nested ones too."""
    for f in m.DESCRIPTOR.fields:
        if f.message_type is not None:
            fill(getattr(m, f.name), i)
            continue
        c = f.cpp_type
        if c in (FD.CPPTYPE_DOUBLE, FD.CPPTYPE_FLOAT):
            v = i + 0.5
        elif c in (FD.CPPTYPE_INT32, FD.CPPTYPE_INT64):
            v = -(i + 1) * 7919
        elif c in (FD.CPPTYPE_UINT32, FD.CPPTYPE_UINT64):
            v = (i + 1) * 7919
        elif c == FD.CPPTYPE_BOOL:
            v = i % 2 == 0
        elif f.type == FD.TYPE_BYTES:
            v = bytes([i % 256, 0, 255])
        else:
            v = "s%d-\u00e9" % i
        setattr(m, f.name, v)
    return m


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Server(dividere.messaging.LoadBalancingPattern.Server.ServerMsgReactor):
    """The original's ServerMsgReactor, with one race of its own closed.

    Its __init__ starts the reactor thread (super().__init__) before it
    sets hbExpireTime_ (in sendHeartbeat); a thread that reaches idle()
    first dies of an AttributeError, and the server never heartbeats. Seen
    once under load in CI. Setting the attribute first changes nothing
    else: sendHeartbeat sets it again at once.
    """

    def __init__(self, objs):
        self.hbExpireTime_ = datetime.datetime.now() + datetime.timedelta(
            seconds=dividere.messaging.LoadBalancingPattern.Broker.HeartbeatRate * 1.5)
        super().__init__(objs)


class EchoServer(Server):
    """A LoadBalancingPattern server answering ServiceLookupReq with itself."""

    def handleServiceLookupReq(self, sock, id, msg):
        say("GOT " + msg.serviceName)
        sock.send((id, msg))


class UnreliableServer(Server):
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


def my_service():
    """The original's test MyService (serviceTests.py), answering
    MyServiceReq with MyServiceRep. It says READY at once and REGISTERED
    <name> once its constructor, which waits for a name service, is
    through (test01: a service started before its name service)."""
    def handle(self, msg):
        self.sock_.send(find("MyServiceRep")())

    cls = type("MyService", (dividere.service.Service,), {"__module__": "orig", "handleMyServiceReq": handle})
    say("READY")
    s = cls()
    say("REGISTERED " + s.name_)
    sys.stdin.read()
    s.stop()


def ns_client(name, port):
    """The original's name-service Client (serviceRegistryTests test00) on
    localhost:5000: registers NAME at PORT, looks it up, unregisters it
    and looks it up again, saying what each lookup found."""
    c = dividere.registry.ServiceRegistry.Client("localhost", 5000)
    say("READY")
    c.registerService(name, int(port))
    m = c.lookupService(name)
    say("FOUND %s %s %d" % (m.name, m.server, m.port))
    c.unregisterService(name, int(port))
    m = c.lookupService(name)
    say("AFTER %d" % m.port)
    sys.stdin.read()


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


def rep(where):
    """An original messaging.Response that echoes every request, saying
    GOT <type> <message>: bound on tcp://*:WHERE for a port, else
    connected to the endpoint WHERE."""
    schema("TestMsg_pb2")
    r = dividere.messaging.Response("tcp://*:" + where if where.isdigit() else where)

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


def req_all(endpoint, rounds):
    """An original messaging.Request sending ROUNDS messages of every
    TestMsg type, each checked against its echo: says OK <type> or BAD
    <type> <what came back>, then DONE."""
    schema("TestMsg_pb2")
    r = dividere.messaging.Request(endpoint)
    say("READY")
    for cls in test_types():
        bad = None
        for i in range(int(rounds)):
            m = fill(cls(), i)
            r.send(m)
            got = r.recv()
            if got != m:
                bad = got
                break
        say("OK " + cls.__name__ if bad is None else "BAD %s %s" % (cls.__name__, text(bad)))
    say("DONE")
    sys.stdin.read()


def sub_echo(endpoint, port):
    """An original Subscriber of every type on ENDPOINT, and an original
    Publisher on tcp://*:PORT publishing again whatever comes."""
    schema("TestMsg_pb2")
    s = dividere.messaging.Subscriber(endpoint)
    p = dividere.messaging.Publisher("tcp://*:" + port)
    say("READY")

    def loop():
        while True:
            p.send(s.recv())

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()


def sub_types(endpoint, count, *types):
    """An original Subscriber of the named types only (its own filter):
    says GOT <type> <message> for the first COUNT messages."""
    schema("Filter8_pb2", "TestMsg_pb2")
    s = dividere.messaging.Subscriber(endpoint, [find(t)() for t in types])
    say("READY")
    for _ in range(int(count)):
        say("GOT " + text(s.recv()))
    sys.stdin.read()


def pub_tick(port, *types):
    """An original Publisher on tcp://*:PORT publishing a message of each
    named type every 20 ms, numbered, until standard input closes."""
    schema("Filter8_pb2", "TestMsg_pb2")
    p = dividere.messaging.Publisher("tcp://*:" + port)
    say("READY")
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            for t in types:
                p.send(fill(find(t)(), i))
            i += 1
            time.sleep(0.02)  # a pace, not a synchronisation

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()
    stop.set()


def dealer_echo(endpoint):
    """An original messaging.Dealer that sends back whatever it gets
    (routed, as (id, message), behind a proxy or router; else as is)."""
    schema("TestMsg_pb2")
    d = dividere.messaging.Dealer(endpoint)
    say("READY")

    def loop():
        while True:
            if d.wait(100):
                m = d.recv()
                d.send(m)
                say("GOT " + (m[1] if isinstance(m, tuple) else m).DESCRIPTOR.name)

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()


def dealer_call(endpoint, n, empty=""):
    """An original messaging.Dealer sending N messages of every TestMsg
    type in turn and checking each echo: OK <type> or BAD <type>, then
    DONE. With "empty" it sends as a REQ would (sendWithEmptyFrame), for a
    Response, and the reply comes as (delimiter, message)."""
    schema("TestMsg_pb2")
    d = dividere.messaging.Dealer(endpoint)
    say("READY")
    types = test_types()
    for i in range(int(n)):
        cls = types[i % len(types)]
        m = fill(cls(), i)
        if empty:
            d.sendWithEmptyFrame(m)
        else:
            d.send(m)
        if not d.wait(10000):
            say("TIMEOUT " + cls.__name__)
            break
        got = d.recv()
        if isinstance(got, tuple):
            got = got[1]
        say("OK " + cls.__name__ if got == m else "BAD " + cls.__name__)
    say("DONE")
    sys.stdin.read()


def proxy(fe_port, be_port):
    """The original's connection-level Proxy (ROUTER front, DEALER back)."""
    p = dividere.connection.Proxy(int(fe_port), int(be_port))
    say("READY")
    sys.stdin.read()
    p.stop()


def guide_reactor(kind, rep_port, sub_endpoint):
    """The guide's reactor example (examples/msgReactor.py) with its
    client side left to Go: an MtMsgReactor or MpMsgReactor on a
    Response (tcp://*:REP_PORT) and a Subscriber (SUB_ENDPOINT), answering
    Msg01 with its field1 reversed and saying GOT Msg02 <field1>."""
    schema("clientMsgs_pb2")
    base = dividere.messaging.MtMsgReactor if kind == "mt" else dividere.messaging.MpMsgReactor

    class Reactor(base):
        def handleMsg01(self, obj, msg):
            msg.field1 = msg.field1[::-1]
            obj.send(msg)

        def handleMsg02(self, obj, msg):
            say("GOT Msg02 " + msg.field1)

        def initThread(self):
            pass

    rep_ep = "tcp://*:%s" % rep_port
    if kind == "mt":
        r = Reactor([dividere.messaging.Response(rep_ep), dividere.messaging.Subscriber(sub_endpoint)])
    else:
        r = Reactor(["Response('%s')" % rep_ep, "Subscriber('%s')" % sub_endpoint])
    say("READY")
    sys.stdin.read()
    r.stop()


def guide_pub(port):
    """The guide's first example (examples/simplePubSub.py), publisher
    side: Msg01 with field1 "abcd", again every 50 ms (where the example
    sleeps for the late joiner) until standard input closes."""
    schema("clientMsgs_pb2")
    p = dividere.messaging.Publisher("tcp://*:" + port)
    say("READY")
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            p.send(find("Msg01")(field1="abcd"))
            time.sleep(0.05)  # a pace, not a synchronisation

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()
    stop.set()


def guide_sub(endpoint):
    """The guide's first example, subscriber side: says GOT <message>."""
    schema("clientMsgs_pb2")
    s = dividere.messaging.Subscriber(endpoint)
    say("READY")
    say("GOT " + text(s.recv()))
    sys.stdin.read()


def lb_client(endpoint, n, timeout_ms):
    """The original's messaging LoadBalancingPattern.Client (lazy pirate:
    5 retries of TIMEOUT_MS) sending N testMsg01: says OK or BAD per
    reply."""
    schema("TestMsg_pb2")
    c = dividere.messaging.LoadBalancingPattern.Client(endpoint, 5, int(timeout_ms))
    say("READY")
    for i in range(int(n)):
        m = find("testMsg01")(field1="client-%d" % i, field2=i)
        c.send(m)
        got = c.recv()
        say("OK %d" % i if got == m else "BAD %d %s" % (i, got))
    sys.stdin.read()


def conn_broker(fe_port, be_port):
    """The original's connection-level LoadBalancingPattern.Broker."""
    b = dividere.connection.LoadBalancingPattern.Broker(zmq.ROUTER, int(fe_port), zmq.ROUTER, int(be_port))
    say("READY")
    sys.stdin.read()
    b.stop()


def conn_client(endpoint, n):
    """The original's connection-level LoadBalancingPattern.Client
    sending N byte strings: says REPLY <bytes> per reply (None: no reply
    after its retries)."""
    c = dividere.connection.LoadBalancingPattern.Client(endpoint)
    say("READY")
    for i in range(int(n)):
        c.send(b"req-%d" % i)
        say("REPLY %r" % c.recv(5000))
    sys.stdin.read()


# The connection layer (the original's tests/connectionTests.py): bytes.

def conn_relay(sub_endpoint, pub_endpoint):
    """An original connection.Subscriber (every topic) on SUB_ENDPOINT and
    an original connection.Publisher on PUB_ENDPOINT sending on whatever
    comes."""
    s = dividere.connection.Subscriber(sub_endpoint)
    p = dividere.connection.Publisher(pub_endpoint)
    say("READY")

    def loop():
        while True:
            p.send(s.recv())

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()


def conn_rep(where):
    """An original connection.Response echoing every request (bound on a
    port, or connected to an endpoint)."""
    r = dividere.connection.Response("tcp://*:" + where if where.isdigit() else where)

    def loop():
        while True:
            r.send(r.recv())

    threading.Thread(target=loop, daemon=True).start()
    say("READY")
    sys.stdin.read()


def conn_req(n, *endpoints):
    """An original connection.Request to the endpoints (round-robin, as
    its test06-08) sending N requests: says REPLY <bytes> for each."""
    r = dividere.connection.Request(list(endpoints))
    say("READY")
    for i in range(int(n)):
        r.send(b"abcd-%d" % i)
        say("REPLY %r" % r.recv())
    sys.stdin.read()


def conn_dealer_worker(endpoint):
    """The original's WorkerTask (connectionTests test10, test11): a
    connection.Dealer behind a proxy answering b"message X" with b"ack X"
    along the route it came by."""
    d = dividere.connection.Dealer(endpoint)
    say("READY")

    def loop():
        while True:
            if d.wait(100):
                route, payload = d.recv()
                d.send((route, b"ack " + payload[len(b"message "):]))

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()


def conn_dealer_client(endpoint, n, empty=""):
    """The original's ClientTask: a connection.Dealer sending N
    b"message <pid>.<i>", each answer checked to be b"ack <pid>.<i>"; says
    OK N or BAD. With "empty" it sends as a REQ would
    (sendWithEmptyFrame), to a Response that echoes."""
    d = dividere.connection.Dealer(endpoint)
    say("READY")
    for i in range(int(n)):
        body = b"%d.%d" % (os.getpid(), i)
        if empty:
            d.sendWithEmptyFrame(b"message " + body)
        else:
            d.send(b"message " + body)
        if not d.wait(10000):
            say("TIMEOUT %d" % i)
            break
        got = d.recv()
        if isinstance(got, tuple):
            got = got[1]
        want = b"message " + body if empty else b"ack " + body
        if got != want:
            say("BAD %r %r" % (got, want))
            break
    else:
        say("OK %s" % n)
    sys.stdin.read()


SCENARIOS = {
    "my-service": my_service,
    "ns-client": ns_client,
    "conn-relay": conn_relay,
    "conn-rep": conn_rep,
    "conn-req": conn_req,
    "conn-dealer-worker": conn_dealer_worker,
    "conn-dealer-client": conn_dealer_client,
    "req-all": req_all,
    "sub-echo": sub_echo,
    "sub-types": sub_types,
    "pub-tick": pub_tick,
    "dealer-echo": dealer_echo,
    "dealer-call": dealer_call,
    "proxy": proxy,
    "guide-reactor": guide_reactor,
    "guide-pub": guide_pub,
    "guide-sub": guide_sub,
    "lb-client": lb_client,
    "conn-broker": conn_broker,
    "conn-client": conn_client,
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
        if not sys.argv[1].startswith("guide-"):
            schema("TestMsg_pb2")
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        # The original's threads do not all end on stop(): leave at once.
        sys.stdout.flush()
        os._exit(0)
