"use strict";
// Request/reply: a Client that calls (the deadline travels as
// header.timeout_us, a refusal comes back as a DividereError with its
// code), and a Responder that answers typed requests by the same rules as
// a Go Reactor.

const zmq = require("zeromq");
const { defaultTypes, fullName } = require("./types");
const { Code, DividereError, encode, decode, refusal, refusalOf } = require("./envelope");
const { RateLog, Serial, socketOptions, isTimeout, endpointList } = require("./util");

/** DEFAULT_TIMEOUT_MS is how long a call waits for its reply unless told. */
const DEFAULT_TIMEOUT_MS = 10000;

/**
 * Client sends requests on a REQ socket and waits for each reply. Calls
 * made together go one after the other. A call that times out leaves the
 * socket usable (REQ_RELAXED and REQ_CORRELATE): a late reply to it is
 * dropped, never taken for another call's.
 */
class Client {
  /**
   * @param {string} endpoints comma-separated, connected to (round-robin)
   * @param {object} [opts]
   * @param {import("./types").Types} [opts.types]
   * @param {number} [opts.timeoutMs] a call's default time (10 s)
   * @param {object} [opts.curve] {serverKey, publicKey, secretKey}
   * @param {object} [opts.socket] zeromq.js socket options
   */
  constructor(endpoints, opts = {}) {
    this.types = opts.types || defaultTypes();
    this.timeoutMs = opts.timeoutMs || DEFAULT_TIMEOUT_MS;
    this.serial = new Serial();
    this.sock = new zmq.Request(socketOptions(opts, { linger: 0, relaxed: true, correlate: true }));
    for (const ep of endpointList(endpoints)) this.sock.connect(ep);
  }

  /**
   * call sends a request and resolves with the reply, {name, message,
   * header}. A refusal (ack{ok: false}) rejects with a DividereError of its
   * code; no reply within the time rejects with DEADLINE_EXCEEDED.
   * @param {string} name the request's full type name
   * @param {object} msg
   * @param {object} [opts]
   * @param {number} [opts.timeoutMs] this call's time, which travels as the request's deadline
   * @param {object} [opts.metadata] key/values for the handler
   * @param {string} [opts.traceparent]
   * @param {string} [opts.tracestate]
   */
  call(name, msg, opts = {}) {
    const timeoutMs = opts.timeoutMs || this.timeoutMs;
    const start = Date.now();
    return this.serial.run(async () => {
      const left = timeoutMs - (Date.now() - start);
      if (left <= 0) throw new DividereError(Code.DEADLINE_EXCEEDED, `no time left to send ${name}`);
      const bytes = encode(this.types, name, msg, {
        timeoutUs: left * 1000, metadata: opts.metadata, traceparent: opts.traceparent, tracestate: opts.tracestate,
      });
      this.sock.sendTimeout = Math.ceil(left);
      try {
        await this.sock.send(bytes);
      } catch (e) {
        if (isTimeout(e)) throw new DividereError(Code.DEADLINE_EXCEEDED, `could not send ${name} within ${timeoutMs} ms`);
        throw e;
      }
      this.sock.receiveTimeout = Math.max(1, Math.ceil(timeoutMs - (Date.now() - start)));
      let frames;
      try {
        frames = await this.sock.receive();
      } catch (e) {
        if (isTimeout(e)) throw new DividereError(Code.DEADLINE_EXCEEDED, `no reply to ${name} within ${timeoutMs} ms`);
        throw e;
      }
      const rep = decode(this.types, frames[frames.length - 1]);
      const refused = refusalOf(rep);
      if (refused) throw refused;
      return rep;
    });
  }

  close() {
    if (!this.sock.closed) this.sock.close();
  }
}

/**
 * Responder answers typed requests on a REP socket that it binds, one at a
 * time. What it cannot answer it refuses with the code a Go Reactor
 * gives: INVALID_ARGUMENT for bytes that are no message, UNIMPLEMENTED for
 * a type nobody handles, DEADLINE_EXCEEDED for a request out of time,
 * PERMISSION_DENIED for a ShutdownEvent, UNKNOWN for a handler's plain
 * error (a DividereError keeps its code), INTERNAL for a handler that
 * gives no reply. Each is counted and logged (rate-limited), and it goes
 * on serving.
 */
class Responder {
  /**
   * @param {object} [opts]
   * @param {import("./types").Types} [opts.types]
   * @param {number} [opts.handlerTimeoutMs] a handler's own limit, when the caller's deadline is later or absent
   * @param {object} [opts.curve] {server: true, secretKey}
   * @param {object} [opts.socket] zeromq.js socket options
   * @param {object|null} [opts.logger] {info, warn}; stderr by default, null logs nothing
   */
  constructor(opts = {}) {
    this.types = opts.types || defaultTypes();
    this.handlerTimeoutMs = opts.handlerTimeoutMs || 0;
    this.log = new RateLog(opts.logger);
    this.handlers = new Map();
    this.stats = { requests: 0, errors: 0, refused: 0, processingNanos: 0n };
    this.sock = new zmq.Reply(socketOptions(opts, { linger: 0 }));
    this.serving = null;
  }

