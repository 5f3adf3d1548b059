// Watchers over the KV store. A watcher is synced when it has seen every revision up to the store's
// current one: each commit is handed to it directly. Otherwise it is unsynced and catches up from
// the store's history in batches, off the write path. A watcher whose stream cannot take more
// (backpressure) simply becomes unsynced and catches up once the stream drains, so a slow or stuck
// client never blocks writes or other watchers. Events reach a watcher in revision order, each once.
import type { KeyVersion } from './key_index.js';
import type { KVStore, RangeEnd } from './kvstore.js';

/** Where a watcher's events go: one per client watch stream. */
export interface WatchSink {
  /**
   * Delivers events (already filtered) at header revision rev. Returns false when the stream is
   * congested; the store then stops sending until resume() is called.
   */
  deliver(w: Watcher, events: KeyVersion[], rev: number): boolean;
  /**
   * The watcher's start revision is below the compacted revision compactRev: tell the client; the
   * store has forgotten the watcher.
   */
  compacted(w: Watcher, compactRev: number): void;
}

export interface WatchParams {
  key: string;
  end: RangeEnd;
  /** First revision to deliver; 0: the next one. A negative one is taken as etcd takes it. */
  startRev: number;
  noPut: boolean;
  noDelete: boolean;
}

export class Watcher {
  /** The next revision this watcher has not yet been given. */
  nextRev: number;
  synced = false;
  canceled = false;
  constructor(
    /** The watch id in its stream (decimal int64). */
    readonly id: string,
    readonly params: WatchParams,
    readonly sink: WatchSink & { congested: boolean },
  ) {
    this.nextRev = params.startRev;
  }

  matches(key: string): boolean {
    const { key: k, end } = this.params;
    if (end === undefined) return key === k;
    return key >= k && (end === '' || key < end);
  }

  /** Not dropped by the NOPUT / NODELETE filters. */
  passes(v: KeyVersion): boolean {
    return !(v.value === null ? this.params.noDelete : this.params.noPut);
  }

  accepts(v: KeyVersion): boolean {
    return this.passes(v) && this.matches(v.key);
  }
}

/**
 * The most distinct revisions of a watcher's events one catch-up response carries (etcd's
 * watchBatchMaxRevs). Revisions are counted before the filters, as etcd does; bytes are not limited.
 */
const CATCH_UP_MAX_REVS = 1000;

export class WatchableStore {
  private readonly singleKey = new Map<string, Set<Watcher>>();
  private readonly ranged = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private catchUpScheduled = false;

  constructor(private readonly kv: KVStore) {
    kv.onCommit((changes, rev) => this.notify(changes, rev));
  }

  watcherCount(): number {
    let n = this.ranged.size + this.unsynced.size;
    for (const s of this.singleKey.values()) n += s.size;
    return n;
  }

  /** Registers a watcher; events from params.startRev (0: the next revision) on. */
  watch(id: string, params: WatchParams, sink: WatchSink & { congested: boolean }): Watcher {
    const startRev = params.startRev !== 0 ? params.startRev : this.kv.rev() + 1;
    const w = new Watcher(id, { ...params, startRev }, sink);
    if (startRev > this.kv.rev()) this.addSynced(w);
    else this.addUnsynced(w);
    return w;
  }

  cancel(w: Watcher): void {
    w.canceled = true;
    this.unsynced.delete(w);
    this.removeSynced(w);
  }

  private removeSynced(w: Watcher): void {
    if (w.params.end === undefined) {
      const set = this.singleKey.get(w.params.key);
      if (set) {
        set.delete(w);
        if (set.size === 0) this.singleKey.delete(w.params.key);
      }
    } else {
      this.ranged.delete(w);
    }
  }

  /** A congested sink drained: its unsynced watchers catch up. */
  resume(): void {
    this.scheduleCatchUp();
  }

