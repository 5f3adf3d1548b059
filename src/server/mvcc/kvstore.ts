// The multi-version key-value store: one global revision, every version of every key since the last
// compaction, reads at any revision still kept, and write transactions that each make one revision.
//
// It lives in memory; the storage backend keeps a durable copy (see storage/backend.ts) and the store
// is rebuilt from it at start-up with restore(). Keys and range ends are latin1 strings, one char per
// byte, so string order is byte order.
import { EtcdError } from '../../api/errors.js';
import { BTree } from './btree.js';
import { KeyHistory, type KeyVersion } from './key_index.js';

/**
 * The end of a range. undefined: the key alone. '': every key >= key (etcd's "\0"). Otherwise the
 * half-open interval [key, end).
 */
export type RangeEnd = string | undefined;

export interface RangeOptions {
  /** At most this many versions (0: no limit); count still counts every match. */
  limit?: number;
  /** Read at this revision; 0 or absent: the newest. */
  rev?: number;
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyVersion[];
  count: number;
  /** The store's revision when read (the header revision), not the revision read at. */
  rev: number;
}

/** Told about every committed write transaction, in revision order. */
export type CommitListener = (changes: readonly KeyVersion[], rev: number) => void;

export class KVStore {
  /** Every key with a kept version, in key order: what ranges walk. */
  private readonly index: BTree<string, KeyHistory> = new BTree<string, KeyHistory>();
  /** The same histories by key: point reads and writes skip the tree walk (a hash lookup instead). */
  private readonly byKey = new Map<string, KeyHistory>();
  /** Every version since the compacted revision, in revision order: what watchers replay. */
  private history: KeyVersion[] = [];
  private currentRev = 1;
  /** -1 until the first compaction, as in etcd: compacting revision 0 of a new store succeeds. */
  private compactedRev = -1;
  private readonly listeners: CommitListener[] = [];
  private writing = false;

  rev(): number {
    return this.currentRev;
  }

  compactRev(): number {
    return this.compactedRev;
  }

  /** Number of keys with at least one kept version (live or tombstone). */
  keyCount(): number {
    return this.index.size;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Reads [key, end) at opts.rev. Throws etcd's Compacted or FutureRev errors. */
  range(key: string, end: RangeEnd, opts: RangeOptions = {}): RangeResult {
    const rev = opts.rev && opts.rev > 0 ? opts.rev : this.currentRev;
    if (rev > this.currentRev) throw EtcdError.of('FutureRev');
    if (rev < this.compactedRev) throw EtcdError.of('Compacted');
    return this.rangeAt(key, end, rev, opts.limit ?? 0, opts.countOnly ?? false, this.currentRev);
  }

  /** Range without revision checks: used inside write transactions and by the store itself. */
  rangeAt(key: string, end: RangeEnd, rev: number, limit: number, countOnly: boolean, headerRev: number): RangeResult {
    const kvs: KeyVersion[] = [];
    let count = 0;
    if (end === undefined) {
      const v = this.byKey.get(key)?.liveAt(rev);
      if (v) {
        count = 1;
        if (!countOnly) kvs.push(v);
      }
      return { kvs, count, rev: headerRev };
    }
    if (end !== '' && end <= key) return { kvs, count, rev: headerRev };
    const visit = (_k: string, h: KeyHistory): void => {
      const v = h.liveAt(rev);
      if (!v) return;
      count++;
      if (!countOnly && (limit <= 0 || kvs.length < limit)) kvs.push(v);
    };
    if (end === '') {
      for (const [k, h] of this.index.entries(key)) visit(k, h);
    } else {
      this.index.forRange(key, end, false, visit);
    }
    return { kvs, count, rev: headerRev };
  }

  /**
   * Calls f with every version with main revision >= fromRev, in revision order, until f returns
   * false. What watchers replay: the versions since the compacted revision.
   */
  forEachSince(fromRev: number, f: (v: KeyVersion) => boolean): void {
    const h = this.history;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (h[mid].main < fromRev) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < h.length; i++) if (!f(h[i])) return;
  }

  /**
   * Every version the store keeps (what a backend holds after compaction), in revision order. Unlike
   * forEachSince, this includes the versions below the compacted revision that are still visible.
   */
  keptVersions(): KeyVersion[] {
    const out: KeyVersion[] = [];
    this.index.forEachPair((_k, h) => {
      for (const v of h.versions) out.push(v);
    });
    return out.sort((a, b) => a.main - b.main || a.sub - b.sub);
  }

  /**
   * A watcher's prev_kv for an event: the key as a read at the revision before the event's sees it,
   * as etcd reads it. Nothing when that revision is compacted. An earlier change of the key in the
   * same transaction does not count (a put and a from-key delete of one key can share a txn).
   */
  previousOf(v: KeyVersion): KeyVersion | undefined {
    const rev = v.main - 1;
    if (rev < this.compactedRev) return undefined;
    return this.byKey.get(v.key)?.liveAt(rev);
  }

  /** Starts the one write transaction; it must end before the next starts. */
  write(): WriteTxn {
    if (this.writing) throw new Error('mvcc: a write transaction is already open');
    this.writing = true;
    return new WriteTxn(this, this.currentRev);
  }

  /** Called by WriteTxn.end. */
  commit(changes: KeyVersion[]): number {
    this.writing = false;
    if (changes.length === 0) return this.currentRev;
    this.currentRev++;
    for (const c of changes) this.history.push(c);
    for (const l of this.listeners) l(changes, this.currentRev);
    return this.currentRev;
  }

