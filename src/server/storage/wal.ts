// The write-ahead log: every accepted write is appended here, and made durable (fdatasync), before it
// is applied and acknowledged.
//
// Layout: <dir>/<seq>-<firstIndex>.wal, both 16 hex digits, seq counting segments from 0 and
// firstIndex the index of the segment's first record. A segment is cut once it passes segmentBytes.
// A record is a 16-byte header and its payload:
//
//   u32le payload length | u32le CRC-32 of (index bytes + payload) | u64le index | payload
//
// Indexes are consecutive across all segments. Appends are group-committed: every record appended
// while the previous batch is being written and synced goes out in the next single write + fdatasync.
// With opts.syncThread (the server's default) the main thread writes each event-loop turn's records
// into the page cache at once, and a dedicated thread (sync_worker.ts) runs fdatasync back to back,
// each covering everything written before it began. Without it the sync runs on libuv's pool and the
// next batch starts only when the main thread handles the last one's completion: measured here, the
// disk's own fdatasync took about 0.3 ms while start-to-callback took about 1.2 ms at 64 clients.
//
// A new segment is preallocated: extended to segmentBytes (zeros) and synced once, as etcd
// preallocates its 64 MB segments. Records then overwrite zeros and the file size never changes, so
// each fdatasync writes data only, not inode metadata (measured here: about 30% cheaper per sync).
// After the last record comes an all-zero tail, which is the log's clean end; a segment is cut back
// to its records when the next one starts.
//
// Reading back (open) checks every CRC. A record that fails at the very end of the last segment is a
// torn write from a crash (its write never completed, so it was never acknowledged): it is cut off
// with a warning. So is a last record that the end of the last segment's file cuts short, even one
// the backend already applied (as etcd repairs a WAL file that ends inside a record): the backend
// holds what it lost, and the log goes on after the backend's index in a new segment (a repair
// intent written before such a cut lets the next start finish it if a crash comes between the cut
// and the new segment). A bad record
// anywhere else is corruption and open fails with WALCorruptError rather than serve partial data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './fsync.js';
import type { SyncReport, SyncWorkerData } from './sync_worker.js';

export const WAL_HEADER_BYTES = 16;

/**
 * See flush(): batches of up to this many records sync inline, larger ones on the thread pool
 * (measured here: 2 beat 0, 4 and 8 at 1 and 16 clients, and tied at 64 and 256).
 */
const INLINE_SYNC_MAX_BATCH = 2;

export class WALCorruptError extends Error {
  constructor(message: string) {
    super(`wal: ${message}`);
    this.name = 'WALCorruptError';
  }
}

export interface WALOptions {
  /** Cut a new segment once the current one is at least this large. */
  segmentBytes: number;
  /** Syncs allowed to run at once; default 1 (measured here: overlapping syncs made smaller batches and less throughput at 64-256 clients). */
  maxInflightSyncs?: number;
  /** Batches of at most this many records sync on the main thread; default INLINE_SYNC_MAX_BATCH. */
  inlineSyncMaxBatch?: number;
  /** Extend new segments to segmentBytes up front (see above); default true. */
  preallocate?: boolean;
  /** Told after each batch is durable: how long its sync took (seconds) and how many bytes it wrote. */
  observe?: (syncSeconds: number, bytes: number) => void;
  /** Told about repairs (torn tails); defaults to nothing. */
  warn?: (msg: string) => void;
  /**
   * Sync on a dedicated thread (sync_worker.ts) instead of libuv's pool: batches are written as
   * soon as they gather, and the thread starts the next fdatasync the moment the last one ends,
   * without waiting for the main thread. Default false; the server turns it on.
   */
  syncThread?: boolean;
}

export const DEFAULT_WAL_OPTIONS: WALOptions = { segmentBytes: 64 * 1024 * 1024 };

export interface WALRecord {
  index: number;
  data: Buffer;
}

