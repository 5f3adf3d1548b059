// The typed etcd v3 client: KV, Watch, Lease, Cluster and Maintenance over one Connection.
// Requests and responses are the generated proto types; int64 and uint64 values are decimal strings
// (proto-loader `longs: String`), so member and lease IDs above 2^53 stay exact.
import { Connection, toError, type ClientOptions } from './connection.js';
import { Watch, type WatchOptions, type WatchResponse } from './watch.js';
import type { RangeRequest } from '../api/gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse__Output } from '../api/gen/etcdserverpb/RangeResponse.js';
import type { PutRequest } from '../api/gen/etcdserverpb/PutRequest.js';
import type { PutResponse__Output } from '../api/gen/etcdserverpb/PutResponse.js';
import type { DeleteRangeRequest } from '../api/gen/etcdserverpb/DeleteRangeRequest.js';
import type { DeleteRangeResponse__Output } from '../api/gen/etcdserverpb/DeleteRangeResponse.js';
import type { TxnRequest } from '../api/gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse__Output } from '../api/gen/etcdserverpb/TxnResponse.js';
import type { CompactionResponse__Output } from '../api/gen/etcdserverpb/CompactionResponse.js';
import type { MemberListResponse__Output } from '../api/gen/etcdserverpb/MemberListResponse.js';
import type { StatusResponse__Output } from '../api/gen/etcdserverpb/StatusResponse.js';
import type { SnapshotRequest } from '../api/gen/etcdserverpb/SnapshotRequest.js';
import type { SnapshotResponse__Output } from '../api/gen/etcdserverpb/SnapshotResponse.js';
import type { HashKVResponse__Output } from '../api/gen/etcdserverpb/HashKVResponse.js';
import type { AlarmRequest } from '../api/gen/etcdserverpb/AlarmRequest.js';
import type { AlarmResponse__Output } from '../api/gen/etcdserverpb/AlarmResponse.js';
import type { AlarmMember__Output } from '../api/gen/etcdserverpb/AlarmMember.js';
import type { DefragmentResponse__Output } from '../api/gen/etcdserverpb/DefragmentResponse.js';
import type { LeaseGrantResponse__Output } from '../api/gen/etcdserverpb/LeaseGrantResponse.js';
import type { LeaseRevokeResponse__Output } from '../api/gen/etcdserverpb/LeaseRevokeResponse.js';
import type { LeaseTimeToLiveResponse__Output } from '../api/gen/etcdserverpb/LeaseTimeToLiveResponse.js';
import type { LeaseLeasesResponse__Output } from '../api/gen/etcdserverpb/LeaseLeasesResponse.js';
import type { LeaseKeepAliveRequest } from '../api/gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse__Output } from '../api/gen/etcdserverpb/LeaseKeepAliveResponse.js';

export type {
  RangeRequest, RangeResponse__Output, PutRequest, PutResponse__Output, DeleteRangeRequest, DeleteRangeResponse__Output,
  TxnRequest, TxnResponse__Output, CompactionResponse__Output, MemberListResponse__Output, StatusResponse__Output, HashKVResponse__Output,
  LeaseGrantResponse__Output, LeaseRevokeResponse__Output, LeaseTimeToLiveResponse__Output, LeaseLeasesResponse__Output,
  LeaseKeepAliveResponse__Output, AlarmRequest, AlarmResponse__Output, AlarmMember__Output, DefragmentResponse__Output,
};

/** The range end that selects every key starting with `key` (etcd's GetPrefixRangeEnd). */
export function prefixRangeEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff (or the key is empty): no upper bound.
  return Buffer.from([0]);
}

export class EtcdClient {
  readonly conn: Connection;

  constructor(options: ClientOptions) {
    this.conn = new Connection(options);
  }

  // KV
  range(req: RangeRequest): Promise<RangeResponse__Output> {
    return this.conn.unary('KV', 'Range', req);
  }
  put(req: PutRequest): Promise<PutResponse__Output> {
    return this.conn.unary('KV', 'Put', req);
  }
  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse__Output> {
    return this.conn.unary('KV', 'DeleteRange', req);
  }
  /** `timeoutMs` overrides the command timeout (0: none). */
  txn(req: TxnRequest, timeoutMs?: number): Promise<TxnResponse__Output> {
    return this.conn.unary('KV', 'Txn', req, { timeoutMs });
  }
  compact(revision: string, physical = false, timeoutMs?: number): Promise<CompactionResponse__Output> {
    return this.conn.unary('KV', 'Compact', { revision, physical }, { timeoutMs });
  }

