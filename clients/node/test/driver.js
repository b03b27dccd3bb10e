"use strict";
// A Node peer driven by the Go tests (node_test.go): one JSON command a
// line on stdin, one JSON event a line on stdout. Everything it does goes
// through the package, as an application's code would.

const fs = require("fs");
const readline = require("readline");
const d = require("../src");

const types = new d.Types({ files: process.env.DIVIDERE_TEST_PROTO ? process.env.DIVIDERE_TEST_PROTO.split(",") : [] });
const closers = [];

function emit(ev) {
  process.stdout.write(JSON.stringify(ev) + "\n");
}

function errorEvent(id, e) {
  if (e instanceof d.DividereError) return { id, ev: "error", code: e.code, codeName: d.codeName(e.code), message: e.reason };
  return { id, ev: "error", code: -1, message: String(e && e.stack || e) };
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(new Error("aborted")); });
  });
}

// The test service's handler of dividere.Text: what the text says it does.
async function textHandler(m, ctx) {
  const [verb, ...rest] = m.text.split(":");
  switch (verb) {
    case "fail": return Promise.reject(new d.DividereError(Number(rest[0]), rest.slice(1).join(":")));
    case "throw": throw new Error(rest.join(":"));
    case "none": return null;
    case "sleep": await sleep(Number(rest[0]), ctx.signal); return { text: "slept" };
    case "deadline": return { text: ctx.deadline === null ? "none" : String(Math.round(ctx.deadline - Date.now())) };
    case "meta": return { text: JSON.stringify(ctx.metadata) };
    default: return { text: "node:" + m.text };
  }
}

let gate = null; // a paused subscriber waits on it

const ops = {
  async sub(c) {
    const sub = new d.Subscriber(c.endpoint, {
      registry: types, types: c.types, curve: c.curve,
      socket: c.hwm ? { receiveHighWaterMark: c.hwm } : {},
      onLoss: (l) => emit({ id: c.id, ev: "loss", ...l }),
    });
    closers.push(sub);
    if (c.paused) gate = new Promise((r) => { ops.resume = () => { gate = null; r(); emit({ id: c.id, ev: "resumed" }); }; });
    emit({ id: c.id, ev: "subscribed" });
    (async () => {
      for (;;) {
        if (gate) await gate;
        let m;
        try {
          m = await sub.recv();
        } catch (e) {
          return;
        }
        if (c.countOnly) {
          // A burst is counted, not echoed: one line for its end.
          if (m.message.text.startsWith("end")) emit({ id: c.id, ev: "count", received: sub.stats.received, lost: sub.stats.lost, sequence: m.header.sequence, lostBy: sub.lostByPublisher() });
          continue;
        }
        emit({ id: c.id, ev: "msg", name: m.name, msg: d.plain(m.message), header: m.header, lost: sub.stats.lost, errors: sub.stats.errors });
      }
    })();
  },

  async pub(c) {
    const pub = new d.Publisher({ types, curve: c.curve });
    closers.push(pub);
    await pub.bind(c.endpoint || "tcp://127.0.0.1:0");
    emit({ id: c.id, ev: "bound", endpoint: pub.endpoint, publisher: pub.id });
    await pub.waitSubscribers(c.name, c.subscribers || 1, c.timeoutMs || 30000);
    for (let i = 0; i < (c.count || 1); i++) {
      await pub.send(c.name, { text: `${c.text || "n"}${i}` }, { metadata: c.metadata });
    }
    emit({ id: c.id, ev: "sent", count: c.count || 1 });
  },

  async call(c) {
    const opts = { timeoutMs: c.timeoutMs, metadata: c.metadata };
    try {
      let rep;
      if (c.service) {
        const ns = new d.NameClient({ address: c.registry, watchAddress: c.watch, types, curve: c.curve });
        closers.push(ns);
        rep = await ns.call(c.service, c.name, c.msg, opts);
      } else {
        const cl = new d.Client(c.endpoint, { types, curve: c.curve });
        closers.push(cl);
        rep = await cl.call(c.name, c.msg, opts);
      }
      emit({ id: c.id, ev: "reply", name: rep.name, msg: d.plain(rep.message) });
    } catch (e) {
      emit(errorEvent(c.id, e));
    }
  },

  async lookup(c) {
    const ns = new d.NameClient({ address: c.registry, watchAddress: c.watch, types });
    closers.push(ns);
    try {
      const i = await ns.lookup(c.service);
      emit({ id: c.id, ev: "instance", instance: i });
    } catch (e) {
      emit(errorEvent(c.id, e));
    }
  },

  async serve(c) {
    const svc = new d.Service(c.service, {
      types, registry: c.registry, noticeAddress: c.notices, host: c.host || "127.0.0.1", ttlMs: c.ttlMs, version: c.version,
      metadata: c.metadata, curve: c.curve, handlerTimeoutMs: c.handlerTimeoutMs,
      descriptors: c.descriptorsFile ? fs.readFileSync(c.descriptorsFile) : undefined,
    });
    svc.handle("dividere.Text", "dividere.Text", textHandler);
    if (types.find("nodetest.Order")) {
      svc.handle("nodetest.Order", "nodetest.OrderPlaced", (m) => ({ id: `${m.item}-${m.qty}` }));
    }
    closers.push(svc);
    await svc.start();
    await svc.waitRegistered(c.timeoutMs || 30000);
    emit({ id: c.id, ev: "registered", endpoint: svc.endpoint });
  },

  async watch(c) {
    const ns = new d.NameClient({ address: c.registry, watchAddress: c.watch, types });
    closers.push(ns);
    const w = ns.watch();
    closers.push(w);
    emit({ id: c.id, ev: "watching" });
    for await (const e of w) emit({ id: c.id, ev: "event", ...e });
  },

  resume() {},

  // encode and decode: the envelope's bytes, in hex, for the Go side to compare.
  encode(c) {
    emit({ id: c.id, ev: "encoded", hex: d.encode(types, c.name, c.msg, c.header).toString("hex") });
  },

  decode(c) {
    try {
      const m = d.decode(types, Buffer.from(c.hex, "hex"));
      emit({ id: c.id, ev: "decoded", name: m.name, msg: d.plain(m.message), header: m.header });
    } catch (e) {
      emit({ id: c.id, ev: "error", code: -1, kind: e.kind, message: e.message });
    }
  },

  async exit() {
    for (const x of closers.reverse()) {
      try {
        if (x.shutdown) await x.shutdown();
        else x.close();
      } catch (_) {
        // closing anyway
      }
    }
    emit({ ev: "exited" });
    process.exit(0);
  },
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    emit({ ev: "fatal", message: `bad command: ${e.message}` });
    return;
  }
  const op = ops[c.op];
  if (!op) {
    emit({ id: c.id, ev: "fatal", message: `no op ${c.op}` });
    return;
  }
  Promise.resolve().then(() => op(c)).catch((e) => emit({ id: c.id, ev: "fatal", message: String(e && e.stack || e) }));
}).on("close", () => ops.exit());
