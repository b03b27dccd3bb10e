"use strict";
// The Go name service (registry.Server), as its wire has it: requests on
// a REQ socket (RegisterService, UnregisterService, ServiceLookupReq,
// ServiceListReq), and change notices, ServiceEvent, on the watch port
// (the request port + 2 by default).

const { defaultTypes } = require("./types");
const { Code, DividereError, toNumber } = require("./envelope");
const { Client } = require("./reqrep");
const { Subscriber } = require("./pubsub");

/** UNAVAILABLE is the server a lookup of an unknown name is answered with. */
const UNAVAILABLE = "unavailable";

function hostPort(addr) {
  const a = String(addr).trim().replace(/^tcp:\/\//, "");
  const i = a.lastIndexOf(":");
  if (i <= 0) throw new Error(`dividere: registry address ${JSON.stringify(addr)} is not host:port`);
  const port = Number(a.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`dividere: registry address ${JSON.stringify(addr)}: bad port`);
  return { host: a.slice(0, i), port };
}

/** instance turns a ServiceInstance or ServiceLookupRep into a plain object with its endpoint. */
function instance(p) {
  const i = {
    service: p.serviceName || "",
    server: p.server || "",
    port: p.port || 0,
    id: p.instanceId || "",
    version: p.version || "",
    metadata: { ...(p.metadata || {}) },
  };
  if (p.stats) {
    i.stats = {
      requests: toNumber(p.stats.requests), errors: toNumber(p.stats.errors),
      processingNanos: toNumber(p.stats.processingNanos), startedUnixMs: toNumber(p.stats.startedUnixMs),
    };
  }
  if (p.expiresUnixMs !== undefined) i.expiresUnixMs = toNumber(p.expiresUnixMs);
  i.endpoint = `tcp://${i.server}:${i.port}`;
  return i;
}

/**
 * NameClient talks to a Go name service. address is host:port of its
 * requests (DIVIDERE_REGISTRY, else localhost:5000); notices are on the
 * next port and change notices on the one after, unless told.
 */
class NameClient {
  /**
   * @param {object} [opts]
   * @param {string} [opts.address] host:port of the name service's requests
   * @param {string} [opts.noticeAddress] host:port of its notices (RediscoverReq)
   * @param {string} [opts.watchAddress] host:port of its change notices (ServiceEvent)
   * @param {import("./types").Types} [opts.types]
   * @param {number} [opts.timeoutMs] a request's time (default 5 s)
   * @param {object} [opts.curve] {serverKey, publicKey, secretKey}
   */
  constructor(opts = {}) {
    this.types = opts.types || defaultTypes();
    this.address = opts.address || process.env.DIVIDERE_REGISTRY || "localhost:5000";
    const { host, port } = hostPort(this.address);
    this.noticeAddress = opts.noticeAddress || `${host}:${port + 1}`;
    this.watchAddress = opts.watchAddress || `${host}:${port + 2}`;
    this.opts = opts;
    this.timeoutMs = opts.timeoutMs || 5000;
    this.client = new Client(`tcp://${host}:${port}`, {
      types: this.types, timeoutMs: this.timeoutMs, curve: opts.curve,
      socket: { immediate: true, reconnectInterval: 50, reconnectMaxInterval: 250 },
    });
    this.clients = new Map(); // endpoint -> Client, for call
  }

  async ack(name, msg, opts) {
    const rep = await this.client.call(name, msg, opts);
    if (rep.name !== "ack") throw new DividereError(Code.INTERNAL, `the name service answered ${name} with ${rep.name}`);
  }

  /**
   * register registers an instance: {serviceName, server, port, instanceId,
   * ttlMs, version, metadata, stats}. A refusal rejects with its code.
   */
  register(r, opts) {
    return this.ack("RegisterService", r, opts);
  }

  /** unregister withdraws an instance: {serviceName, server, port, instanceId}. */
  unregister(r, opts) {
    return this.ack("UnregisterService", r, opts);
  }

  /**
   * lookup resolves with one live instance of service (successive lookups
   * spread over the instances); none rejects with NOT_FOUND.
   */
  async lookup(service, opts) {
    const rep = await this.client.call("ServiceLookupReq", { serviceName: service }, opts);
    const m = rep.message;
    if (rep.name !== "ServiceLookupRep") throw new DividereError(Code.INTERNAL, `the name service answered a lookup with ${rep.name}`);
    if (m.server === UNAVAILABLE || !m.port) throw new DividereError(Code.NOT_FOUND, `no instance of ${JSON.stringify(service)}`);
    return instance(m);
  }

  /** list resolves with every live instance of service, or of every service for "". */
  async list(service = "", opts) {
    const rep = await this.client.call("ServiceListReq", { serviceName: service }, opts);
    return (rep.message.instances || []).map(instance);
  }

  /**
   * call looks service up and sends it a request, resolving with the
   * reply as Client.call does.
   */
  async call(service, name, msg, opts = {}) {
    const start = Date.now();
    const total = opts.timeoutMs || this.timeoutMs;
    const inst = await this.lookup(service, { timeoutMs: total });
    let c = this.clients.get(inst.endpoint);
    if (!c) {
      c = new Client(inst.endpoint, { types: this.types, curve: this.opts.curve });
      this.clients.set(inst.endpoint, c);
    }
    const left = total - (Date.now() - start);
    return c.call(name, msg, { ...opts, timeoutMs: Math.max(1, left) });
  }

  /**
   * watch subscribes to the change notices: an async iterable of
   * {kind: "REGISTERED"|"UNREGISTERED"|"EXPIRED", instance, revision}.
   * Close it with its close().
   */
  watch(opts = {}) {
    const sub = new Subscriber(`tcp://${this.watchAddress}`, {
      registry: this.types, types: ["ServiceEvent"], curve: this.opts.curve, logger: opts.logger,
    });
    const kinds = this.types.mustFind("ServiceEvent").lookupEnum("Kind").valuesById;
    return {
      subscriber: sub,
      async *[Symbol.asyncIterator]() {
        for await (const m of sub) {
          yield { kind: kinds[m.message.kind || 0], instance: instance(m.message.instance || {}), revision: toNumber(m.message.revision) };
        }
      },
      close: () => sub.close(),
    };
  }

  close() {
    this.client.close();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

module.exports = { NameClient, UNAVAILABLE, hostPort, instance };
