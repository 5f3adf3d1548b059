// Client-side coordination recipes, as etcd's clientv3/concurrency: a Session (a lease kept alive),
// a Mutex and an Election, built on KV, Watch and Lease only. The keys are etcd's, so these locks and
// elections interoperate with etcdctl, Go clients and the server's Lock/Election services:
//
//   a contender's key is <name>/<session lease in %x>, put with that lease if absent;
//   the holder (leader) is the key under <name>/ with the lowest create revision;
//   a contender waits for the deletion of the newest key created before its own, until none is left.
import type { LeaseKeepAliveRequest } from '../api/gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse__Output } from '../api/gen/etcdserverpb/LeaseKeepAliveResponse.js';
import type { ResponseHeader__Output } from '../api/gen/etcdserverpb/ResponseHeader.js';
import type { KeyValue__Output } from '../api/gen/mvccpb/KeyValue.js';
import { prefixRangeEnd, type EtcdClient, type RangeResponse__Output } from './client.js';
import type { DuplexStream } from './transport.js';

/** Go's context.Canceled text: what an abandoned wait fails with. */
export const CANCELED = 'context canceled';
export const ErrElectionNotLeader = 'election: not leader';
export const ErrElectionNoLeader = 'election: no leader';

function canceled(): Error {
  return new Error(CANCELED);
}

/** A lease kept alive every TTL/3 seconds until closed, or until the server says it is gone. */
export class Session {
  private stream: DuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private lastHeard = Date.now();
  private onDone!: () => void;
  /** Resolves when the lease is lost (expired, revoked, or not renewed in time). */
  readonly done = new Promise<void>((resolve) => (this.onDone = resolve));

  private constructor(
    readonly client: EtcdClient,
    readonly lease: string,
    readonly ttl: number,
  ) {}

  static async create(client: EtcdClient, ttl = 60): Promise<Session> {
    const g = await client.leaseGrant(String(ttl));
    const s = new Session(client, g.ID, Number(g.TTL));
    s.keepAlive();
    return s;
  }

  private keepAlive(): void {
    const period = Math.max(500, (this.ttl * 1000) / 3);
    const open = async (): Promise<void> => {
      try {
        const st = await this.client.conn.duplex<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output>('Lease', 'LeaseKeepAlive');
        if (this.ended) return st.cancel();
        this.stream = st;
        st.on('data', (r) => {
          if (Number(r.TTL) <= 0) return this.lose();
          this.lastHeard = Date.now();
        });
        st.on('error', () => {
          if (this.stream === st) this.stream = undefined;
        });
        st.on('end', () => {
          if (this.stream === st) this.stream = undefined;
        });
        st.write({ ID: this.lease });
      } catch {
        /* tried again on the next tick */
      }
    };
    void open();
    this.timer = setInterval(() => {
      if (Date.now() - this.lastHeard > this.ttl * 1000) return this.lose();
      if (this.stream) this.stream.write({ ID: this.lease });
      else void open();
    }, period);
    this.timer.unref();
  }

  private lose(): void {
    this.stop();
    this.onDone();
  }

