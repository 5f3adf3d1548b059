// A lean path for the busiest unary calls (the KV service), taken before grpc-js sees the stream.
//
// grpc-js serves every call through a general machinery (interceptor chain, metadata objects, a
// message decoder and read queue, a call object with its events), which measured about 25 µs of CPU
// per unary call on this project's bench machine on top of what node's http2 itself costs, a quarter
// of all the server's work per durable Put. For a unary call whose handler only reads
// `call.request` and answers through its callback, none of that is needed: the request is one
// length-prefixed message, the answer one message and two trailers. This module answers those calls
// straight on the HTTP/2 stream, with the same service definition's (de)serializers and the same
// handler functions. Where a request is malformed, the status and text are etcd's (grpc-go's), as
// a differential test checks (test/interop/grpc-diff.test.mjs).
//
// A grpc-timeout header is not enforced here: the caller's own deadline ends the call (its
// RST_STREAM closes the stream, and the answer is dropped), and a write already proposed still
// completes, as it does in etcd.
//
// One write per answer. A gRPC answer is three HTTP/2 frames: HEADERS, DATA, and the trailing
// HEADERS with the status. Through node's public API they leave in two socket writes, an
// event-loop turn apart: node shuts a stream's writable side only after its DATA has been written,
// so the DATA frame cannot know it is the last one, and node's sendTrailers() submits the trailers
// from a setImmediate. grpc-go (etcd) sends all three in one write. Two changes give the same here:
// - the message's write is reported done to the stream as soon as node has queued it for nghttp2
//   (a failure after that destroys the stream anyway), so end() shuts the writable side at once,
//   and nghttp2, framing the DATA, learns in the same pass that trailers follow;
// - the trailers are submitted right then, from nghttp2's data callback ('wantTrailers'), which
//   nghttp2 allows for exactly this (NGHTTP2_DATA_FLAG_NO_END_STREAM).
// The second needs node's native stream handle, which node keeps under an unexported symbol, and
// node's encoding of the trailers, learnt once from the first answer sent node's way. If node
// keeps either elsewhere, answers go node's way, in two writes. ETCD_TS_GRPC_ONE_WRITE=0 does too.
// Measured on the bench machine: about 5% less server CPU per durable Put at 64 clients.
//
// Every other call (streams, methods not listed, compressed requests, anything unusual in the
// headers) goes on to grpc-js untouched, except a method unknown to a service served here, which
// gets grpc-go's answer. The hook needs grpc-js's HTTP/2 server behind a connection
// injector, which grpc-js does not expose; installFastUnary() finds it, and reports false (the server
// then simply runs everything through grpc-js) if a grpc-js version keeps it elsewhere.
import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';

type UnaryHandler = (call: { request: unknown }, callback: (err: Partial<grpc.ServiceError> | null, res?: unknown) => void) => void;

interface Method {
  path: string;
  deserialize: (b: Buffer) => unknown;
  serialize: (v: unknown) => Buffer;
  handler: UnaryHandler;
}

export interface FastUnaryOptions {
  /** The largest request message taken (etcd: --max-request-bytes + 512 KiB); larger ones fail. */
  maxReceiveMessageLength: number;
  /** Each answer's three frames in one socket write (see above); default true. */
  oneWrite?: boolean;
}

const { OK, UNKNOWN, INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED } = grpc.status;

// The headers and trailers etcd (grpc-go) sends, and no date header (node adds one unless told not
// to). Node copies header and option objects, so one instance of each serves every call.
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const RESPOND_OPTIONS = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const OK_TRAILERS = { 'grpc-status': String(OK), 'grpc-message': '' };
const STATUS_OPTIONS = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;

/** The unary methods of a service whose handlers use nothing of the call but `request`. */
export function unaryMethods(
  definition: grpc.ServiceDefinition,
  handlers: Record<string, unknown>,
  names: readonly string[],
): Method[] {
  return names.map((name) => {
    const d = definition[name];
    const handler = handlers[name];
    if (!d || d.requestStream || d.responseStream || typeof handler !== 'function') {
      throw new Error(`fast unary path: ${name} is not a unary method with a handler`);
    }
    return {
      path: d.path,
      deserialize: d.requestDeserialize as Method['deserialize'],
      serialize: d.responseSerialize as Method['serialize'],
      handler: handler as UnaryHandler,
    };
  });
}

