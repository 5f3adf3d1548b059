// A read-only reader of bbolt (boltdb) database files, the format of etcd's backend and of its
// snapshots. It reads pages from the file on demand (no mmap, no whole-file buffer), so files of
// any size can be walked. Errors carry bbolt's own texts ("invalid database", "file size too
// small", ...) because etcdctl prints them as they are. The page layout is described at the top
// of src/server/storage/bbolt.ts (the writer); in short, all integers little-endian:
//
//   page header   id u64 | flags u16 | count u16 | overflow u32           (16 bytes)
//   meta (0, 1)   magic u32 | version u32 | pageSize u32 | flags u32 | root {pgid u64, seq u64} |
//                 freelist pgid u64 | high-water mark u64 | txid u64 | FNV-1a 64 checksum u64
//   leaf element  flags u32 | pos u32 | ksize u32 | vsize u32  (pos from the element's start)
//   branch elem.  pos u32 | ksize u32 | pgid u64
//   bucket value  root pgid u64 | sequence u64, then an inline leaf page when root is 0
import * as fs from 'node:fs';

const MAGIC = 0xed0cdaed;
const VERSION = 2;
const PAGE_HEADER = 16;
const ELEMENT = 16;
const BUCKET_HEADER = 16;
/** bbolt's default page size (the OS page size), used when meta 0 cannot tell. */
const DEFAULT_PAGE_SIZE = 4096;
const NO_FREELIST = 0xffffffffffffffffn;

const FLAG_BRANCH = 0x01;
const FLAG_LEAF = 0x02;
const FLAG_META = 0x04;
const FLAG_FREELIST = 0x10;
/** Leaf element flag: the value is a nested bucket. */
const BUCKET_LEAF = 0x01;

export interface BoltMeta {
  pageSize: number;
  root: number;
  freelist: bigint;
  /** High-water mark: the number of pages in use. */
  hwm: number;
  txid: bigint;
}

export interface LeafEntry {
  key: Buffer;
  value: Buffer;
  /** True when the value is a nested bucket. */
  isBucket: boolean;
}

/** FNV-1a, 64 bits: the meta page checksum. */
function fnv1a64(data: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < data.length; i++) {
    h ^= BigInt(data[i]!);
    h = BigInt.asUintN(64, h * 0x100000001b3n);
  }
  return h;
}

/** A meta page's content (at off in buf), or bbolt's validation error for it. */
function parseMeta(buf: Buffer, off: number): BoltMeta | Error {
  const m = off + PAGE_HEADER;
  if (buf.length < m + 64) return new Error('invalid database');
  if (buf.readUInt32LE(m) !== MAGIC) return new Error('invalid database');
  if (buf.readUInt32LE(m + 4) !== VERSION) return new Error('version mismatch');
  const sum = buf.readBigUInt64LE(m + 56);
  if (sum !== 0n && sum !== fnv1a64(buf.subarray(m, m + 56))) return new Error('checksum error');
  return {
    pageSize: buf.readUInt32LE(m + 8),
    root: Number(buf.readBigUInt64LE(m + 16)),
    freelist: buf.readBigUInt64LE(m + 32),
    hwm: Number(buf.readBigUInt64LE(m + 40)),
    txid: buf.readBigUInt64LE(m + 48),
  };
}

/** Go's os error text for a failed file operation, e.g. "open db: no such file or directory". */
export function goPathError(op: string, p: string, e: NodeJS.ErrnoException): string {
  const texts: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EEXIST: 'file exists',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    EBADF: 'bad file descriptor',
  };
  return `${op} ${p}: ${texts[e.code ?? ''] ?? e.message}`;
}

function pageType(flags: number): string {
  if (flags & FLAG_BRANCH) return 'branch';
  if (flags & FLAG_LEAF) return 'leaf';
  if (flags & FLAG_META) return 'meta';
  if (flags & FLAG_FREELIST) return 'freelist';
  return `unknown<${flags.toString(16).padStart(2, '0')}>`;
}

