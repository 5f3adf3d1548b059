// Watch service: one ServerWatchStream per client stream, holding many watchers. It creates and
// cancels watchers in the watchable store, turns their events into WatchResponses (with prev_kv and
// fragmentation when asked), and tells the store when the stream is congested so a slow client
// falls behind instead of holding up anyone else.
import type * as grpc from '@grpc/grpc-js';
import type { WatchCreateRequest__Output } from '../../api/gen/etcdserverpb/WatchCreateRequest.js';
import type { WatchHandlers } from '../../api/gen/etcdserverpb/Watch.js';
import type { WatchRequest__Output } from '../../api/gen/etcdserverpb/WatchRequest.js';
import type { WatchResponse } from '../../api/gen/etcdserverpb/WatchResponse.js';
import type { Event } from '../../api/gen/mvccpb/Event.js';
import type { KeyValue } from '../../api/gen/mvccpb/KeyValue.js';
import type { ResponseHeader } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import { keyOf, num, rangeEndOf, toKeyValue, tombstoneKeyValue } from '../apply/applier.js';
import { varintLength } from '../storage/codec.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import type { Watcher, WatchSink } from '../mvcc/watchable_store.js';
import type { EtcdServer } from '../server.js';

/** Sent as watch_id when a response belongs to no watcher (etcd's clientv3.InvalidWatchID). */
const INVALID_WATCH_ID = -1;
/**
 * Responses a stream holds that the client has not yet taken before its watchers fall behind (and
 * catch up later, several revisions to a response): etcd's watch stream channel (mvcc chanBufLen).
 * Node's own stream buffer says "full" at 16, which would merge responses far sooner than etcd does.
 */
const STREAM_BUFFER = 128;
/** etcd lets a watch response grow this much past --max-request-bytes before fragmenting it. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** A watch id as the int64 it is on the wire, in decimal: ids past 2^53 stay exact. */
function watchIdOf(v: string | number | null | undefined): string {
  return BigInt.asIntN(64, BigInt(v ?? 0)).toString();
}

interface WatcherOpts {
  prevKv: boolean;
  fragment: boolean;
  progressNotify: boolean;
  /** An event went out since the last progress tick. */
  sentSinceTick: boolean;
  /**
   * Canceled by a compaction. As in etcd, the id stays taken in its stream until the client cancels
   * it: a new watcher cannot have it, and the cancel is answered.
   */
  compacted: boolean;
}

class ServerWatchStream implements WatchSink {
  congested = false;
  /** Responses written whose write has not yet completed. */
  private pending = 0;
  private readonly watchers = new Map<string, { w: Watcher; opts: WatcherOpts }>();
  private nextId = 0;
  private closed = false;
  private readonly progressTimer: NodeJS.Timeout;

  constructor(
    private readonly server: EtcdServer,
    private readonly call: grpc.ServerDuplexStream<WatchRequest__Output, WatchResponse>,
  ) {
    call.on('data', (req: WatchRequest__Output) => this.onRequest(req));
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('close', () => this.close());
    this.progressTimer = setInterval(() => this.progressTick(), server.cfg.watchProgressNotifyIntervalMs);
    this.progressTimer.unref();
  }

  private send(resp: WatchResponse): void {
    if (this.closed) return;
    this.pending++;
    this.call.write(resp, () => {
      this.pending--;
      if (this.congested && this.pending < STREAM_BUFFER) {
        this.congested = false;
        this.server.watchable.resume();
      }
    });
    if (this.pending >= STREAM_BUFFER) this.congested = true;
  }

  private onRequest(req: WatchRequest__Output): void {
    if (this.closed) return;
    if (req.create_request) this.create(req.create_request);
    else if (req.cancel_request) this.cancel(watchIdOf(req.cancel_request.watch_id));
    else if (req.progress_request) {
      this.send({ header: this.server.header(), watch_id: INVALID_WATCH_ID });
    }
  }

  private create(c: WatchCreateRequest__Output): void {
    const key = c.key.length === 0 ? '\0' : keyOf(c.key);
    const rev = this.server.kv.rev();
    const end = rangeEndOf(c.range_end);
    if (end !== undefined && end !== '' && end <= key) {
      this.send({
        header: this.server.header(rev),
        watch_id: INVALID_WATCH_ID,
        created: true,
        canceled: true,
        cancel_reason: 'mvcc: watcher range is empty',
      });
      return;
    }
    let id = watchIdOf(c.watch_id);
    if (id !== '0' && this.watchers.has(id)) {
      this.send({
        header: this.server.header(rev),
        watch_id: INVALID_WATCH_ID,
        created: true,
        canceled: true,
        cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream',
      });
      return;
    }
    if (id === '0') {
      while (this.watchers.has(String(this.nextId))) this.nextId++;
      id = String(this.nextId++);
    }
    const filters = c.filters.map(String);
    const opts: WatcherOpts = {
      prevKv: c.prev_kv,
      fragment: c.fragment,
      progressNotify: c.progress_notify,
      sentSinceTick: false,
      compacted: false,
    };
    // "created" goes out before any event: events only flow from the next commit or catch-up turn
    this.send({ header: this.server.header(rev), watch_id: id, created: true });
    const w = this.server.watchable.watch(
      id,
      {
        key,
        end,
        startRev: num(c.start_revision),
        noPut: filters.includes('NOPUT') || filters.includes('0'),
        noDelete: filters.includes('NODELETE') || filters.includes('1'),
      },
      this,
    );
    this.watchers.set(id, { w, opts });
  }

