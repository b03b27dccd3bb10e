"use strict";
// dividere for Node.js: typed Protobuf over ZeroMQ, on the same wire as
// the Go dividere and the original Python one (docs/protocol.md).

const types = require("./types");
const envelope = require("./envelope");
const pubsub = require("./pubsub");
const reqrep = require("./reqrep");
const registry = require("./registry");
const service = require("./service");

module.exports = {
  Types: types.Types,
  defaultTypes: types.defaultTypes,
  Code: envelope.Code,
  codeName: envelope.codeName,
  DividereError: envelope.DividereError,
  DecodeError: envelope.DecodeError,
  encode: envelope.encode,
  decode: envelope.decode,
  topic: envelope.topic,
  plain: envelope.plain,
  Publisher: pubsub.Publisher,
  Subscriber: pubsub.Subscriber,
  Client: reqrep.Client,
  Responder: reqrep.Responder,
  NameClient: registry.NameClient,
  Service: service.Service,
  localHost: service.localHost,
};
