// The storage backend: an LMDB B+tree (through lmdb-js), the role bbolt plays in etcd. It holds the
// applied state, not the log: every key version by revision, the store's revisions, the index of the
// last log entry applied (consistentIndex), membership, and leases.
//
// Layout, one LMDB environment with named databases:
//   kv:    16-byte key = main revision (u64 BE) + sub revision (u64 BE), so LMDB order is revision order;
//          value, binary (format 1):
//            u8 format = 1 | u8 flags (bit 0: tombstone) | u64 BE create revision | u64 BE version |
//            u8 n | lease ID, n ASCII decimal digits | u32 BE key length | key | value (the rest)
//   meta:  consistentIndex, rev, compactRev, clusterId, memberId, ... (string keys)
//   lease: lease ID (decimal string) -> {ttl}
//
// Writes are asynchronous: lmdb-js batches them into transactions and syncs them on its own thread,
// in order. Losing the newest of them in a crash is harmless because the write-ahead log still holds
// every entry after the consistentIndex the backend last made durable, and they are applied again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { KeyVersion } from '../mvcc/key_index.js';
import { fsyncDir } from './fsync.js';
import { checkLmdbFile } from './lmdb_check.js';

export class BackendError extends Error {
  constructor(message: string) {
    super(`backend: ${message}`);
    this.name = 'BackendError';
  }
}

const VERSION_FORMAT = 1;
const TOMBSTONE = 1;

function writeU64(b: Buffer, off: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / 0x100000000), off);
  b.writeUInt32BE(n >>> 0, off + 4);
}

function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * 0x100000000 + b.readUInt32BE(off + 4);
}

/** One key version as stored in the kv database (layout above). */
export function encodeVersion(v: KeyVersion): Buffer {
  const keyLen = v.key.length; // latin1: one byte per char
  const valLen = v.value ? v.value.length : 0;
  const b = Buffer.allocUnsafe(19 + v.lease.length + 4 + keyLen + valLen);
  b[0] = VERSION_FORMAT;
  b[1] = v.value === null ? TOMBSTONE : 0;
  writeU64(b, 2, v.createRev);
  writeU64(b, 10, v.version);
  b[18] = v.lease.length;
  let off = 19 + b.write(v.lease, 19, 'latin1');
  b.writeUInt32BE(keyLen, off);
  off += 4;
  off += b.write(v.key, off, 'latin1');
  if (v.value) v.value.copy(b, off);
  return b;
}

/** Reads back encodeVersion's bytes for revision main/sub; throws BackendError if they are not that. */
export function decodeVersion(b: Buffer, main: number, sub: number): KeyVersion {
  const bad = (why: string): BackendError => new BackendError(`corrupt record at revision ${main}/${sub}: ${why}`);
  if (b.length < 23) throw bad(`${b.length} bytes`);
  if (b[0] !== VERSION_FORMAT) throw bad(`unknown record format ${b[0]}`);
  const leaseLen = b[18];
  let off = 19 + leaseLen;
  if (off + 4 > b.length) throw bad('lease runs past the end');
  const lease = b.toString('latin1', 19, off);
  const keyLen = b.readUInt32BE(off);
  off += 4;
  if (off + keyLen > b.length) throw bad('key runs past the end');
  const tomb = (b[1] & TOMBSTONE) !== 0;
  return {
    key: b.toString('latin1', off, off + keyLen),
    main,
    sub,
    createRev: readU64(b, 2),
    version: readU64(b, 10),
    value: tomb ? null : Buffer.from(b.subarray(off + keyLen)),
    lease,
  };
}

export interface AppliedState {
  consistentIndex: number;
  rev: number;
  compactRev: number;
}

const DEFRAG_SUFFIX = '.defrag';
/** Versions copied per transaction by a defragmentation, between turns of the event loop. */
const DEFRAG_BATCH = 2000;


export function revisionKey(main: number, sub: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeU64(b, 0, main);
  writeU64(b, 8, sub);
  return b;
}

