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

export function encodeInternalRequest(req: InternalRequest): Buffer {
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
