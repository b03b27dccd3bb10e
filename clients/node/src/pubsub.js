"use strict";
// Typed publish/subscribe: a subscription is by message type (the
// envelope's exact type prefix), and every published message is stamped
// with the publisher's id and a sequence per type, so that a subscriber
// counts what it lost.

const crypto = require("crypto");
const zmq = require("zeromq");
const { defaultTypes } = require("./types");
const { encode, decode, topic } = require("./envelope");
const { RateLog, Serial, socketOptions, endpointList } = require("./util");

/** newPublisherId returns 12 random URL-safe base64 characters, as a Go Publisher's id. */
function newPublisherId() {
  return crypto.randomBytes(9).toString("base64url");
}

/**
 * Publisher binds its endpoints and publishes typed messages. It is an
 * XPUB underneath (a PUB on the wire), so that it can wait for
 * subscribers instead of sleeping for a late joiner.
 */
class Publisher {
  /**
   * @param {object} [opts]
   * @param {import("./types").Types} [opts.types]
   * @param {boolean} [opts.sequence] stamp publisher and sequence (default true); false sends v1 envelopes
   * @param {object} [opts.curve] {server: true, secretKey}
   * @param {object} [opts.socket] zeromq.js socket options
   */
  constructor(opts = {}) {
    this.types = opts.types || defaultTypes();
    this.id = newPublisherId();
    this.stamp = opts.sequence !== false;
    this.seq = new Map();
    this.subs = new Map(); // topic (binary string) -> count
    this.waiters = new Set();
    this.serial = new Serial();
    this.sock = new zmq.XPublisher(socketOptions(opts, { linger: 1000 }));
    this.sock.verbosity = "allSubsUnsubs";
    this.closed = false;
    this.reading = this.readSubscriptions();
  }

  /** bind binds each of a comma-separated list of endpoints ("tcp://127.0.0.1:0" picks a port). */
  async bind(endpoints) {
    for (const ep of endpointList(endpoints)) await this.sock.bind(ep.replace(/:0$/, ":*"));
    return this;
  }

  /** endpoint is the last endpoint bound, with its port. */
  get endpoint() {
    return this.sock.lastEndpoint;
  }

  async readSubscriptions() {
    try {
      for await (const [m] of this.sock) {
        if (!m || m.length === 0) continue;
        const key = m.subarray(1).toString("binary");
        const n = (this.subs.get(key) || 0) + (m[0] === 1 ? 1 : -1);
        if (n > 0) this.subs.set(key, n);
        else this.subs.delete(key);
        for (const w of this.waiters) w();
      }
    } catch (_) {
      // closed
    }
  }

  subscribers(name) {
    const t = topic(name).toString("binary");
    let n = 0;
    for (const [k, c] of this.subs) if (t.startsWith(k)) n += c;
    return n;
  }

  /**
   * waitSubscribers resolves once n subscriptions match the named type (a
   * subscription to everything matches every type), and rejects after
   * timeoutMs.
   */
  waitSubscribers(name, n = 1, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.subscribers(name) >= n) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`dividere: fewer than ${n} subscribers to ${name} after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /**
   * send publishes a message of the named type.
   * @param {string} name the message's full name
   * @param {object} msg
   * @param {object} [header] extra header fields: metadata, traceparent, tracestate
   */
  send(name, msg, header = {}) {
    const h = { ...header };
    if (this.stamp) {
      const type = this.types.mustFind(name);
      const key = type.fullName;
      const s = (this.seq.get(key) || 0) + 1;
      this.seq.set(key, s);
      h.publisher = this.id;
      h.sequence = s;
    }
    const bytes = encode(this.types, name, msg, h);
    return this.serial.run(() => this.sock.send(bytes));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

// Streams followed at most, as the Go subscriber (about 400 KB).
const MAX_STREAMS = 4096;

/**
 * Subscriber connects to publishers and receives the messages of the types
 * it asks for (every type when it asks for none). It counts the messages
 * missing from each (publisher, type) sequence in stats.lost and
 * lostByPublisher, and logs the gap (rate-limited).
 */
class Subscriber {
  /**
   * @param {string} endpoints comma-separated, connected to
   * @param {object} [opts]
   * @param {string[]} [opts.types] full names of the types to receive; none: everything
   * @param {import("./types").Types} [opts.registry] the Types to decode with
   * @param {(loss: {publisher: string, name: string, lost: number, from: number, to: number}) => void} [opts.onLoss]
   * @param {object} [opts.curve] {serverKey, publicKey, secretKey}
   * @param {object} [opts.socket] zeromq.js socket options
   * @param {object|null} [opts.logger] {info, warn}; stderr by default, null logs nothing
   */
  constructor(endpoints, opts = {}) {
    this.types = opts.registry || defaultTypes();
    this.onLoss = opts.onLoss || null;
    this.log = new RateLog(opts.logger);
    this.stats = { received: 0, lost: 0, errors: 0 };
    this.lostBy = new Map();
    this.last = new Map(); // publisher \0 name -> last sequence
    this.sock = new zmq.Subscriber(socketOptions(opts, { linger: 0 }));
    const names = opts.types || [];
    for (const n of names) this.types.mustFind(n);
    if (names.length === 0) this.sock.subscribe();
    for (const n of names) this.sock.subscribe(topic(n));
    for (const ep of endpointList(endpoints)) this.sock.connect(ep);
  }

  /** lostByPublisher returns the messages lost, by publisher id. */
  lostByPublisher() {
    return Object.fromEntries(this.lostBy);
  }

  track(name, h) {
    if (!h || !h.publisher || !h.sequence) return;
    const key = h.publisher + "\0" + name;
    const prev = this.last.get(key);
    if (prev === undefined && this.last.size >= MAX_STREAMS) this.last.delete(this.last.keys().next().value);
    this.last.set(key, h.sequence);
    // A publisher not seen before starts a new sequence; one going back is no loss.
    if (prev === undefined || h.sequence <= prev + 1) return;
    const lost = h.sequence - prev - 1;
    this.stats.lost += lost;
    this.lostBy.set(h.publisher, (this.lostBy.get(h.publisher) || 0) + lost);
    this.log.warn("loss:" + h.publisher, `lost ${lost} ${name} from publisher ${h.publisher} (sequence ${prev} to ${h.sequence})`);
    if (this.onLoss) this.onLoss({ publisher: h.publisher, name, lost, from: prev, to: h.sequence });
  }

  /**
   * recv resolves with the next message, {name, message, header}. Bytes
   * that are no message of a known type are counted (stats.errors), logged
   * and passed over.
   */
  async recv() {
    for (;;) {
      const frames = await this.sock.receive();
      const payload = frames[frames.length - 1];
      let m;
      try {
        m = decode(this.types, payload);
      } catch (e) {
        this.stats.errors++;
        this.log.warn("decode:" + (e.kind || "error"), `subscriber: ${e.message}`);
        continue;
      }
      this.stats.received++;
      this.track(m.name, m.header);
      return m;
    }
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      let m;
      try {
        m = await this.recv();
      } catch (e) {
        if (this.sock.closed) return;
        throw e;
      }
      yield m;
    }
  }

  close() {
    if (!this.sock.closed) this.sock.close();
  }
}

module.exports = { Publisher, Subscriber, newPublisherId };
