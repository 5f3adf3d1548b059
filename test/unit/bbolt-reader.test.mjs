// The CLI's bbolt reader (src/bbolt/reader.ts) and snapshot status (src/cli/snapshot-file.ts):
// files from the server's writer are read back entry for entry, agree with the independent test
// reader (test/bbolt-reader.mjs), pass the integrity check, and give the status real etcdctl
// computes (when it is installed). Damaged files give bbolt's error texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeBolt, fnv1a64 } from '../../dist/server/storage/bbolt.js';
import { BoltReader } from '../../dist/bbolt/reader.js';
import { crc32c } from '../../dist/bbolt/crc32c.js';
import { snapshotStatus } from '../../dist/cli/snapshot-file.js';
import { readBolt } from '../bbolt-reader.mjs';
import { ETCDCTL_BIN, tmpDir } from '../helpers.mjs';

const haveEtcdctl = fs.existsSync(ETCDCTL_BIN);
const b = (s) => Buffer.from(s);

function withFile(buf, f) {
  const dir = tmpDir('bbolt-reader-');
  const file = path.join(dir, 'db');
  fs.writeFileSync(file, buf);
  try {
    return f(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readAll(file) {
  const db = BoltReader.open(file);
  try {
    const out = new Map();
    for (const e of db.rootEntries()) {
      assert.ok(e.isBucket);
      out.set(e.key.toString('latin1'), [...db.entries(e.value)].map((x) => [Buffer.from(x.key), Buffer.from(x.value)]));
    }
    return { buckets: out, errors: db.check(), size: db.size };
  } finally {
    db.close();
  }
}

test('crc32c: the Castagnoli check value, and chaining', () => {
  assert.equal(crc32c(b('123456789')), 0xe3069283);
  assert.equal(crc32c(b('6789'), crc32c(b('12345'))), 0xe3069283);
});

test('reads back what the writer wrote: inline, multi-page, branch levels, overflow values', () => {
  const many = Array.from({ length: 5000 }, (_, i) => [b(`k${String(i).padStart(6, '0')}`), b(`value-${i}`.repeat(i % 13))]);
  const buckets = [
    { name: b('empty'), entries: [] },
    { name: b('small'), entries: [[b('a'), b('1')], [b('b'), b('')]] },
    { name: b('many'), entries: many },
    { name: b('huge'), entries: [[b('big'), Buffer.alloc(50000, 7)], [b('big2'), Buffer.alloc(9000, 1)]] },
  ];
  const buf = writeBolt(buckets);
  withFile(buf, (file) => {
    const got = readAll(file);
    assert.deepEqual(got.errors, []);
    assert.equal(got.size, buf.length);
    const ref = readBolt(buf);
    assert.deepEqual(ref.errors, []);
    for (const bk of buckets) {
      assert.deepEqual(got.buckets.get(bk.name.toString()), bk.entries.map(([k, v]) => [k, v]), bk.name.toString());
      assert.deepEqual(got.buckets.get(bk.name.toString()), ref.buckets.get(bk.name.toString()));
    }
    if (haveEtcdctl) {
      const r = spawnSync(ETCDCTL_BIN, ['snapshot', 'status', file, '-w', 'json'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
      assert.equal(r.status, 0, r.stderr);
      const want = JSON.parse(r.stdout);
      const s = snapshotStatus(file);
      assert.deepEqual({ hash: s.hash, revision: Number(s.revision), totalKey: s.totalKey, totalSize: s.totalSize }, want);
    }
  });
});

test('damage: one bad meta page falls back to the other; both bad, short or empty files fail as bbolt does', () => {
  const buf = writeBolt([{ name: b('key'), entries: [[b('x'), b('y')]] }]);
  const meta0Bad = Buffer.from(buf);
  meta0Bad[16] ^= 0xff; // magic of meta 0
  withFile(meta0Bad, (file) => assert.deepEqual(readAll(file).errors, []));
  const bothBad = Buffer.from(meta0Bad);
  bothBad[4096 + 16 + 4] = 9; // version of meta 1
  withFile(bothBad, (file) => assert.throws(() => BoltReader.open(file), /^Error: invalid database$/));
  const sumBad = Buffer.from(buf);
  sumBad[16 + 48] ^= 1; // txid of meta 0, under its checksum
  sumBad[4096 + 16 + 48] ^= 1;
  withFile(sumBad, (file) => assert.throws(() => BoltReader.open(file), /^Error: checksum error$/));
  withFile(Buffer.alloc(100, 1), (file) => assert.throws(() => BoltReader.open(file), /^Error: invalid database$/));
  withFile(Buffer.alloc(5000, 1), (file) => assert.throws(() => BoltReader.open(file), /^Error: file size too small$/));
  withFile(Buffer.alloc(0), (file) => assert.throws(() => BoltReader.open(file), /write .*: bad file descriptor/));
});

test('integrity check: a page nothing reaches and nothing frees is reported, and status refuses the file', () => {
  const buf = writeBolt([{ name: b('key'), entries: [[b('x'), b('y')]] }]);
  // one more page past the tree, counted in the high-water mark of both metas
  const grown = Buffer.concat([buf, Buffer.alloc(4096)]);
  const hwm = buf.length / 4096;
  for (const off of [16, 4096 + 16]) {
    grown.writeBigUInt64LE(BigInt(hwm + 1), off + 40);
    grown.writeBigUInt64LE(fnv1a64(grown.subarray(off, off + 56)), off + 56);
  }
  withFile(grown, (file) => {
    assert.deepEqual(readAll(file).errors, [`page ${hwm}: unreachable unfreed`]);
    assert.throws(() => snapshotStatus(file), new RegExp(`^Error: snapshot file integrity check failed. 1 errors found.\\npage ${hwm}: unreachable unfreed$`));
    if (haveEtcdctl) {
      const r = spawnSync(ETCDCTL_BIN, ['snapshot', 'status', file], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
      assert.equal(r.stderr, `Error: snapshot file integrity check failed. 1 errors found.\npage ${hwm}: unreachable unfreed\n`);
    }
  });
});
