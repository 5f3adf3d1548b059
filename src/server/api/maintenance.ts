// Maintenance service: status, alarms, hashes, defragmentation.
import { crc32 } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { MaintenanceHandlers } from '../../api/gen/etcdserverpb/Maintenance.js';
import { num } from '../apply/applier.js';
import type { EtcdServer } from '../server.js';
import { unary } from './util.js';

/** The etcd API version this server speaks, reported as its version. */
export const SERVER_VERSION = '3.4.0';

/** CRC-32 over every kept version at or below rev, in revision order: equal stores hash equal. */
function hashKV(server: EtcdServer, rev: number): number {
  let h = 0;
  for (const v of server.kv.historySince(0, Number.MAX_SAFE_INTEGER)) {
    if (v.main > rev) break;
    const hdr = Buffer.alloc(16);
    hdr.writeDoubleBE(v.main, 0);
    hdr.writeDoubleBE(v.sub, 8);
    h = crc32(hdr, h);
    h = crc32(Buffer.from(v.key, 'latin1'), h);
    if (v.value) h = crc32(v.value, h);
  }
  return h >>> 0;
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
        errors: [],
        dbSizeInUse: b.sizeInUse(),
        isLearner: false,
      };
    }),
    Alarm: unary(() => {
      // NOSPACE is raised while the backend is over --quota-backend-bytes; writes are refused then
      const active = server.noSpaceAlarm() ? [{ memberID: server.memberId.toString(), alarm: 'NOSPACE' as const }] : [];
      return { header: server.header(), alarms: active };
    }),
    Defragment: unary(async () => {
      await server.sync();
      return { header: server.header() };
    }),
    Hash: unary(() => ({ header: server.header(), hash: hashKV(server, server.kv.rev()) })),
    HashKV: unary((req) => {
      const rev = num(req.revision) || server.kv.rev();
      if (rev > server.kv.rev()) throw EtcdError.of('FutureRev');
      if (rev < server.kv.compactRev()) throw EtcdError.of('Compacted');
      return { header: server.header(), hash: hashKV(server, rev), compact_revision: server.kv.compactRev() };
    }),
    Snapshot: (call) => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'etcd-ts: snapshot is not implemented yet' });
    },
    MoveLeader: unary((req) => {
      if (BigInt(req.targetID || '0') !== server.memberId) throw EtcdError.of('BadLeaderTransferee');
      return { header: server.header() };
    }),
  };
}
