// The state machine step: applies one committed log entry to the MVCC store and the lessor. It must be
// deterministic, since every member of a future Raft cluster applies the same entries: it reads no
// clock, no randomness and no server-local state beyond the store and the lessor.
//
// Reads (Range) also run here, outside the log, so a standalone read and a read inside a txn are the
// same code.
import { EtcdError } from '../../api/errors.js';
import type { CompactionRequest__Output } from '../../api/gen/etcdserverpb/CompactionRequest.js';
import type { Compare__Output } from '../../api/gen/etcdserverpb/Compare.js';
import type { DeleteRangeRequest__Output } from '../../api/gen/etcdserverpb/DeleteRangeRequest.js';
import type { DeleteRangeResponse } from '../../api/gen/etcdserverpb/DeleteRangeResponse.js';
import type { InternalRequest__Output } from '../../api/gen/etcdserverpb/InternalRequest.js';
import type { PutRequest__Output } from '../../api/gen/etcdserverpb/PutRequest.js';
import type { PutResponse } from '../../api/gen/etcdserverpb/PutResponse.js';
import type { RangeRequest__Output } from '../../api/gen/etcdserverpb/RangeRequest.js';
import type { RangeResponse } from '../../api/gen/etcdserverpb/RangeResponse.js';
import type { RequestOp__Output } from '../../api/gen/etcdserverpb/RequestOp.js';
import type { ResponseOp } from '../../api/gen/etcdserverpb/ResponseOp.js';
import type { TxnRequest__Output } from '../../api/gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../../api/gen/etcdserverpb/TxnResponse.js';
import type { KeyValue } from '../../api/gen/mvccpb/KeyValue.js';
import type { AlarmRequest__Output } from '../../api/gen/etcdserverpb/AlarmRequest.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import type { KVStore, RangeEnd, RangeResult, WriteTxn } from '../mvcc/kvstore.js';
import { AlarmStore, type AlarmChange, type AlarmType } from './alarms.js';
import { txnCost } from './quota.js';

/** What the applier needs from the lessor; declared here so apply does not depend on lease/. */
export interface LeaseHooks {
  exists(id: string): boolean;
  attach(id: string, key: string): void;
  detach(id: string, key: string): void;
  /** Grants a lease; throws LeaseExist. Returns the granted TTL. */
  grant(id: string, ttl: number): number;
  /** Removes a lease; returns its keys (latin1). Throws LeaseNotFound. */
  revoke(id: string): string[];
}

/** A lessor that knows no leases: every lease ID is unknown. */
export const NO_LEASES: LeaseHooks = {
  exists: () => false,
  attach: () => {},
  detach: () => {},
  grant: () => {
    throw EtcdError.of('NotCapable');
  },
  revoke: () => {
    throw EtcdError.of('LeaseNotFound');
  },
};

/** A response without its header; revision is the header revision it must carry. */
export interface Applied<T> {
  resp: T;
  rev: number;
}

export type ApplyResult =
  | { kind: 'put'; resp: PutResponse; rev: number }
  | { kind: 'delete_range'; resp: DeleteRangeResponse; rev: number }
  | { kind: 'txn'; resp: TxnResponse; rev: number }
  | { kind: 'compaction'; rev: number; removed: KeyVersion[] }
  | { kind: 'lease_grant'; id: string; ttl: number; rev: number }
  | { kind: 'lease_revoke'; rev: number }
  | { kind: 'alarm'; change: AlarmChange; rev: number }
  | { kind: 'noop'; rev: number };

const EMPTY = Buffer.alloc(0);

/**
 * A stored value must not keep a much larger buffer alive. A decoded request's value is a view into
 * the buffer it arrived in: at log replay that is a whole WAL segment (up to 64 MiB), which a few
 * replayed values would otherwise pin for as long as their versions are kept; such values are
 * copied. A value from the network sits in its own HTTP/2 frame's buffer (a few bytes larger than
 * the request) and is kept as it is: copying every put measured about 10% more peak RSS under
 * load, since the freed frame buffers do not all go back to the system.
 */
