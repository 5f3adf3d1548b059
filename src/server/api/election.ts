// v3election service: Campaign, Proclaim, Leader, Observe and Resign, as etcd's v3election server does
// them with a concurrency.Election. The leader of election <name> is the key under <name>/ with the
// lowest create revision; a candidate's key is <name>/<lease %x>, its value the proposal.
import { status } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { ElectionHandlers } from '../../api/gen/v3electionpb/Election.js';
import type { LeaderKey__Output } from '../../api/gen/v3electionpb/LeaderKey.js';
import type { LeaderRequest__Output } from '../../api/gen/v3electionpb/LeaderRequest.js';
import type { LeaderResponse } from '../../api/gen/v3electionpb/LeaderResponse.js';
import { keyOf, num, toKeyValue } from '../apply/applier.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import type { EtcdServer } from '../server.js';
import { abortedWith, byCreate, bytes, leaseHex, LocalWatch, prefixEnd, proposeTxn, putIfAbsent, sessionLease, waitDeletes } from './concurrency.js';
import { toServiceError, unary } from './util.js';

// Plain Go errors in etcd, so they reach the client with code Unknown and this text.
const ErrMissingLeaderKey = (): EtcdError => new EtcdError('Unknown', '"leader" field must be provided', status.UNKNOWN);
const ErrElectionNotLeader = (): EtcdError => new EtcdError('Unknown', 'election: not leader', status.UNKNOWN);
const ErrElectionNoLeader = (): EtcdError => new EtcdError('Unknown', 'election: no leader', status.UNKNOWN);

/** Proclaim: replace the leader's value if the key is still the one created at leader.rev. */
async function proclaim(server: EtcdServer, key: string, rev: number, lease: string, value: Buffer) {
  const { resp, header } = await proposeTxn(server, {
    compare: [{ result: 'EQUAL', target: 'CREATE', key: bytes(key), create_revision: rev }],
    success: [{ request_put: { key: bytes(key), value, lease } }],
  });
  if (!resp.succeeded) throw ErrElectionNotLeader();
  return header;
}

async function resign(server: EtcdServer, key: string, rev: number) {
  const { header } = await proposeTxn(server, {
    compare: [{ result: 'EQUAL', target: 'CREATE', key: bytes(key), create_revision: rev }],
    success: [{ request_delete_range: { key: bytes(key) } }],
  });
  return header;
}

function leaderOf(l: LeaderKey__Output | null): LeaderKey__Output {
  if (!l) throw ErrMissingLeaderKey();
  return l;
}

export function electionHandlers(server: EtcdServer): ElectionHandlers {
  return {
    Campaign: unary(async (req, call) => {
      const signal = abortedWith(call);
      const lease = await sessionLease(server, req.lease);
      const prefix = keyOf(req.name) + '/';
      const key = prefix + leaseHex(lease);
      const { header, createRev: rev, existing } = await putIfAbsent(server, key, req.value, lease);
      if (existing && !existing.equals(req.value)) {
        try {
          await proclaim(server, key, rev, lease, req.value);
        } catch (e) {
          await resign(server, key, rev).catch(() => {});
          throw e;
        }
      }
      try {
        await waitDeletes(server, prefix, rev - 1, signal);
      } catch (e) {
        // a campaign abandoned by its client withdraws its candidate key
        if (signal.aborted) await resign(server, key, rev).catch(() => {});
        throw e;
      }
      return { header, leader: { name: req.name, key: bytes(key), rev, lease } };
    }),

    Proclaim: unary(async (req) => {
      const l = leaderOf(req.leader);
      const lease = await sessionLease(server, l.lease);
      const header = await proclaim(server, keyOf(l.key), num(l.rev), lease, req.value);
      return { header };
    }),

    Resign: unary(async (req) => {
      const l = leaderOf(req.leader);
      const header = await resign(server, keyOf(l.key), num(l.rev));
      return { header };
    }),

    Leader: unary(async (req) => {
      const { kv, rev } = byCreate(server, keyOf(req.name) + '/', 'first');
      if (!kv) throw ErrElectionNoLeader();
      return { header: server.header(rev), kv: toKeyValue(kv) };
    }),

    Observe: (call: grpc.ServerWritableStream<LeaderRequest__Output, LeaderResponse>) => {
      const signal = abortedWith(call);
      observe(server, keyOf(call.request.name) + '/', signal, (resp) => call.write(resp)).then(
        () => call.end(),
        (e) => {
          if (!signal.aborted) call.emit('error', toServiceError(e));
        },
      );
    },
  };
}

/**
 * Sends the leader, then every change of the leader's value, then the next leader once that key is
 * deleted, and so on (concurrency.Election.observe).
 */
async function observe(server: EtcdServer, prefix: string, signal: AbortSignal, send: (r: LeaderResponse) => void): Promise<void> {
  while (!signal.aborted) {
    const first = byCreate(server, prefix, 'first');
    let kv: KeyVersion | undefined = first.kv;
    let rev = first.rev;
    if (!kv) {
      // no leader yet: wait for the first put under the prefix
      const w = new LocalWatch(server, prefix, prefixEnd(prefix), rev, signal);
      try {
        while (!kv) {
          const b = await w.next();
          const put = b.events.find((e) => e.value !== null);
          if (put) {
            kv = put;
            rev = put.main;
          }
        }
      } finally {
        w.close();
      }
    }
    send({ header: server.header(rev), kv: toKeyValue(kv) });
    const w = new LocalWatch(server, kv.key, undefined, rev + 1, signal);
    try {
      let deleted = false;
      while (!deleted) {
        const b = await w.next();
        for (const e of b.events) {
          if (e.value === null) {
            deleted = true;
            break;
          }
          send({ header: server.header(b.rev), kv: toKeyValue(e) });
        }
      }
    } finally {
      w.close();
    }
  }
}

