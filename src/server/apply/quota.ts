// etcd's estimates of the space a request adds to the backend (etcdserver/quota.go): the quota
// check before a write is proposed, and the NOSPACE alarm's refusal of a txn when it is applied.
import type { InternalRequest } from '../../api/gen/etcdserverpb/InternalRequest.js';
import type { TxnRequest } from '../../api/gen/etcdserverpb/TxnRequest.js';

// what a key's metadata and a lease take beside their bytes, by etcd's estimate
const KV_OVERHEAD = 256;
const LEASE_OVERHEAD = 64;

function putCost(p: { key?: { length: number } | null; value?: { length: number } | null }): number {
  return KV_OVERHEAD + (p.key?.length ?? 0) + (p.value?.length ?? 0);
}

/** A txn's cost: the costlier of its branches' top-level puts (etcd 3.4 counts no nested ones). */
export function txnCost(t: Pick<TxnRequest, 'success' | 'failure'>): number {
  const branch = (ops: TxnRequest['success']) => (ops ?? []).reduce((n, op) => n + (op.request_put ? putCost(op.request_put) : 0), 0);
  return Math.max(branch(t.success), branch(t.failure));
}

/**
 * What a request adds to the backend: a put its key, value and overhead; a txn see txnCost; a lease
 * grant a fixed overhead. 0 for anything else: those are never held back by the quota.
 */
export function spaceCost(req: InternalRequest): number {
  if (req.put) return putCost(req.put);
  if (req.txn) return txnCost(req.txn);
  if (req.lease_grant) return LEASE_OVERHEAD;
  return 0;
}