export class Backend {
  private constructor(
    private root: RootDatabase,
    private kv: Database<Buffer, Buffer>,
    private meta: Database<unknown, string>,
    private leaseDb: Database<unknown, string>,
    private readonly file: string,
  ) {}

  static open(file: string): Backend {
    // a defragmentation cut short by a crash leaves its unfinished copy; the database itself is whole
    fs.rmSync(file + DEFRAG_SUFFIX, { recursive: true, force: true });
    // LMDB maps the file and trusts it: a damaged one would crash the process (SIGBUS, SIGSEGV) in
    // lmdb-js, so its structure is checked first, with plain reads
    const data = path.extname(file) ? file : path.join(file, 'data.mdb'); // as lmdb-js names it
    const damage = checkLmdbFile(data);
    if (damage) throw new BackendError(`${data} is corrupt: ${damage}`);
    const dbs = Backend.openEnv(file);
    return new Backend(dbs.root, dbs.kv, dbs.meta, dbs.leases, file);
  }

  private static openEnv(file: string): {
    root: RootDatabase;
    kv: Database<Buffer, Buffer>;
    meta: Database<unknown, string>;
    leases: Database<unknown, string>;
  } {
    try {
      // lmdb-js batches the writes of one event-loop turn into one transaction, committed and synced
      // on its own thread. (Gathering several turns with eventTurnBatching: false stalled writes
      // after a large value here, so the default stays.)
      const root = open({ path: file, maxDbs: 8, compression: false });
      const kv = root.openDB<Buffer, Buffer>('kv', { keyEncoding: 'binary', encoding: 'binary' });
      const meta = root.openDB<unknown, string>('meta', {});
      const leases = root.openDB<unknown, string>('lease', {});
      // touch every database once so that a damaged file fails here, not mid-serve
      meta.get('consistentIndex');
      Backend.migrateLegacyRecords(root, kv);
      return { root, kv, meta, leases };
    } catch (e) {
      throw new BackendError(`cannot open ${file}: ${(e as Error).message}`);
    }
  }

  /**
   * Data dirs written before the binary layout (etcd-ts before 867c0d7) kept each version as a
   * msgpack map {k, c, v, val, l}: they are rewritten in the binary layout once, in one transaction,
   * at open. Anything that is neither is left for versions() to report as corrupt.
   */
  private static migrateLegacyRecords(root: RootDatabase, kv: Database<Buffer, Buffer>): void {
    let first: { value: Buffer } | undefined;
    for (const entry of kv.getRange({ limit: 1 })) first = entry;
    if (!first || (Buffer.isBuffer(first.value) && first.value[0] === VERSION_FORMAT)) return;
    const legacy = root.openDB<unknown, Buffer>('kv', { keyEncoding: 'binary' });
    root.transactionSync(() => {
      for (const { key, value } of legacy.getRange({})) {
        const v = value as { k?: Uint8Array; c?: number; v?: number; val?: Uint8Array | null; l?: string } | undefined;
        if (!v || typeof v !== 'object' || !v.k) continue;
        kv.putSync(
          key,
          encodeVersion({
            key: Buffer.from(v.k).toString('latin1'),
            main: readU64(key, 0),
            sub: readU64(key, 8),
            createRev: Number(v.c),
            version: Number(v.v),
            value: v.val == null ? null : Buffer.from(v.val),
            lease: String(v.l ?? '0'),
          }),
        );
      }
    });
  }

  /** The stored leases (read once at start-up by the lessor). */
  get leases(): Database<unknown, string> {
    return this.leaseDb;
  }

