// A snapshot of the server's state as etcd 3.4's backend lays it out in bbolt, so real etcdctl can
// `snapshot status` and `snapshot restore` it and real etcd can serve the result. Buckets and
// encodings (etcd mvcc/kvstore.go, lease/lessor.go, membership/store.go, auth/store.go):
//
//   key      revision key -> mvccpb.KeyValue. The key is main (8 bytes big-endian) '_' sub (8 bytes
//            big-endian), 17 bytes, plus a trailing 't' for a tombstone, whose value holds only the key.
//   meta     "consistent_index" -> applied log index, 8 bytes big-endian; after a compaction also
//            "scheduledCompactRev" and "finishedCompactRev" -> a 17-byte revision key {rev, 0}.
//   lease    lease ID (8 bytes big-endian) -> leasepb.Lease {ID, TTL}.
//   members  member ID in hex -> member JSON {"id","peerURLs","name","clientURLs"}; restore replaces
//            membership anyway. members_removed: empty.
//   cluster  "clusterVersion" -> "3.4.0".
//   alarm    marshalled AlarmMember -> empty value, one per raised alarm.
//   auth     "authRevision" -> 1 (8 bytes big-endian), as a store where auth was never touched.
//   authUsers, authRoles: empty.
//
// etcd streams such a file followed by the SHA-256 of its bytes (see api/maintenance.ts).
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from '../../api/proto.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import { writeBolt, type BoltBucket, type BoltOptions } from './bbolt.js';

export interface SnapshotMember {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export interface SnapshotState {
  /** Every kept version, in revision order. */
  versions: readonly KeyVersion[];
  /** Granted leases: decimal ID and granted TTL in seconds. */
  leases: readonly { id: string; ttl: number }[];
  consistentIndex: number;
  /** The compacted revision, or a negative number when the store was never compacted. */
  compactRev: number;
  member: SnapshotMember;
  /** Raised alarms: member ID (decimal) and AlarmType, by name or number. */
  alarms?: readonly { memberID: string; alarm: string | number }[];
  clusterVersion?: string;
}

interface Types {
  keyValue: protobuf.Type;
  lease: protobuf.Type;
  alarmMember: protobuf.Type;
}

let types: Types | undefined;

function protoTypes(): Types {
  if (types) return types;
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(dir, target);
  root.loadSync(['mvccpb/kv.proto', 'leasepb/lease.proto', 'etcdserverpb/rpc.proto'], { keepCase: true });
  types = {
    keyValue: root.lookupType('mvccpb.KeyValue'),
    lease: root.lookupType('leasepb.Lease'),
    alarmMember: root.lookupType('etcdserverpb.AlarmMember'),
  };
  return types;
}

/** proto3 leaves zero values out; protobufjs writes any field that is set, so set only the others. */
function encode(t: protobuf.Type, fields: Record<string, unknown>): Buffer {
  const set: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === 0 || v === '0' || v === 0n || v === undefined || v === null) continue;
    if (Buffer.isBuffer(v) && v.length === 0) continue;
    set[k] = typeof v === 'bigint' ? v.toString() : v;
  }
  const w = t.encode(t.fromObject(set)).finish();
  return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
}

function u64be(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(n)));
  return b;
}

/** etcd's revision key: main, '_', sub, and 't' for a tombstone. */
export function revisionKey(main: number, sub: number, tombstone = false): Buffer {
  const b = Buffer.alloc(tombstone ? 18 : 17);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = 0x5f; // '_'
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[17] = 0x74; // 't'
  return b;
}

const bucket = (name: string, entries: [Buffer, Buffer][]): BoltBucket => ({
  name: Buffer.from(name),
  entries: entries.sort((a, b) => Buffer.compare(a[0], b[0])),
});

/**
 * A version as etcd 3.4's backend holds it in its "key" bucket: the revision key, and the
 * marshalled mvccpb.KeyValue (only the key for a tombstone).
 */
export function keyBucketEntry(v: KeyVersion): [Buffer, Buffer] {
  const t = protoTypes();
  const key = Buffer.from(v.key, 'latin1');
  if (v.value === null) return [revisionKey(v.main, v.sub, true), encode(t.keyValue, { key })];
  const kv = encode(t.keyValue, {
    key,
    create_revision: v.createRev,
    mod_revision: v.main,
    version: v.version,
    value: v.value,
    lease: v.lease,
  });
  return [revisionKey(v.main, v.sub), kv];
}

/** The buckets etcd 3.4's backend would hold for this state. */
export function snapshotBuckets(s: SnapshotState): BoltBucket[] {
  const t = protoTypes();
  const keys: [Buffer, Buffer][] = s.versions.map(keyBucketEntry);

  const meta: [Buffer, Buffer][] = [[Buffer.from('consistent_index'), u64be(s.consistentIndex)]];
  if (s.compactRev >= 0) {
    meta.push([Buffer.from('scheduledCompactRev'), revisionKey(s.compactRev, 0)]);
    meta.push([Buffer.from('finishedCompactRev'), revisionKey(s.compactRev, 0)]);
  }

  const leases: [Buffer, Buffer][] = s.leases.map((l) => [u64be(BigInt(l.id)), encode(t.lease, { ID: l.id, TTL: l.ttl })]);

  const m = s.member;
  // Go's encoding/json writes the uint64 ID as a bare number; isLearner is omitted when false
  const memberJson = `{"id":${m.id.toString()},"peerURLs":${JSON.stringify(m.peerURLs)},"name":${JSON.stringify(m.name)},"clientURLs":${JSON.stringify(m.clientURLs)}}`;
  const alarms: [Buffer, Buffer][] = (s.alarms ?? []).map((a) => [
    encode(t.alarmMember, { memberID: a.memberID, alarm: a.alarm === 'NONE' ? 0 : a.alarm }),
    Buffer.alloc(0),
  ]);

  return [
    bucket('key', keys),
    bucket('meta', meta),
    bucket('lease', leases),
    bucket('members', [[Buffer.from(m.id.toString(16)), Buffer.from(memberJson)]]),
    bucket('members_removed', []),
    bucket('cluster', [[Buffer.from('clusterVersion'), Buffer.from(s.clusterVersion ?? '3.4.0')]]),
    bucket('alarm', alarms),
    bucket('auth', [[Buffer.from('authRevision'), u64be(1)]]),
    bucket('authUsers', []),
    bucket('authRoles', []),
  ];
}

/** The bbolt file for this state. */
export function writeSnapshotDb(s: SnapshotState, opts: Partial<BoltOptions> = {}): Buffer {
  return writeBolt(snapshotBuckets(s), opts);
}
