// The structural check of the LMDB file run before lmdb-js maps it (src/server/storage/lmdb_check.ts):
// databases our backend writes pass, damaged ones are named with what is wrong and where, and
// Backend.open refuses them with a BackendError instead of crashing in LMDB. Opens of damaged files
// that could reach LMDB run in a child process, so a miss fails the test rather than killing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backend } from '../../dist/server/storage/backend.js';
import { checkLmdbFile } from '../../dist/server/storage/lmdb_check.js';
import { tmpDir } from '../helpers.mjs';

const PS = 4096;
const BACKEND = fileURLToPath(new URL('../../dist/server/storage/backend.js', import.meta.url));
const tmp = () => tmpDir('etcd-ts-lmdb-check-');

let rev = 1;
/** Versions of keys k0..k(n-1) at the next revision; every 97th value spans overflow pages. */
function batch(n, size) {
  rev++;
  return Array.from({ length: n }, (_, i) => ({
    key: `key/${i % 3000}`,
    main: rev,
    sub: i,
    createRev: rev,
    version: 1,
    value: i % 97 === 5 ? Buffer.alloc(5000 + i * 37, i) : Buffer.alloc(size, i),
    lease: i % 11 === 0 ? String(7587862071253014 + i) : '0',
  }));
}

/** Every page the check walks, by tree and type. */
function walked(file) {
  const pages = [];
  assert.equal(checkLmdbFile(file, (p) => pages.push(p)), undefined);
  return pages;
}

let healthy;
/** A database our backend wrote: many keys, values over a page, deletes, leases; closed. */
async function healthyDb() {
  if (healthy) return healthy;
  const dir = path.join(tmp(), 'db');
  const b = Backend.open(dir);
  const all = [];
  for (let r = 0; r < 20; r++) {
    const vs = batch(1000, 60 + r * 7);
    all.push(...vs);
    b.save(vs, r % 4 === 3 ? all.splice(0, 1500) : [], { consistentIndex: r + 1, rev, compactRev: -1 });
    b.putLease(String(r), { ttl: r });
    if (r % 5 === 0) b.removeLease(String(r - 1));
  }
  await b.close();
  healthy = path.join(dir, 'data.mdb');
  return healthy;
}

/** A copy of the healthy file, damaged by fn(buf, pages) in place or returned; its path (data.mdb in a new dir). */
async function damaged(fn) {
  const src = await healthyDb();
  const buf = fs.readFileSync(src);
  const out = fn(buf, walked(src));
  const dir = path.join(tmp(), 'db');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'data.mdb'), Buffer.isBuffer(out) ? out : buf);
  return path.join(dir, 'data.mdb');
}

const at = (pgno) => pgno * PS;
/** Byte offset of node i of page pgno. */
const node = (buf, pgno, i) => at(pgno) + 24 + buf.readUInt16LE(at(pgno) + 24 + 2 * i);
const pageOf = (pages, tree, type, n = 0) => pages.filter((p) => p.tree === tree && p.type === type)[n].pgno;
/** Offsets of the three meta copies: page 0, the synced one in page 0's second half, page 1. */
const METAS = [24, PS / 2 + 24, PS + 24];

test('a database the backend wrote passes: many keys, values over a page, deletes, leases; and again after a defragment and more writes', async () => {
  const file = await healthyDb();
  const pages = walked(file);
  const trees = new Set(pages.map((p) => p.tree));
  for (const t of ['main tree', 'database "kv"', 'database "meta"', 'database "lease"']) assert.ok(trees.has(t), t);
  assert.ok(pages.some((p) => p.tree === 'database "kv"' && p.type === 'branch'), 'kv is deeper than one page');
  assert.ok(pages.some((p) => p.type === 'overflow' && p.pages > 1), 'values span several overflow pages');

  const dir = path.join(tmp(), 'db');
  fs.mkdirSync(dir);
  fs.copyFileSync(file, path.join(dir, 'data.mdb'));
  let b = Backend.open(dir);
  await b.defragment();
  await b.close();
  assert.equal(checkLmdbFile(path.join(dir, 'data.mdb')), undefined, 'the compacted copy');
  b = Backend.open(dir);
  for (let r = 0; r < 5; r++) b.save(batch(500, 300), [], { consistentIndex: 100 + r, rev, compactRev: -1 });
  b.removeLease('3');
  b.save([], [], { consistentIndex: 200, rev, compactRev: -1 });
  await b.close();
  assert.equal(checkLmdbFile(path.join(dir, 'data.mdb')), undefined, 'written to after the compaction');
  assert.equal(checkLmdbFile(path.join(dir, 'nosuch.mdb')), undefined, 'no file yet: a new database');
});

