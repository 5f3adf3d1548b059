// Encoding of the log entry (etcdserverpb.InternalRequest, proto/etcdserverpb/raft_internal.proto)
// with protobufjs: the bytes a Raft log will replicate later. Decoding uses the same conversion as
// the gRPC layer (src/api/proto.ts) so the applier sees one shape whether an entry came from a client
// or from the log at recovery.
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from '../../api/proto.js';
import type { InternalRequest, InternalRequest__Output } from '../../api/gen/etcdserverpb/InternalRequest.js';

let type: protobuf.Type | undefined;

function internalRequestType(): protobuf.Type {
  if (type) return type;
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(dir, target);
  root.loadSync('etcdserverpb/raft_internal.proto', { keepCase: true });
  type = root.lookupType('etcdserverpb.InternalRequest');
  return type;
}

/**
 * Where a request decoded from the wire keeps the bytes it was decoded from (see withWireBytes):
 * a put is logged as those bytes instead of being encoded again.
 */
const WIRE_BYTES = Symbol('etcd-ts.wireBytes');

/** Marks msg as decoded from exactly these bytes: nothing may change msg afterwards. */
export function withWireBytes<T extends object>(msg: T, bytes: Buffer): T {
  (msg as { [WIRE_BYTES]?: Buffer })[WIRE_BYTES] = bytes;
  return msg;
}

function wireBytesOf(msg: object | null | undefined): Buffer | undefined {
  return msg ? (msg as { [WIRE_BYTES]?: Buffer })[WIRE_BYTES] : undefined;
}

const PUT_TAG = (4 << 3) | 2; // InternalRequest.put: field 4, length-delimited

/** Bytes of n (a non-negative safe integer) as a protobuf varint. */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Writes n as a protobuf varint at off; returns the offset after it. */
export function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}

/**
 * The log entry of req with proposal id. A put still in the bytes it came in (withWireBytes) is
 * written around them: an encoding of the same message as protobufjs would make from the decoded
 * request, at a fraction of the cost (this is the hottest write path).
 */
export function encodeInternalRequest(req: InternalRequest, id?: number): Buffer {
  const raw = req.put && !req.txn && !req.delete_range ? wireBytesOf(req.put) : undefined;
  if (raw && id !== undefined && Number.isSafeInteger(id) && id >= 0) {
    const out = Buffer.allocUnsafe(1 + varintLength(id) + 1 + varintLength(raw.length) + raw.length);
    let off = 0;
    if (id > 0) {
      out[off++] = (1 << 3) | 0; // ID: field 1, varint (proto3 leaves a zero out)
      off = writeVarint(out, off, id);
    }
    out[off++] = PUT_TAG;
    off = writeVarint(out, off, raw.length);
    raw.copy(out, off);
    return out.subarray(0, off + raw.length);
  }
  if (id !== undefined) req = { ...req, ID: id };
  const t = internalRequestType();
  // Requests without enum fields are already in a shape encode() takes (Buffers, int64 as strings
  // or numbers); only those with enums (txn compares, range sort options) need fromObject's mapping
  // of enum names to numbers, which costs a copy of the whole request.
  const msg = req.txn || req.alarm ? t.fromObject(req as Record<string, unknown>) : (req as protobuf.Message);
  const w = t.encode(msg).finish();
  return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
}

export function decodeInternalRequest(data: Buffer): InternalRequest__Output {
  const t = internalRequestType();
  const msg = t.decode(data);
  const obj = t.toObject(msg, { longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true, arrays: true });
  // messages that are absent decode as undefined; the generated types say null
  for (const k of ['put', 'delete_range', 'txn', 'compaction', 'lease_grant', 'lease_revoke', 'alarm', 'lease_checkpoint']) {
    if (obj[k] === undefined) obj[k] = null;
  }
  return obj as InternalRequest__Output;
}