  private cancel(id: string): void {
    const entry = this.watchers.get(id);
    if (!entry) return;
    if (!entry.opts.compacted) this.server.watchable.cancel(entry.w);
    this.watchers.delete(id);
    this.send({ header: this.server.header(), watch_id: id, canceled: true });
  }

  deliver(w: Watcher, events: KeyVersion[], rev: number): boolean {
    const entry = this.watchers.get(w.id);
    if (!entry) return !this.congested;
    entry.opts.sentSinceTick = true;
    const evs: Event[] = events.map((v) => this.toEvent(v, entry.opts.prevKv));
    const resp: WatchResponse = { header: this.server.header(rev), watch_id: w.id, events: evs };
    if (entry.opts.fragment) this.sendFragmented(resp, evs);
    else this.send(resp);
    return !this.congested;
  }

  compacted(w: Watcher, compactRev: number): void {
    const entry = this.watchers.get(w.id);
    if (entry) entry.opts.compacted = true;
    // etcd sends this one with revision 0 in the header, and says canceled when compact_revision is
    // not 0 (a negative start revision is "compacted" at 0 after a compaction to revision 0)
    this.send({ header: this.server.header(0), watch_id: w.id, compact_revision: compactRev, canceled: compactRev !== 0 });
  }

  private toEvent(v: KeyVersion, withPrev: boolean): Event {
    const ev: Event =
      v.value === null ? { type: 'DELETE', kv: tombstoneKeyValue(v) } : { type: 'PUT', kv: toKeyValue(v) };
    if (withPrev && !(v.value !== null && v.version === 1)) {
      const prev = this.server.kv.previousOf(v);
      if (prev) ev.prev_kv = toKeyValue(prev);
    }
    return ev;
  }

  /**
   * etcd's sendFragments: a response of at least --max-request-bytes + 512 KiB (its encoded size,
   * as etcd's gogoproto Size() counts it) with two events or more goes out in parts, each filled
   * while under that size, all but the last marked fragment.
   */
  private sendFragmented(resp: WatchResponse, evs: Event[]): void {
    const limit = this.server.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES;
    const sizes = evs.map((e) => fieldSize(eventSize(e)));
    const base = watchResponseSize({ ...resp, events: [] });
    if (base + sizes.reduce((a, b) => a + b, 0) < limit || evs.length < 2) {
      this.send(resp);
      return;
    }
    const fragBase = base + 2; // fragment: true
    let i = 0;
    while (i < evs.length) {
      let size = fragBase;
      const start = i;
      for (; i < evs.length; i++) {
        size += sizes[i];
        if (i > start && size >= limit) break;
      }
      this.send({ ...resp, events: evs.slice(start, i), fragment: i < evs.length });
    }
  }

  private progressTick(): void {
    for (const { w, opts } of this.watchers.values()) {
      if (!opts.progressNotify || opts.compacted) continue;
      if (w.synced && !opts.sentSinceTick) this.send({ header: this.server.header(), watch_id: w.id });
      opts.sentSinceTick = false;
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.progressTimer);
    for (const { w, opts } of this.watchers.values()) if (!opts.compacted) this.server.watchable.cancel(w);
    this.watchers.clear();
  }
}

export function watchHandlers(server: EtcdServer): WatchHandlers {
  return {
    Watch: (call) => {
      new ServerWatchStream(server, call);
    },
  };
}

// ---- encoded sizes as gogoproto's Size() counts them: fields at their zero value are left out ----

/** A uint64/int64 varint field's value bytes (a negative int64 takes 10). */
function intSize(v: string | number | null | undefined): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v === 0 ? 0 : varintLength(v);
  const b = BigInt.asUintN(64, BigInt(v));
  if (b === 0n) return 0;
  let n = 1;
  for (let x = b >> 7n; x > 0n; x >>= 7n) n++;
  return n;
}

/** A one-byte tag, and the value's varint, when the value is not 0. */
function intField(v: string | number | null | undefined): number {
  const n = intSize(v);
  return n === 0 ? 0 : 1 + n;
}

/** A one-byte tag, the length and the bytes of a length-delimited field of len bytes. */
function fieldSize(len: number): number {
  return 1 + varintLength(len) + len;
}

function bytesField(b: Buffer | Uint8Array | string | null | undefined): number {
  const len = b === undefined || b === null ? 0 : typeof b === 'string' ? Buffer.byteLength(b, 'latin1') : b.length;
  return len === 0 ? 0 : fieldSize(len);
}

function keyValueSize(kv: KeyValue): number {
  return (
    bytesField(kv.key) + intField(kv.create_revision as number) + intField(kv.mod_revision as number) +
    intField(kv.version as number) + bytesField(kv.value) + intField(kv.lease as string)
  );
}

function eventSize(e: Event): number {
  return (
    (e.type === 'DELETE' ? 2 : 0) +
    (e.kv ? fieldSize(keyValueSize(e.kv)) : 0) +
    (e.prev_kv ? fieldSize(keyValueSize(e.prev_kv)) : 0)
  );
}

function headerSize(h: ResponseHeader): number {
  return intField(h.cluster_id as string) + intField(h.member_id as string) + intField(h.revision as number) + intField(h.raft_term as number);
}

function watchResponseSize(r: WatchResponse): number {
  return (
    (r.header ? fieldSize(headerSize(r.header)) : 0) + intField(r.watch_id as string) + (r.created ? 2 : 0) +
    (r.canceled ? 2 : 0) + intField(r.compact_revision as number) + bytesField(r.cancel_reason) + (r.fragment ? 2 : 0) +
    (r.events ?? []).reduce((a, e) => a + fieldSize(eventSize(e)), 0)
  );
}
