// A structural check of the backend's LMDB file (data.mdb), in plain reads, run before lmdb-js opens it.
//
// LMDB memory-maps the file and trusts it: a page number past the end of a truncated file, a node
// offset or size from a damaged page, a garbage meta page, and the server dies of SIGBUS or SIGSEGV
// inside lmdb-js with nothing logged. So before the map, this walks what LMDB will walk: the meta
// page it will choose, the free-page tree (read by every write), the main tree, each named database
// in it (kv, meta, lease: the restore reads every record) and its overflow pages, and checks each
// value LMDB would trust before reading through it: page numbers within the meta's last page and
// within the file; each page's own number, type and txnid (a write takes a page with a newer txnid
// for its own and writes it in place, into the read-only map); its free-space bounds; every node
// offset and key/data size inside the page; child pages one level down (all leaves at the tree's
// depth); keys in order and within the parent's separators; overflow references against the
// overflow page's header; free lists against the last page; no page used twice (so the walk ends).
// It reads page by page into one buffer per tree level: 60 MB the bench wrote (15,000 pages) take
// 0.1 s.
//
// The format is that of the liblmdb lmdb-js builds (node_modules/lmdb/dependencies/lmdb, LMDB 0.9.90
// "mdb.master3", data version 2, little-endian): 24-byte page headers {pgno u64, txnid u64, pad u16,
// flags u16, lower u16, upper u16 | overflow pages u32}, nodes {lo u16, hi u16, flags u16, ksize u16,
// key, data}, big values as a 24-byte reference {pgno, txnid, pages} to overflow pages, sparse free
// lists (a negative entry is a run length followed by the run's first page). No page checksums or
// encryption: lmdb-js only sets those up for an encryptionKey, which the backend never passes.
//
// Which meta page LMDB uses: lmdb-js opens with overlappingSync (not on Windows), which keeps a third
// meta, the last one synced, in the second half of page 0, and with MDB_PREVSNAPSHOT: the first
// opener takes the newest meta written in this boot (boot id in the meta), else the newest synced one,
// and rolls both meta pages back to it. The check picks the same one (mdb_pick_meta in mdb.c) and
// walks only its trees: after an OS crash the newer metas may point at pages that never reached the
// disk, and LMDB does not read them. Both page 0 and page 1 must be meta pages with LMDB's magic and
// version, as classic LMDB requires.
//
// A file shorter than the meta's last page is damage only where the trees use the missing pages:
// pages freed (and never written) at the end of the file are legitimately missing. A 0-byte or
// missing file is a new database, as LMDB and bbolt treat it. Record contents are not checked here:
// the backend's decodeVersion reports records that are not its format.
import * as fs from 'node:fs';

const PAGEHDRSZ = 24;
const NODESIZE = 8;
const META_SIZE = 144; // magic, version, address, mapsize, 2 MDB_db, last_pg, txnid, boot_id
const DB_SIZE = 48; // pad u32, flags u16, depth u16, branch, leaf, overflow pages, entries, root (u64s)
const OVREF_SIZE = 24; // pgno, txnid, pages (u64s)
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const P_LEAF2 = 0x20;
const P_SUBP = 0x40;
/** P_DIRTY_OVF, P_LOOSE, P_KEEP: bookkeeping for dirty pages in memory, not read from clean ones. */
const P_ADMIN = 0xe000;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const MDB_REVERSEKEY = 0x02;
const MDB_DUPSORT = 0x04;
const MDB_INTEGERKEY = 0x08;
const MDB_DUPFIXED = 0x10;
const MDB_INTEGERDUP = 0x20;
const MDB_REVERSEDUP = 0x40;
/** The database flags mdb_dbi_open stores: the ones above and lmdb-js's 0x100 (versions). */
const DB_FLAGS = 0x17e;
const MDB_OVERLAPPINGSYNC = 0x1000;
const MDB_ENCRYPT = 0x2000;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
/** LMDB's cursor stack: no tree is deeper. */
const CURSOR_STACK = 32;
/** Branch nodes hold 48-bit page numbers. */
const MAX_PGNO = 2 ** 48;
const INVALID = -1; // P_INVALID, an empty tree

class Damage extends Error {}

