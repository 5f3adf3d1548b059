// The bbolt writer (src/server/storage/bbolt.ts) and etcd's snapshot layout (storage/snapshot.ts):
// files written here are read back with an independent reader (test/bbolt-reader.mjs), and, when
// real etcdctl is installed, with `etcdctl snapshot status`, which opens them with bbolt itself and
// runs bbolt's consistency check (every page reachable once, no page past the end).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeBolt, fnv1a64 } from '../../dist/server/storage/bbolt.js';
import { revisionKey, snapshotBuckets, writeSnapshotDb } from '../../dist/server/storage/snapshot.js';
import { readBolt } from '../bbolt-reader.mjs';
import { ETCDCTL_BIN, tmpDir } from '../helpers.mjs';

const haveEtcdctl = fs.existsSync(ETCDCTL_BIN);
const b = (s) => Buffer.from(s);
const key = (i, width = 8) => b(`k${String(i).padStart(width, '0')}`);

/** bbolt's own view of a file, through real etcdctl: { hash, revision, totalKey, totalSize }. */
function etcdctlStatus(buf) {
  const dir = tmpDir('bbolt-unit-');
  const file = path.join(dir, 'snap.db');
  fs.writeFileSync(file, buf);
  const r = spawnSync(ETCDCTL_BIN, ['snapshot', 'status', file, '-w', 'json'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function roundTrip(buckets, opts) {
  const buf = writeBolt(buckets, opts);
  const r = readBolt(buf);
  assert.deepEqual(r.errors, []);
  assert.equal(buf.length, r.hwm * r.pageSize, 'the file is exactly high-water mark pages long');
  assert.deepEqual([...r.buckets.keys()], buckets.map((x) => x.name.toString()).sort());
  for (const bk of buckets) {
    const got = r.buckets.get(bk.name.toString());
    assert.equal(got.length, bk.entries.length, `${bk.name} entry count`);
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i][0].equals(bk.entries[i][0]), `${bk.name} key ${i}`);
      assert.ok(got[i][1].equals(bk.entries[i][1]), `${bk.name} value ${i}`);
    }
  }
  return { buf, r };
}

test('empty buckets: inline, and a file of meta, meta, freelist and the root page', () => {
  const { buf, r } = roundTrip([{ name: b('one'), entries: [] }, { name: b('two'), entries: [] }]);
  assert.equal(r.hwm, 4);
  assert.equal(r.pageSize, 4096);
  if (haveEtcdctl) assert.equal(etcdctlStatus(buf).totalKey, 0);
});

test('no buckets at all', () => {
  roundTrip([]);
});

test('meta pages carry an FNV-1a checksum; a flipped byte is caught', () => {
  const { buf } = roundTrip([{ name: b('a'), entries: [[b('k'), b('v')]] }]);
  assert.equal(fnv1a64(Buffer.from('a')), 0xaf63dc4c8601ec8cn, 'FNV-1a 64 of "a"');
  const meta0 = buf.subarray(16, 16 + 56);
  assert.equal(buf.readBigUInt64LE(16 + 56), fnv1a64(meta0));
  const bad = Buffer.from(buf);
  bad[16 + 40] ^= 1; // high-water mark of meta 0
  assert.ok(readBolt(bad).errors.some((e) => /meta 0: checksum/.test(e)));
});

test('thousands of keys: many leaves under branch pages, order kept', () => {
  const entries = [];
  for (let i = 0; i < 50000; i++) entries.push([key(i), b(`value-${i}-`.padEnd(40, 'x'))]);
  const { buf, r } = roundTrip([
    { name: b('big'), entries },
    { name: b('small'), entries: [[b('x'), b('y')]] },
  ]);
  assert.ok(r.hwm > 500, `${r.hwm} pages`);
  if (haveEtcdctl) assert.equal(etcdctlStatus(buf).totalKey, 50001);
});

test('values larger than a page go to overflow pages', () => {
  const entries = [
    [b('a'), Buffer.alloc(5000, 1)],
    [b('b'), b('small')],
    [b('c'), Buffer.alloc(3 * 1024 * 1024 + 7, 2)],
    [b('d'), Buffer.alloc(4096 - 16 - 16 - 1, 3)], // exactly one page
    [b('e'), Buffer.alloc(4096 - 16 - 16, 4)], // one byte too many for one page
  ];
  const { buf } = roundTrip([{ name: b('blobs'), entries }]);
  if (haveEtcdctl) assert.equal(etcdctlStatus(buf).totalKey, 5);
});

