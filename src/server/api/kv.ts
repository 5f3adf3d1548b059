// KV service handlers: check the request as etcd does, hand it to the server (writes through the log,
// reads straight from the store), fill the header.
import type * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { KVHandlers } from '../../api/gen/etcdserverpb/KV.js';
import type { PutRequest__Output } from '../../api/gen/etcdserverpb/PutRequest.js';
import type { PutResponse } from '../../api/gen/etcdserverpb/PutResponse.js';
import type { RequestOp__Output } from '../../api/gen/etcdserverpb/RequestOp.js';
import type { TxnRequest__Output } from '../../api/gen/etcdserverpb/TxnRequest.js';
import { Applier, applyRange, checkSortTarget, NO_LEASES } from '../apply/applier.js';
import type { EtcdServer } from '../server.js';
import { withWireBytes } from '../storage/codec.js';
import { encodeHeaderOnlyResponse } from './wire.js';
import { toServiceError, unary } from './util.js';

/**
 * The KV service definition for the server: as loaded from proto/, except on the Put path: a decoded
 * Put keeps the bytes it came in, which the log then stores as they are (storage/codec.ts), and a
 * response with only a header is encoded by hand (wire.ts).
 */
export function kvServiceDefinition(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const put = def.Put;
  return {
    ...def,
    Put: {
      ...put,
      requestDeserialize: (b: Buffer) => withWireBytes(put.requestDeserialize(b) as object, b),
      responseSerialize: (res: PutResponse) =>
        (!res.prev_kv && encodeHeaderOnlyResponse(res.header)) || put.responseSerialize(res),
    },
  };
}

function checkPut(r: PutRequest__Output): void {
  if (r.key.length === 0) throw EtcdError.of('EmptyKey');
  if (r.ignore_value && r.value.length !== 0) throw EtcdError.of('ValueProvided');
  if (r.ignore_lease && r.lease !== '0') throw EtcdError.of('LeaseProvided');
}

function checkRequestOp(op: RequestOp__Output, maxTxnOps: number): void {
  if (op.request_range) {
    if (op.request_range.key.length === 0) throw EtcdError.of('EmptyKey');
    // checked before the txn runs: nothing may fail half-way through its writes
    checkSortTarget(op.request_range);
  } else if (op.request_put) {
    checkPut(op.request_put);
  } else if (op.request_delete_range) {
    if (op.request_delete_range.key.length === 0) throw EtcdError.of('EmptyKey');
  } else if (op.request_txn) {
    checkTxnRequest(op.request_txn, maxTxnOps);
  } else {
    // an op with no request in it: etcd's checkRequestOp refuses it so
    throw EtcdError.of('KeyNotFound');
  }
}

function checkTxnRequest(r: TxnRequest__Output, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw EtcdError.of('TooManyOps');
  for (const c of r.compare) if (c.key.length === 0) throw EtcdError.of('EmptyKey');
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc);
}

/**
 * etcd's checks of a txn request before it runs, in etcd's order: every op at every depth first
 * (checkTxnRequest), then the put/delete overlaps of the whole tree (checkIntervals at the top only),
 * so an invalid op anywhere wins over an overlap.
 */
export function checkTxn(r: TxnRequest__Output, maxTxnOps: number): void {
  checkTxnRequest(r, maxTxnOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

/**
 * A delete's interval as etcd's overlap check sees it: the key alone without a range end, else
 * [key, range_end) compared as plain bytes. A "\0" range end (every key from key on, when the delete
 * runs) is here the interval [key, "\0"), which holds no key: etcd lets a txn put a key that such a
 * delete removes. A range end at or below the key holds no key either.
 */
interface Interval {
  key: string;
  end: string | undefined; // undefined: the key alone
}

function intersects(dels: Interval[], k: string): boolean {
  return dels.some((d) => (d.end === undefined ? d.key === k : k >= d.key && k < d.end));
}

/** No key may be put twice, or both put and deleted, on one path of a txn (etcd's rule). */
function checkIntervals(ops: RequestOp__Output[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.request_delete_range;
    if (!d) continue;
    dels.push({ key: d.key.toString('latin1'), end: d.range_end.length === 0 ? undefined : d.range_end.toString('latin1') });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.request_txn;
    if (!t) continue;
    const then = checkIntervals(t.success);
    const els = checkIntervals(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw EtcdError.of('DuplicateKey');
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw EtcdError.of('DuplicateKey');
      if (intersects(dels, k)) throw EtcdError.of('DuplicateKey');
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of ops) {
    const p = op.request_put;
    if (!p) continue;
    const k = p.key.toString('latin1');
    if (puts.has(k) || intersects(dels, k)) throw EtcdError.of('DuplicateKey');
    puts.add(k);
  }
  return { puts, dels };
}

function isReadOnly(r: TxnRequest__Output): boolean {
  const ro = (ops: RequestOp__Output[]): boolean =>
    ops.every((op) => !op.request_put && !op.request_delete_range && (!op.request_txn || isReadOnly(op.request_txn)));
  return ro(r.success) && ro(r.failure);
}

export function kvHandlers(server: EtcdServer): KVHandlers {
  return {
    Range: unary(async (req) => {
      server.metrics.ranges++;
      if (req.key.length === 0) throw EtcdError.of('EmptyKey');
      const r = applyRange(server.kv, req);
      return { header: server.header(r.rev), ...r.resp };
    }),

    // the busiest handler, written with callbacks: no promise per request
    Put: (call, callback) => {
      const req = call.request;
      server.metrics.puts++;
      try {
        checkPut(req);
      } catch (e) {
        return callback(toServiceError(e) as grpc.ServiceError);
      }
      server.proposeWith({ put: req }, (err, r) => {
        if (err) return callback(toServiceError(err) as grpc.ServiceError);
        if (r?.kind !== 'put') return callback(toServiceError(new Error('unexpected apply result')) as grpc.ServiceError);
        callback(null, { header: server.header(r.rev), ...r.resp });
      });
    },

    DeleteRange: unary(async (req) => {
      server.metrics.deletes++;
      if (req.key.length === 0) throw EtcdError.of('EmptyKey');
      const r = await server.propose({ delete_range: req });
      if (r.kind !== 'delete_range') throw new Error('unexpected apply result');
      return { header: server.header(r.rev), ...r.resp };
    }),

    Txn: unary(async (req) => {
      server.metrics.txns++;
      checkTxn(req, server.cfg.maxTxnOps);
      if (isReadOnly(req)) {
        // reads stay off the log; a txn without writes changes nothing
        const r = new Applier(server.kv, server.getLessor() ?? NO_LEASES).apply({ txn: req } as never);
        if (r.kind !== 'txn') throw new Error('unexpected apply result');
        return { header: server.header(r.rev), ...r.resp };
      }
      const r = await server.propose({ txn: req });
      if (r.kind !== 'txn') throw new Error('unexpected apply result');
      return { header: server.header(r.rev), ...r.resp };
    }),

    Compact: unary(async (req) => {
      const r = await server.propose({ compaction: req });
      if (req.physical) await server.sync();
      return { header: server.header(r.rev) };
    }),
  };
}