export interface CheckedPage {
  pgno: number;
  type: 'branch' | 'leaf' | 'overflow';
  /** 'free-page tree', 'main tree', 'database "kv"', ... */
  tree: string;
  /** Pages it spans (overflow). */
  pages: number;
}

/**
 * Checks the LMDB data file at `file` (a data.mdb). Returns what is wrong and where, or undefined if
 * LMDB can open and read it safely. `visit` sees every tree page checked (for tests).
 */
export function checkLmdbFile(file: string, visit?: (page: CheckedPage) => void): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    new Checker(fd, fs.fstatSync(fd).size, visit).run();
    return undefined;
  } catch (e) {
    if (e instanceof Damage) return e.message;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

function readU64(b: Buffer, off: number): number {
  const lo = b.readUInt32LE(off);
  const hi = b.readUInt32LE(off + 4);
  if (hi === 0xffffffff && lo === 0xffffffff) return INVALID;
  return hi * 0x100000000 + lo;
}

interface Db {
  pad: number;
  flags: number;
  depth: number;
  root: number;
}

function readDb(b: Buffer, off: number): Db {
  return { pad: b.readUInt32LE(off), flags: b.readUInt16LE(off + 4), depth: b.readUInt16LE(off + 6), root: readU64(b, off + 40) };
}

interface Meta {
  name: string;
  txnid: bigint;
  bootId: bigint;
  /** mm_flags: the free DB's flags, which carry the environment's. */
  flags: number;
  psize: number;
  lastPg: number;
  free: Db;
  main: Db;
}

function readMeta(b: Buffer, name: string): Meta {
  const m = PAGEHDRSZ;
  const free = readDb(b, m + 24);
  return {
    name,
    txnid: b.readBigUInt64LE(m + 128),
    bootId: b.readBigInt64LE(m + 136),
    flags: free.flags,
    psize: free.pad,
    lastPg: readU64(b, m + 120),
    free,
    main: readDb(b, m + 72),
  };
}

/** The boot id as lmdb-js reads it on Linux: strtoll(boot_id, 16), the first group of hex digits. */
function currentBootId(): bigint | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const s = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1');
    const hex = /^\s*(?:0[xX])?([0-9a-fA-F]*)/.exec(s)?.[1] ?? '';
    if (!hex) return 0n;
    const v = BigInt('0x' + hex);
    return v > 0x7fffffffffffffffn ? 0x7fffffffffffffffn : v;
  } catch {
    return 0n;
  }
}

/**
 * The meta page lmdb-js opens with (mdb_env_pick_meta with MDB_PREVSNAPSHOT | MDB_OVERLAPPINGSYNC):
 * of two, the newer if it was written in this boot or was synced, else the older.
 */
function pickMeta(metas: Meta[], overlapping: boolean): Meta {
  const boot = currentBootId();
  const safeRestore = process.env.LMDB_RESTORE === 'safe';
  const pick = (a: Meta, b: Meta): Meta => {
    const latest = a.txnid >= b.txnid ? a : b;
    if (!overlapping) return latest;
    if (b.txnid === 0n) return a;
    // where the boot id cannot be read (not Linux), take the meta as this boot's
    const thisBoot = boot === undefined || (latest.bootId !== 0n && latest.bootId === boot);
    if ((thisBoot && !safeRestore) || !(latest.flags & MDB_OVERLAPPINGSYNC)) return latest;
    return a.txnid > b.txnid ? b : a;
  };
  let m = pick(metas[0], metas[1]);
  if (metas[2]) m = pick(m, metas[2]);
  return m;
}

type Cmp = (a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number) => number;

/** mdb_cmp_memn (and lmdb-js's compareFast on its zero-padded keys): bytes, then the shorter first. */
const memn: Cmp = (a, as, ae, b, bs, be) => a.compare(b, bs, be, as, ae);

/** mdb_cmp_int/long/cint: native unsigned integers of 4 or 8 bytes; other sizes are not compared. */
const intCmp: Cmp = (a, as, ae, b, bs, be) => {
  const n = ae - as;
  if (n !== be - bs || (n !== 4 && n !== 8)) return -1;
  if (n === 8) {
    const d = a.readUInt32LE(as + 4) - b.readUInt32LE(bs + 4);
    if (d) return d;
  }
  return a.readUInt32LE(as) - b.readUInt32LE(bs);
};

