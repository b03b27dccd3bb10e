"use strict";
// The envelope (docs/protocol.md): msgEnvelope{msgName, Any msg, msgHeader
// header}. Without a header it is byte for byte v1, what the original
// Python dividere sends.

const protobuf = require("protobufjs");
const { fullName } = require("./types");

/** Codes are google.rpc.Code's numbers, as ack.code carries them. */
const Code = Object.freeze({
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9,
  ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
});
const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

/** codeName returns a code's name ("NOT_FOUND"), or "CODE(n)" for one it does not know. */
function codeName(code) {
  return codeNames[code] || `CODE(${code})`;
}

/**
 * DividereError is a refused request: what ack{ok: false, code, message}
 * says, or a failure of this side (a deadline) with the code a Go peer
 * would give it. A handler throws one to answer with its code.
 */
class DividereError extends Error {
  /**
   * @param {number} code a Code
   * @param {string} [message]
   */
  constructor(code, message = "") {
    super(message ? `${codeName(code)}: ${message}` : codeName(code));
    this.name = "DividereError";
    this.code = code;
    this.reason = message;
  }
}

/**
 * DecodeError is bytes that could not be read as a message: kind is
 * "not-envelope", "no-payload", "unknown-type" or "corrupt", as the Go
 * side's ErrNotEnvelope, ErrNoPayload, ErrUnknownType and ErrCorrupt.
 */
class DecodeError extends Error {
  constructor(kind, message) {
    super(`dividere: ${message}`);
    this.name = "DecodeError";
    this.kind = kind;
  }
}

const TYPE_URL_PREFIX = "type.googleapis.com/";

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/**
 * topic returns the first bytes of every envelope of the named type:
 * 0x0A, varint(len(name)), name. As a subscription it is exact: the length
 * keeps "Msg01" from matching "Msg012".
 * @param {string} name a full message name
 */
function topic(name) {
  const b = Buffer.from(name, "utf8");
  return Buffer.concat([Buffer.from([0x0a]), varint(b.length), b]);
}

// anyURL is the name protobufjs gives Any's type_url field: its built-in
// google/protobuf/any.proto keeps the .proto's spelling.
function anyURL(types) {
  return types.any.fields.typeUrl ? "typeUrl" : "type_url";
}

function toNumber(v) {
  if (v == null) return 0;
  if (typeof v === "number") return v;
  if (protobuf.util.Long && protobuf.util.Long.isLong(v)) return v.toNumber();
  return Number(v);
}

/**
 * headerObject turns a decoded msgHeader into a plain object, or null when
 * there is none: {timeoutUs, traceparent, tracestate, metadata, publisher,
 * sequence}, numbers as Numbers.
 */
function headerObject(h) {
  if (!h) return null;
  return {
    timeoutUs: toNumber(h.timeoutUs),
    traceparent: h.traceparent || "",
    tracestate: h.tracestate || "",
    metadata: { ...(h.metadata || {}) },
    publisher: h.publisher || "",
    sequence: toNumber(h.sequence),
  };
}

// headerFields keeps only the header fields that are set, so that an empty
// header is no header (a v1 envelope).
function headerFields(h) {
  if (!h) return null;
  const out = {};
  if (h.timeoutUs) out.timeoutUs = Math.max(1, Math.round(h.timeoutUs));
  if (h.traceparent) out.traceparent = h.traceparent;
  if (h.tracestate) out.tracestate = h.tracestate;
  if (h.metadata && Object.keys(h.metadata).length) out.metadata = { ...h.metadata };
  if (h.publisher) out.publisher = h.publisher;
  if (h.sequence) out.sequence = h.sequence;
  return Object.keys(out).length ? out : null;
}

/**
 * message makes a message of type from a plain object (checked, so that a
 * wrong field type is an error here rather than garbage on the wire) or
 * takes one already made.
 */
function makeMessage(type, obj) {
  if (obj instanceof protobuf.Message && obj.$type === type) return obj;
  const why = type.verify(obj || {});
  if (why) throw new TypeError(`dividere: ${fullName(type)}: ${why}`);
  return type.fromObject(obj || {});
}

/**
 * encode wraps a message in an envelope.
 * @param {import("./types").Types} types
 * @param {string} name the message's full name
 * @param {object} msg the message, or a plain object of its fields
 * @param {object} [header] v2 header fields; none (or only empty ones) gives a v1 envelope
 * @returns {Buffer}
 */
function encode(types, name, msg, header) {
  const type = types.mustFind(name);
  const full = fullName(type);
  const value = type.encode(makeMessage(type, msg)).finish();
  const env = { msgName: full, msg: types.any.create({ [anyURL(types)]: TYPE_URL_PREFIX + full, value }) };
  const h = headerFields(header);
  if (h) env.header = types.header.fromObject(h);
  return Buffer.from(types.envelope.encode(types.envelope.create(env)).finish());
}

// strict views bytes as a plain Uint8Array: protobufjs reads a Node Buffer
// with a reader that cuts a string short at the end of the input instead
// of failing, and would take a truncated message for a whole one.
function strict(b) {
  return Buffer.isBuffer(b) ? new Uint8Array(b.buffer, b.byteOffset, b.length) : b;
}

/**
 * decode reads an envelope: {name, message, header} (header null for a v1
 * envelope). Bytes that are no envelope, an envelope without a message, a
 * type not in types or a message that does not parse throw a DecodeError.
 * @param {import("./types").Types} types
 * @param {Uint8Array} bytes
 */
function decode(types, bytes) {
  if (!bytes || bytes.length === 0) throw new DecodeError("not-envelope", "an empty frame is not an envelope");
  let env;
  try {
    env = types.envelope.decode(strict(bytes));
  } catch (e) {
    throw new DecodeError("not-envelope", `not an envelope: ${e.message}`);
  }
  const url = env.msg ? env.msg[anyURL(types)] || "" : "";
  const name = env.msgName || url.slice(url.lastIndexOf("/") + 1);
  if (!env.msg) throw new DecodeError("no-payload", `envelope of ${JSON.stringify(name)} has no message`);
  let type = types.find(name);
  if (!type && url) type = types.find(url.slice(url.lastIndexOf("/") + 1));
  if (!type) throw new DecodeError("unknown-type", `unknown message type ${JSON.stringify(name)}`);
  let message;
  try {
    message = type.decode(strict(env.msg.value || new Uint8Array(0)));
  } catch (e) {
    throw new DecodeError("corrupt", `${fullName(type)} does not parse: ${e.message}`);
  }
  return { name: fullName(type), message, header: headerObject(env.header) };
}

/** plain turns a decoded message into a plain object (64-bit integers as strings, bytes as base64), for JSON. */
function plain(message) {
  return message.$type.toObject(message, { longs: String, bytes: String, enums: String });
}

/** isRefusal reports whether a decoded reply is ack{ok: false}, and returns it as a DividereError. */
function refusalOf(decoded) {
  if (decoded.name !== "ack" || decoded.message.ok) return null;
  // ok false with code 0 (a v1 peer's refusal) means UNKNOWN.
  return new DividereError(decoded.message.code || Code.UNKNOWN, decoded.message.message || "");
}

/** refusal encodes ack{ok: false, code, message}. */
function refusal(types, code, message) {
  const ack = {}; // ok false is proto3's default: not written, as Go writes it
  if (code) ack.code = code;
  if (message) ack.message = message;
  return encode(types, "ack", ack);
}

module.exports = {
  Code, codeName, DividereError, DecodeError, topic, encode, decode, plain, refusal, refusalOf, toNumber, makeMessage,
};
