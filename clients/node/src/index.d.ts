// Type declarations of the dividere Node.js package (src/index.js).
// Messages are protobufjs messages of types loaded from .proto files;
// fields are typed by the schema at run time, not here.

import type { Root, Type, Message } from "protobufjs";

/** google.rpc.Code numbers, as ack.code carries them. */
export declare const Code: Readonly<{
  OK: 0; CANCELLED: 1; UNKNOWN: 2; INVALID_ARGUMENT: 3; DEADLINE_EXCEEDED: 4; NOT_FOUND: 5;
  ALREADY_EXISTS: 6; PERMISSION_DENIED: 7; RESOURCE_EXHAUSTED: 8; FAILED_PRECONDITION: 9;
  ABORTED: 10; OUT_OF_RANGE: 11; UNIMPLEMENTED: 12; INTERNAL: 13; UNAVAILABLE: 14;
  DATA_LOSS: 15; UNAUTHENTICATED: 16;
}>;
export declare function codeName(code: number): string;

/** A refused request (ack{ok: false, code, message}), or a local deadline. */
export declare class DividereError extends Error {
  constructor(code: number, message?: string);
  readonly code: number;
  readonly reason: string;
}

/** Bytes that are no message of a known type. */
export declare class DecodeError extends Error {
  readonly kind: "not-envelope" | "no-payload" | "unknown-type" | "corrupt";
}

export interface TypesOptions { files?: string[]; includeDirs?: string[]; protoDir?: string }
export declare class Types {
  constructor(opts?: TypesOptions);
  readonly root: Root;
  load(...files: string[]): this;
  find(name: string): Type | null;
  mustFind(name: string): Type;
}
export declare function defaultTypes(): Types;

/** The v2 header, as decoded (an absent field is its zero value). */
export interface Header {
  timeoutUs: number;
  traceparent: string;
  tracestate: string;
  metadata: Record<string, string>;
  publisher: string;
  sequence: number;
}
export interface Decoded { name: string; message: Message<any> & Record<string, any>; header: Header | null }

export declare function encode(types: Types, name: string, msg: object, header?: Partial<Header>): Buffer;
export declare function decode(types: Types, bytes: Uint8Array): Decoded;
export declare function topic(name: string): Buffer;
export declare function plain(message: Message<any>): Record<string, any>;

export interface CurveClient { serverKey: string; publicKey: string; secretKey: string }
export interface CurveServer { server: true; secretKey: string; publicKey?: string }
export interface Logger { info(m: string): void; warn(m: string): void }
interface SocketOpts { socket?: Record<string, unknown>; logger?: Logger | null }

export declare class Publisher {
  constructor(opts?: SocketOpts & { types?: Types; sequence?: boolean; curve?: CurveServer });
  readonly id: string;
  readonly endpoint: string | null;
  bind(endpoints: string): Promise<this>;
  waitSubscribers(name: string, n?: number, timeoutMs?: number): Promise<void>;
  send(name: string, msg: object, header?: { metadata?: Record<string, string>; traceparent?: string; tracestate?: string }): Promise<void>;
  close(): void;
}

export interface Loss { publisher: string; name: string; lost: number; from: number; to: number }
export declare class Subscriber implements AsyncIterable<Decoded> {
  constructor(endpoints: string, opts?: SocketOpts & { types?: string[]; registry?: Types; onLoss?: (l: Loss) => void; curve?: CurveClient });
  readonly stats: { received: number; lost: number; errors: number };
  lostByPublisher(): Record<string, number>;
  recv(): Promise<Decoded>;
  [Symbol.asyncIterator](): AsyncIterator<Decoded>;
  close(): void;
}

export interface CallOptions { timeoutMs?: number; metadata?: Record<string, string>; traceparent?: string; tracestate?: string }
export declare class Client {
  constructor(endpoints: string, opts?: SocketOpts & { types?: Types; timeoutMs?: number; curve?: CurveClient });
  call(name: string, msg: object, opts?: CallOptions): Promise<Decoded>;
  close(): void;
}

export interface HandlerContext { header: Header; metadata: Record<string, string>; deadline: number | null; signal: AbortSignal }
export type Handler = (msg: Message<any> & Record<string, any>, ctx: HandlerContext) => object | null | Promise<object | null>;

export declare class Responder {
  constructor(opts?: SocketOpts & { types?: Types; handlerTimeoutMs?: number; curve?: CurveServer });
  readonly endpoint: string | null;
  readonly port: number;
  readonly stats: { requests: number; errors: number; refused: number; processingNanos: bigint };
  handle(reqName: string, repName: string, handler: Handler): this;
  bind(endpoint?: string): Promise<this>;
  serve(): Promise<void>;
  close(): void;
}

export interface Instance {
  service: string; server: string; port: number; id: string; version: string;
  metadata: Record<string, string>; endpoint: string;
  stats?: { requests: number; errors: number; processingNanos: number; startedUnixMs: number };
  expiresUnixMs?: number;
}
export interface ServiceEvent { kind: "REGISTERED" | "UNREGISTERED" | "EXPIRED"; instance: Instance; revision: number }

export declare class NameClient {
  constructor(opts?: { address?: string; noticeAddress?: string; watchAddress?: string; types?: Types; timeoutMs?: number; curve?: CurveClient });
  readonly address: string;
  register(r: object, opts?: CallOptions): Promise<void>;
  unregister(r: object, opts?: CallOptions): Promise<void>;
  lookup(service: string, opts?: CallOptions): Promise<Instance>;
  list(service?: string, opts?: CallOptions): Promise<Instance[]>;
  call(service: string, name: string, msg: object, opts?: CallOptions): Promise<Decoded>;
  watch(opts?: { logger?: Logger | null }): AsyncIterable<ServiceEvent> & { close(): void };
  close(): void;
}

export interface ServiceOptions extends SocketOpts {
  types?: Types; registry?: string; noticeAddress?: string; host?: string; endpoint?: string;
  ttlMs?: number; version?: string; metadata?: Record<string, string>; instanceId?: string;
  descriptors?: Uint8Array; handlerTimeoutMs?: number; curve?: CurveServer; registryCurve?: CurveClient;
}
export declare class Service {
  constructor(name: string, opts?: ServiceOptions);
  readonly name: string;
  readonly port: number;
  readonly endpoint: string;
  handle(reqName: string, repName: string, handler: Handler): this;
  start(): Promise<this>;
  waitRegistered(timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
  close(): void;
}
export declare function localHost(): string;