test('many buckets: the root bucket itself spans several pages', () => {
  const buckets = [];
  for (let i = 0; i < 200; i++) {
    const entries = [];
    for (let j = 0; j < 20; j++) entries.push([key(j, 3), Buffer.alloc(30, j)]);
    buckets.push({ name: b(`bucket-${String(i).padStart(4, '0')}`), entries });
  }
  const { buf, r } = roundTrip(buckets);
  assert.ok(r.hwm > 20);
  if (haveEtcdctl) assert.equal(etcdctlStatus(buf).totalKey, 200 * 20);
});

test('unsorted keys are refused', () => {
  assert.throws(() => writeBolt([{ name: b('a'), entries: [[b('2'), b('')], [b('1'), b('')]] }]), /not sorted/);
});

test('other page sizes', () => {
  const entries = [];
  for (let i = 0; i < 3000; i++) entries.push([key(i), Buffer.alloc(i % 300, 9)]);
  const { r } = roundTrip([{ name: b('k'), entries }], { pageSize: 8192 });
  assert.equal(r.pageSize, 8192);
});

// The byte strings below were read from a real etcd 3.4.23 data dir after: put a 1, put b 2, put a 3,
// del b, put c 4 --lease <id>, compaction 3.
test("etcd's snapshot layout: revision keys, KeyValue and Lease encodings, meta keys", () => {
  const v = (key, main, createRev, version, value, lease = '0') => ({ key, main, sub: 0, createRev, version, value: value === null ? null : b(value), lease });
  const state = {
    versions: [v('a', 2, 2, 1, '1'), v('b', 3, 3, 1, '2'), v('a', 4, 2, 2, '3'), v('b', 5, 0, 0, null), v('c', 6, 6, 1, '4', '7587899123390956809')],
    leases: [{ id: '7587899123390956809', ttl: 100 }],
    consistentIndex: 10,
    compactRev: 3,
    member: { id: 10276657743932975437n, name: 'default', peerURLs: ['http://localhost:2380'], clientURLs: ['http://localhost:2379'] },
  };
  const buckets = Object.fromEntries(snapshotBuckets(state).map((x) => [x.name.toString(), x.entries.map(([k, val]) => [k.toString('hex'), val.toString('hex')])]));
  assert.deepEqual(buckets.key, [
    ['00000000000000025f0000000000000000', '0a01611002180220012a0131'],
    ['00000000000000035f0000000000000000', '0a01621003180320012a0132'],
    ['00000000000000045f0000000000000000', '0a01611002180420022a0133'],
    ['00000000000000055f000000000000000074', '0a0162'],
    ['00000000000000065f0000000000000000', '0a01631006180620012a013430898add89cec1e8a669'],
  ]);
  assert.deepEqual(buckets.lease, [['694da20ce1374509', '08898add89cec1e8a6691064']]);
  assert.deepEqual(buckets.meta, [
    [b('consistent_index').toString('hex'), '000000000000000a'],
    [b('finishedCompactRev').toString('hex'), '00000000000000035f0000000000000000'],
    [b('scheduledCompactRev').toString('hex'), '00000000000000035f0000000000000000'],
  ]);
  assert.deepEqual(buckets.members, [
    [b('8e9e05c52164694d').toString('hex'), b('{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}').toString('hex')],
  ]);
  assert.deepEqual(buckets.cluster, [[b('clusterVersion').toString('hex'), b('3.4.0').toString('hex')]]);
  assert.deepEqual(buckets.auth, [[b('authRevision').toString('hex'), '0000000000000001']]);
  for (const empty of ['alarm', 'authRoles', 'authUsers', 'members_removed']) assert.deepEqual(buckets[empty], [], empty);
  assert.equal(revisionKey(258, 3, true).toString('hex'), '00000000000001025f000000000000000374');

  const db = writeSnapshotDb(state);
  assert.deepEqual(readBolt(db).errors, []);
  if (haveEtcdctl) {
    const st = etcdctlStatus(db);
    assert.equal(st.revision, 6);
    assert.equal(st.totalKey, 12, 'the same count real etcd reports for this state');
  }
});