export class BoltReader {
  private constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    readonly pageSize: number,
    readonly meta: BoltMeta,
  ) {}

  /** Opens a file as bbolt does read-only; throws with bbolt's or the OS's error text. */
  static open(file: string): BoltReader {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new Error(goPathError('open', file, e as NodeJS.ErrnoException));
    }
    try {
      const st = fs.fstatSync(fd);
      // Go opens with O_CREATE, which a directory refuses
      if (st.isDirectory()) throw new Error(goPathError('open', file, { code: 'EISDIR' } as NodeJS.ErrnoException));
      // an empty file is initialised by bbolt, which fails on a read-only descriptor
      if (st.size === 0) throw new Error(goPathError('write', file, { code: 'EBADF' } as NodeJS.ErrnoException));
      const first = Buffer.alloc(DEFAULT_PAGE_SIZE);
      if (fs.readSync(fd, first, 0, first.length, 0) < first.length) throw new Error('invalid database');
      const m0 = parseMeta(first, 0);
      const pageSize = m0 instanceof Error ? DEFAULT_PAGE_SIZE : m0.pageSize;
      if (st.size < pageSize * 2) throw new Error('file size too small');
      const two = Buffer.alloc(pageSize * 2);
      fs.readSync(fd, two, 0, two.length, 0);
      const a = parseMeta(two, 0);
      const b = parseMeta(two, pageSize);
      if (a instanceof Error && b instanceof Error) throw a;
      // the valid meta with the higher txid
      let meta: BoltMeta;
      if (a instanceof Error) meta = b as BoltMeta;
      else if (b instanceof Error) meta = a;
      else meta = b.txid > a.txid ? b : a;
      return new BoltReader(fd, st.size, pageSize, meta);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** The database's size as bbolt reports it (Tx.Size): high-water mark × page size. */
  get size(): number {
    return this.meta.hwm * this.pageSize;
  }

  /** Page id with its overflow pages. */
  page(id: number): Buffer {
    const off = id * this.pageSize;
    if (off + PAGE_HEADER > this.fileSize) throw new Error(`page ${id}: beyond the end of the file`);
    const hdr = Buffer.alloc(PAGE_HEADER);
    fs.readSync(this.fd, hdr, 0, PAGE_HEADER, off);
    const len = (hdr.readUInt32LE(12) + 1) * this.pageSize;
    const buf = Buffer.alloc(len);
    fs.readSync(this.fd, buf, 0, Math.min(len, this.fileSize - off), off);
    return buf;
  }

  /** The elements of a leaf, in key order, under a tree root or in an inline bucket. */
  *entries(bucketValue: Buffer): Generator<LeafEntry> {
    const root = Number(bucketValue.readBigUInt64LE(0));
    if (root === 0) yield* this.nodeEntries(bucketValue.subarray(BUCKET_HEADER));
    else yield* this.treeEntries(root);
  }

  /** The root bucket's entries: the top-level buckets. */
  rootEntries(): Generator<LeafEntry> {
    return this.treeEntries(this.meta.root);
  }

  private *treeEntries(id: number): Generator<LeafEntry> {
    yield* this.nodeEntries(this.page(id));
  }

  private *nodeEntries(p: Buffer): Generator<LeafEntry> {
    const flags = p.readUInt16LE(8);
    const count = p.readUInt16LE(10);
    if (flags & FLAG_BRANCH) {
      for (let i = 0; i < count; i++) {
        const e = PAGE_HEADER + i * ELEMENT;
        yield* this.treeEntries(Number(p.readBigUInt64LE(e + 8)));
      }
    } else if (flags & FLAG_LEAF) {
      for (let i = 0; i < count; i++) {
        const e = PAGE_HEADER + i * ELEMENT;
        const eflags = p.readUInt32LE(e);
        const at = e + p.readUInt32LE(e + 4);
        const ksize = p.readUInt32LE(e + 8);
        const vsize = p.readUInt32LE(e + 12);
        yield { key: p.subarray(at, at + ksize), value: p.subarray(at + ksize, at + ksize + vsize), isBucket: (eflags & BUCKET_LEAF) !== 0 };
      }
    }
  }

  /**
   * bbolt's Tx.Check: every page below the high-water mark is reachable exactly once or free, and
   * reachable pages are branches or leaves. Returns the problems in bbolt's words.
   */
  check(): string[] {
    const errs: string[] = [];
    const { hwm, freelist } = this.meta;
    const freed = new Set<number>();
    const synced = freelist !== NO_FREELIST;
    const reachable = new Set<number>([0, 1]);
    if (synced) {
      const fl = this.page(Number(freelist));
      let count = fl.readUInt16LE(10);
      let at = PAGE_HEADER;
      if (count === 0xffff) {
        count = Number(fl.readBigUInt64LE(at));
        at += 8;
      }
      for (let i = 0; i < count; i++) {
        const id = Number(fl.readBigUInt64LE(at + i * 8));
        if (freed.has(id)) errs.push(`page ${id}: already freed`);
        freed.add(id);
      }
      for (let i = 0; i <= fl.readUInt32LE(12); i++) reachable.add(Number(freelist) + i);
    }
    const checkBucket = (root: number): void => {
      if (root === 0) return; // inline
      const visit = (id: number): void => {
        const p = this.page(id);
        const pid = Number(p.readBigUInt64LE(0));
        if (pid > hwm) errs.push(`page ${pid}: out of bounds: ${hwm}`);
        for (let i = 0; i <= p.readUInt32LE(12); i++) {
          if (reachable.has(pid + i)) errs.push(`page ${pid + i}: multiple references`);
          reachable.add(pid + i);
        }
        const flags = p.readUInt16LE(8);
        if (freed.has(pid)) errs.push(`page ${pid}: reachable freed`);
        else if ((flags & (FLAG_BRANCH | FLAG_LEAF)) === 0) errs.push(`page ${pid}: invalid type: ${pageType(flags)}`);
        if (flags & FLAG_BRANCH) {
          for (let i = 0; i < p.readUInt16LE(10); i++) visit(Number(p.readBigUInt64LE(PAGE_HEADER + i * ELEMENT + 8)));
        }
      };
      visit(root);
      for (const e of this.treeEntries(root)) {
        if (e.isBucket) checkBucket(Number(e.value.readBigUInt64LE(0)));
      }
    };
    checkBucket(this.meta.root);
    // without a stored freelist bbolt takes every unreachable page as free
    if (synced) {
      for (let i = 0; i < hwm; i++) {
        if (!reachable.has(i) && !freed.has(i)) errs.push(`page ${i}: unreachable unfreed`);
      }
    }
    return errs;
  }
}