  /**
   * Rewrites the database compactly, as etcd's defragmentation rewrites bbolt's file: LMDB reuses
   * freed pages but never gives them back, so after a compaction the file keeps its size until
   * this runs. The caller must hold back save() until it resolves (the log keeps those entries).
   *
   * Every record is copied, in key order, into a new environment in <file>.defrag, which is synced
   * and closed; this environment is closed, and the copy's data file is renamed over the old one: a
   * rename is atomic, so a crash leaves either file whole; open() clears a leftover copy.
   *
   * (Not LMDB's own compacting copy, mdb_env_copy2 with MDB_CP_COMPACT, which lmdb-js offers as
   * backup(dir, true): writes after reopening such a copy in the same process made lmdb-js 3.5's LMDB
   * abort, `Assertion 'key.mv_size > 0' failed in mdb_page_alloc()`, within a few transactions
   * under a load of large values and deletes; the same file opened by a new process was fine.)
   */
  /** Writes every record of the three databases into a new environment at dir, in one transaction. */
  private async copyRecordsTo(dir: string): Promise<void> {
    const dbs = Backend.openEnv(dir);
    try {
      // The versions in pages of DEFRAG_BATCH, one transaction each, yielding to the event loop in
      // between (the database does not change meanwhile: saves are held back), appended in key
      // order (MDB_APPEND), so each page is filled before the next is started.
      let after: Buffer | undefined;
      for (;;) {
        const batch = [...this.kv.getRange(after === undefined ? { limit: DEFRAG_BATCH } : { start: after, exclusiveStart: true, limit: DEFRAG_BATCH })];
        if (batch.length === 0) break;
        dbs.root.transactionSync(() => {
          for (const { key, value } of batch) dbs.kv.putSync(key, value, { append: true });
        });
        after = batch[batch.length - 1].key;
        await new Promise((resolve) => setImmediate(resolve));
      }
      dbs.root.transactionSync(() => {
        for (const { key, value } of this.meta.getRange({})) dbs.meta.putSync(key, value);
        for (const { key, value } of this.leaseDb.getRange({})) dbs.leases.putSync(key, value);
      });
    } finally {
      await dbs.root.close();
    }
  }

