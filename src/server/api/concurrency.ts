// Server-side versions of etcd's client concurrency recipes (clientv3/concurrency), used by the Lock and
// Election services. They work on keys and leases only, exactly as etcd's do, so a lock taken through
// the Lock service and one taken by a client-side mutex (etcdctl lock) exclude each other:
//
//   a waiter's key is  <name>/<lease ID in %x>, put with that lease if it does not exist yet;
//   the holder is the key under <name>/ with the lowest create revision;
//   a waiter waits for the deletion of the key with the next-lower create revision, again and again,
//   until no key under the prefix was created before its own.
//
// Writes go through server.propose (the log); reads come from the store; waiting uses the watchable
// store directly.
import { status } from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';
import type { RequestOp } from '../../api/gen/etcdserverpb/RequestOp.js';
import type { ResponseHeader } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import type { TxnRequest } from '../../api/gen/etcdserverpb/TxnRequest.js';
import type { TxnResponse } from '../../api/gen/etcdserverpb/TxnResponse.js';
import { leaseIdOf } from '../apply/applier.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import type { RangeEnd } from '../mvcc/kvstore.js';
import type { Watcher, WatchSink } from '../mvcc/watchable_store.js';
import type { EtcdServer } from '../server.js';
import { decodeInternalRequest, encodeInternalRequest } from '../storage/codec.js';
import { newLeaseId } from './lease.js';

/** clientv3/concurrency's default session TTL, used when a request names no lease. */
export const DEFAULT_SESSION_TTL = 60;

/** The request was abandoned by its client. */
export const Canceled = (): EtcdError => new EtcdError('Unknown', 'context canceled', status.CANCELLED);

/** etcd's GetPrefixRangeEnd: the key after every key with this prefix ('' = to the end: etcd's "\0"). */
export function prefixEnd(prefix: string): RangeEnd {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return '';
}

/** A lease ID as the recipes print it into keys: Go's %x of the int64. */
export function leaseHex(id: string): string {
  return BigInt(id).toString(16);
}

/** Runs a txn through the log. The request is normalised through the log codec first. */
export async function proposeTxn(server: EtcdServer, t: TxnRequest): Promise<{ resp: TxnResponse; header: ResponseHeader }> {
  const req = decodeInternalRequest(encodeInternalRequest({ txn: t }));
  const r = await server.propose(req);
  if (r.kind !== 'txn') throw new Error('unexpected apply result');
  return { resp: r.resp, header: server.header(r.rev) };
}

/**
 * Puts key with lease unless it exists (the first step of Mutex.Lock and Election.Campaign), running
 * `also` after it either way. Returns the key's create revision and, when it already existed, its value.
 */
export async function putIfAbsent(
  server: EtcdServer,
  key: string,
  value: Buffer,
  lease: string,
  also: RequestOp[] = [],
): Promise<{ resp: TxnResponse; header: ResponseHeader; createRev: number; existing: Buffer | undefined }> {
  const { resp, header } = await proposeTxn(server, {
    compare: [{ result: 'EQUAL', target: 'CREATE', key: bytes(key), create_revision: 0 }],
    success: [{ request_put: { key: bytes(key), value, lease } }, ...also],
    failure: [{ request_range: { key: bytes(key) } }, ...also],
  });
  if (resp.succeeded) return { resp, header, createRev: Number(header.revision), existing: undefined };
  const kv = resp.responses?.[0]?.response_range?.kvs?.[0];
  return { resp, header, createRev: Number(kv?.create_revision ?? 0), existing: Buffer.from((kv?.value as Buffer | undefined) ?? []) };
}

/** The lease of a session: the given one, or (lease 0) a new lease of DEFAULT_SESSION_TTL, as NewSession. */
export async function sessionLease(server: EtcdServer, lease: string | number | undefined | null): Promise<string> {
  const id = leaseIdOf(lease);
  if (id !== '0') return id;
  const r = await server.propose({ lease_grant: { ID: newLeaseId(server.getLessor()), TTL: DEFAULT_SESSION_TTL } });
  if (r.kind !== 'lease_grant') throw new Error('unexpected apply result');
  return r.id;
}

/** The live key under prefix with the lowest (first) or highest (last) create revision <= maxCreateRev. */
export function byCreate(
  server: EtcdServer,
  prefix: string,
  which: 'first' | 'last',
  maxCreateRev = Infinity,
): { kv: KeyVersion | undefined; rev: number } {
  const r = server.kv.range(prefix, prefixEnd(prefix));
  let best: KeyVersion | undefined;
  for (const v of r.kvs) {
    if (v.createRev > maxCreateRev) continue;
    if (!best || (which === 'first' ? v.createRev < best.createRev : v.createRev > best.createRev)) best = v;
  }
  return { kv: best, rev: r.rev };
}

/** The events of one watcher in the watchable store, pulled one batch at a time. */
export class LocalWatch implements WatchSink {
  congested = false;
  private readonly watcher: Watcher;
  private readonly queue: { events: KeyVersion[]; rev: number }[] = [];
  private wake: (() => void) | undefined;
  private error: Error | undefined;
  private readonly onAbort = (): void => this.fail(Canceled());

  constructor(
    private readonly server: EtcdServer,
    key: string,
    end: RangeEnd,
    startRev: number,
    private readonly signal: AbortSignal,
  ) {
    this.watcher = server.watchable.watch('0', { key, end, startRev, noPut: false, noDelete: false }, this);
    if (signal.aborted) this.fail(Canceled());
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  deliver(_w: Watcher, events: KeyVersion[], rev: number): boolean {
    this.queue.push({ events, rev });
    this.wake?.();
    return true;
  }

  compacted(): void {
    this.fail(EtcdError.of('Compacted'));
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.wake?.();
  }

  /** The next batch of events; throws when the watch is canceled or compacted. */
  async next(): Promise<{ events: KeyVersion[]; rev: number }> {
    for (;;) {
      const b = this.queue.shift();
      if (b) return b;
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  close(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.server.watchable.cancel(this.watcher);
  }
}

/** Waits until key is deleted, watching from rev (concurrency's waitDelete). */
export async function waitDelete(server: EtcdServer, key: string, rev: number, signal: AbortSignal): Promise<void> {
  const w = new LocalWatch(server, key, undefined, rev, signal);
  try {
    for (;;) {
      const { events } = await w.next();
      if (events.some((e) => e.value === null)) return;
    }
  } finally {
    w.close();
  }
}

/**
 * Waits until no key under prefix has a create revision <= maxCreateRev (concurrency's waitDeletes):
 * each round waits for the newest such key to go. Returns the header of the last read.
 */
export async function waitDeletes(server: EtcdServer, prefix: string, maxCreateRev: number, signal: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    if (signal.aborted) throw Canceled();
    const { kv, rev } = byCreate(server, prefix, 'last', maxCreateRev);
    if (!kv) return server.header(rev);
    await waitDelete(server, kv.key, rev, signal);
  }
}

/** An AbortSignal that fires when the client abandons the call. */
export function abortedWith(call: { on(event: 'cancelled', f: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  return ac.signal;
}

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