/** The HTTP/2 server grpc-js created for the most recent connection injector, if it can be found. */
function injectorHttp2Server(server: grpc.Server): http2.Http2Server | undefined {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return undefined;
  let last: unknown;
  for (const s of servers.keys()) last = s;
  const h2 = last as http2.Http2Server;
  return typeof h2?.listeners === 'function' && h2.listeners('stream').length > 0 ? h2 : undefined;
}

/**
 * Routes the listed methods' calls on the connections of `server`'s latest connection injector to
 * the lean path. Returns whether the hook is in place.
 */
export function installFastUnary(
  server: grpc.Server,
  methods: Method[],
  services: grpc.ServiceDefinition[],
  opts: FastUnaryOptions,
): boolean {
  const h2 = injectorHttp2Server(server);
  if (!h2) return false;
  oneWrite = opts.oneWrite !== false;
  const byPath = new Map(methods.map((m) => [m.path, m]));
  const known = new Set<string>();
  const serviceNames = new Set<string>();
  for (const def of services) {
    for (const d of Object.values(def)) {
      known.add(d.path);
      serviceNames.add(d.path.slice(1, d.path.lastIndexOf('/')));
    }
  }
  const grpcListeners = h2.listeners('stream') as ((...args: unknown[]) => void)[];
  h2.removeAllListeners('stream');
  h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
    const m = byPath.get(headers[':path'] as string);
    if (m !== undefined && plainGrpc(headers)) {
      serve(stream, m, opts.maxReceiveMessageLength);
      return;
    }
    const p = headers[':path'];
    if (typeof p === 'string' && !known.has(p) && plainGrpc(headers)) {
      const slash = p.lastIndexOf('/');
      const service = p.slice(1, slash);
      if (serviceNames.has(service)) {
        stream.on('error', ignore);
        stream.resume();
        sendStatus(stream, UNIMPLEMENTED, `unknown method ${p.slice(slash + 1)} for service ${service}`);
        return;
      }
    }
    for (const l of grpcListeners) l.call(h2, stream, headers, ...rest);
  });
  return true;
}

/** A gRPC call with uncompressed messages: anything else is left to grpc-js. */
function plainGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return false;
  const enc = headers['grpc-encoding'];
  return enc === undefined || enc === 'identity';
}

/** A call in progress: what has come in so far. Kept on the stream, so no closures per call. */
interface CallState {
  m: Method;
  maxLen: number;
  first: Buffer | undefined;
  more: Buffer[] | undefined;
  size: number;
  need: number; // bytes up to the end of the first message, once its length prefix is in
  failed: boolean;
}

const kCall = Symbol('etcd-ts.unaryCall');
type CallStream = http2.ServerHttp2Stream & { [kCall]: CallState };

function serve(stream: http2.ServerHttp2Stream, m: Method, maxLen: number): void {
  const st: CallState = { m, maxLen, first: undefined, more: undefined, size: 0, need: -1, failed: false };
  (stream as CallStream)[kCall] = st;
  stream.on('error', ignore);
  stream.on('data', onData);
  stream.on('end', onEnd);
}

function onData(this: CallStream, chunk: Buffer): void {
  const st = this[kCall];
  // a unary call reads one message; whatever follows it is not kept
  if (st.failed || (st.need >= 0 && st.size >= st.need)) return;
  st.size += chunk.length;
  if (st.first === undefined) st.first = chunk;
  else (st.more ??= [st.first]).push(chunk);
  if (st.need < 0 && st.size >= 5) {
    const head = st.more ? Buffer.concat(st.more) : st.first;
    const len = head.readUInt32BE(1);
    // refuse an oversized message as soon as its length prefix is in, in etcd's (grpc-go's) words
    if (len > st.maxLen) {
      st.failed = true;
      sendStatus(this, RESOURCE_EXHAUSTED, `grpc: received message larger than max (${len} vs. ${st.maxLen})`);
      return;
    }
    st.need = 5 + len;
  }
}

function onEnd(this: CallStream): void {
  const stream = this;
  const st = stream[kCall];
  if (st.failed) return;
  const buf = st.more ? Buffer.concat(st.more) : st.first;
  // grpc-go's answers: no message at all is io.EOF; a message cut short io.ErrUnexpectedEOF;
  // anything after the first message of a unary call is not read
  if (buf === undefined || buf.length === 0) return sendStatus(stream, UNKNOWN, 'EOF');
  if (buf.length < 5) return sendStatus(stream, UNKNOWN, 'unexpected EOF');
  const len = buf.readUInt32BE(1);
  if (buf.length < 5 + len) return sendStatus(stream, UNKNOWN, 'unexpected EOF');
  if (buf[0] !== 0) return sendStatus(stream, INTERNAL, 'grpc: compressed flag set with identity or empty encoding');
  const m = st.m;
  let request: unknown;
  try {
    request = m.deserialize(buf.subarray(5, 5 + len));
  } catch (e) {
    return sendStatus(stream, INTERNAL, `grpc: error unmarshalling request: ${unmarshalError(e)}`);
  }
  try {
    m.handler({ request }, (err, res) => reply(stream, m, err, res));
  } catch (e) {
    sendStatus(stream, UNKNOWN, e instanceof Error ? e.message : String(e));
  }
}

