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
  stream.end(frame);
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
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
