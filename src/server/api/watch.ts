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
import { keyOf, num, rangeEndOf, toKeyValue, tombstoneKeyValue } from '../apply/applier.js';
import type { KeyVersion } from '../mvcc/key_index.js';
import type { Watcher, WatchSink } from '../mvcc/watchable_store.js';
import type { EtcdServer } from '../server.js';

/** Sent as watch_id when a response belongs to no watcher (etcd's clientv3.InvalidWatchID). */
const INVALID_WATCH_ID = -1;

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
    const ok = this.call.write(resp);
    if (!ok && !this.congested) {
      this.congested = true;
      this.call.once('drain', () => {
        this.congested = false;
        this.server.watchable.resume();
      });
    }
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

  /** Splits a response whose events exceed the request size limit; all but the last say fragment. */
  private sendFragmented(resp: WatchResponse, evs: Event[]): void {
    const limit = this.server.cfg.maxRequestBytes;
    const size = (e: Event): number =>
      64 + ((e.kv?.key as Buffer | undefined)?.length ?? 0) + ((e.kv?.value as Buffer | undefined)?.length ?? 0) +
      ((e.prev_kv?.value as Buffer | undefined)?.length ?? 0) + ((e.prev_kv?.key as Buffer | undefined)?.length ?? 0);
    const total = evs.reduce((s, e) => s + size(e), 0);
    if (total <= limit || evs.length <= 1) {
      this.send(resp);
      return;
    }
    let chunk: Event[] = [];
    let chunkSize = 0;
    const chunks: Event[][] = [];
    for (const e of evs) {
      const s = size(e);
      if (chunk.length > 0 && chunkSize + s > limit) {
        chunks.push(chunk);
        chunk = [];
        chunkSize = 0;
      }
      chunk.push(e);
      chunkSize += s;
    }
    chunks.push(chunk);
    chunks.forEach((c, i) => this.send({ ...resp, events: c, fragment: i < chunks.length - 1 }));
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