function keyCmp(flags: number): Cmp | null {
  if (flags & MDB_REVERSEKEY) return null;
  return flags & MDB_INTEGERKEY ? intCmp : memn;
}

function dupCmp(flags: number): Cmp | null {
  if (flags & MDB_REVERSEDUP) return null;
  return flags & MDB_INTEGERDUP ? intCmp : memn;
}

interface Tree {
  name: string;
  kind: 'free' | 'main' | 'named' | 'dup';
  db: Db;
  cmp: Cmp | null;
}

/** A key in a page buffer: a separator bounding a subtree. */
interface Key {
  b: Buffer;
  s: number;
  e: number;
}

class Checker {
  private psize = 0;
  private lastPg = 0;
  private txnid = 0n;
  /** Pages used so far, one bit each, up to the last page the file holds. */
  private used = new Uint8Array(0);
  /** Page buffers and node key offsets, one of each per tree level. */
  private readonly bufs: Buffer[] = [];
  private readonly keys: Int32Array[] = [];
  private readonly hdr = Buffer.alloc(PAGEHDRSZ);
  /** Named databases and sub-databases of duplicates, walked after the tree that holds them. */
  private readonly pending: Tree[] = [];

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly visit: ((page: CheckedPage) => void) | undefined,
  ) {}

  private bad(what: string): never {
    throw new Damage(what);
  }

  private read(b: Buffer, len: number, pos: number): void {
    let got = 0;
    while (got < len) {
      const n = fs.readSync(this.fd, b, got, len - got, pos + got);
      if (n === 0) this.bad(`the file ends at byte ${pos + got} while reading ${len} bytes at ${pos}`);
      got += n;
    }
  }

  run(): void {
    if (this.size === 0) return; // created, never written: LMDB writes the meta pages
    const first = Buffer.alloc(PAGEHDRSZ + META_SIZE);
    if (this.size < first.length) this.bad(`the file is ${this.size} bytes, too short for a meta page: not an LMDB file`);
    this.read(first, first.length, 0);
    const m0 = this.checkMetaPage(first, 0);
    const psize = m0.psize;
    if (psize < 256 || psize > 65536 || psize & (psize - 1)) {
      this.bad(`meta page 0: page size ${psize} is not a power of two from 256 to 65536`);
    }
    this.psize = psize;
    if (this.size < 2 * psize) this.bad(`the file is ${this.size} bytes, shorter than its two ${psize}-byte meta pages`);
    const second = Buffer.alloc(first.length);
    this.read(second, second.length, psize);
    const m1 = this.checkMetaPage(second, 1);
    if (m1.psize !== psize) this.bad(`meta page 1: page size ${m1.psize}, but meta page 0 says ${psize}`);
    const metas = [m0, m1];
    const overlapping = process.platform !== 'win32'; // as lmdb-js sets overlappingSync
    if (overlapping) {
      const synced = Buffer.alloc(first.length);
      this.read(synced, synced.length, psize >> 1);
      const m2 = readMeta(synced, 'the synced meta (in page 0)');
      if (m2.txnid !== 0n) metas.push(m2); // 0: none synced yet
    }
    if (m0.flags & MDB_ENCRYPT) this.bad('meta page 0 says the database is encrypted, which the backend never does');
    const meta = pickMeta(metas, overlapping);
    if (meta.psize !== psize) this.bad(`${meta.name}: page size ${meta.psize}, but meta page 0 says ${psize}`);
    this.txnid = meta.txnid;
    this.lastPg = meta.lastPg;
    const where = `${meta.name} (txn ${meta.txnid})`;
    if (meta.lastPg < 1 || meta.lastPg >= MAX_PGNO) this.bad(`${where}: last page ${meta.lastPg} is impossible`);
    const filePages = Math.floor(this.size / psize);
    this.used = new Uint8Array((Math.min(filePages, meta.lastPg + 1) >> 3) + 1);
    this.checkDb(meta.free, `${where}: the free-page tree`, true);
    this.checkDb(meta.main, `${where}: the main tree`, false);
    this.walk({ name: 'free-page tree', kind: 'free', db: meta.free, cmp: intCmp });
    this.walk({ name: 'main tree', kind: 'main', db: meta.main, cmp: keyCmp(meta.main.flags) });
    for (let t = this.pending.shift(); t; t = this.pending.shift()) this.walk(t);
  }

  /** Page 0 or 1: a meta page with LMDB's magic and data version. */
  private checkMetaPage(b: Buffer, pgno: number): Meta {
    const m = readMeta(b, `meta page ${pgno}`);
    const magic = b.readUInt32LE(PAGEHDRSZ);
    const version = b.readUInt32LE(PAGEHDRSZ + 4);
    const flags = b.readUInt16LE(18);
    if (magic !== MDB_MAGIC) {
      this.bad(`meta page ${pgno}: magic 0x${magic.toString(16).padStart(8, '0')}, not LMDB's 0xbeefc0de: not an LMDB file, or its start is overwritten`);
    }
    if ((version & 0xffff) !== MDB_DATA_VERSION) this.bad(`meta page ${pgno}: data format version ${version & 0xffff}, expected ${MDB_DATA_VERSION}`);
    if (!(flags & P_META) || readU64(b, 0) !== pgno) this.bad(`meta page ${pgno}: its page header (page ${readU64(b, 0)}, flags 0x${flags.toString(16)}) is not a meta page's`);
    return m;
  }

  /** A tree's MDB_db record: known flags, an empty tree or a root page and a possible depth. */
  private checkDb(db: Db, where: string, free: boolean): void {
    if (!free && db.flags & ~DB_FLAGS) this.bad(`${where}: unknown flags 0x${db.flags.toString(16)}`);
    if (db.root === INVALID) return;
    if (db.root < 2 || db.root > this.lastPg) {
      this.bad(`${where}: root page ${db.root} is outside pages 2..${this.lastPg} (the meta page's last page)`);
    }
    if (db.depth < 1 || db.depth > CURSOR_STACK) this.bad(`${where}: depth ${db.depth}`);
  }

  /**
   * Marks pages [pgno, pgno + count) used, after checking that they exist and are not used yet;
   * else returns what is wrong with them ("page 12, past the end of the file: ...").
   */
  private claim(pgno: number, count: number): string | undefined {
    const last = pgno + count - 1;
    const span = count > 1 ? `pages ${pgno}..${last}` : `page ${pgno}`;
    if (pgno < 2 || last > this.lastPg) return `${span}, outside pages 2..${this.lastPg} of the meta page (txn ${this.txnid})`;
    if ((last + 1) * this.psize > this.size) {
      const has = Math.floor(this.size / this.psize);
      return (
        `${span}, past the end of the file: it is ${this.size} bytes (${has} pages of ${this.psize}), ` +
        `the meta page (txn ${this.txnid}) counts ${this.lastPg + 1} pages: truncated?`
      );
    }
    for (let p = pgno; p <= last; p++) {
      const bit = 1 << (p & 7);
      if (this.used[p >> 3] & bit) return `page ${p}, which is already part of the database: pages shared or a cycle`;
      this.used[p >> 3] |= bit;
    }
    return undefined;
  }

  private walk(t: Tree): void {
    if (t.db.root === INVALID) return;
    this.walkPage(t, t.db.root, 0, null, null, -1, 0);
  }

  /** A page of tree t at `depth` (0: the root), node `node` of page `parent` pointing to it. */
  private walkPage(t: Tree, pgno: number, depth: number, lo: Key | null, hi: Key | null, parent: number, node: number): void {
    const why = this.claim(pgno, 1);
    if (why) this.bad(`${t.name}: ${parent < 0 ? 'the root' : `page ${parent} node ${node}`} points to ${why}`);
    const ps = this.psize;
    if (!this.bufs[depth]) {
      this.bufs[depth] = Buffer.alloc(ps);
      this.keys[depth] = new Int32Array(ps); // start and end of each node's key
    }
    const b = this.bufs[depth];
    const keys = this.keys[depth];
    this.read(b, ps, pgno * ps);
    const bad = (what: string): never =>
      this.bad(`${t.name}: page ${pgno} (level ${depth + 1} of ${t.db.depth}, file offset ${pgno * ps}): ${what}`);

    const own = readU64(b, 0);
    if (own !== pgno) bad(`its header says it is page ${own}`);
    const txnid = b.readBigUInt64LE(8);
    if (txnid > this.txnid) bad(`its txnid ${txnid} is after the meta page's ${this.txnid}`);
    const leaf = depth === t.db.depth - 1;
    const leaf2 = leaf && t.kind === 'dup' && (t.db.flags & MDB_DUPFIXED) !== 0;
    const want = leaf ? (leaf2 ? P_LEAF | P_LEAF2 : P_LEAF) : P_BRANCH;
    const flags = b.readUInt16LE(18) & ~P_ADMIN;
    if (flags !== want) {
      bad(`flags 0x${flags.toString(16)}, expected a ${leaf ? 'leaf' : 'branch'} page (0x${want.toString(16)}) at this level`);
    }
    this.visit?.({ pgno, type: leaf ? 'leaf' : 'branch', tree: t.name, pages: 1 });
    const lower = b.readUInt16LE(20);
    const upper = b.readUInt16LE(22);
    const n = lower >> 1;
    if (lower & 1) bad(`odd free-space start ${lower}`);
    if (n < (leaf || t.kind === 'free' ? 1 : 2)) bad(`${n} keys`);
    if (leaf2) {
      this.checkLeaf2(b, 0, ps, n, t.db.pad, t.cmp, lo, hi, bad);
      return;
    }
    if (lower > upper || upper > ps - PAGEHDRSZ) bad(`free space ${lower}..${upper} does not fit the page`);
    this.checkNodes(b, 0, ps, n, upper, keys, leaf, t.cmp, lo, hi, bad);

    if (!leaf) {
      for (let i = 0; i < n; i++) {
        const off = b.readUInt16LE(PAGEHDRSZ + 2 * i) + PAGEHDRSZ;
        const child = b.readUInt32LE(off) + b.readUInt16LE(off + 4) * 0x100000000;
        const clo = i === 0 ? lo : { b, s: keys[2 * i], e: keys[2 * i + 1] };
        const chi = i === n - 1 ? hi : { b, s: keys[2 * i + 2], e: keys[2 * i + 3] };
        this.walkPage(t, child, depth + 1, clo, chi, pgno, i);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const off = b.readUInt16LE(PAGEHDRSZ + 2 * i) + PAGEHDRSZ;
      this.checkLeafData(t, b, pgno, i, off, keys[2 * i + 1], bad);
    }
  }

  /**
   * The nodes of a branch or leaf page (or sub-page) at b[base, base + size): each node inside the
   * node area, its key (and inline data, in a leaf) inside the page, keys in order and within the
   * parent's separators. Leaves each key's start and end in `keys`.
   */
  private checkNodes(
    b: Buffer,
    base: number,
    size: number,
    n: number,
    upper: number,
    keys: Int32Array,
    leaf: boolean,
    cmp: Cmp | null,
    lo: Key | null,
    hi: Key | null,
    bad: (what: string) => never,
  ): void {
    const end = base + size;
    for (let i = 0; i < n; i++) {
      const ptr = b.readUInt16LE(base + PAGEHDRSZ + 2 * i);
      const off = base + ptr + PAGEHDRSZ;
      if (ptr < upper || off + NODESIZE > end) bad(`node ${i} at offset ${ptr + PAGEHDRSZ} is outside the node area ${upper + PAGEHDRSZ}..${size}`);
      const ks = off + NODESIZE;
      const ke = ks + b.readUInt16LE(off + 6);
      if (ke > end) bad(`node ${i}: its ${ke - ks}-byte key runs past the end of the page`);
      if (leaf) {
        const data = b.readUInt16LE(off + 4) & F_BIGDATA ? OVREF_SIZE : b.readUInt32LE(off);
        if (ke + data > end) bad(`node ${i}: its ${data}-byte data runs past the end of the page`);
      }
      keys[2 * i] = ks;
      keys[2 * i + 1] = ke;
    }
    if (!cmp) return;
    // a branch's first key is not used: its child holds everything below the second
    const first = leaf ? 0 : 1;
    for (let i = first + 1; i < n; i++) {
      if (cmp(b, keys[2 * i - 2], keys[2 * i - 1], b, keys[2 * i], keys[2 * i + 1]) >= 0) bad(`the key of node ${i} does not sort after node ${i - 1}'s`);
    }
    if (first >= n) return;
    if (lo && cmp(lo.b, lo.s, lo.e, b, keys[2 * first], keys[2 * first + 1]) > 0) bad(`the key of node ${first} sorts before the parent's separator`);
    if (hi && cmp(b, keys[2 * n - 2], keys[2 * n - 1], hi.b, hi.s, hi.e) >= 0) bad(`the key of node ${n - 1} does not sort before the parent's next separator`);
  }

  /** A LEAF2 page (fixed-size duplicates, no node headers): n keys of `ks` bytes, in order. */
  private checkLeaf2(b: Buffer, base: number, size: number, n: number, ks: number, cmp: Cmp | null, lo: Key | null, hi: Key | null, bad: (what: string) => never): void {
    if (ks < 1 || PAGEHDRSZ + n * ks > size) bad(`${n} fixed-size keys of ${ks} bytes do not fit`);
    if (!cmp) return;
    const at = (i: number): number => base + PAGEHDRSZ + i * ks;
    for (let i = 1; i < n; i++) if (cmp(b, at(i - 1), at(i), b, at(i), at(i + 1)) >= 0) bad(`key ${i} does not sort after key ${i - 1}`);
    if (lo && cmp(lo.b, lo.s, lo.e, b, at(0), at(1)) > 0) bad(`key 0 sorts before the parent's separator`);
    if (hi && cmp(b, at(n - 1), at(n), hi.b, hi.s, hi.e) >= 0) bad(`key ${n - 1} does not sort before the parent's next separator`);
  }

  /** A leaf node's data: inline, on overflow pages, a named database, or duplicates. */
  private checkLeafData(t: Tree, b: Buffer, pgno: number, i: number, off: number, ke: number, bad: (what: string) => never): void {
    const flags = b.readUInt16LE(off + 4);
    const size = b.readUInt32LE(off);
    const node = (): string => `${t.name}: page ${pgno} node ${i}`;
    const dupsort = (t.kind === 'main' || t.kind === 'named') && (t.db.flags & MDB_DUPSORT) !== 0;
    if (t.kind === 'free' && ke - (off + NODESIZE) !== 8) bad(`node ${i}: a ${ke - off - NODESIZE}-byte key, not a txnid`);
    switch (flags) {
      case 0:
        if (t.kind === 'free') this.checkFreeList(b, ke, size, node);
        return;
      case F_BIGDATA: {
        if (t.kind === 'dup') break;
        const first = readU64(b, ke);
        const pages = readU64(b, ke + 16);
        if (pages < 1 || pages > this.lastPg || PAGEHDRSZ + size > pages * this.psize) {
          bad(`node ${i}: a ${size}-byte value on ${pages} overflow pages`);
        }
        const why = this.claim(first, pages);
        if (why) this.bad(`${node()} (a ${size}-byte value) points to ${why}`);
        this.read(this.hdr, PAGEHDRSZ, first * this.psize);
        const what = `${node()}: its overflow page ${first}`;
        const own = readU64(this.hdr, 0);
        if (own !== first) this.bad(`${what} says it is page ${own}`);
        const oflags = this.hdr.readUInt16LE(18) & ~P_ADMIN;
        if (oflags !== P_OVERFLOW) this.bad(`${what} has flags 0x${oflags.toString(16)}, not an overflow page's`);
        const opages = this.hdr.readUInt32LE(20);
        if (opages !== pages) this.bad(`${what} says it spans ${opages} pages, the node says ${pages}`);
        const txnid = this.hdr.readBigUInt64LE(8);
        if (txnid > this.txnid) this.bad(`${what} has txnid ${txnid}, after the meta page's ${this.txnid}`);
        this.visit?.({ pgno: first, type: 'overflow', tree: t.name, pages });
        if (t.kind === 'free') {
          const list = Buffer.alloc(size);
          this.read(list, size, first * this.psize + PAGEHDRSZ);
          this.checkFreeList(list, 0, size, () => `${node()} (on overflow page ${first})`);
        }
        return;
      }
      case F_SUBDATA:
        if (t.kind !== 'main') break;
        if (size !== DB_SIZE) bad(`node ${i}: a named database record of ${size} bytes, not ${DB_SIZE}`);
        this.pendingDb(b, ke, `database ${JSON.stringify(b.toString('utf8', off + NODESIZE, ke).replace(/\0$/, ''))}`, 'named', null);
        return;
      case F_DUPDATA:
        if (!dupsort) break;
        this.checkSubPage(t, b, ke, size, () => `${node()}: its duplicates`);
        return;
      case F_DUPDATA | F_SUBDATA:
        if (!dupsort) break;
        if (size !== DB_SIZE) bad(`node ${i}: a duplicates record of ${size} bytes, not ${DB_SIZE}`);
        this.pendingDb(b, ke, `the duplicates of ${node()}`, 'dup', dupCmp(t.db.flags));
        return;
    }
    bad(`node ${i} has flags 0x${flags.toString(16)}, impossible in ${t.kind === 'dup' ? 'duplicates' : `the ${t.name}`}`);
  }

  /** A named database (keys compared by its own flags) or duplicates (by their parent's). */
  private pendingDb(b: Buffer, off: number, name: string, kind: 'named' | 'dup', dupsCmp: Cmp | null): void {
    const db = readDb(b, off);
    this.checkDb(db, name, false);
    this.pending.push({ name, kind, db, cmp: kind === 'dup' ? dupsCmp : keyCmp(db.flags) });
  }

  /** Duplicates kept inline: a sub-page (P_LEAF | P_SUBP) of key-only nodes, or fixed-size keys. */
  private checkSubPage(t: Tree, b: Buffer, base: number, size: number, what: () => string): void {
    const bad = (why: string): never => this.bad(`${what()}: ${why}`);
    if (size < PAGEHDRSZ) bad(`a ${size}-byte sub-page`);
    const fixed = (t.db.flags & MDB_DUPFIXED) !== 0;
    const want = P_LEAF | P_SUBP | (fixed ? P_LEAF2 : 0);
    const flags = b.readUInt16LE(base + 18) & ~P_ADMIN;
    if (flags !== want) bad(`sub-page flags 0x${flags.toString(16)}, expected 0x${want.toString(16)}`);
    const lower = b.readUInt16LE(base + 20);
    const upper = b.readUInt16LE(base + 22);
    const n = lower >> 1;
    if (lower & 1 || n < 1) bad(`sub-page free-space start ${lower}`);
    const cmp = dupCmp(t.db.flags);
    if (fixed) {
      this.checkLeaf2(b, base, size, n, b.readUInt16LE(base + 16), cmp, null, null, bad);
      return;
    }
    if (lower > upper || upper > size - PAGEHDRSZ) bad(`sub-page free space ${lower}..${upper} does not fit its ${size} bytes`);
    this.checkNodes(b, base, size, n, upper, new Int32Array(2 * n), true, cmp, null, null, bad);
  }

  /**
   * A free-page record: an ID list {count, entries}, each entry a page, 0 (unused), or a negative run
   * length followed by the run's first page. LMDB will hand these pages out to writes.
   */
  private checkFreeList(b: Buffer, off: number, size: number, where: () => string): void {
    const count = size >= 8 ? readU64(b, off) : INVALID;
    if (count === INVALID || size % 8 || (count + 1) * 8 > size) this.bad(`${where()}: a free list of ${size} bytes claims ${count} entries`);
    for (let j = 1; j <= count; j++) {
      const v = b.readInt32LE(off + 8 * j + 4) * 0x100000000 + b.readUInt32LE(off + 8 * j);
      if (v === 0) continue;
      let first = v;
      let run = 1;
      if (v < 0) {
        run = -v;
        if (++j > count) this.bad(`${where()}: its free list ends in a run of ${run} pages without a first page`);
        first = readU64(b, off + 8 * j);
      }
      if (first < 2 || first + run - 1 > this.lastPg) {
        this.bad(`${where()}: its free list names pages ${first}..${first + run - 1}, outside pages 2..${this.lastPg} of the meta page`);
      }
    }
  }
}
