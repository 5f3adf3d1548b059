// A writer of bbolt (boltdb) database files, the format etcd's backend keeps its state in, so that a
// snapshot of our store can be read, checked and restored by real etcd tools. It writes a whole
// file at once from sorted bucket contents; it never updates a file in place.
//
// The file is a sequence of pages (pageSize bytes each, 4096 here). Every page starts with a 16-byte
// header, all integers little-endian:
//
//   id u64 | flags u16 | count u16 | overflow u32
//
// flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist. A page whose content does not fit takes
// `overflow` more pages right after it.
//
//   page 0, 1   meta (the same content twice; bbolt uses the valid one with the higher txid), after
//               the header: magic u32 0xED0CDAED | version u32 2 | pageSize u32 | flags u32 |
//               root bucket {root pgid u64, sequence u64} | freelist pgid u64 | high-water mark u64
//               (number of pages in the file) | txid u64 | checksum u64 (FNV-1a 64 of the 56 bytes
//               before it)
//   freelist    count = number of free page ids, then the ids as u64 (none here: every page is used)
//   leaf        count elements of {flags u32, pos u32, ksize u32, vsize u32}, then the keys and
//               values; pos is counted from the element's own first byte. Element flag 0x01 marks a
//               value that is a bucket: {root pgid u64, sequence u64}, and when root is 0 the bucket
//               is "inline": a leaf page (header and elements) follows in the value itself.
//   branch      count elements of {pos u32, ksize u32, pgid u64}, then the keys: each child's first key.
//
// The root bucket (meta.root) is a B+tree whose leaves map bucket names to bucket values; each bucket
// is a B+tree of its own keys. Small buckets (at most a quarter page, as bbolt decides) are written
// inline, larger ones as pages packed full, with branch pages above them as needed.

export const BOLT_MAGIC = 0xed0cdaed;
export const BOLT_VERSION = 2;

const PAGE_HEADER_SIZE = 16;
const ELEMENT_SIZE = 16; // leaf and branch elements are both 16 bytes
const BUCKET_HEADER_SIZE = 16;
const META_SIZE = 64;

const FLAG_BRANCH = 0x01;
const FLAG_LEAF = 0x02;
const FLAG_META = 0x04;
const FLAG_FREELIST = 0x10;
const BUCKET_LEAF_FLAG = 0x01;

export interface BoltOptions {
  /** Bytes per page; bbolt takes it from the meta page when it opens the file. */
  pageSize: number;
  /** The transaction id written in both meta pages. */
  txid: number;
}

export const DEFAULT_BOLT_OPTIONS: BoltOptions = { pageSize: 4096, txid: 1 };

/** One bucket: its name and its key/value pairs, which must be sorted by key (byte order), keys unique. */
export interface BoltBucket {
  name: Buffer;
  entries: readonly (readonly [Buffer, Buffer])[];
}

interface Element {
  key: Buffer;
  value: Buffer;
  flags: number;
}

/** FNV-1a, 64 bits: bbolt's meta page checksum. */
export function fnv1a64(data: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < data.length; i++) {
    h ^= BigInt(data[i]!);
    h = BigInt.asUintN(64, h * 0x100000001b3n);
  }
  return h;
}

/** Bytes a leaf node with these elements takes, header included. */
function leafSize(elems: readonly Element[]): number {
  let n = PAGE_HEADER_SIZE;
  for (const e of elems) n += ELEMENT_SIZE + e.key.length + e.value.length;
  return n;
}

/** Encodes a leaf node into buf at off (the page header included, with the given id). */
function encodeLeaf(buf: Buffer, off: number, id: number, elems: readonly Element[], overflow: number): void {
  writeHeader(buf, off, id, FLAG_LEAF, elems.length, overflow);
  let data = off + PAGE_HEADER_SIZE + elems.length * ELEMENT_SIZE;
  elems.forEach((e, i) => {
    const at = off + PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    buf.writeUInt32LE(e.flags, at);
    buf.writeUInt32LE(data - at, at + 4);
    buf.writeUInt32LE(e.key.length, at + 8);
    buf.writeUInt32LE(e.value.length, at + 12);
    e.key.copy(buf, data);
    data += e.key.length;
    e.value.copy(buf, data);
    data += e.value.length;
  });
}

