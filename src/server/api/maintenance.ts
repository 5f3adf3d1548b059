// Maintenance service: status, alarms, hashes, defragmentation, snapshots.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { AlarmResponse } from '../../api/gen/etcdserverpb/AlarmResponse.js';
import type { MaintenanceHandlers } from '../../api/gen/etcdserverpb/Maintenance.js';
import { alarmText } from '../apply/alarms.js';
import { num } from '../apply/applier.js';
import { Lessor } from '../lease/lessor.js';
import type { EtcdServer } from '../server.js';
import { keyBucketEntry, writeSnapshotDb } from '../storage/snapshot.js';
import { crc32c } from '../../bbolt/crc32c.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import { unary } from './util.js';

/** The etcd API version this server speaks, reported as its version. */
export const SERVER_VERSION = '3.4.0';

/**
 * CRC-32 over every version the store keeps at or below rev, in revision order: equal stores hash
 * equal. (The kept versions, not the watch history: after a compaction the history no longer holds
 * the older versions that stay visible.)
 */
/**
 * etcd 3.4's HashKV (mvcc's HashByRev), so that the same history hashes the same on etcd-ts and on
 * etcd: CRC-32C of the bucket name "key" and then, in revision order, each version etcd's backend
 * would hold at or below rev, as its backend key and value. Of the versions at or below the
 * compacted revision, only those still visible at rev count (etcd's keyIndex.Keep(rev)), unless
 * nothing at all is visible at rev.
 */
function hashKV(server: EtcdServer, rev: number): number {
  const compactRev = server.kv.compactRev();
  const visible = (v: KeyVersion): boolean => server.kv.rangeAt(v.key, undefined, rev, 1, false, rev).kvs[0] === v;
  let anyVisible: boolean | undefined;
  let h = crc32c(KEY_BUCKET);
  for (const v of server.kv.keptVersions()) {
    if (v.main > rev) break;
    if (v.main <= compactRev) {
      anyVisible ??= server.kv.rangeAt('', '', rev, 1, true, rev).count > 0;
      if (anyVisible && !visible(v)) continue;
    }
    const [key, value] = keyBucketEntry(v);
    h = crc32c(value, crc32c(key, h));
  }
  return h;
}

const KEY_BUCKET = Buffer.from('key');

/** etcd sends a snapshot in 32 KiB pieces (more than one OS page each). */
const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** The whole state as a bbolt file in etcd's backend layout, taken in one synchronous step. */
function snapshotDb(server: EtcdServer): Buffer {
  const lessor = server.getLessor();
  return writeSnapshotDb({
    versions: server.kv.keptVersions(),
    leases: lessor instanceof Lessor ? lessor.list() : [],
    consistentIndex: server.applied(),
    compactRev: server.kv.compactRev(),
    member: server.member,
    alarms: server.alarmList(),
  });
}

export function maintenanceHandlers(server: EtcdServer): MaintenanceHandlers {
  return {
    Status: unary(() => {
      const b = server.getBackend();
      return {
        header: server.header(),
        version: SERVER_VERSION,
        dbSize: b.size(),
        leader: server.memberId.toString(),
        raftIndex: server.applied(),
        raftTerm: server.term,
        raftAppliedIndex: server.applied(),
        // etcd lists the active alarms here, in protobuf's compact text form
        errors: server.alarmList().map(alarmText),
        dbSizeInUse: b.sizeInUse(),
        isLearner: false,
      };
    }),
    Alarm: unary(async (req) => {
      // Through the log, as etcd: GET lists the alarms (of one type, or all for NONE); ACTIVATE and
      // DEACTIVATE name a member and an alarm and answer with the alarm they changed, if any
      // (etcdctl's `alarm disarm` lists first and then deactivates each).
      const r = await server.propose({ alarm: req });
      if (r.kind !== 'alarm') throw new Error('unexpected apply result');
      // etcd 3.4 answers Alarm and Defragment without a header (its clients cope, or not, with that)
      // (an alarm type the enum does not name is kept as its number, which encodes as itself)
      return { header: null, alarms: r.change.alarms as AlarmResponse['alarms'] };
    }),
    Defragment: unary(async () => {
      await server.defragment();
      return { header: null };
    }),
    Hash: unary(() => ({ header: server.header(), hash: hashKV(server, server.kv.rev()) })),
    HashKV: unary((req) => {
      const rev = num(req.revision) || server.kv.rev();
      if (rev > server.kv.rev()) throw EtcdError.of('FutureRev');
      // as etcd: the compacted revision itself is gone too (only what was visible then is kept)
      if (num(req.revision) > 0 && rev <= server.kv.compactRev()) throw EtcdError.of('Compacted');
      return { header: server.header(), hash: hashKV(server, rev), compact_revision: server.kv.compactRev() };
    }),
    // The database file in pieces, remaining_bytes counting down to 0 on the last piece, then one
    // more message, also with remaining_bytes 0, whose blob is the SHA-256 of the file: etcdctl
    // appends it to the saved file and `snapshot restore` checks it.
    Snapshot: (call) => {
      let db: Buffer;
      try {
        db = snapshotDb(server);
      } catch (e) {
        call.emit('error', { code: grpc.status.INTERNAL, details: `etcd-ts: snapshot failed: ${(e as Error).message}` });
        return;
      }
      const sha = createHash('sha256').update(db).digest();
      let sent = 0;
      let cancelled = false;
      call.on('cancelled', () => (cancelled = true));
      const pump = (): void => {
        while (!cancelled && sent < db.length) {
          const blob = db.subarray(sent, sent + SNAPSHOT_CHUNK_BYTES);
          sent += blob.length;
          if (!call.write({ remaining_bytes: db.length - sent, blob })) {
            call.once('drain', pump);
            return;
          }
        }
        if (cancelled) return;
        call.write({ remaining_bytes: 0, blob: sha });
        call.end();
      };
      pump();
    },
    MoveLeader: unary((req) => {
      if (BigInt(req.targetID || '0') !== server.memberId) throw EtcdError.of('BadLeaderTransferee');
      return { header: server.header() };
    }),
  };
}
