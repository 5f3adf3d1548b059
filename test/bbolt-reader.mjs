// A small, independent reader of bbolt files for the tests: checks the meta pages (magic, version,
// FNV-1a checksum), walks the root bucket and every bucket's branch/leaf pages (inline buckets too),
// and checks that every page below the high-water mark is reached exactly once or free. It shares no
// code with src/server/storage/bbolt.ts on purpose, so the two can check each other.
//
// readBolt(buf) -> { pageSize, txid, hwm, buckets: Map<name, [key Buffer, value Buffer][]>, errors: [] }

const MAGIC = 0xed0cdaed;
const PAGE_HEADER = 16;
const FLAG_BRANCH = 0x01;
const FLAG_LEAF = 0x02;
const FLAG_META = 0x04;
const FLAG_FREELIST = 0x10;
const BUCKET_LEAF = 0x01;

function fnv1a64(buf) {
  let h = 0xcbf29ce484222325n;
  for (const b of buf) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function readMeta(buf, pageSize, id) {
  const off = id * pageSize;
  const flags = buf.readUInt16LE(off + 8);
  const m = off + PAGE_HEADER;
  const meta = {
    magic: buf.readUInt32LE(m),
    version: buf.readUInt32LE(m + 4),
    pageSize: buf.readUInt32LE(m + 8),
    flags: buf.readUInt32LE(m + 12),
    root: Number(buf.readBigUInt64LE(m + 16)),
    sequence: buf.readBigUInt64LE(m + 24),
    freelist: buf.readBigUInt64LE(m + 32),
    hwm: Number(buf.readBigUInt64LE(m + 40)),
    txid: buf.readBigUInt64LE(m + 48),
    checksum: buf.readBigUInt64LE(m + 56),
  };
  const errors = [];
  if ((flags & FLAG_META) === 0) errors.push(`meta ${id}: page flags ${flags}`);
  if (meta.magic !== MAGIC) errors.push(`meta ${id}: bad magic`);
  if (meta.version !== 2) errors.push(`meta ${id}: version ${meta.version}`);
  if (meta.checksum !== fnv1a64(buf.subarray(m, m + 56))) errors.push(`meta ${id}: checksum mismatch`);
  return { meta, errors };
}

export function readBolt(buf) {
  const pageSize = buf.readUInt32LE(PAGE_HEADER + 8);
  const m0 = readMeta(buf, pageSize, 0);
  const m1 = readMeta(buf, pageSize, 1);
  const errors = [...m0.errors, ...m1.errors];
  // the valid meta with the higher txid wins, as in bbolt
  let meta = m0.meta;
  if (m0.errors.length || (m1.errors.length === 0 && m1.meta.txid > m0.meta.txid)) meta = m1.meta;
  const seen = new Map(); // page id -> what reached it
  const mark = (id, overflow, what) => {
    for (let i = 0; i <= overflow; i++) {
      if (seen.has(id + i)) errors.push(`page ${id + i}: reached twice (${seen.get(id + i)}, ${what})`);
      seen.set(id + i, what);
    }
  };
  mark(0, 0, 'meta0');
  mark(1, 0, 'meta1');
  const free = new Set();
  if (meta.freelist !== 0xffffffffffffffffn) {
    const fl = Number(meta.freelist) * pageSize;
    if ((buf.readUInt16LE(fl + 8) & FLAG_FREELIST) === 0) errors.push('freelist page has wrong flags');
    let count = buf.readUInt16LE(fl + 10);
    let at = fl + PAGE_HEADER;
    if (count === 0xffff) {
      count = Number(buf.readBigUInt64LE(at));
      at += 8;
    }
    for (let i = 0; i < count; i++) free.add(Number(buf.readBigUInt64LE(at + i * 8)));
    mark(Number(meta.freelist), buf.readUInt32LE(fl + 12), 'freelist');
  }

  /** Elements of a node (a page in the file, or an inline page inside a bucket value). */
  const walkNode = (nodeBuf, base, pageId, out, what) => {
    const flags = nodeBuf.readUInt16LE(base + 8);
    const count = nodeBuf.readUInt16LE(base + 10);
    if (pageId !== null && nodeBuf.readBigUInt64LE(base) !== BigInt(pageId)) errors.push(`page ${pageId}: header id ${nodeBuf.readBigUInt64LE(base)}`);
    if (flags & FLAG_BRANCH) {
      let prev = null;
      for (let i = 0; i < count; i++) {
        const e = base + PAGE_HEADER + i * 16;
        const pos = nodeBuf.readUInt32LE(e);
        const ksize = nodeBuf.readUInt32LE(e + 4);
        const child = Number(nodeBuf.readBigUInt64LE(e + 8));
        const key = nodeBuf.subarray(e + pos, e + pos + ksize);
        if (prev && Buffer.compare(prev, key) >= 0) errors.push(`${what}: branch keys out of order`);
        prev = key;
        const before = out.length;
        walkPage(child, out, what);
        if (out.length > before && Buffer.compare(out[before][0], key) !== 0) errors.push(`${what}: branch key is not the child's first key`);
      }
    } else if (flags & FLAG_LEAF) {
      for (let i = 0; i < count; i++) {
        const e = base + PAGE_HEADER + i * 16;
        const eflags = nodeBuf.readUInt32LE(e);
        const pos = nodeBuf.readUInt32LE(e + 4);
        const ksize = nodeBuf.readUInt32LE(e + 8);
        const vsize = nodeBuf.readUInt32LE(e + 12);
        const key = Buffer.from(nodeBuf.subarray(e + pos, e + pos + ksize));
        const value = Buffer.from(nodeBuf.subarray(e + pos + ksize, e + pos + ksize + vsize));
        out.push([key, value, eflags]);
      }
    } else {
      errors.push(`${what}: page ${pageId} has flags ${flags}`);
    }
  };
  const walkPage = (id, out, what) => {
    if (id >= meta.hwm) {
      errors.push(`${what}: page ${id} above high-water mark ${meta.hwm}`);
      return;
    }
    const off = id * pageSize;
    mark(id, buf.readUInt32LE(off + 12), what);
    walkNode(buf, off, id, out, what);
  };
  const bucketEntries = (value, what) => {
    const root = Number(value.readBigUInt64LE(0));
    const out = [];
    if (root === 0) walkNode(value, 16, null, out, what); // inline: a page right after the header
    else walkPage(root, out, what);
    for (let i = 1; i < out.length; i++) {
      if (Buffer.compare(out[i - 1][0], out[i][0]) >= 0) errors.push(`${what}: keys out of order`);
    }
    return out;
  };

  const buckets = new Map();
  const rootOut = [];
  walkPage(meta.root, rootOut, 'root');
  for (const [name, value, eflags] of rootOut) {
    if ((eflags & BUCKET_LEAF) === 0) {
      errors.push(`root: ${name} is not a bucket`);
      continue;
    }
    const entries = bucketEntries(value, name.toString());
    buckets.set(
      name.toString('latin1'),
      entries.map(([k, v]) => [k, v]),
    );
  }
  // without a stored freelist (etcd 3.4 runs bbolt with NoFreelistSync) bbolt takes every unreached
  // page as free
  const noFreelist = meta.freelist === 0xffffffffffffffffn;
  for (let i = 0; i < meta.hwm; i++) {
    if (!seen.has(i) && !free.has(i) && !noFreelist) errors.push(`page ${i}: unreachable unfreed`);
    if (seen.has(i) && free.has(i)) errors.push(`page ${i}: reachable and free`);
  }
  if (buf.length < meta.hwm * pageSize) errors.push(`file is ${buf.length} bytes, high-water mark needs ${meta.hwm * pageSize}`);
  return { pageSize, txid: meta.txid, hwm: meta.hwm, root: meta.root, buckets, errors };
}