function writeHeader(buf: Buffer, off: number, id: number, flags: number, count: number, overflow: number): void {
  if (count > 0xffff) throw new Error(`bbolt: ${count} elements do not fit one page header`);
  buf.writeBigUInt64LE(BigInt(id), off);
  buf.writeUInt16LE(flags, off + 8);
  buf.writeUInt16LE(count, off + 10);
  buf.writeUInt32LE(overflow, off + 12);
}

/** Lays out pages: hands out page ids in file order and keeps the encoded pages. */
class PageWriter {
  readonly pages: Buffer[] = [];
  private next: number;

  constructor(
    readonly pageSize: number,
    firstId: number,
  ) {
    this.next = firstId;
  }

  /** Reserves enough pages for size bytes; returns the first id, its buffer and the overflow count. */
  allocate(size: number): { id: number; buf: Buffer; overflow: number } {
    const n = Math.max(1, Math.ceil(size / this.pageSize));
    const id = this.next;
    this.next += n;
    const buf = Buffer.alloc(n * this.pageSize);
    this.pages.push(buf);
    return { id, buf, overflow: n - 1 };
  }

  get highWaterMark(): number {
    return this.next;
  }

  /**
   * Writes a B+tree holding elems (sorted) and returns its root page id: leaves packed as full as a
   * page allows (an element larger than a page gets a leaf of its own, with overflow pages), then
   * branch levels until one page is left.
   */
  writeTree(elems: readonly Element[]): number {
    let level: { id: number; first: Buffer }[] = [];
    for (const group of packLeaves(elems, this.pageSize)) {
      const { id, buf, overflow } = this.allocate(leafSize(group));
      encodeLeaf(buf, 0, id, group, overflow);
      level.push({ id, first: group[0]?.key ?? Buffer.alloc(0) });
    }
    while (level.length > 1) {
      const parents: { id: number; first: Buffer }[] = [];
      for (const group of packBranches(level, this.pageSize)) {
        let size = PAGE_HEADER_SIZE;
        for (const c of group) size += ELEMENT_SIZE + c.first.length;
        const { id, buf, overflow } = this.allocate(size);
        writeHeader(buf, 0, id, FLAG_BRANCH, group.length, overflow);
        let data = PAGE_HEADER_SIZE + group.length * ELEMENT_SIZE;
        group.forEach((c, i) => {
          const at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
          buf.writeUInt32LE(data - at, at);
          buf.writeUInt32LE(c.first.length, at + 4);
          buf.writeBigUInt64LE(BigInt(c.id), at + 8);
          c.first.copy(buf, data);
          data += c.first.length;
        });
        parents.push({ id, first: group[0]!.first });
      }
      level = parents;
    }
    return level[0]!.id;
  }
}

/**
 * Splits items, in order, into groups that fit a page by sizeOf (the page header counted once),
 * with at least minPerGroup items in a group before it may close, and never more than a page
 * header's count can hold. Nothing at all still gives one (empty) group: an empty tree is one leaf.
 */
function packPages<T>(items: readonly T[], pageSize: number, sizeOf: (t: T) => number, minPerGroup: number): T[][] {
  const groups: T[][] = [];
  let cur: T[] = [];
  let size = PAGE_HEADER_SIZE;
  for (const it of items) {
    const add = sizeOf(it);
    if (cur.length >= minPerGroup && (size + add > pageSize || cur.length === 0xffff)) {
      groups.push(cur);
      cur = [];
      size = PAGE_HEADER_SIZE;
    }
    cur.push(it);
    size += add;
  }
  groups.push(cur);
  return groups;
}

/** Leaves: an element larger than a page gets a leaf of its own. */
const packLeaves = (elems: readonly Element[], pageSize: number): Element[][] =>
  packPages(elems, pageSize, (e) => ELEMENT_SIZE + e.key.length + e.value.length, 1);