  private addSynced(w: Watcher): void {
    w.synced = true;
    if (w.params.end === undefined) {
      let set = this.singleKey.get(w.params.key);
      if (!set) this.singleKey.set(w.params.key, (set = new Set()));
      set.add(w);
    } else {
      this.ranged.add(w);
    }
  }

  private addUnsynced(w: Watcher): void {
    if (w.synced) this.removeSynced(w);
    w.synced = false;
    this.unsynced.add(w);
    this.scheduleCatchUp();
  }

  private notify(changes: readonly KeyVersion[], rev: number): void {
    if (this.singleKey.size === 0 && this.ranged.size === 0) return;
    const batches = new Map<Watcher, KeyVersion[]>();
    const add = (w: Watcher, v: KeyVersion): void => {
      if (!w.accepts(v)) return;
      const b = batches.get(w);
      if (b) b.push(v);
      else batches.set(w, [v]);
    };
    for (const v of changes) {
      const set = this.singleKey.get(v.key);
      if (set) for (const w of set) add(w, v);
      for (const w of this.ranged) add(w, v);
    }
    const all = new Set<Watcher>([...this.ranged]);
    for (const v of changes) {
      const set = this.singleKey.get(v.key);
      if (set) for (const w of set) all.add(w);
    }
    for (const w of all) {
      // a watcher created with a future start revision waits for it
      if (rev < w.nextRev) continue;
      const events = batches.get(w);
      if (!events) {
        w.nextRev = rev + 1;
        continue;
      }
      if (w.sink.congested) {
        // a synced watcher has seen everything before rev (nextRev is only moved for the watchers
        // a commit touches); catch-up delivers rev itself once the stream drains
        w.nextRev = rev;
        this.addUnsynced(w);
        continue;
      }
      w.nextRev = rev + 1;
      w.sink.deliver(w, events, rev);
    }
  }

  private scheduleCatchUp(): void {
    if (this.catchUpScheduled || this.unsynced.size === 0) return;
    this.catchUpScheduled = true;
    setImmediate(() => {
      this.catchUpScheduled = false;
      this.catchUp();
    });
  }

  /** One catch-up step for every unsynced watcher whose stream can take more. */
  private catchUp(): void {
    const cur = this.kv.rev();
    const compactRev = this.kv.compactRev();
    let more = false;
    for (const w of [...this.unsynced]) {
      if (w.canceled) {
        this.unsynced.delete(w);
        continue;
      }
      if (w.sink.congested) continue;
      if (w.nextRev < compactRev) {
        this.unsynced.delete(w);
        w.canceled = true;
        w.sink.compacted(w, compactRev);
        continue;
      }
      if (w.nextRev > cur) {
        this.unsynced.delete(w);
        this.addSynced(w);
        continue;
      }
      if (w.nextRev < 1) {
        // a negative start revision at or above the compacted one (-1 before any compaction): etcd
        // reads the history from it as a backend key, where it is a huge unsigned number, past every
        // revision. Nothing is read; the watcher is synced from the next revision.
        w.nextRev = cur + 1;
        this.unsynced.delete(w);
        this.addSynced(w);
        continue;
      }
      const events: KeyVersion[] = [];
      let revs = 0;
      let lastRev = 0;
      let moreRev = 0;
      this.kv.forEachSince(w.nextRev, (v) => {
        if (!w.matches(v.key)) return true;
        if (v.main !== lastRev) {
          if (++revs > CATCH_UP_MAX_REVS) {
            moreRev = v.main;
            return false;
          }
          lastRev = v.main;
        }
        if (w.passes(v)) events.push(v);
        return true;
      });
      w.nextRev = moreRev !== 0 ? moreRev : cur + 1;
      if (events.length > 0) w.sink.deliver(w, events, cur);
      if (moreRev === 0) {
        this.unsynced.delete(w);
        this.addSynced(w);
      } else {
        more = true;
      }
    }
    if (more) this.scheduleCatchUp();
  }
}
