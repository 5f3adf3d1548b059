// Wire helpers shared by the load generator's threads: the etcd v3 messages the bench sends, encoded
// once up front with protobufjs from the repo's own protos (proto/), and a grpc-js client that sends
// those bytes as they are. Requests are pre-encoded and responses are not decoded on the hot path, so
// the load generator spends its CPU on gRPC and HTTP/2, not on protobuf; one response per step is
// decoded to check the server really answered what was asked.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROTO_DIR = path.join(ROOT, 'proto');

let root;
/** The etcdserverpb types, from proto/ (the same files the server and CLI load). */
export function types() {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  r.loadSync('etcdserverpb/rpc.proto', { keepCase: true });
  root = {
    PutRequest: r.lookupType('etcdserverpb.PutRequest'),
    PutResponse: r.lookupType('etcdserverpb.PutResponse'),
    RangeRequest: r.lookupType('etcdserverpb.RangeRequest'),
    RangeResponse: r.lookupType('etcdserverpb.RangeResponse'),
  };
  return root;
}

/** Fixed-width key: `prefix` + zero-padded index, `size` bytes in all (etcd's benchmark uses 8). */
export function keyOf(i, size = 8, prefix = 'k') {
  const digits = String(i);
  return Buffer.from(prefix + digits.padStart(Math.max(size - prefix.length, digits.length), '0'));
}

export function encodePut(key, value) {
  const t = types();
  return Buffer.from(t.PutRequest.encode(t.PutRequest.create({ key, value })).finish());
}

export function encodeRange(key, serializable) {
  const t = types();
  return Buffer.from(t.RangeRequest.encode(t.RangeRequest.create({ key, serializable })).finish());
}

export function decodeRange(buf) {
  return types().RangeResponse.decode(buf);
}

export function decodePut(buf) {
  return types().PutResponse.decode(buf);
}

const identity = (b) => b;

/** gRPC method paths of the KV service. */
export const METHOD = { put: '/etcdserverpb.KV/Put', range: '/etcdserverpb.KV/Range' };

/**
 * One gRPC channel (one TCP connection) to `target` (host:port). grpc-js shares subchannels between
 * clients with equal options, so each channel gets its own subchannel pool and a distinct option.
 */
export function openChannel(target, index) {
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'etcd-ts-bench.channel': index,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

/** Unary call with pre-encoded request bytes; the callback gets the raw response bytes. */
export function callRaw(client, method, bytes, deadlineMs, cb) {
  client.makeUnaryRequest(method, identity, identity, bytes, { deadline: Date.now() + deadlineMs }, cb);
}

export function waitReady(client, ms) {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + ms, (err) => (err ? reject(err) : resolve())),
  );
}

/** "http://127.0.0.1:2379" or "127.0.0.1:2379" -> "127.0.0.1:2379". */
export function targetOf(endpoint) {
  return endpoint.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
}

// ---- The bench's default transport: gRPC over node's own http2, without grpc-js. ----
// Same bytes on the wire as any gRPC client (POST, application/grpc, 5-byte message framing,
// grpc-status in the trailers), at well under half of grpc-js's CPU per call. On a 2-core machine the
// load generator shares the cores with the server under test, so a cheaper client leaves more of the
// machine to the server and measures it rather than the client.

/** gRPC length-prefixed message: 0 (not compressed), 4-byte big-endian length, bytes. */
export function frame(bytes) {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  bytes.copy(out, 5);
  return out;
}

/** One HTTP/2 connection (one gRPC channel) to host:port; resolves when connected. */
export function openH2(target) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://${target}`);
    s.once('connect', () => { s.off('error', reject); s.on('error', () => {}); resolve(s); });
    s.once('error', reject);
  });
}

const headerCache = new Map();
/**
 * Unary gRPC call on an http2 session with an already framed request. cb(err, body): body is the
 * framed response when `wantBody`, else null; err carries `code` (grpc-status) and `details`.
 */
export function h2Call(session, method, framed, wantBody, cb) {
  let headers = headerCache.get(method);
  if (!headers) {
    headers = { ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' };
    headerCache.set(method, headers);
  }
  let req;
  try {
    req = session.request(headers);
  } catch (e) {
    return process.nextTick(cb, Object.assign(new Error(e.message), { code: 'transport', details: e.message }));
  }
  let status;
  let message;
  const chunks = wantBody ? [] : null;
  const onMeta = (h) => {
    if (h['grpc-status'] !== undefined) { status = h['grpc-status']; message = h['grpc-message']; }
  };
  req.on('response', onMeta);
  req.on('trailers', onMeta);
  req.on('data', wantBody ? (c) => chunks.push(c) : noop);
  req.on('error', (e) => { status = status ?? 'transport'; message = message ?? e.message; });
  req.on('close', () => {
    if (status === '0') return cb(null, wantBody ? Buffer.concat(chunks) : null);
    const details = message ? decodeURIComponent(message) : `stream closed (rst ${req.rstCode})`;
    cb(Object.assign(new Error(details), { code: status ?? 'no status', details }));
  });
  req.end(framed);
}
function noop() {}

/** Strips the 5-byte gRPC framing of a single-message response body. */
export function unframe(buf) {
  return buf.subarray(5, 5 + buf.readUInt32BE(1));
}
