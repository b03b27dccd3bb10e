"use strict";
// The envelope on its own: round trips of v1 and v2, the exact type
// prefix, and bad input as errors of their kind.

const test = require("node:test");
const assert = require("node:assert");
const d = require("../src");

const types = d.defaultTypes();

test("a v1 envelope starts with its type prefix and round-trips", () => {
  const b = d.encode(types, "dividere.Text", { text: "hello" });
  assert.ok(b.subarray(0, d.topic("dividere.Text").length).equals(d.topic("dividere.Text")));
  const m = d.decode(types, b);
  assert.strictEqual(m.name, "dividere.Text");
  assert.strictEqual(m.message.text, "hello");
  assert.strictEqual(m.header, null);
});

test("an empty header is no header: the bytes are v1's", () => {
  const v1 = d.encode(types, "dividere.Text", { text: "x" });
  assert.ok(d.encode(types, "dividere.Text", { text: "x" }, {}).equals(v1));
  assert.ok(d.encode(types, "dividere.Text", { text: "x" }, { metadata: {}, timeoutUs: 0 }).equals(v1));
});

test("a v2 header round-trips, after the type prefix", () => {
  const h = {
    timeoutUs: 1500000, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "a=b",
    metadata: { tenant: "acme", k: "v" }, publisher: "abcdefghijkl", sequence: 2 ** 40,
  };
  const b = d.encode(types, "ServiceLookupReq", { serviceName: "svc" }, h);
  assert.ok(b.subarray(0, d.topic("ServiceLookupReq").length).equals(d.topic("ServiceLookupReq")));
  const m = d.decode(types, b);
  assert.strictEqual(m.message.serviceName, "svc");
  assert.deepStrictEqual(m.header, h);
});

test("the type prefix is exact", () => {
  assert.deepStrictEqual([...d.topic("Msg01")], [0x0a, 5, ...Buffer.from("Msg01")]);
  const long = "x".repeat(200);
  assert.deepStrictEqual([...d.topic(long).subarray(0, 3)], [0x0a, 0xc8, 0x01]);
  const b = d.encode(types, "Heartbeat", { id: "w" });
  assert.ok(!b.subarray(0, d.topic("Heartbea").length).equals(d.topic("Heartbea")));
});

test("bad input is a DecodeError of its kind", () => {
  const kind = (b) => {
    try {
      d.decode(types, b);
    } catch (e) {
      assert.ok(e instanceof d.DecodeError, String(e));
      return e.kind;
    }
    return "decoded";
  };
  assert.strictEqual(kind(Buffer.alloc(0)), "not-envelope");
  assert.strictEqual(kind(Buffer.from([0xff, 0xff, 0xff])), "not-envelope");
  const env = types.envelope;
  assert.strictEqual(kind(env.encode(env.create({ msgName: "dividere.Text" })).finish()), "no-payload");
  const unknown = (name, url) => env.encode(env.create({ msgName: name, msg: types.any.create({ type_url: url, value: Buffer.from([0x0a, 0x01, 0x41]) }) })).finish();
  assert.strictEqual(kind(unknown("NoSuch.Text", "type.googleapis.com/NoSuch.Text")), "unknown-type");
  // A name not known is looked up by the type URL, as the Go side does.
  assert.strictEqual(kind(unknown("NoSuch.Text", "type.googleapis.com/dividere.Text")), "decoded");
  const corrupt = env.encode(env.create({ msgName: "dividere.Text", msg: types.any.create({ value: Buffer.from([0x0a, 0x09, 0x41]) }) })).finish();
  assert.strictEqual(kind(corrupt), "corrupt");
});

test("a refusal carries its code; a v1 refusal is UNKNOWN", () => {
  const r = d.decode(types, d.encode(types, "ack", { code: d.Code.NOT_FOUND, message: "no order 7" }));
  assert.strictEqual(r.message.ok, false);
  assert.strictEqual(r.message.code, 5);
  const e = new d.DividereError(d.Code.NOT_FOUND, "no order 7");
  assert.strictEqual(e.message, "NOT_FOUND: no order 7");
  assert.strictEqual(d.codeName(99), "CODE(99)");
});

test("a message of the wrong shape is refused before it is sent", () => {
  assert.throws(() => d.encode(types, "dividere.Text", { text: 5 }), TypeError);
  assert.throws(() => d.encode(types, "NoSuchType", {}), /unknown message type/);
});
