"use strict";
// The message types, loaded with protobufjs from .proto files: dividere's
// own (proto/, the same files the Go side is generated from) and the
// application's. No message class is written by hand.

const path = require("path");
const fs = require("fs");
const protobuf = require("protobufjs");

// Where dividere's .proto files are: DIVIDERE_PROTO, else the repository's
// proto/ beside this package (clients/node/../../proto).
function defaultProtoDir() {
  return process.env.DIVIDERE_PROTO || path.resolve(__dirname, "..", "..", "..", "proto");
}

// dividere's own files: the envelope, the service layer and dividere.Text/Bytes.
const OWN_FILES = ["Envelope.proto", "MsgLib.proto", "Hello.proto"];

/**
 * Types is a registry of Protobuf message types, found by their full name
 * (a message without a package by its bare name), as a dividere receiver
 * finds the type of an envelope's msgName.
 */
class Types {
  /**
   * @param {object} [opts]
   * @param {string[]} [opts.files] application .proto files to load too
   * @param {string[]} [opts.includeDirs] where their imports are found
   * @param {string} [opts.protoDir] where dividere's own .proto files are
   */
  constructor(opts = {}) {
    const protoDir = opts.protoDir || defaultProtoDir();
    const includeDirs = [protoDir, ...(opts.includeDirs || [])];
    this.root = new protobuf.Root();
    this.root.resolvePath = (origin, target) => {
      if (path.isAbsolute(target)) return target;
      // google/protobuf/*.proto are protobufjs's built-in common types
      // when no file of that name is on the include path.
      const dirs = origin ? [path.dirname(origin), ...includeDirs] : includeDirs;
      for (const d of dirs) {
        const p = path.join(d, target);
        if (fs.existsSync(p)) return p;
      }
      return target;
    };
    for (const f of OWN_FILES) {
      const p = path.join(protoDir, f);
      if (!fs.existsSync(p)) {
        throw new Error(`dividere: ${p} is missing: set DIVIDERE_PROTO or protoDir to the directory of dividere's .proto files`);
      }
    }
    this.root.loadSync([...OWN_FILES.map((f) => path.join(protoDir, f)), ...(opts.files || [])]);
    this.root.resolveAll();
    this.envelope = this.mustFind("msgEnvelope");
    this.header = this.mustFind("msgHeader");
    this.any = this.mustFind("google.protobuf.Any");
    this.ack = this.mustFind("ack");
  }

  /** Loads more .proto files. */
  load(...files) {
    this.root.loadSync(files);
    this.root.resolveAll();
    return this;
  }

  /**
   * find returns the type of a full name, or null when it is not known.
   * @param {string} name
   * @returns {protobuf.Type|null}
   */
  find(name) {
    if (typeof name !== "string" || name === "") return null;
    let t = null;
    try {
      t = this.root.lookup(name.startsWith(".") ? name : "." + name);
    } catch (_) {
      return null;
    }
    return t instanceof protobuf.Type ? t : null;
  }

  /** mustFind is find, throwing for an unknown name. */
  mustFind(name) {
    const t = this.find(name);
    if (!t) throw new Error(`dividere: unknown message type ${JSON.stringify(name)}`);
    return t;
  }
}

/** fullName is the name a type travels under: its full name without the leading dot. */
function fullName(type) {
  return type.fullName.replace(/^\./, "");
}

let shared = null;
/** defaultTypes is one Types of dividere's own files, made on first use. */
function defaultTypes() {
  if (!shared) shared = new Types();
  return shared;
}

module.exports = { Types, fullName, defaultTypes, defaultProtoDir };