/** Branches: at least two children each, so every level has fewer pages than the one below. */
const packBranches = <T extends { first: Buffer }>(children: readonly T[], pageSize: number): T[][] =>
  packPages(children, pageSize, (c) => ELEMENT_SIZE + c.first.length, 2);

function assertSorted(name: Buffer, entries: readonly (readonly [Buffer, Buffer])[]): void {
  for (let i = 1; i < entries.length; i++) {
    if (Buffer.compare(entries[i - 1]![0], entries[i]![0]) >= 0) {
      throw new Error(`bbolt: bucket ${name.toString()} keys are not sorted and unique at index ${i}`);
    }
  }
}

/**
 * Writes a complete bbolt file holding these buckets (top-level only). Returns the file's bytes:
 * high-water mark × pageSize.
 */
export function writeBolt(buckets: readonly BoltBucket[], opts: Partial<BoltOptions> = {}): Buffer {
  const { pageSize, txid } = { ...DEFAULT_BOLT_OPTIONS, ...opts };
  const sorted = [...buckets].sort((a, b) => Buffer.compare(a.name, b.name));
  assertSorted(Buffer.from('(root)'), sorted.map((b) => [b.name, Buffer.alloc(0)] as const));

  // page 2 is the freelist; the buckets' pages follow
  const FREELIST_ID = 2;
  const w = new PageWriter(pageSize, 3);
  const rootElems: Element[] = [];
  for (const b of sorted) {
    assertSorted(b.name, b.entries);
    const elems: Element[] = b.entries.map(([key, value]) => ({ key, value, flags: 0 }));
    const value = bucketValue(w, elems, pageSize);
    rootElems.push({ key: b.name, value, flags: BUCKET_LEAF_FLAG });
  }
  const root = w.writeTree(rootElems);
  const hwm = w.highWaterMark;

  const out = Buffer.alloc(hwm * pageSize);
  for (const id of [0, 1]) writeMeta(out, id, pageSize, root, FREELIST_ID, hwm, txid);
  writeHeader(out, FREELIST_ID * pageSize, FREELIST_ID, FLAG_FREELIST, 0, 0);
  let at = 3 * pageSize;
  for (const p of w.pages) {
    p.copy(out, at);
    at += p.length;
  }
  return out;
}

/** The value a bucket has in its parent: inline when small enough, else a header pointing at its tree. */
function bucketValue(w: PageWriter, elems: readonly Element[], pageSize: number): Buffer {
  const size = leafSize(elems);
  if (size <= pageSize / 4) {
    const v = Buffer.alloc(BUCKET_HEADER_SIZE + size); // root 0, sequence 0: inline
    encodeLeaf(v, BUCKET_HEADER_SIZE, 0, elems, 0);
    return v;
  }
  const v = Buffer.alloc(BUCKET_HEADER_SIZE);
  v.writeBigUInt64LE(BigInt(w.writeTree(elems)), 0);
  return v;
}

function writeMeta(out: Buffer, id: number, pageSize: number, root: number, freelist: number, hwm: number, txid: number): void {
  const off = id * pageSize;
  writeHeader(out, off, id, FLAG_META, 0, 0);
  const m = off + PAGE_HEADER_SIZE;
  out.writeUInt32LE(BOLT_MAGIC, m);
  out.writeUInt32LE(BOLT_VERSION, m + 4);
  out.writeUInt32LE(pageSize, m + 8);
  out.writeUInt32LE(0, m + 12);
  out.writeBigUInt64LE(BigInt(root), m + 16);
  out.writeBigUInt64LE(0n, m + 24);
  out.writeBigUInt64LE(BigInt(freelist), m + 32);
  out.writeBigUInt64LE(BigInt(hwm), m + 40);
  out.writeBigUInt64LE(BigInt(txid), m + 48);
  out.writeBigUInt64LE(fnv1a64(out.subarray(m, m + META_SIZE - 8)), m + META_SIZE - 8);
}
