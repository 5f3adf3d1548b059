// Lease service handlers. Grant and revoke go through the log (the ID of a server-chosen lease is
// picked here, before proposing, so applying stays deterministic); keep-alive, time-to-live and the
// lease list are answered by the lessor directly, as etcd's leader does.
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { LeaseHandlers } from '../../api/gen/etcdserverpb/Lease.js';
import type { LeaseKeepAliveRequest__Output } from '../../api/gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse } from '../../api/gen/etcdserverpb/LeaseKeepAliveResponse.js';
import { leaseIdOf, num } from '../apply/applier.js';
import { MAX_LEASE_TTL, type Lessor } from '../lease/lessor.js';
import type { EtcdServer } from '../server.js';
import { toServiceError, unary } from './util.js';

/** A random positive int64 that no lease uses (etcd: reqIDGen.Next() & (1<<63 - 1)). */
export function newLeaseId(lessor: { exists(id: string): boolean }): string {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n && !lessor.exists(id.toString())) return id.toString();
  }
}

export function leaseHandlers(server: EtcdServer, lessor: Lessor): LeaseHandlers {
  return {
    LeaseGrant: unary(async (req) => {
      if (num(req.TTL) > MAX_LEASE_TTL) throw EtcdError.of('LeaseTTLTooLarge');
      let id = leaseIdOf(req.ID);
      if (id === '0') id = newLeaseId(lessor);
      const r = await server.propose({ lease_grant: { ID: id, TTL: req.TTL } });
      if (r.kind !== 'lease_grant') throw new Error('unexpected apply result');
      return { header: server.header(r.rev), ID: r.id, TTL: r.ttl, error: '' };
    }),

    LeaseRevoke: unary(async (req) => {
      const r = await server.propose({ lease_revoke: { ID: leaseIdOf(req.ID) } });
      return { header: server.header(r.rev) };
    }),

    LeaseTimeToLive: unary(async (req) => {
      const id = leaseIdOf(req.ID);
      const l = lessor.lookup(id);
      // an unknown lease is not an error here: TTL -1 says it is gone (etcd's v3rpc does the same)
      if (!l) return { header: server.header(), ID: id, TTL: -1 };
      return {
        header: server.header(),
        ID: id,
        TTL: l.remaining,
        grantedTTL: l.ttl,
        keys: req.keys ? l.keys.map((k) => Buffer.from(k, 'latin1')) : [],
      };
    }),

    LeaseLeases: unary(async () => {
      return { header: server.header(), leases: lessor.list().map((l) => ({ ID: l.id })) };
    }),

    LeaseKeepAlive: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest__Output, LeaseKeepAliveResponse>) => {
      // Requests on one stream are answered in order, one at a time, as etcd's server loop does.
      let chain = Promise.resolve();
      let done = false;
      const finish = (): void => {
        done = true;
      };
      call.on('cancelled', finish);
      call.on('error', finish);
      call.on('end', () => {
        chain = chain.then(() => {
          if (!done) call.end();
          done = true;
        });
      });
      call.on('data', (req: LeaseKeepAliveRequest__Output) => {
        chain = chain.then(async () => {
          if (done) return;
          const id = leaseIdOf(req.ID);
          // the header is taken before renewing: a lease revoked at rev N never answers with rev > N
          const header = server.header();
          let ttl: number;
          try {
            ttl = await lessor.renew(id);
          } catch (e) {
            if (e instanceof EtcdError && e.is('LeaseNotFound')) ttl = 0;
            else {
              done = true;
              call.emit('error', toServiceError(e));
              return;
            }
          }
          if (!done) call.write({ header, ID: id, TTL: ttl });
        });
      });
    },
  };
}
