// One libzmq socket (through Node's zeromq 6, which bundles libzmq 4.3.5),
// driven by internal/zmtp's conformance tests over stdin and stdout: one
// JSON object a line each way. The requests and replies are peer.py's;
// see there.
"use strict"

const crypto = require("crypto")
const readline = require("readline")
const zmq = require("zeromq")

const TYPES = {
  PAIR: zmq.Pair, PUB: zmq.Publisher, SUB: zmq.Subscriber, REQ: zmq.Request, REP: zmq.Reply,
  DEALER: zmq.Dealer, ROUTER: zmq.Router, PULL: zmq.Pull, PUSH: zmq.Push,
  XPUB: zmq.XPublisher, XSUB: zmq.XSubscriber,
}

// Option name in a request -> the zeromq socket property.
const OPTIONS = {
  identity: "routingId", // base64; zeromq takes a string, so tests use text ids
  routing_mandatory: "mandatory",
  router_handover: "handover",
  xpub_nodrop: "noDrop",
  heartbeat_ivl: "heartbeatInterval", // ms, as every duration here
  heartbeat_timeout: "heartbeatTimeout",
  heartbeat_ttl: "heartbeatTimeToLive",
  reconnect_ivl: "reconnectInterval",
  linger: "linger",
  sndhwm: "sendHighWaterMark",
  rcvhwm: "receiveHighWaterMark",
  // CURVE: a bool, and keys as 40-character Z85 text.
  curve_server: "curveServer",
  curve_secretkey: "curveSecretKey",
  curve_publickey: "curvePublicKey",
  curve_serverkey: "curveServerKey",
}

const b64 = (s) => Buffer.from(s || "", "base64")

// Large frames cross the pipe as a fill or a digest (see peer.py).
const BIG = 64 << 10
const frameIn = (f) => (typeof f === "string" ? b64(f) : Buffer.alloc(f.size, b64(f.fill)))
const frameOut = (f) => (f.length > BIG
  ? { size: f.length, sha256: crypto.createHash("sha256").update(f).digest("hex") }
  : f.toString("base64"))

let sock = null

// zapHandler answers libzmq's ZAP requests (RFC 27): a CURVE client
// whose key (Z85) is in allowed gets in, any other is refused with 400.
async function zapHandler(allowed) {
  const zap = new zmq.Reply({ linger: 0 })
  await zap.bind("inproc://zeromq.zap.01")
  ;(async () => {
    for await (const req of zap) {
      const key = req.length > 6 && req[6].length === 32 ? z85(req[6]) : ""
      if (allowed.has(key)) {
        await zap.send([req[0], req[1], "200", "OK", key, ""])
      } else {
        await zap.send([req[0], req[1], "400", "not on the list", "", ""])
      }
    }
  })()
}

// z85 encodes 32 bytes as ZeroMQ's Z85 (RFC 32).
const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
function z85(b) {
  let out = ""
  for (let i = 0; i < b.length; i += 4) {
    let v = ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3]
    let chunk = ""
    for (let j = 0; j < 5; j++) {
      chunk = Z85[v % 85] + chunk
      v = Math.floor(v / 85)
    }
    out += chunk
  }
  return out
}

const ops = {
  async open(req) {
    const opts = { linger: 0 } // a test's peer never outlives it
    const given = { ...(req.opts || {}) }
    if (given.zap_allow) { // a list of Z85 keys: run a ZAP handler
      await zapHandler(new Set(given.zap_allow))
      delete given.zap_allow
    }
    for (const [name, value] of Object.entries(given)) {
      opts[OPTIONS[name]] = name === "identity" ? b64(value).toString() : value
    }
    sock = new TYPES[req.type](opts)
  },
  async bind(req) {
    await sock.bind(req.ep)
    return { ep: sock.lastEndpoint }
  },
  connect(req) { sock.connect(req.ep) },
  async unbind(req) { await sock.unbind(req.ep) },
  disconnect(req) { sock.disconnect(req.ep) },
  subscribe(req) { sock.subscribe(b64(req.topic)) },
  unsubscribe(req) { sock.unsubscribe(b64(req.topic)) },
  async send(req) {
    sock.sendTimeout = req.timeout ?? 5000
    await sock.send(req.frames.map(frameIn))
  },
  async recv(req) {
    sock.receiveTimeout = req.timeout ?? 5000
    const frames = await sock.receive()
    return { frames: frames.map(frameOut) }
  },
  close() { sock.close() },
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    const req = JSON.parse(line)
    let rep
    try {
      rep = (await ops[req.op](req)) || {}
      rep.ok = true
    } catch (e) {
      rep = { ok: false, err: e.code || "EUNKNOWN", msg: String(e.message || e) }
    }
    process.stdout.write(JSON.stringify(rep) + "\n")
    if (req.op === "close") {
      process.exit(0)
    }
  }
}

main()