function ownBytes(b: Buffer | Uint8Array | null | undefined): Buffer {
  if (!b || b.length === 0) return EMPTY;
  if (b.buffer.byteLength > 2 * b.length + 4096) return Buffer.from(b);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Bytes to the store's key form (latin1 string, one char per byte). */
export function keyOf(b: Buffer | Uint8Array | string | undefined | null): string {
  if (!b) return '';
  if (typeof b === 'string') return b;
  return Buffer.isBuffer(b) ? b.toString('latin1') : Buffer.from(b).toString('latin1');
}

/** etcd's range_end rules: empty = the key alone, "\0" = to the end of the key space. */
export function rangeEndOf(b: Buffer | undefined | null): RangeEnd {
  if (!b || b.length === 0) return undefined;
  if (b.length === 1 && b[0] === 0) return '';
  return b.toString('latin1');
}

/** Canonical decimal form of an int64 lease ID ('0' for none). */
export function leaseIdOf(v: string | number | undefined | null): string {
  if (v === undefined || v === null || v === '') return '0';
  return BigInt(v).toString();
}

export function num(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  return Number(v);
}

export function toKeyValue(v: KeyVersion, keysOnly = false): KeyValue {
  return {
    key: Buffer.from(v.key, 'latin1'),
    create_revision: v.createRev,
    mod_revision: v.main,
    version: v.version,
    value: keysOnly || v.value === null ? EMPTY : v.value,
    lease: v.lease,
  };
}

/** The revision the events of a delete carry: key and mod revision only, as etcd sends them. */
export function tombstoneKeyValue(v: KeyVersion): KeyValue {
  return { key: Buffer.from(v.key, 'latin1'), mod_revision: v.main };
}

type Reader = { range(key: string, end: RangeEnd, opts: { limit?: number; rev?: number; countOnly?: boolean }): RangeResult };

const SORT_TARGETS: Record<string, (a: KeyVersion, b: KeyVersion) => number> = {
  KEY: (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  VERSION: (a, b) => a.version - b.version,
  CREATE: (a, b) => a.createRev - b.createRev,
  MOD: (a, b) => a.main - b.main,
  VALUE: (a, b) => Buffer.compare(a.value ?? EMPTY, b.value ?? EMPTY),
};

/** Refuses a range whose sort target etcd does not know. */
export function checkSortTarget(r: RangeRequest__Output): void {
  if (!((r.sort_target ?? 'KEY') in SORT_TARGETS)) throw EtcdError.of('InvalidSortOption');
}

/** A Range request against a reader (the store, or an open write txn), with etcd's filter/sort/limit rules. */
export function applyRange(reader: Reader, r: RangeRequest__Output): Applied<RangeResponse> {
  // An order etcd does not know (a bare number here) counts as one, as in etcd: the target does not
  // make it ASCEND, and nothing is sorted. An unknown target is refused (3.4 itself crashes).
  const sortOrder: string | number = r.sort_order ?? 'NONE';
  const sortTarget = r.sort_target ?? 'KEY';
  checkSortTarget(r);
  const limit = num(r.limit);
  const minMod = num(r.min_mod_revision);
  const maxMod = num(r.max_mod_revision);
  const minCreate = num(r.min_create_revision);
  const maxCreate = num(r.max_create_revision);
  const filtered = sortOrder !== 'NONE' || minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0;
  // fetch everything when sorting or filtering; otherwise one extra to learn "more"
  const fetch = filtered ? 0 : limit > 0 ? limit + 1 : 0;
  const rr = reader.range(keyOf(r.key), rangeEndOf(r.range_end), {
    limit: fetch,
    rev: num(r.revision),
    countOnly: r.count_only,
  });
  let kvs = rr.kvs;
  if (maxMod !== 0) kvs = kvs.filter((v) => v.main <= maxMod);
  if (minMod !== 0) kvs = kvs.filter((v) => v.main >= minMod);
  if (maxCreate !== 0) kvs = kvs.filter((v) => v.createRev <= maxCreate);
  if (minCreate !== 0) kvs = kvs.filter((v) => v.createRev >= minCreate);
  let order = sortOrder;
  if (sortTarget !== 'KEY' && order === 'NONE') order = 'ASCEND';
  if (order === 'ASCEND' || order === 'DESCEND') {
    const cmp = SORT_TARGETS[sortTarget];
    kvs = kvs === rr.kvs ? kvs.slice() : kvs;
    // a stable sort; ties keep key order, as Go's sort over key-ordered input mostly does
    kvs.sort(order === 'ASCEND' ? cmp : (a, b) => cmp(b, a));
  }
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  return {
    resp: { kvs: kvs.map((v) => toKeyValue(v, r.keys_only)), more, count: rr.count },
    rev: rr.rev,
  };
}

export class Applier {
  constructor(
    private readonly kv: KVStore,
    private readonly lessor: LeaseHooks,
    private readonly alarms: AlarmStore = new AlarmStore(),
  ) {}

  /** Applies one log entry. An etcd error of the request is thrown as an EtcdError. */
  apply(req: InternalRequest__Output): ApplyResult {
    if (req.alarm) return this.alarm(req.alarm);
    // the alarms' write modes, as etcd's applier wrappers (applierV3Capped, applierV3Corrupt)
    const mode = this.alarms.mode();
    if (mode === 'corrupt' && (req.put || req.delete_range || req.txn || req.compaction || req.lease_grant || req.lease_revoke)) {
      throw EtcdError.of('Corrupt');
    }
    if (mode === 'capped' && (req.put || req.lease_grant || (req.txn && txnCost(req.txn) > 0))) throw EtcdError.of('NoSpace');
    if (req.put) return this.applyWrite('put', (txn) => this.put(txn, req.put!));
    if (req.delete_range) return this.applyWrite('delete_range', (txn) => this.deleteRange(txn, req.delete_range!));
    if (req.txn) return this.applyTxn(req.txn);
    if (req.compaction) return this.compaction(req.compaction);
    if (req.lease_grant) {
      const id = leaseIdOf(req.lease_grant.ID);
      const ttl = this.lessor.grant(id, num(req.lease_grant.TTL));
      return { kind: 'lease_grant', id, ttl, rev: this.kv.rev() };
    }
    if (req.lease_revoke) return this.leaseRevoke(leaseIdOf(req.lease_revoke.ID));
    return { kind: 'noop', rev: this.kv.rev() };
  }

  /** GET lists the alarms of a type (all for NONE); ACTIVATE and DEACTIVATE answer with what they changed. */
  private alarm(a: AlarmRequest__Output): ApplyResult {
    const type = a.alarm as AlarmType;
    const member = a.memberID ?? '0';
    let change: AlarmChange;
    if (a.action === 'ACTIVATE') change = this.alarms.activate(member, type);
    else if (a.action === 'DEACTIVATE') change = this.alarms.deactivate(member, type);
    else if (a.action === 'GET') change = { alarms: this.alarms.get(type) };
    else change = { alarms: [] }; // an action etcd does not know (etcd 3.4 crashes on one)
    return { kind: 'alarm', change, rev: this.kv.rev() };
  }

  private applyWrite<K extends 'put' | 'delete_range', R>(kind: K, f: (txn: WriteTxn) => R): { kind: K; resp: R; rev: number } {
    const txn = this.kv.write();
    let resp: R;
    try {
      resp = f(txn);
    } finally {
      txn.end();
    }
    return { kind, resp, rev: txn.rev() };
  }

  /**
   * A put's preconditions. Their order differs as in etcd: a txn's put is checked for its key first
   * (checkRequestPut), a put alone for its lease first (applierV3backend.Put).
   */
  private checkPut(reader: Reader, p: PutRequest__Output, leaseFirst = false): void {
    const lease = leaseIdOf(p.lease);
    const checkLease = (): void => {
      if (lease !== '0' && !this.lessor.exists(lease)) throw EtcdError.of('LeaseNotFound');
    };
    if (leaseFirst) checkLease();
    if (p.ignore_value || p.ignore_lease) {
      if (reader.range(keyOf(p.key), undefined, {}).kvs.length === 0) throw EtcdError.of('KeyNotFound');
    }
    if (!leaseFirst) checkLease();
  }

  private put(txn: WriteTxn, p: PutRequest__Output, checked = false): PutResponse {
    if (!checked) this.checkPut(txn, p, true);
    const key = keyOf(p.key);
    const prev = txn.latestLive(key);
    const value = p.ignore_value ? (prev?.value ?? EMPTY) : ownBytes(p.value);
    const lease = p.ignore_lease ? (prev?.lease ?? '0') : leaseIdOf(p.lease);
    txn.put(key, value, lease, prev);
    if (prev && prev.lease !== '0' && prev.lease !== lease) this.lessor.detach(prev.lease, key);
    if (lease !== '0' && (!prev || prev.lease !== lease)) this.lessor.attach(lease, key);
    return p.prev_kv && prev ? { prev_kv: toKeyValue(prev) } : {};
  }

  private deleteRange(txn: WriteTxn, d: DeleteRangeRequest__Output): DeleteRangeResponse {
    const deleted = txn.deleteRange(keyOf(d.key), rangeEndOf(d.range_end));
    for (const v of deleted) if (v.lease !== '0') this.lessor.detach(v.lease, v.key);
    const resp: DeleteRangeResponse = { deleted: deleted.length };
    if (d.prev_kv) resp.prev_kvs = deleted.map((v) => toKeyValue(v));
    return resp;
  }

  // ---- Txn ----

  private applyTxn(t: TxnRequest__Output): ApplyResult {
    // Every compare, nested ones too, is decided against the state before the txn writes anything.
    const path = this.comparePath(this.kv, t);
    // As etcd: every put on the path is checked first, then every range (two passes, so a missing
    // key or lease of a later put wins over a bad revision of an earlier range).
    this.checkRequests(t, path.slice(), (op) => {
      if (op.request_put) this.checkPut(this.kv, op.request_put);
    });
    this.checkRequests(t, path.slice(), (op) => {
      if (op.request_range) {
        const rev = num(op.request_range.revision);
        if (rev > this.kv.rev()) throw EtcdError.of('FutureRev');
        if (rev !== 0 && rev < this.kv.compactRev()) throw EtcdError.of('Compacted');
      }
    });
    const txn = this.kv.write();
    let resp: TxnResponse;
    try {
      resp = this.runTxn(txn, t, path);
    } finally {
      txn.end();
    }
    return { kind: 'txn', resp, rev: txn.rev() };
  }

  private comparePath(reader: Reader, t: TxnRequest__Output, out: boolean[] = []): boolean[] {
    const ok = t.compare.every((c) => this.compare(reader, c));
    out.push(ok);
    for (const op of ok ? t.success : t.failure) {
      if (op.request_txn) this.comparePath(reader, op.request_txn, out);
    }
    return out;
  }

  private checkRequests(t: TxnRequest__Output, path: boolean[], check: (op: RequestOp__Output) => void): void {
    const ok = path.shift();
    for (const op of ok ? t.success : t.failure) {
      if (op.request_txn) this.checkRequests(op.request_txn, path, check);
      else check(op);
    }
  }

  private runTxn(txn: WriteTxn, t: TxnRequest__Output, path: boolean[]): TxnResponse {
    const ok = path.shift()!;
    const responses: ResponseOp[] = [];
    for (const op of ok ? t.success : t.failure) {
      if (op.request_range) {
        const r = applyRange(txn, op.request_range);
        responses.push({ response_range: { header: { revision: r.rev }, ...r.resp } });
      } else if (op.request_put) {
        const resp = this.put(txn, op.request_put, true);
        responses.push({ response_put: { header: { revision: txn.rev() }, ...resp } });
      } else if (op.request_delete_range) {
        const resp = this.deleteRange(txn, op.request_delete_range);
        responses.push({ response_delete_range: { header: { revision: txn.rev() }, ...resp } });
      } else if (op.request_txn) {
        const resp = this.runTxn(txn, op.request_txn, path);
        // etcd leaves a nested txn's header empty (revision 0)
        responses.push({ response_txn: { header: {}, ...resp } });
      } else {
        responses.push({});
      }
    }
    return { succeeded: ok, responses };
  }

  private compare(reader: Reader, c: Compare__Output): boolean {
    let kvs: KeyVersion[];
    try {
      kvs = reader.range(keyOf(c.key), rangeEndOf(c.range_end), {}).kvs;
    } catch {
      return false;
    }
    if (kvs.length === 0) {
      if (c.target === 'VALUE') return false; // a missing key has no value to compare
      return this.compareOne(c, undefined);
    }
    return kvs.every((v) => this.compareOne(c, v));
  }

  private compareOne(c: Compare__Output, v: KeyVersion | undefined): boolean {
    let result: number;
    switch (c.target) {
      case 'VALUE': {
        result = Buffer.compare(v?.value ?? EMPTY, c.value ?? EMPTY);
        break;
      }
      case 'LEASE': {
        const a = BigInt(v?.lease ?? '0');
        const b = BigInt(c.lease ?? '0');
        result = a < b ? -1 : a > b ? 1 : 0;
        break;
      }
      case 'CREATE':
      case 'MOD':
      case 'VERSION': {
        const have = !v ? 0 : c.target === 'CREATE' ? v.createRev : c.target === 'MOD' ? v.main : v.version;
        const want = num(c.target === 'CREATE' ? c.create_revision : c.target === 'MOD' ? c.mod_revision : c.version);
        result = have < want ? -1 : have > want ? 1 : 0;
        break;
      }
      default:
        // a target etcd does not know compares as equal (its result stays 0)
        result = 0;
    }
    switch (c.result) {
      case 'EQUAL':
        return result === 0;
      case 'NOT_EQUAL':
        return result !== 0;
      case 'GREATER':
        return result > 0;
      case 'LESS':
        return result < 0;
      default:
        return true;
    }
  }

  // ---- Compaction and leases ----

  private compaction(c: CompactionRequest__Output): ApplyResult {
    const removed = this.kv.compact(num(c.revision));
    return { kind: 'compaction', rev: this.kv.rev(), removed };
  }

  private leaseRevoke(id: string): ApplyResult {
    const keys = this.lessor.revoke(id);
    const txn = this.kv.write();
    try {
      for (const k of keys.sort()) txn.deleteRange(k, undefined);
    } finally {
      txn.end();
    }
    return { kind: 'lease_revoke', rev: txn.rev() };
  }
}
