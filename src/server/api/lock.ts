// v3lock service: Lock and Unlock, as etcd's v3lock server does them with a concurrency.Mutex on an
// orphaned session (a request without a lease gets a 60 s lease nobody keeps alive). See
// concurrency.ts for the key layout that makes these locks exclude client-side ones.
import { EtcdError } from '../../api/errors.js';
import type { LockHandlers } from '../../api/gen/v3lockpb/Lock.js';
import { keyOf, num } from '../apply/applier.js';
import type { EtcdServer } from '../server.js';
import { abortedWith, bytes, leaseHex, prefixEnd, putIfAbsent, sessionLease, waitDeletes } from './concurrency.js';
import { unary } from './util.js';

/** A range_end for the wire from the store's form ('' = etcd's "\0"). */
export function rangeEndBytes(prefix: string): Buffer {
  const end = prefixEnd(prefix);
  return end === '' || end === undefined ? Buffer.from([0]) : bytes(end);
}

/** A range for the key under prefix created first: etcd's WithFirstCreate(). */
export function firstCreateOp(prefix: string) {
  return {
    request_range: { key: bytes(prefix), range_end: rangeEndBytes(prefix), sort_target: 'CREATE', sort_order: 'ASCEND', limit: 1 },
  } as const;
}

export function lockHandlers(server: EtcdServer): LockHandlers {
  return {
    Lock: unary(async (req, call) => {
      const signal = abortedWith(call);
      const lease = await sessionLease(server, req.lease);
      const prefix = keyOf(req.name) + '/';
      const myKey = prefix + leaseHex(lease);
      const { resp, header, createRev: myRev } = await putIfAbsent(server, myKey, Buffer.alloc(0), lease, [firstCreateOp(prefix)]);
      const owner = resp.responses?.[1]?.response_range?.kvs?.[0];
      if (!owner || num(owner.create_revision as number) === myRev) return { header, key: bytes(myKey) };
      try {
        const h = await waitDeletes(server, prefix, myRev - 1, signal);
        return { header: h, key: bytes(myKey) };
      } catch (e) {
        // give the place in line back, as Mutex.Lock does when its wait fails
        await server.propose({ delete_range: { key: bytes(myKey) } }).catch(() => {});
        throw e;
      }
    }),

    Unlock: unary(async (req) => {
      if (req.key.length === 0) throw EtcdError.of('EmptyKey');
      const r = await server.propose({ delete_range: { key: req.key } });
      return { header: server.header(r.rev) };
    }),
  };
}