  /**
   * handle answers requests of type reqName with handler's result, a
   * message of type repName. The handler gets the request and a context:
   * {header, metadata, deadline (ms since the epoch, or null), signal (an
   * AbortSignal that aborts at the deadline)}.
   * @param {string} reqName
   * @param {string} repName
   * @param {(msg: object, ctx: object) => object|Promise<object>} handler
   */
  handle(reqName, repName, handler) {
    const req = this.types.mustFind(reqName);
    this.types.mustFind(repName);
    this.handlers.set(fullName(req), { repName, handler });
    return this;
  }

  /** requestTypes returns the full names of the types handled. */
  requestTypes() {
    return [...this.handlers.keys()];
  }

  /** bind binds the endpoint ("tcp://*:0": a port the system picks). */
  async bind(endpoint = "tcp://*:0") {
    await this.sock.bind(endpoint.replace(/:0$/, ":*"));
    return this;
  }

  /** endpoint is the endpoint bound, with its port. */
  get endpoint() {
    return this.sock.lastEndpoint;
  }

  /** port is the port bound. */
  get port() {
    const m = /:(\d+)$/.exec(this.sock.lastEndpoint || "");
    return m ? Number(m[1]) : 0;
  }

  /** serve answers requests until close; it resolves then. */
  serve() {
    if (!this.serving) this.serving = this.loop();
    return this.serving;
  }

  async loop() {
    for (;;) {
      let frames;
      try {
        frames = await this.sock.receive();
      } catch (e) {
        if (this.sock.closed) return;
        throw e;
      }
      const arrived = Date.now();
      const t0 = process.hrtime.bigint();
      const reply = await this.answer(frames[frames.length - 1], arrived);
      this.stats.processingNanos += process.hrtime.bigint() - t0;
      try {
        await this.sock.send(reply);
      } catch (e) {
        if (this.sock.closed) return;
        this.log.warn("send", `responder: cannot send a reply: ${e.message}`);
      }
    }
  }

  refuse(code, why, name) {
    this.stats.refused++;
    this.log.warn("refuse:" + code, `refused ${name || "a request"}: ${why}`);
    return refusal(this.types, code, why);
  }

  async answer(payload, arrived) {
    this.stats.requests++;
    let req;
    try {
      req = decode(this.types, payload);
    } catch (e) {
      this.stats.errors++;
      return this.refuse(e.kind === "unknown-type" ? Code.UNIMPLEMENTED : Code.INVALID_ARGUMENT, e.message);
    }
    const header = req.header || { metadata: {}, timeoutUs: 0 };
    let deadline = header.timeoutUs ? arrived + header.timeoutUs / 1000 : null;
    if (this.handlerTimeoutMs) deadline = Math.min(deadline || Infinity, arrived + this.handlerTimeoutMs);
    if (req.name === "ShutdownEvent") {
      return this.refuse(Code.PERMISSION_DENIED, "a ShutdownEvent is not taken from a peer", req.name);
    }
    const h = this.handlers.get(req.name);
    if (!h) {
      this.stats.errors++;
      return this.refuse(Code.UNIMPLEMENTED, `no handler for ${req.name}`, req.name);
    }
    if (deadline !== null && Date.now() >= deadline) {
      this.stats.errors++;
      return this.refuse(Code.DEADLINE_EXCEEDED, "the deadline passed before the request was handled", req.name);
    }
    const abort = new AbortController();
    let timer = null;
    const ctx = { header, metadata: header.metadata || {}, deadline, signal: abort.signal };
    try {
      const work = Promise.resolve().then(() => h.handler(req.message, ctx));
      const raced = deadline === null ? work : Promise.race([work, new Promise((_, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(new DividereError(Code.DEADLINE_EXCEEDED, "the handler ran out of time"));
        }, Math.max(0, deadline - Date.now()));
      })]);
      work.catch(() => {}); // a handler that fails after its deadline has been answered already
      const rep = await raced;
      if (rep == null) return this.refuse(Code.INTERNAL, "handler sent no reply", req.name);
      return encode(this.types, h.repName, rep);
    } catch (e) {
      this.stats.errors++;
      if (e instanceof DividereError) return this.refuse(e.code || Code.UNKNOWN, e.reason, req.name);
      return this.refuse(Code.UNKNOWN, (e && e.message) || String(e), req.name);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  close() {
    if (!this.sock.closed) this.sock.close();
  }
}

module.exports = { Client, Responder, DEFAULT_TIMEOUT_MS };