  private stop(): void {
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  /** Stops keeping the lease alive and revokes it. */
  async close(): Promise<void> {
    this.stop();
    try {
      await this.client.leaseRevoke(this.lease);
    } finally {
      this.onDone();
    }
  }
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The newest key under prefix created at or before maxCreateRev (WithLastCreate + WithMaxCreateRev). */
function lastCreated(client: EtcdClient, prefix: string, maxCreateRev: bigint): Promise<RangeResponse__Output> {
  return client.range({
    key: b(prefix),
    range_end: prefixRangeEnd(b(prefix)),
    sort_target: 'CREATE',
    sort_order: 'DESCEND',
    max_create_revision: maxCreateRev.toString(),
    limit: 1,
  });
}

/** Resolves when key is deleted, watching from rev (concurrency's waitDelete). */
async function waitDelete(client: EtcdClient, key: Buffer, rev: bigint, signal: AbortSignal): Promise<void> {
  await nextEvent(client, key, undefined, rev, signal, 'DELETE');
}

/** Waits until no key under prefix has a create revision <= maxCreateRev; returns the last header. */
export async function waitDeletes(client: EtcdClient, prefix: string, maxCreateRev: bigint, signal: AbortSignal): Promise<ResponseHeader__Output | null> {
  for (;;) {
    if (signal.aborted) throw canceled();
    const r = await lastCreated(client, prefix, maxCreateRev);
    if (r.kvs.length === 0) return r.header;
    await waitDelete(client, r.kvs[0]!.key, BigInt(r.header?.revision ?? '0'), signal);
  }
}

/** Puts key with the session's lease unless it exists; returns its create revision and existing value. */
async function enqueue(s: Session, key: string, value: Buffer, firstOf?: string) {
  const owner = firstOf
    ? [{ request_range: { key: b(firstOf), range_end: prefixRangeEnd(b(firstOf)), sort_target: 'CREATE' as const, sort_order: 'ASCEND' as const, limit: 1 } }]
    : [];
  const r = await s.client.txn({
    compare: [{ result: 'EQUAL', target: 'CREATE', key: b(key), create_revision: '0' }],
    success: [{ request_put: { key: b(key), value, lease: s.lease } }, ...owner],
    failure: [{ request_range: { key: b(key) } }, ...owner],
  });
  let createRev = BigInt(r.header?.revision ?? '0');
  let existing: KeyValue__Output | undefined;
  if (!r.succeeded) {
    existing = r.responses[0]?.response_range?.kvs[0];
    createRev = BigInt(existing?.create_revision ?? '0');
  }
  const first = r.responses[1]?.response_range?.kvs[0];
  return { header: r.header, createRev, existing, first };
}

export class Mutex {
  private myKey = '';
  private myRev = 0n;
  private hdr: ResponseHeader__Output | null = null;
  private readonly prefix: string;

  constructor(
    private readonly session: Session,
    name: string,
  ) {
    this.prefix = name + '/';
  }

  key(): string {
    return this.myKey;
  }

  header(): ResponseHeader__Output | null {
    return this.hdr;
  }

  async lock(signal: AbortSignal): Promise<void> {
    this.myKey = this.prefix + BigInt(this.session.lease).toString(16);
    const r = await enqueue(this.session, this.myKey, Buffer.alloc(0), this.prefix);
    this.myRev = r.createRev;
    if (!r.first || BigInt(r.first.create_revision) === this.myRev) {
      this.hdr = r.header;
      return;
    }
    try {
      this.hdr = await waitDeletes(this.session.client, this.prefix, this.myRev - 1n, signal);
    } catch (e) {
      await this.unlock().catch(() => {});
      throw e;
    }
  }

  async unlock(): Promise<void> {
    await this.session.client.deleteRange({ key: b(this.myKey) });
    this.myKey = '\0';
    this.myRev = -1n;
  }
}

export class Election {
  private leaderKey = '';
  private leaderRev = 0n;
  private hdr: ResponseHeader__Output | null = null;
  private readonly prefix: string;

  constructor(
    private readonly session: Session,
    name: string,
  ) {
    this.prefix = name + '/';
  }

  key(): string {
    return this.leaderKey;
  }

  header(): ResponseHeader__Output | null {
    return this.hdr;
  }

  /** Becomes leader with value, waiting for every earlier candidate to go. */
  async campaign(value: Buffer, signal: AbortSignal): Promise<void> {
    const key = this.prefix + BigInt(this.session.lease).toString(16);
    const r = await enqueue(this.session, key, value);
    this.leaderKey = key;
    this.leaderRev = r.createRev;
    if (r.existing && !Buffer.from(r.existing.value).equals(value)) {
      try {
        await this.proclaim(value);
      } catch (e) {
        await this.resign().catch(() => {});
        throw e;
      }
    }
    try {
      await waitDeletes(this.session.client, this.prefix, this.leaderRev - 1n, signal);
    } catch (e) {
      if (signal.aborted) await this.resign().catch(() => {});
      throw e;
    }
    this.hdr = r.header;
  }

  async proclaim(value: Buffer): Promise<void> {
    if (!this.leaderKey) throw new Error(ErrElectionNotLeader);
    const r = await this.session.client.txn({
      compare: [{ result: 'EQUAL', target: 'CREATE', key: b(this.leaderKey), create_revision: this.leaderRev.toString() }],
      success: [{ request_put: { key: b(this.leaderKey), value, lease: this.session.lease } }],
    });
    if (!r.succeeded) {
      this.leaderKey = '';
      throw new Error(ErrElectionNotLeader);
    }
    this.hdr = r.header;
  }

  async resign(): Promise<void> {
    if (!this.leaderKey) return;
    const r = await this.session.client.txn({
      compare: [{ result: 'EQUAL', target: 'CREATE', key: b(this.leaderKey), create_revision: this.leaderRev.toString() }],
      success: [{ request_delete_range: { key: b(this.leaderKey) } }],
    });
    this.hdr = r.header;
    this.leaderKey = '';
  }
}

/** The current leader of election name (the first-created key under name/). */
export async function electionLeader(client: EtcdClient, name: string): Promise<RangeResponse__Output> {
  const prefix = b(name + '/');
  const r = await client.range({ key: prefix, range_end: prefixRangeEnd(prefix), sort_target: 'CREATE', sort_order: 'ASCEND', limit: 1 });
  if (r.kvs.length === 0) throw new Error(ErrElectionNoLeader);
  return r;
}

/**
 * Calls onLeader with the leader of election name, every change of its value, and each next leader,
 * until signal aborts (concurrency.Election.Observe). Rejects if a watch fails.
 */
export async function observeElection(
  client: EtcdClient,
  name: string,
  signal: AbortSignal,
  onLeader: (r: { header: ResponseHeader__Output | null; kv: KeyValue__Output }) => void,
): Promise<void> {
  const prefix = b(name + '/');
  while (!signal.aborted) {
    const r = await client.range({ key: prefix, range_end: prefixRangeEnd(prefix), sort_target: 'CREATE', sort_order: 'ASCEND', limit: 1 });
    let header = r.header;
    let kv = r.kvs[0];
    if (!kv) {
      ({ header, kv } = await nextEvent(client, prefix, prefixRangeEnd(prefix), BigInt(r.header?.revision ?? '0'), signal, 'PUT'));
      header = header ? { ...header, revision: kv.mod_revision } : header;
    }
    onLeader({ header, kv });
    let rev = BigInt(header?.revision ?? '0') + 1n;
    for (;;) {
      const ev = await nextEvent(client, kv.key, undefined, rev, signal, 'ANY');
      if (ev.type === 'DELETE') break;
      onLeader({ header: ev.header, kv: ev.kv });
      rev = BigInt(ev.kv.mod_revision) + 1n;
    }
  }
}

/** The first event (of the given type, or any) on [key, rangeEnd) from rev. */
function nextEvent(
  client: EtcdClient,
  key: Buffer,
  rangeEnd: Buffer | undefined,
  rev: bigint,
  signal: AbortSignal,
  want: 'PUT' | 'DELETE' | 'ANY',
): Promise<{ type: string; header: ResponseHeader__Output | null; kv: KeyValue__Output }> {
  return new Promise((resolve, reject) => {
    const w = client.watch({ key, rangeEnd, startRevision: rev.toString() }, (r) => {
      const e = r.events.find((x) => want === 'ANY' || x.type === want);
      if (e?.kv) {
        finish();
        resolve({ type: e.type, header: r.header, kv: e.kv });
      } else if (r.canceled) {
        finish();
        reject(new Error(r.cancel_reason || 'lost watcher waiting for delete'));
      }
    });
    const onAbort = (): void => {
      finish();
      reject(canceled());
    };
    const finish = (): void => {
      signal.removeEventListener('abort', onAbort);
      w.cancel();
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    w.done.catch((e: Error) => {
      finish();
      reject(e);
    });
  });
}