  /** Records one new version in the index (write transactions only). */
  addVersion(v: KeyVersion): void {
    let h = this.byKey.get(v.key);
    if (!h) {
      h = new KeyHistory(v.key);
      this.index.set(v.key, h);
      this.byKey.set(v.key, h);
    }
    const wasLive = (h.latest()?.value ?? null) !== null;
    h.versions.push(v);
    this.live += (v.value !== null ? 1 : 0) - (wasLive ? 1 : 0);
  }

  /** Keys that exist now (their newest version is not a tombstone); compaction does not change it. */
  liveKeyCount(): number {
    return this.live;
  }

  private live = 0;

  latestLive(key: string): KeyVersion | undefined {
    const v = this.byKey.get(key)?.latest();
    return v && v.value !== null ? v : undefined;
  }

  /** Live keys in [key, end) at the newest state, for deletes. */
  liveInRange(key: string, end: RangeEnd): KeyVersion[] {
    const out: KeyVersion[] = [];
    if (end === undefined) {
      const v = this.latestLive(key);
      if (v) out.push(v);
      return out;
    }
    if (end !== '' && end <= key) return out;
    const visit = (_k: string, h: KeyHistory): void => {
      const v = h.latest();
      if (v && v.value !== null) out.push(v);
    };
    if (end === '') for (const [k, h] of this.index.entries(key)) visit(k, h);
    else this.index.forRange(key, end, false, visit);
    return out;
  }

  /**
   * Compacts at rev: afterwards reads below rev fail, and versions no read at or above rev can see
   * are gone. Returns the removed versions for the backend. Throws Compacted or FutureRev as etcd.
   */
  compact(rev: number): KeyVersion[] {
    if (rev <= this.compactedRev) throw EtcdError.of('Compacted');
    if (rev > this.currentRev) throw EtcdError.of('FutureRev');
    return this.compactTo(rev);
  }

  private compactTo(rev: number): KeyVersion[] {
    this.compactedRev = rev;
    const removed: KeyVersion[] = [];
    const emptied: string[] = [];
    this.index.forEachPair((k, h) => {
      const gone = h.compact(rev);
      for (const g of gone) removed.push(g);
      if (h.isEmpty()) emptied.push(k);
    });
    for (const k of emptied) {
      this.index.delete(k);
      this.byKey.delete(k);
    }
    // The watch history keeps revision rev itself (a watcher may start at the compacted revision),
    // but only what the index keeps of it, as etcd replays what its backend keeps: no tombstone, and
    // no put whose key a later change of the same txn deleted (a from-key delete can).
    const gone = new Set(removed);
    let cut = 0;
    while (cut < this.history.length && this.history[cut].main < rev) cut++;
    this.history = this.history.slice(cut).filter((v) => v.main !== rev || !gone.has(v));
    return removed;
  }

  /**
   * Rebuilds the store from the backend's versions (in revision order) and its saved revisions.
   * Only for a fresh store.
   */
  restore(versions: Iterable<KeyVersion>, rev: number, compactRev: number): void {
    let maxRev = 1;
    for (const v of versions) {
      this.addVersion(v);
      this.history.push(v);
      if (v.main > maxRev) maxRev = v.main;
    }
    this.currentRev = Math.max(rev, maxRev);
    this.compactedRev = compactRev;
  }
}

/** A write transaction: every change in it shares one main revision, with sub revisions in order. */
export class WriteTxn {
  readonly changes: KeyVersion[] = [];
  private ended = false;
  constructor(private readonly store: KVStore, readonly beginRev: number) {}

  /** The revision this transaction's reads see, and its writes make. */
  private readRev(): number {
    return this.changes.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  /** The header revision of a response made inside this transaction. */
  rev(): number {
    return this.readRev();
  }

  range(key: string, end: RangeEnd, opts: RangeOptions = {}): RangeResult {
    const cur = this.readRev();
    const rev = opts.rev && opts.rev > 0 ? opts.rev : cur;
    if (rev > cur) throw EtcdError.of('FutureRev');
    if (rev < this.store.compactRev()) throw EtcdError.of('Compacted');
    return this.store.rangeAt(key, end, rev, opts.limit ?? 0, opts.countOnly ?? false, cur);
  }

  /** The live version of key as this transaction sees it (its own changes included). */
  latestLive(key: string): KeyVersion | undefined {
    return this.store.latestLive(key);
  }

  /**
   * Puts key; returns the version it replaced, if live. prev, when given, must be latestLive(key)
   * (it saves the caller's second lookup).
   */
  put(key: string, value: Buffer, lease: string, prev = this.store.latestLive(key)): { prev: KeyVersion | undefined; kv: KeyVersion } {
    const main = this.beginRev + 1;
    const kv: KeyVersion = {
      key,
      main,
      sub: this.changes.length,
      createRev: prev ? prev.createRev : main,
      version: prev ? prev.version + 1 : 1,
      value,
      lease,
    };
    this.store.addVersion(kv);
    this.changes.push(kv);
    return { prev, kv };
  }

  /** Deletes the live keys in [key, end); returns the versions deleted. */
  deleteRange(key: string, end: RangeEnd): KeyVersion[] {
    const live = this.store.liveInRange(key, end);
    const main = this.beginRev + 1;
    for (const v of live) {
      const tomb: KeyVersion = { key: v.key, main, sub: this.changes.length, createRev: 0, version: 0, value: null, lease: '0' };
      this.store.addVersion(tomb);
      this.changes.push(tomb);
    }
    return live;
  }

  /** Ends the transaction; returns the store revision after it. */
  end(): number {
    if (this.ended) throw new Error('mvcc: write transaction ended twice');
    this.ended = true;
    return this.store.commit(this.changes);
  }
}