  // Watch
  /** Starts a watch; `onResponse` gets every response with events, progress or cancellation. */
  watch(opts: WatchOptions, onResponse: (r: WatchResponse) => void): Watch {
    return new Watch(this.conn, opts, onResponse);
  }

  // Cluster
  memberList(linearizable = false): Promise<MemberListResponse__Output> {
    return this.conn.unary('Cluster', 'MemberList', { linearizable });
  }

  // Maintenance
  status(): Promise<StatusResponse__Output> {
    return this.conn.unary('Maintenance', 'Status', {});
  }

  /** The hash of the KV history up to `revision` (0: all of it). */
  hashKV(revision = '0'): Promise<HashKVResponse__Output> {
    return this.conn.unary('Maintenance', 'HashKV', { revision });
  }

  alarm(req: AlarmRequest): Promise<AlarmResponse__Output> {
    return this.conn.unary('Maintenance', 'Alarm', req);
  }

  /** The raised alarms of every member (clientv3's AlarmList). */
  alarmList(): Promise<AlarmResponse__Output> {
    return this.alarm({ action: 'GET', memberID: '0', alarm: 'NONE' });
  }

  /**
   * Disarms every raised alarm, one request each, as clientv3's AlarmDisarm does for an empty
   * member: the answer is assembled here, so it has no header.
   */
  async alarmDisarmAll(): Promise<AlarmResponse__Output> {
    const listed = await this.alarmList();
    const alarms: AlarmMember__Output[] = [];
    for (const a of listed.alarms) {
      const r = await this.alarm({ action: 'DEACTIVATE', memberID: a.memberID, alarm: a.alarm });
      alarms.push(...r.alarms);
    }
    return { header: null, alarms };
  }

  /** Defragments the backend of the member this client is connected to. */
  defragment(): Promise<DefragmentResponse__Output> {
    return this.conn.unary('Maintenance', 'Defragment', {});
  }

  /**
   * Streams the server's backend snapshot (Maintenance.Snapshot): onBlob gets each piece in order,
   * the last being the SHA-256 of the rest; resolves when the server ends the stream.
   */
  async snapshot(onBlob: (blob: Buffer) => void | Promise<void>, timeoutMs = 0): Promise<void> {
    const stream = await this.conn.duplex<SnapshotRequest, SnapshotResponse__Output>('Maintenance', 'Snapshot');
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => fail(new Error('context deadline exceeded')), timeoutMs) : undefined;
      let done = false;
      let chain = Promise.resolve();
      const fail = (e: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stream.cancel();
        reject(e);
      };
      stream.on('data', (r) => {
        chain = chain.then(() => onBlob(r.blob)).catch((e: Error) => fail(e));
      });
      stream.on('error', (e) => fail(toError(e)));
      stream.on('end', () => {
        void chain.then(() => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        });
      });
      stream.write({});
      stream.end();
    });
  }

  // Lease
  leaseGrant(ttl: string, id = '0'): Promise<LeaseGrantResponse__Output> {
    return this.conn.unary('Lease', 'LeaseGrant', { TTL: ttl, ID: id });
  }
  leaseRevoke(id: string): Promise<LeaseRevokeResponse__Output> {
    return this.conn.unary('Lease', 'LeaseRevoke', { ID: id });
  }
  leaseTimeToLive(id: string, keys = false, timeoutMs?: number): Promise<LeaseTimeToLiveResponse__Output> {
    return this.conn.unary('Lease', 'LeaseTimeToLive', { ID: id, keys }, { timeoutMs });
  }
  leaseLeases(timeoutMs?: number): Promise<LeaseLeasesResponse__Output> {
    return this.conn.unary('Lease', 'LeaseLeases', {}, { timeoutMs });
  }
  /** One keepalive round trip for lease `id` on a fresh stream. */
  async leaseKeepAliveOnce(id: string): Promise<LeaseKeepAliveResponse__Output> {
    const stream = await this.conn.duplex<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output>('Lease', 'LeaseKeepAlive');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.cancel();
        reject(new Error('context deadline exceeded'));
      }, this.conn.commandTimeoutMs > 0 ? this.conn.commandTimeoutMs : 5000);
      stream.once('data', (r: LeaseKeepAliveResponse__Output) => {
        clearTimeout(timer);
        stream.cancel();
        resolve(r);
      });
      stream.once('error', (e) => {
        clearTimeout(timer);
        reject(toError(e));
      });
      stream.write({ ID: id });
    });
  }

  close(): void {
    this.conn.close();
  }
}
