"use strict";
// Small helpers shared by the endpoints.

/**
 * defaultLogger writes to stderr (console.info would write to stdout,
 * which may be the program's output).
 */
const defaultLogger = { info: (m) => console.error(m), warn: (m) => console.warn(m) };

/** loggerOf is the logger opts ask for: console-like, null for none, default stderr. */
function loggerOf(logger) {
  return logger === undefined ? defaultLogger : logger;
}

/**
 * RateLog logs a line per key at most once an interval, and says how many
 * it held back, so that a peer sending garbage cannot flood the log.
 */
class RateLog {
  constructor(logger, intervalMs = 1000) {
    this.logger = loggerOf(logger);
    this.intervalMs = intervalMs;
    this.last = new Map(); // key -> {at, held}
  }

  warn(key, message) {
    if (!this.logger) return;
    const now = Date.now();
    const e = this.last.get(key);
    if (e && now - e.at < this.intervalMs) {
      e.held++;
      return;
    }
    const held = e ? e.held : 0;
    this.last.set(key, { at: now, held: 0 });
    if (this.last.size > 1024) this.last.delete(this.last.keys().next().value);
    this.logger.warn(`dividere: ${message}${held ? ` (and ${held} more like it)` : ""}`);
  }
}

/**
 * Serial runs async functions one after the other: a zeromq.js socket
 * takes one send (and one receive) at a time.
 */
class Serial {
  constructor() {
    this.tail = Promise.resolve();
  }

  run(f) {
    const p = this.tail.then(f);
    this.tail = p.then(() => {}, () => {});
    return p;
  }
}

/**
 * socketOptions turns dividere's options into zeromq.js socket options:
 * curve {serverKey, publicKey, secretKey} for a client, {server: true,
 * secretKey} for a server (keys Z85, as the Go side writes them), and
 * socket, passed through as it is (sendHighWaterMark, linger, ...).
 */
function socketOptions(opts = {}, defaults = {}) {
  const o = { ...defaults, ...(opts.socket || {}) };
  const c = opts.curve;
  if (c) {
    if (c.server) {
      if (!c.secretKey) throw new Error("dividere: a CURVE server needs its secretKey");
      o.curveServer = true;
      o.curveSecretKey = c.secretKey;
      if (c.publicKey) o.curvePublicKey = c.publicKey;
    } else {
      if (!c.serverKey || !c.publicKey || !c.secretKey) {
        throw new Error("dividere: a CURVE client needs serverKey, publicKey and secretKey");
      }
      o.curveServerKey = c.serverKey;
      o.curvePublicKey = c.publicKey;
      o.curveSecretKey = c.secretKey;
    }
  }
  return o;
}

/** isTimeout reports whether err is zeromq.js's receive or send timeout. */
function isTimeout(err) {
  return !!err && (err.code === "EAGAIN" || err.errno === 11);
}

/** endpoints splits "a,b" into a list of endpoints. */
function endpointList(s) {
  return String(s).split(",").map((e) => e.trim()).filter(Boolean);
}

module.exports = { loggerOf, RateLog, Serial, socketOptions, isTimeout, endpointList };