interface Segment {
  seq: number;
  firstIndex: number;
  file: string;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export function encodeRecord(index: number, data: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(WAL_HEADER_BYTES + data.length);
  buf.writeUInt32LE(data.length, 0);
  buf.writeBigUInt64LE(BigInt(index), 8);
  data.copy(buf, WAL_HEADER_BYTES);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

type Decoded = { ok: true; record: WALRecord; next: number } | { ok: false; reason: string };

function decodeAt(buf: Buffer, off: number): Decoded {
  if (buf.length - off < WAL_HEADER_BYTES) return { ok: false, reason: 'short header' };
  const len = buf.readUInt32LE(off);
  const sum = buf.readUInt32LE(off + 4);
  if (len === 0 && sum === 0) return { ok: false, reason: 'zero header' };
  const end = off + WAL_HEADER_BYTES + len;
  if (end > buf.length) return { ok: false, reason: 'short payload' };
  if (crc32(buf.subarray(off + 8, end)) !== sum) return { ok: false, reason: 'crc mismatch' };
  const index = Number(buf.readBigUInt64LE(off + 8));
  return { ok: true, record: { index, data: Buffer.from(buf.subarray(off + WAL_HEADER_BYTES, end)) }, next: end };
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether buf holds only zero bytes from off on: the unwritten, preallocated end of a segment. */
function zeroFrom(buf: Buffer, off: number): boolean {
  return dataEnd(buf, off) === off;
}

/** The offset just past the last non-zero byte of buf at or after off (off if there is none). */
function dataEnd(buf: Buffer, off: number): number {
  let end = buf.length;
  while (end > off) {
    const start = Math.max(off, end - ZEROS.length);
    if (!buf.subarray(start, end).equals(ZEROS.subarray(0, end - start))) break;
    end = start;
  }
  while (end > off && buf[end - 1] === 0) end--;
  return end;
}

const SECTOR_BYTES = 512;

/** See readSegment. */
const SPARSE_READ_MARGIN = 64 * 1024;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * A segment's bytes for reading back. A preallocated segment is a sparse file: past its last
 * write there are no disk blocks, only zeros, and reading all 64 MiB of them cost about 250 ms at
 * every start here. So when the file has fewer allocated bytes than its size, only as much as is
 * allocated (plus a margin) is read, and `partial` says so; open() reads the rest only if what it
 * finds needs it. If the allocation count cannot be right (data past it), the whole file is read.
 */
function readSegment(file: string): { buf: Buffer; partial: boolean; allocated: number; block: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const st = fs.fstatSync(fd);
    const allocated = st.blocks * 512;
    // data written up to some offset takes exactly the file system blocks up to it: any more
    // allocated means data somewhere past it (open() then reads everything)
    const block = st.blksize > 0 ? st.blksize : 4096;
    const want = allocated + SPARSE_READ_MARGIN;
    if (want < st.size) {
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, got);
        if (n === 0) break;
        got += n;
      }
      if (dataEnd(buf, 0) <= allocated) return { buf: buf.subarray(0, got), partial: true, allocated, block };
    }
    return { buf: fs.readFileSync(file), partial: false, allocated, block };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether the record at off, which decodeAt found running past the end of buf, is one the end of the
 * file cut short: not a complete record with a damaged length field (its CRC then matches the bytes
 * up to the end of the file, or up to the last non-zero byte in a preallocated segment), nor one
 * whose header names another index than the one due.
 */
function cutByFileEnd(buf: Buffer, off: number, reason: string, expect: number): boolean {
  if (reason === 'short header') return true;
  if (reason !== 'short payload' || buf.readBigUInt64LE(off + 8) !== BigInt(expect)) return false;
  const sum = buf.readUInt32LE(off + 4);
  return ![buf.length, dataEnd(buf, off + WAL_HEADER_BYTES)].some((end) => crc32(buf.subarray(off + 8, end)) === sum);
}

/** Whether the bytes from off to the end of its disk sector (and at least a header's worth) are zero. */
function zeroSectorAt(buf: Buffer, off: number): boolean {
  const end = Math.min(buf.length, Math.max(Math.ceil((off + 1) / SECTOR_BYTES) * SECTOR_BYTES, off + WAL_HEADER_BYTES));
  if (end - off < WAL_HEADER_BYTES) return false;
  for (let i = off; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Creates a segment file, preallocated (extended with zeros and synced) when asked. */
function createSegment(dir: string, file: string, opts: WALOptions): number {
  const fd = fs.openSync(file, 'wx+');
  try {
    if (opts.preallocate !== false) {
      fs.ftruncateSync(fd, opts.segmentBytes);
      fs.fsyncSync(fd);
    }
    fsyncDir(dir);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}


/**
 * The repair intent: a file naming the backend's index, written (and synced) before a repair cuts
 * entries the backend already holds, removed once the log goes on in its new segment.
 */
const REPAIR_INTENT = 'repair-intent';

function writeRepairIntent(dir: string, after: number): void {
  const file = path.join(dir, REPAIR_INTENT);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, `${after}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDir(dir);
}

/** The backend index a cut-short repair recorded, if any (a file that does not say one is ignored). */
function readRepairIntent(dir: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, REPAIR_INTENT), 'utf8');
  } catch {
    return undefined;
  }
  return /^\d+\n$/.test(text) ? Number(text.trim()) : undefined;
}

function clearRepairIntent(dir: string): void {
  fs.rmSync(path.join(dir, REPAIR_INTENT), { force: true });
  fsyncDir(dir);
}

interface Pending {
  buf: Buffer;
  index: number;
}

export class WAL {
  private segments: Segment[];
  private fd: number;
  private size: number;
  private lastIndex: number;
  private pending: Pending[] = [];
  private scheduled = false;
  private inflight = 0;
  private durable = 0;
  /** Syncs running per descriptor, and descriptors of cut segments waiting for theirs to finish. */
  private readonly fdUsers = new Map<number, number>();
  private readonly retired = new Set<number>();
  private failed: Error | undefined;
  /** Set while done() starts the next batch before reporting the last: a failure waits for that report. */
  private holdFailure = false;
  private heldFailure: Error | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** With opts.syncThread: the thread, the state shared with it, and what it has not reported yet. */
  private syncer: SyncThread | undefined;

  /**
   * onSynced is called, on the main thread and in index order, with the last index of each batch
   * once the batch is durable. onFailed is called once if a write or sync fails: nothing after that
   * is acknowledged.
   */
  private constructor(
    private readonly dir: string,
    private readonly opts: WALOptions,
    segments: Segment[],
    fd: number,
    size: number,
    lastIndex: number,
    private readonly onSynced: (lastIndex: number) => void,
    private readonly onFailed: (err: Error) => void,
  ) {
    this.segments = segments;
    this.fd = fd;
    this.size = size;
    this.lastIndex = lastIndex;
    this.durable = lastIndex;
    if (opts.syncThread) this.syncer = new SyncThread(fd, lastIndex, (r) => this.onSyncReport(r));
  }

  /**
   * Opens (or creates) the log in dir and reads back every record after `after`. Repairs a torn tail;
   * throws WALCorruptError on corruption.
   */
  static open(
    dir: string,
    after: number,
    opts: WALOptions,
    onSynced: (lastIndex: number) => void,
    onFailed: (err: Error) => void,
  ): { wal: WAL; records: WALRecord[] } {
    fs.mkdirSync(dir, { recursive: true });
    const segments: Segment[] = fs
      .readdirSync(dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: parseInt(m[1], 16), firstIndex: parseInt(m[2], 16), file: path.join(dir, m[0]) }))
      .sort((a, b) => a.seq - b.seq);

    const records: WALRecord[] = [];
    let lastIndex = 0;
    let tailSize = 0;
    let repaired = false;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s];
      const isLast = s === segments.length - 1;
      if (s > 0 && seg.seq !== segments[s - 1].seq + 1) {
        throw new WALCorruptError(`missing segment before ${path.basename(seg.file)}`);
      }
      let { buf, partial, allocated, block } = readSegment(seg.file);
      let off = 0;
      let expect = seg.firstIndex;
      if (s === 0) {
        if (seg.firstIndex > after + 1) {
          throw new WALCorruptError(`log starts at index ${seg.firstIndex} but the backend holds only up to ${after}`);
        }
        lastIndex = seg.firstIndex - 1;
      } else if (seg.firstIndex !== lastIndex + 1 && !(seg.firstIndex > lastIndex + 1 && seg.firstIndex <= after + 1)) {
        // (a gap is where a repair cut entries the backend already held: see below)
        throw new WALCorruptError(`segment ${path.basename(seg.file)} starts at index ${seg.firstIndex}, expected ${lastIndex + 1}`);
      }
      for (;;) {
        if (off >= buf.length) {
          if (!partial) break;
          ({ buf, partial } = { buf: fs.readFileSync(seg.file), partial: false });
          continue;
        }
        const d = decodeAt(buf, off);
        // Read partially (see readSegment), zeros here are the end only if no disk blocks lie past
        // them; otherwise the whole file is read and looked at again from here.
        if (!d.ok && partial && !(zeroFrom(buf, off) && allocated <= roundUp(off, block))) {
          ({ buf, partial } = { buf: fs.readFileSync(seg.file), partial: false });
          continue;
        }
        if (!d.ok && zeroFrom(buf, off)) break; // the preallocated, never-written end
        if (!d.ok) {
          // A torn write is the unfinished end of the last batch: it can only be at the end of the
          // last segment, of an entry the backend never saw, with nothing valid after it.
          // (A batch's pages can reach the disk in any order when the machine fails before its
          // sync: a zeroed sector where the record should start, with later records of the same
          // unsynced batch after it, is a torn write too, as etcd counts it.)
          // The file may also end inside the record (a copy or truncate that stopped short, a file
          // system that lost the end of the file): that is cut off too, as etcd repairs it, even if
          // the backend applied the record, since the backend keeps what the log loses.
          const tornSector = zeroSectorAt(buf, off);
          const cut = cutByFileEnd(buf, off, d.reason, expect);
          if (!isLast || (expect <= after && !cut) || (!tornSector && WAL.validRecordAfter(buf, off, expect))) {
            throw new WALCorruptError(`${d.reason} at offset ${off} of ${path.basename(seg.file)}`);
          }
          opts.warn?.(
            `wal: dropping torn tail of ${path.basename(seg.file)} at offset ${off} (${buf.length - off} bytes, ${d.reason}${cut ? ', the file ends inside the record' : ''})`,
          );
          // A cut of entries the backend holds leaves the log ending before the backend's index,
          // which open refuses (it would mean lost entries) unless this intent is on disk: a crash
          // between the cut and the new segment below then finds it and finishes the repair.
          if (expect <= after) writeRepairIntent(dir, after);
          const rfd = fs.openSync(seg.file, 'r+');
          try {
            fs.ftruncateSync(rfd, off); // (a preallocated last segment is extended again below)
            fs.fsyncSync(rfd); // the cut must not come undone in a crash
          } finally {
            fs.closeSync(rfd);
          }
          repaired = true;
          break;
        }
        if (d.record.index !== expect) {
          throw new WALCorruptError(`index ${d.record.index} at offset ${off} of ${path.basename(seg.file)}, expected ${expect}`);
        }
        expect++;
        lastIndex = d.record.index;
        if (d.record.index > after) records.push(d.record);
        off = d.next;
      }
      if (isLast) tailSize = off;
    }

    let fresh: Segment | undefined; // a segment to start
    const intent = readRepairIntent(dir);
    if (!repaired && intent !== undefined && intent >= after && after > lastIndex && tailSize > 0) {
      // the repair above ran at the last start and was cut short by a crash after its cut
      opts.warn?.(`wal: finishing the repair of the last start, cut short before its new segment`);
      repaired = true;
    }
    if (after > lastIndex) {
      // Only possible when the backend's entries were all released from the log (the last segment
      // is then empty), or when the repair above cut entries the backend had already applied: the
      // log then goes on after them in a new segment (open accepts that gap, the backend covering
      // it, and releaseTo soon drops the segments before it). Anything else has lost entries.
      if (repaired) {
        const seq = segments[segments.length - 1].seq + 1;
        fresh = { seq, firstIndex: after + 1, file: path.join(dir, segmentName(seq, after + 1)) };
        opts.warn?.(
          `wal: the repair cut entries ${lastIndex + 1}..${after} from the log, which the backend already holds; the log goes on in ${path.basename(fresh.file)}`,
        );
      } else if (tailSize > 0) {
        throw new WALCorruptError(`log ends at index ${lastIndex} but the backend holds up to ${after}`);
      }
      lastIndex = after;
    }
    if (segments.length === 0) fresh = { seq: 0, firstIndex: lastIndex + 1, file: path.join(dir, segmentName(0, lastIndex + 1)) };
    let fd: number;
    if (fresh) {
      fd = createSegment(dir, fresh.file, opts);
      segments.push(fresh);
      tailSize = 0;
      if (intent !== undefined || repaired) clearRepairIntent(dir);
    } else {
      if (intent !== undefined) clearRepairIntent(dir); // left by a crash after its new segment
      fd = fs.openSync(segments[segments.length - 1].file, 'r+');
      if (opts.preallocate !== false && fs.fstatSync(fd).size < opts.segmentBytes) {
        // a segment written without preallocation (or cut short by a repair): extend it now
        fs.ftruncateSync(fd, opts.segmentBytes);
        fs.fsyncSync(fd);
      }
    }
    return { wal: new WAL(dir, opts, segments, fd, tailSize, lastIndex, onSynced, onFailed), records };
  }

  /**
   * After a bad record at off that should have had index expect: does any valid record with index
   * expect or later start anywhere after it? Then the bad record is damage in the middle of the log,
   * not a torn tail. (The index field is checked before the CRC, so the scan stays cheap.)
   */
  private static validRecordAfter(buf: Buffer, off: number, expect: number): boolean {
    const end = dataEnd(buf, off); // nothing can start in the zeros at the end
    for (let p = off + 1; p < end && p + WAL_HEADER_BYTES <= buf.length; p++) {
      const idx = buf.readBigUInt64LE(p + 8);
      if (idx < BigInt(expect) || idx > BigInt(expect) + 1000000n) continue;
      if (decodeAt(buf, p).ok) return true;
    }
    return false;
  }

  /** The index of the last record appended (durable or not). */
  last(): number {
    return this.lastIndex;
  }

  /** Appends the record with the next index; durability is reported through onSynced. */
  append(index: number, data: Buffer): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('wal: closed');
    if (index !== this.lastIndex + 1) throw new Error(`wal: append of index ${index} after ${this.lastIndex}`);
    this.lastIndex = index;
    this.pending.push({ buf: encodeRecord(index, data), index });
    if (!this.scheduled) {
      // one event-loop turn's appends go out together
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /**
   * Writes the pending records and starts a sync for them, unless opts.maxInflightSyncs syncs are
   * already running. A sync makes durable everything written before it started, so when syncs
   * overlap, whichever completes reports every index written before it began.
   */
  private flush(): void {
    if (this.syncer) return this.flushToSyncThread(this.syncer);
    if (this.failed) return;
    if (this.pending.length === 0 || this.inflight >= (this.opts.maxInflightSyncs ?? 1)) {
      if (this.inflight === 0 && this.pending.length === 0) this.notifyIdle();
      return;
    }
    const batch = this.pending;
    this.pending = [];
    const buf = batch.length === 1 ? batch[0].buf : Buffer.concat(batch.map((p) => p.buf));
    const last = batch[batch.length - 1].index;
    // The write only copies into the page cache, so it runs here; the sync, which waits for the
    // disk, runs on libuv's thread pool while the next batch gathers.
    let fd = this.fd;
    try {
      this.maybeCut(batch[0].index); // may fail too (no space for a new segment): nothing is acknowledged then
      fd = this.fd;
      let off = 0;
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off, this.size + off);
    } catch (err) {
      return this.fail(err as Error);
    }
    this.size += buf.length;
    this.inflight++;
    this.fdUsers.set(fd, (this.fdUsers.get(fd) ?? 0) + 1);
    const syncStart = process.hrtime.bigint();
    const done = (err: Error | null): void => {
      this.inflight--;
      this.releaseFd(fd);
      if (err) return this.fail(err);
      if (this.failed) return;
      this.opts.observe?.(Number(process.hrtime.bigint() - syncStart) / 1e9, buf.length);
      // When the next batch is big enough to sync on the thread pool, start it first: its sync then
      // runs while this batch is applied and answered. A small next batch syncs inline, so it waits
      // until this one is answered (and onSynced stays in index order either way).
      const overlap = this.pending.length > (this.opts.inlineSyncMaxBatch ?? INLINE_SYNC_MAX_BATCH);
      if (overlap) {
        // if the next batch cannot even be written, this one is still durable: report it first
        this.holdFailure = true;
        this.flush();
        this.holdFailure = false;
      }
      if (last > this.durable) {
        this.durable = last;
        this.onSynced(last);
      }
      if (this.heldFailure) {
        const e = this.heldFailure;
        this.heldFailure = undefined;
        return this.fail(e);
      }
      if (!overlap) this.flush();
    };
    if (batch.length <= (this.opts.inlineSyncMaxBatch ?? INLINE_SYNC_MAX_BATCH)) {
      // A small batch means few writers are waiting: syncing right here saves the hand-over to
      // and from the thread pool, which costs more than the sync itself on this kind of machine
      // (1 client: p50 0.9 ms instead of 1.5 ms). Big batches sync off the main thread, so
      // requests keep being read and gathered meanwhile.
      let error: Error | null = null;
      try {
        fs.fdatasyncSync(fd);
      } catch (e) {
        error = e as Error;
      }
      done(error);
      return;
    }
    fs.fdatasync(fd, done);
  }

  /**
   * flush() with a sync thread: the batch is written now, whatever is being synced, and the thread
   * picks it up with its next fdatasync. A small batch with the thread idle syncs right here, as in
   * flush(). A new segment is only cut with the thread idle (see maybeCut).
   */
  private flushToSyncThread(t: SyncThread): void {
    if (this.failed || this.heldFailure) return;
    if (this.pending.length === 0) {
      if (!t.busy()) this.notifyIdle();
      return;
    }
    const cut = this.size >= this.opts.segmentBytes;
    if (cut && t.busy()) return; // onSyncReport flushes again once the thread has caught up
    const batch = this.pending;
    this.pending = [];
    const buf = batch.length === 1 ? batch[0].buf : Buffer.concat(batch.map((p) => p.buf));
    const last = batch[batch.length - 1].index;
    const inline = !t.busy() && batch.length <= (this.opts.inlineSyncMaxBatch ?? INLINE_SYNC_MAX_BATCH);
    const syncStart = inline ? process.hrtime.bigint() : 0n;
    try {
      if (cut) {
        this.maybeCut(batch[0].index);
        t.setFd(this.fd);
      }
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, this.size + off);
      this.size += buf.length;
      if (inline) fs.fdatasyncSync(this.fd);
    } catch (err) {
      // what the thread is syncing is still reported first (onSyncReport), then the failure
      if (t.busy()) {
        this.heldFailure = err as Error;
        return;
      }
      return this.fail(err as Error);
    }
    if (!inline) {
      t.written(last, buf.length);
      return;
    }
    t.syncedHere(last);
    this.opts.observe?.(Number(process.hrtime.bigint() - syncStart) / 1e9, buf.length);
    this.durable = last;
    this.onSynced(last);
    if (this.pending.length === 0 && !this.scheduled) this.notifyIdle();
  }

  private onSyncReport(r: SyncReport): void {
    if (this.failed || this.closed) return;
    if ('error' in r) return this.fail(Object.assign(new Error(r.error.message), { code: r.error.code }));
    const bytes = this.syncer!.reported(r.synced);
    this.opts.observe?.(r.seconds, bytes);
    if (r.synced > this.durable) {
      this.durable = r.synced;
      this.onSynced(r.synced);
    }
    if (this.heldFailure && !this.syncer!.busy()) {
      const e = this.heldFailure;
      this.heldFailure = undefined;
      return this.fail(e);
    }
    // a batch held back for a segment cut goes out now; otherwise the loop's own turn sends it
    if (!this.scheduled) this.flush();
  }

  /** Closes a retired segment's descriptor once no sync is using it. */
  private releaseFd(fd: number): void {
    const n = (this.fdUsers.get(fd) ?? 1) - 1;
    if (n > 0) {
      this.fdUsers.set(fd, n);
      return;
    }
    this.fdUsers.delete(fd);
    if (this.retired.delete(fd)) fs.closeSync(fd);
  }

  /** Starts a new segment, before writing the batch starting at firstIndex, if the current one is full. */
  private maybeCut(firstIndex: number): void {
    // never while a sync runs: a crash could then leave an unsynced tail in a segment that is no
    // longer the last, which open() rightly treats as corruption
    if (this.size < this.opts.segmentBytes || this.inflight > 0 || this.syncer?.busy()) return;
    const prev = this.segments[this.segments.length - 1];
    const seg = { seq: prev.seq + 1, firstIndex, file: path.join(this.dir, segmentName(prev.seq + 1, firstIndex)) };
    // the finished segment loses its unused zeros (left there by a crash, open() reads them as its end)
    fs.ftruncateSync(this.fd, this.size);
    const fd = createSegment(this.dir, seg.file, this.opts);
    if (this.fdUsers.has(this.fd)) this.retired.add(this.fd);
    else fs.closeSync(this.fd);
    this.fd = fd;
    this.size = 0;
    this.segments.push(seg);
  }

  private fail(err: Error): void {
    if (this.holdFailure) {
      this.heldFailure ??= err;
      return;
    }
    if (this.failed) return;
    this.failed = new Error(`wal: write failed: ${err.message}`);
    this.syncer?.stop();
    this.onFailed(this.failed);
    this.notifyIdle();
  }

  /**
   * Deletes segments whose records are all at or below index (the backend holds them durably).
   * The segment being written is never deleted.
   */
  releaseTo(index: number): number {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1].firstIndex <= index + 1) {
      const seg = this.segments.shift()!;
      fs.rmSync(seg.file, { force: true });
      removed++;
    }
    return removed;
  }

  segmentCount(): number {
    return this.segments.length;
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * Resolves once the sync thread runs (at once without one). Until then the first batches wait for
   * it: about 30-60 ms after open on this kind of machine.
   */
  ready(): Promise<void> {
    return this.syncer?.online ?? Promise.resolve();
  }

  /** Resolves once everything appended so far is durable (or has failed). */
  idle(): Promise<void> {
    const syncing = this.inflight > 0 || this.syncer?.busy();
    if (this.failed || (!syncing && !this.scheduled && this.pending.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
    await this.syncer?.stop();
    fs.closeSync(this.fd);
  }
}

/**
 * The main thread's side of the sync thread. Shared memory: BigInt64 [written, synced] (record
 * indexes), Int32 [fd, stop, waiting]; see sync_worker.ts for the protocol.
 */
class SyncThread {
  private readonly idx: BigInt64Array;
  private readonly ctl: Int32Array;
  private readonly worker: Worker;
  private lastWritten: number;
  private lastReported: number;
  /** Bytes written per batch not yet reported synced: [last index, bytes] pairs, in order. */
  private unreported: number[] = [];
  private exited: Promise<void>;
  readonly online: Promise<void>;

  constructor(fd: number, last: number, onReport: (r: SyncReport) => void) {
    const sab = new SharedArrayBuffer(32);
    this.idx = new BigInt64Array(sab, 0, 2);
    this.ctl = new Int32Array(sab, 16, 3);
    this.idx[0] = BigInt(last);
    this.idx[1] = BigInt(last);
    this.ctl[0] = fd;
    this.lastWritten = last;
    this.lastReported = last;
    const preload: string[] = [];
    const argv = process.execArgv;
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === '--import' && i + 1 < argv.length) preload.push(argv[++i]);
      else if (argv[i].startsWith('--import=')) preload.push(argv[i].slice('--import='.length));
    }
    const data: SyncWorkerData = {
      sab,
      preload: preload.map((m) => (/^[./]/.test(m) ? pathToFileURL(path.resolve(m)).href : m)),
    };
    this.worker = new Worker(new URL('./sync_worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (r: SyncReport) => onReport(r));
    this.worker.on('error', (e) => onReport({ error: { message: `sync thread: ${e.message}` } }));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // a thread that ends on its own (it only returns after a failure it has reported, or when
    // stopped) leaves syncs owed: that is a failed log too
    this.worker.once('exit', (code) => {
      if (!this.stopping) onReport({ error: { message: `sync thread exited (code ${code})` } });
    });
    this.online = new Promise((resolve) => {
      this.worker.once('online', resolve);
      this.worker.once('exit', () => resolve());
    });
    // the thread keeps the process up only while it starts and while a sync is owed (see written
    // and reported)
    this.worker.once('online', () => this.maybeUnref());
  }

  private stopping = false;

  private maybeUnref(): void {
    if (!this.busy() && !this.stopping) this.worker.unref();
  }

  /** True while written records wait for the thread's sync. */
  busy(): boolean {
    return this.lastReported < this.lastWritten;
  }

  /** Called with the thread idle, before a write to a new segment. */
  setFd(fd: number): void {
    Atomics.store(this.ctl, 0, fd);
  }

  /** Hands records up to last (bytes of them in this batch) to the thread. */
  written(last: number, bytes: number): void {
    if (!this.busy()) this.worker.ref(); // (already is, before 'online')
    this.lastWritten = last;
    this.unreported.push(last, bytes);
    Atomics.store(this.idx, 0, BigInt(last));
    if (Atomics.load(this.ctl, 2) !== 0) Atomics.notify(this.idx, 0);
  }

  /** Records up to last were written and synced by the main thread itself (the thread was idle). */
  syncedHere(last: number): void {
    this.lastWritten = last;
    this.lastReported = last;
    Atomics.store(this.idx, 1, BigInt(last));
    Atomics.store(this.idx, 0, BigInt(last));
  }

  /** The thread synced up to synced: returns how many bytes that made durable. */
  reported(synced: number): number {
    this.lastReported = Math.max(this.lastReported, synced);
    let bytes = 0;
    let n = 0;
    const u = this.unreported;
    while (n < u.length && u[n] <= synced) {
      bytes += u[n + 1];
      n += 2;
    }
    if (n > 0) this.unreported = u.slice(n);
    this.maybeUnref();
    return bytes;
  }

  /** Ends the thread (after its current sync, if any). */
  stop(): Promise<void> {
    this.stopping = true;
    this.worker.ref(); // until it has exited
    Atomics.store(this.ctl, 1, 1);
    Atomics.notify(this.idx, 0);
    return this.exited;
  }
}