function reply(stream: http2.ServerHttp2Stream, m: Method, err: Partial<grpc.ServiceError> | null, res: unknown): void {
  if (err) return sendStatus(stream, err.code ?? UNKNOWN, err.details ?? err.message ?? 'Unknown Error');
  let msg: Buffer;
  try {
    msg = m.serialize(res);
  } catch (e) {
    return sendStatus(stream, INTERNAL, `Error serializing response: ${(e as Error).message}`);
  }
  // the caller may have gone (cancelled, deadline): the answer then has nowhere to go
  if (stream.destroyed || stream.closed) return;
  const frame = Buffer.allocUnsafe(5 + msg.length);
  frame[0] = 0;
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  stream.respond(RESPONSE_HEADERS, RESPOND_OPTIONS);
  stream.on('wantTrailers', sendOkTrailers);
  if (oneWrite && nativeHandle(stream) !== undefined) (stream as WritableInternals)._write = writeThenShut;
  stream.end(frame);
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  const handle = oneWrite ? nativeHandle(this) : undefined;
  if (handle !== undefined) {
    if (okTrailerList !== undefined) {
      const ret = handle.trailers(okTrailerList);
      if (ret < 0) this.destroy(new Error(`http2: the trailers could not be submitted (nghttp2 error ${ret})`));
      return;
    }
    learnTrailerList(handle);
  }
  this.sendTrailers(OK_TRAILERS);
}

// ---- one write per answer (see the top of this file) ----

let oneWrite = true;

/** What node's native Http2Stream handle offers that is used here. */
interface NativeStreamHandle {
  trailers(list: unknown): number;
}

type WriteCallback = (err?: Error | null) => void;
interface WritableInternals {
  _write(chunk: unknown, encoding: BufferEncoding, cb: WriteCallback): void;
}

// undefined: not looked for yet; null: this node keeps it elsewhere
let kHandle: symbol | null | undefined;
// node's own encoding of OK_TRAILERS, as its sendTrailers() hands it to the handle
let okTrailerList: unknown;

function nativeHandle(stream: http2.ServerHttp2Stream): NativeStreamHandle | undefined {
  if (kHandle === undefined) {
    kHandle = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kHandle') ?? null;
  }
  if (kHandle === null) return undefined;
  const h = (stream as unknown as Record<symbol, unknown>)[kHandle] as Partial<NativeStreamHandle> | undefined;
  return typeof h?.trailers === 'function' ? (h as NativeStreamHandle) : undefined;
}

/**
 * Lets this answer's trailers go node's way (sendTrailers(), which hands its encoded list to the
 * handle a turn later), and keeps that list for every later answer. Only this stream's handle is
 * watched, and only for its next call.
 */
function learnTrailerList(handle: NativeStreamHandle): void {
  const submit = handle.trailers;
  handle.trailers = function (this: NativeStreamHandle, list: unknown): number {
    delete (handle as Partial<NativeStreamHandle>).trailers;
    const ret = submit.call(this, list);
    if (ret >= 0) okTrailerList = list;
    return ret;
  };
}

/**
 * The stream's write, reported done as soon as node has queued the chunk for nghttp2, so that
 * end() shuts the writable side before the first frame goes out. node's own write still runs; its
 * outcome is not needed here, as node destroys the stream itself if it fails.
 */
function writeThenShut(this: http2.ServerHttp2Stream, chunk: unknown, encoding: BufferEncoding, cb: WriteCallback): void {
  (Object.getPrototypeOf(this) as WritableInternals)._write.call(this, chunk, encoding, ignore);
  cb();
}

/** A trailers-only response (the status in the headers), as grpc-go sends a failed call's. */
function sendStatus(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURI(details) },
    STATUS_OPTIONS,
  );
}

/** protobufjs's decode errors in Go's words where they mean the same: input ending early. */
function unmarshalError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return /index out of range/.test(msg) ? 'unexpected EOF' : msg;
}

function ignore(): void {}
