"use strict";
// A Service: a Responder on a port the system picks, registered with the
// Go name service under a name, renewed every third of its TTL and
// registered again whenever the name service asks (RediscoverReq). It
// answers ServiceInfoReq as a Go service does, so that `dividere info`,
// `ping` and `call` work on it.

const os = require("os");
const { defaultTypes } = require("./types");
const { Responder } = require("./reqrep");
const { Subscriber } = require("./pubsub");
const { NameClient } = require("./registry");
const { RateLog, loggerOf } = require("./util");

/** DEFAULT_TTL_MS is a registration's life unless renewed, as the Go service's DefaultTTL. */
const DEFAULT_TTL_MS = 5000;

/** localHost is the first non-loopback IPv4 address of an interface, else 127.0.0.1: it contacts no one. */
function localHost() {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs || []) {
      if (a.family === "IPv4" && !a.internal && !a.address.startsWith("169.254.")) return a.address;
    }
  }
  return "127.0.0.1";
}

/**
 * Service serves typed requests under a name: `dividere call NAME`, a Go
 * registry.Call and a NameClient.call find it through the Go name service.
 */
class Service {
  /**
   * @param {string} name the name it registers under
   * @param {object} [opts]
   * @param {import("./types").Types} [opts.types]
   * @param {string} [opts.registry] host:port of the name service (DIVIDERE_REGISTRY, else localhost:5000)
   * @param {string} [opts.noticeAddress] host:port of its notices, where it asks for registrations again (default: the next port)
   * @param {string} [opts.host] the address it advertises (default: localHost())
   * @param {string} [opts.endpoint] where it binds (default tcp://*:0)
   * @param {number} [opts.ttlMs] its registration's TTL (default 5 s)
   * @param {string} [opts.version]
   * @param {object} [opts.metadata]
   * @param {string} [opts.instanceId] default host:port
   * @param {Uint8Array} [opts.descriptors] a serialized FileDescriptorSet of its types, for ServiceInfoRep
   * @param {number} [opts.handlerTimeoutMs]
   * @param {object} [opts.curve] the CURVE options of its own socket ({server: true, secretKey})
   * @param {object} [opts.registryCurve] those of its name-service sockets ({serverKey, publicKey, secretKey})
   * @param {object|null} [opts.logger]
   */
  constructor(name, opts = {}) {
    if (!name) throw new Error("dividere: a service needs a name");
    this.name = name;
    this.opts = opts;
    this.types = opts.types || defaultTypes();
    this.ttlMs = opts.ttlMs || DEFAULT_TTL_MS;
    this.host = opts.host || localHost();
    this.started = Date.now();
    this.log = new RateLog(opts.logger);
    this.logger = loggerOf(opts.logger);
    this.responder = new Responder({
      types: this.types, handlerTimeoutMs: opts.handlerTimeoutMs, curve: opts.curve, socket: opts.socket, logger: opts.logger,
    });
    this.responder.handle("ServiceInfoReq", "ServiceInfoRep", () => this.info());
    this.registrations = 0;
    this.registeredWaiters = [];
    this.timer = null;
    this.stopped = false;
  }

  /** handle answers requests of type reqName with a reply of type repName (see Responder.handle). */
  handle(reqName, repName, handler) {
    this.responder.handle(reqName, repName, handler);
    return this;
  }

  /** port is the port it serves on, once started. */
  get port() {
    return this.responder.port;
  }

  /** endpoint is where a client reaches it. */
  get endpoint() {
    return `tcp://${this.host}:${this.port}`;
  }

  instanceStats() {
    const s = this.responder.stats;
    return { requests: s.requests, errors: s.errors, processingNanos: Number(s.processingNanos), startedUnixMs: this.started };
  }

  registration() {
    const r = {
      serviceName: this.name, server: this.host, port: this.port, ttlMs: this.ttlMs,
      stats: this.instanceStats(),
    };
    if (this.opts.instanceId) r.instanceId = this.opts.instanceId;
    if (this.opts.version) r.version = this.opts.version;
    if (this.opts.metadata) r.metadata = this.opts.metadata;
    return r;
  }

  info() {
    const r = this.registration();
    return {
      instance: {
        serviceName: r.serviceName, server: r.server, port: r.port, instanceId: r.instanceId || `${r.server}:${r.port}`,
        version: r.version || "", metadata: r.metadata || {}, stats: r.stats,
      },
      types: this.responder.requestTypes().filter((t) => t !== "ServiceInfoReq"),
      descriptors: this.opts.descriptors || new Uint8Array(0),
    };
  }

  /**
   * start binds, begins serving and registering (retrying while the name
   * service is unreachable), and resolves once bound.
   */
  async start() {
    await this.responder.bind(this.opts.endpoint || "tcp://*:0");
    this.serving = this.responder.serve();
    this.ns = new NameClient({ address: this.opts.registry, noticeAddress: this.opts.noticeAddress, types: this.types, curve: this.opts.registryCurve, timeoutMs: Math.max(1000, this.ttlMs / 3) });
    this.notices = new Subscriber(`tcp://${this.ns.noticeAddress}`, {
      registry: this.types, types: ["RediscoverReq"], curve: this.opts.registryCurve, logger: this.opts.logger,
    });
    this.listen();
    this.schedule(0);
    return this;
  }

  async listen() {
    try {
      for await (const _ of this.notices) {
        if (this.stopped) return;
        this.schedule(0); // the name service asks everyone to register again
      }
    } catch (_) {
      // closed
    }
  }

  schedule(ms) {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.register(), ms);
  }

  async register() {
    this.timer = null;
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    let next = Math.floor(this.ttlMs / 3);
    try {
      await this.ns.register(this.registration());
      if (this.registrations === 0 || this.failing) {
        if (this.logger) this.logger.info(`dividere: ${this.name} registered at ${this.endpoint} with ${this.ns.address}`);
      }
      this.registrations++;
      this.failing = false;
      for (const w of this.registeredWaiters.splice(0)) w();
    } catch (e) {
      if (this.stopped) return;
      this.log.warn("register", `${this.name}: cannot register with ${this.ns.address}; retrying: ${e.message}`);
      this.failing = true;
      next = Math.min(next, 200);
    } finally {
      this.busy = false;
    }
    if (this.again) {
      this.again = false;
      next = 0;
    }
    if (!this.timer) this.schedule(next);
  }

  /** waitRegistered resolves once the service has registered, and rejects after timeoutMs. */
  waitRegistered(timeoutMs = 10000) {
    if (this.registrations > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`dividere: ${this.name} not registered after ${timeoutMs} ms`)), timeoutMs);
      this.registeredWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** shutdown unregisters, then stops serving. */
  async shutdown() {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ns && this.registrations > 0) {
      const r = this.registration();
      try {
        // Briefly: a name service that is gone lets the registration expire.
        await this.ns.unregister({ serviceName: r.serviceName, server: r.server, port: r.port, instanceId: r.instanceId }, { timeoutMs: 1000 });
      } catch (e) {
        this.log.warn("unregister", `${this.name}: cannot unregister: ${e.message}`);
      }
    }
    this.close();
  }

  /** close stops at once, without unregistering (the registration expires with its TTL). */
  close() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.notices) this.notices.close();
    if (this.ns) this.ns.close();
    this.responder.close();
  }
}

module.exports = { Service, localHost, DEFAULT_TTL_MS };