test('a damaged file is named with what is wrong and where: truncated, bytes flipped, start zeroed, garbage', async () => {
  const cases = [
    ['truncated to half', (b) => b.subarray(0, b.length >> 1), /points to pages? [\d.]+, past the end of the file: it is \d+ bytes \(\d+ pages of 4096\), the meta page \(txn \d+\) counts \d+ pages: truncated\?/],
    ['every 997th byte flipped after the meta pages', (b) => {
      for (let i = 2 * PS; i < b.length; i += 997) b[i] ^= 0xff;
    }, /^(free-page tree|main tree|database "\w+"): (the root|page \d+)/],
    ['the first 8 KiB zeroed', (b) => b.fill(0, 0, 8192), /^meta page 0: magic 0x00000000, not LMDB's 0xbeefc0de/],
    ['garbage', (b) => {
      let x = 7;
      for (let i = 0; i < b.length; i++) b[i] = (x = (x * 1103515245 + 12345) & 0x7fffffff) >> 16;
    }, /^meta page 0: magic 0x[0-9a-f]{8}, not LMDB's/],
  ];
  for (const [name, fn, re] of cases) assert.match(checkLmdbFile(await damaged(fn)) ?? 'passed', re, name);
});

test('damaged meta pages: magic, version, page size, root, a file shorter than the meta pages', async () => {
  const cases = [
    ['both versions', (b) => METAS.forEach((m) => b.writeUInt32LE(3, m + 4)), /^meta page 0: data format version 3, expected 2$/],
    ['page 1 magic', (b) => b.writeUInt32LE(0x12345678, PS + 24), /^meta page 1: magic 0x12345678/],
    ['page 1 not a meta page', (b) => b.writeUInt16LE(0x02, PS + 18), /^meta page 1: its page header \(page 1, flags 0x2\) is not a meta page's/],
    ['page size', (b) => b.writeUInt32LE(4000, 24 + 24), /^meta page 0: page size 4000 is not a power of two/],
    ['main root', (b) => METAS.forEach((m) => b.writeUInt32LE(0x7fffffff, m + 72 + 40)), /: the main tree: root page 2147483647 is outside pages 2\.\.\d+/],
    ['last page', (b) => METAS.forEach((m) => b.writeBigUInt64LE(0n, m + 120)), /: last page 0 is impossible/],
    ['shorter than the meta pages', (b) => b.subarray(0, 5000), /^the file is 5000 bytes, shorter than its two 4096-byte meta pages$/],
    ['shorter than a meta page', (b) => b.subarray(0, 100), /too short for a meta page: not an LMDB file/],
  ];
  for (const [name, fn, re] of cases) assert.match(checkLmdbFile(await damaged(fn)) ?? 'passed', re, name);
});

test('damaged branch, leaf and overflow pages anywhere in the trees: headers, node offsets and sizes, child pages, overflow references', async () => {
  const KV = 'database "kv"';
  const cases = [
    ['branch page flags', (b, p) => b.writeUInt16LE(0x04, at(pageOf(p, KV, 'branch', 1)) + 18), /^database "kv": page \d+ \(level 2 of 3, file offset \d+\): flags 0x4, expected a branch page/],
    ['branch page number', (b, p) => b.writeUInt32LE(99, at(pageOf(p, KV, 'branch', 1))), /: its header says it is page 99$/],
    ['child page past the last page', (b, p) => b.writeUInt16LE(0x100, node(b, pageOf(p, KV, 'branch'), 1) + 4), /^database "kv": page \d+ node 1 points to page \d+, outside pages 2\.\.\d+ of the meta page/],
    ['child page already in the tree', (b, p) => {
      const root = pageOf(p, KV, 'branch');
      b.writeUInt32LE(root, node(b, pageOf(p, KV, 'branch', 1), 0));
    }, /points to page \d+, which is already part of the database: pages shared or a cycle/],
    ['leaf free space', (b, p) => b.writeUInt16LE(5000, at(pageOf(p, KV, 'leaf', 3)) + 22), /^database "kv": page \d+ \(level 3 of 3, file offset \d+\): free space \d+\.\.5000 does not fit the page$/],
    ['odd leaf free-space start', (b, p) => b.writeUInt16LE(b.readUInt16LE(at(pageOf(p, KV, 'leaf', 3)) + 20) + 1, at(pageOf(p, KV, 'leaf', 3)) + 20), /odd free-space start/],
    ['leaf node offset past the page', (b, p) => b.writeUInt16LE(4090, at(pageOf(p, KV, 'leaf', 4)) + 24 + 2 * 3), /: node 3 at offset 4114 is outside the node area/],
    ['leaf node offset into the free space', (b, p) => b.writeUInt16LE(0, at(pageOf(p, KV, 'leaf', 4)) + 24 + 2 * 3), /: node 3 at offset 24 is outside the node area \d+\.\.4096$/],
    ['leaf key size', (b, p) => b.writeUInt16LE(3000, node(b, pageOf(p, 'database "meta"', 'leaf'), 0) + 6), /^database "meta": page \d+ .*: node 0: its 3000-byte key runs past the end of the page$/],
    ['leaf data size', (b, p) => b.writeUInt32LE(100000, node(b, pageOf(p, 'database "lease"', 'leaf'), 0)), /^database "lease": page \d+ .*: node 0: its 100000-byte data runs past the end of the page$/],
    ['keys out of order', (b, p) => {
      const pg = pageOf(p, KV, 'leaf', 5);
      b.copy(b, node(b, pg, 2) + 8, node(b, pg, 1) + 8, node(b, pg, 1) + 24);
    }, /: the key of node 2 does not sort after node 1's$/],
    ['key outside the parent\'s separators', (b, p) => {
      const pg = pageOf(p, KV, 'leaf', 5);
      b.fill(0, node(b, pg, 0) + 8, node(b, pg, 0) + 24);
    }, /: the key of node 0 sorts before the parent's separator$/],
    ['node flags', (b, p) => b.writeUInt16LE(0x04, node(b, pageOf(p, KV, 'leaf', 6), 0) + 4), /: node 0 has flags 0x4, impossible in the database "kv"$/],
    ['page written after the meta', (b, p) => b.writeBigUInt64LE(1n << 40n, at(pageOf(p, KV, 'leaf', 7)) + 8), /: its txnid 1099511627776 is after the meta page's \d+$/],
    ['overflow page flags', (b, p) => b.writeUInt16LE(0x02, at(pageOf(p, KV, 'overflow')) + 18), /^database "kv": page \d+ node \d+: its overflow page \d+ has flags 0x2, not an overflow page's$/],
    ['overflow page count', (b, p) => b.writeUInt32LE(1, at(pageOf(p, KV, 'overflow')) + 20), /: its overflow page \d+ says it spans 1 pages, the node says \d+$/],
    ['overflow reference', (b, p) => {
      // the leaf node holding the first value on overflow pages: its reference {pgno, txnid, pages}
      const ov = pageOf(p, KV, 'overflow');
      for (const leaf of p.filter((x) => x.tree === KV && x.type === 'leaf')) {
        for (let i = 0; i < b.readUInt16LE(at(leaf.pgno) + 20) >> 1; i++) {
          const n = node(b, leaf.pgno, i);
          if (b.readUInt16LE(n + 4) === 1 && b.readUInt32LE(n + 24) === ov) return void b.writeBigUInt64LE(1n << 30n, n + 24 + 16);
        }
      }
      throw new Error('reference not found');
    }, /^database "kv": page \d+ \(level 3 of 3, file offset \d+\): node \d+: a \d+-byte value on 1073741824 overflow pages$/],
  ];
  for (const [name, fn, re] of cases) assert.match(checkLmdbFile(await damaged(fn)) ?? 'passed', re, name);
});

/** Runs Backend.open (and reads every record, and writes) on each file in a child process. */
function openInChild(files) {
  const script = `
    const { Backend } = await import(${JSON.stringify(BACKEND)});
    for (const file of JSON.parse(process.argv[1])) {
      try {
        const b = Backend.open(file);
        for (const v of b.versions());
        b.putMetaSync('term', 1);
        await b.close();
        console.log(JSON.stringify('opened'));
      } catch (e) {
        console.log(JSON.stringify(e.name + ': ' + e.message));
      }
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(files)], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr.slice(-2000)}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

test('Backend.open refuses a damaged file with a BackendError naming it corrupt, before LMDB maps it', async () => {
  const files = [
    await damaged((b) => b.subarray(0, b.length >> 1)),
    await damaged((b) => {
      for (let i = 2 * PS; i < b.length; i += 997) b[i] ^= 0xff;
    }),
    await damaged((b) => b.fill(0, 0, 8192)),
    await damaged((b) => b.fill(0x5a)),
  ];
  const dirs = files.map((f) => path.dirname(f));
  const before = files.map((f) => fs.readFileSync(f));
  const results = openInChild(dirs);
  results.forEach((msg, i) => assert.match(msg, new RegExp(`^BackendError: backend: ${files[i].replace(/[.]/g, '\\.')} is corrupt: \\S`), msg));
  files.forEach((f, i) => assert.deepEqual(fs.readFileSync(f), before[i], 'the file is left as it was'));
  assert.deepEqual(openInChild([path.dirname(await damaged(() => {}))]), ['opened'], 'an undamaged copy opens');
});

test('random damage to the pages in use is caught, or LMDB reads the file without crashing', async () => {
  let x = 12345;
  const rnd = (n) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) >> 8) % n;
  const dirs = [];
  let caught = 0;
  for (let i = 0; i < 60; i++) {
    const file = await damaged((b, pages) => {
      // a flipped bit, or a run of random bytes, in a meta page, a tree page or an overflow page's
      // first: anywhere, or in its header and node pointers
      const live = [0, 1, ...pages.map((p) => p.pgno)];
      const pg = live[rnd(live.length)];
      const off = at(pg) + (i % 4 < 2 ? rnd(PS - 8) : rnd(24 + Math.min(b.readUInt16LE(at(pg) + 20), PS - 32)));
      if (i % 2) b[off] ^= 1 << rnd(8);
      else for (let k = 1 + rnd(8); k > 0; k--) b[off + k - 1] = rnd(256);
    });
    if (checkLmdbFile(file)) caught++;
    else dirs.push(path.dirname(file));
  }
  assert.ok(caught >= 20, `${caught} of 60 caught`);
  // the rest damaged values, or bytes LMDB does not use: reading them fails or not, but nothing crashes
  assert.equal(openInChild(dirs).length, dirs.length);
});