  async defragment(): Promise<void> {
    await this.flushed();
    const tmp = this.file + DEFRAG_SUFFIX;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    // (a path without an extension: lmdb-js makes it a directory holding data.mdb, as this.file)
    const copyEnv = path.join(tmp, 'db');
    const copy = path.join(copyEnv, 'data.mdb');
    try {
      await this.copyRecordsTo(copyEnv);
      const fd = fs.openSync(copy, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      // no space for the copy, say: the database is untouched and still open
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    this.open = false;
    await this.root.close();
    try {
      fs.renameSync(copy, path.join(this.file, 'data.mdb'));
      fsyncDir(this.file);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
      // reopen whatever is there now: the copy, or the old file if the rename failed
      const dbs = Backend.openEnv(this.file);
      this.root = dbs.root;
      this.kv = dbs.kv;
      this.meta = dbs.meta;
      this.leaseDb = dbs.leases;
      this.open = true;
      this.sizeReadAt = 0;
    }
  }

  private open = true;

  /** False only if a defragmentation could not reopen the database: nothing can be saved then. */
  isOpen(): boolean {
    return this.open;
  }

  /**
   * What the backend holds: the index of the last log entry whose effects were saved, and the store
   * revisions after it. One record, written last by every save(), so it is never torn. Versions
   * above its rev belong to entries the log will replay: versions() leaves them out.
   */
  applied(): AppliedState {
    const a = this.meta.get('applied') as AppliedState | undefined;
    return a ?? { consistentIndex: 0, rev: 1, compactRev: -1 };
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  /** Durable before it returns: for identity written once at bootstrap. */
  putMetaSync(key: string, value: unknown): void {
    this.meta.putSync(key, value);
  }

  /** Every stored version up to the applied revision, in revision order. */
  *versions(): Generator<KeyVersion> {
    const upTo = this.applied().rev;
    for (const { key, value } of this.kv.getRange({})) {
      const k = key as Buffer;
      const main = readU64(k, 0);
      if (main > upTo) {
        // saved ahead of the applied record before a crash: the log replays its entry
        this.kv.remove(k);
        continue;
      }
      const sub = readU64(k, 8);
      if (!Buffer.isBuffer(value)) throw new BackendError(`corrupt record at revision ${main}/${sub}`);
      yield decodeVersion(value, main, sub);
    }
  }

  /**
   * Queues the effects of applied log entries up to state.consistentIndex; lmdb-js commits them in
   * order. Resolves once they are committed; rejects if the commit fails.
   */
  save(added: readonly KeyVersion[], removed: readonly KeyVersion[], state: AppliedState): Promise<void> {
    for (const v of added) this.kv.put(revisionKey(v.main, v.sub), encodeVersion(v));
    for (const v of removed) this.kv.remove(revisionKey(v.main, v.sub));
    for (const [id, value] of this.pendingLeases) {
      if (value === undefined) this.leaseDb.remove(id);
      else this.leaseDb.put(id, value);
    }
    this.pendingLeases = [];
    for (const [key, value] of this.pendingMeta) {
      if (value === undefined) this.meta.remove(key);
      else this.meta.put(key, value);
    }
    this.pendingMeta = [];
    // written last, in the same event-loop turn, so lmdb-js commits it in the same transaction
    const committed = this.meta.put('applied', { ...state });
    // the writes counted so far are in this transaction (or, if not applied yet, in the next one
    // a few ms later): once it is in the file, the file's size tells
    const moved = this.pendingSince;
    this.pendingSince = 0;
    this.pendingSaved += moved;
    const settled = (): void => {
      this.pendingSaved -= moved;
      this.sizeReadAt = 0;
    };
    committed.then(settled, settled);
    return committed.then(() => undefined);
  }

  /** Lease changes wait for the next save(), so they commit with the applied record they belong to. */
  putLease(id: string, value: unknown): void {
    this.pendingLeases.push([id, value]);
  }

  removeLease(id: string): void {
    this.pendingLeases.push([id, undefined]);
  }

  private pendingLeases: [string, unknown][] = [];

  /** A meta record (undefined: its removal) that belongs to the applied state: written by the next save(). */
  putMetaOnSave(key: string, value: unknown): void {
    this.pendingMeta.push([key, value]);
  }

  private pendingMeta: [string, unknown][] = [];

  /** Resolves when every queued write is committed and synced to disk. */
  async flushed(): Promise<void> {
    await this.root.committed;
    await this.root.flushed;
  }

  /** Size of the database file, re-read at most every 250 ms (it is checked on every write). */
  size(): number {
    const now = Date.now();
    if (now - this.sizeReadAt > 250) {
      this.sizeReadAt = now;
      this.cachedSize = this.statSize();
    }
    return this.cachedSize;
  }

  /**
   * The file's size plus what accepted writes not yet committed to it will add (by etcd's cost
   * estimates, see addPending): what the space quota is checked against, so that the writes
   * between two commits cannot run past the quota. After each commit the size is read again.
   */
  projectedSize(): number {
    return this.size() + this.pendingSaved + this.pendingSince;
  }

  /** Counts an accepted write's estimated size until the transaction holding it is committed. */
  addPending(bytes: number): void {
    this.pendingSince += bytes;
  }

  private sizeReadAt = 0;
  private cachedSize = 0;
  /** Estimated bytes of writes accepted since the last save(). */
  private pendingSince = 0;
  /** Estimated bytes of writes handed to lmdb-js and not committed yet. */
  private pendingSaved = 0;

  /** Size of the database file in bytes (lmdb-js keeps it as data.mdb inside the path). */
  private statSize(): number {
    for (const f of [path.join(this.file, 'data.mdb'), this.file]) {
      try {
        const st = fs.statSync(f);
        if (st.isFile()) return st.size;
      } catch {
        /* try the next */
      }
    }
    return 0;
  }

  /** Bytes in use by the B+tree (pages in use times page size). */
  sizeInUse(): number {
    try {
      const s = this.root.getStats() as { pageSize?: number; treeBranchPageCount?: number; treeLeafPageCount?: number; lastPageNumber?: number };
      if (s.pageSize && s.lastPageNumber !== undefined) return s.pageSize * (s.lastPageNumber + 1);
    } catch {
      /* fall through */
    }
    return this.size();
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.root.close();
  }
}
