// The backend's record layout and reading back what was saved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { Backend, BackendError, decodeVersion, encodeVersion, revisionKey } from '../../dist/server/storage/backend.js';
import { tmpDir } from '../helpers.mjs';

const versions = [
  { key: 'a', main: 2, sub: 0, createRev: 2, version: 1, value: Buffer.from('v1'), lease: '0' },
  { key: 'a', main: 3, sub: 0, createRev: 2, version: 2, value: Buffer.alloc(0), lease: '7587862071253014' },
  { key: '\u0000\u00ffk', main: 3, sub: 1, createRev: 3, version: 1, value: Buffer.alloc(70000, 9), lease: '0' },
  { key: 'a', main: 2 ** 40, sub: 5, createRev: 0, version: 0, value: null, lease: '0' },
];

test('a key version reads back as written: empty and large values, tombstones, binary keys, big revisions', () => {
  for (const v of versions) assert.deepEqual(decodeVersion(encodeVersion(v), v.main, v.sub), v);
});

test('a damaged or foreign record is a BackendError naming its revision', () => {
  const b = encodeVersion(versions[0]);
  assert.throws(() => decodeVersion(b.subarray(0, 10), 2, 0), (e) => e instanceof BackendError && /revision 2\/0/.test(e.message));
  const foreign = Buffer.from(b);
  foreign[0] = 0x85; // what a msgpack map would start with
  assert.throws(() => decodeVersion(foreign, 2, 0), /unknown record format/);
  const longKey = Buffer.from(b);
  longKey.writeUInt32BE(1000, 19 + 1);
  assert.throws(() => decodeVersion(longKey, 2, 0), /key runs past the end/);
});

test('saved versions up to the applied revision come back in revision order; later ones are dropped', async () => {
  const dir = tmpDir('etcd-ts-backend-');
  const file = path.join(dir, 'db');
  const a = Backend.open(file);
  a.save(versions.slice(0, 3), [], { consistentIndex: 3, rev: 3, compactRev: -1 });
  await a.flushed();
  // saved after a crash-interrupted apply: above the applied revision
  a.save([versions[3]], [], { consistentIndex: 3, rev: 3, compactRev: -1 });
  await a.close();
  const b = Backend.open(file);
  assert.deepEqual(b.applied(), { consistentIndex: 3, rev: 3, compactRev: -1 });
  assert.deepEqual([...b.versions()], versions.slice(0, 3));
  await b.close();
});

test('a data dir from before the binary layout (msgpack records) is rewritten at open and reads back the same', async () => {
  const dir = tmpDir('etcd-ts-backend-');
  const file = path.join(dir, 'db');
  const root = open({ path: file, maxDbs: 8, compression: false });
  const kv = root.openDB('kv', { keyEncoding: 'binary' });
  const meta = root.openDB('meta', {});
  for (const v of versions.slice(0, 3)) {
    kv.putSync(revisionKey(v.main, v.sub), { k: Buffer.from(v.key, 'latin1'), c: v.createRev, v: v.version, val: v.value, l: v.lease });
  }
  meta.putSync('applied', { consistentIndex: 3, rev: 3, compactRev: -1 });
  await root.close();
  const b = Backend.open(file);
  assert.deepEqual([...b.versions()], versions.slice(0, 3));
  await b.close();
  const again = Backend.open(file);
  assert.deepEqual([...again.versions()], versions.slice(0, 3), 'and again, now in the binary layout');
  await again.close();
  const raw = open({ path: file, maxDbs: 8, compression: false });
  const bin = raw.openDB('kv', { keyEncoding: 'binary', encoding: 'binary' });
  for (const { value } of bin.getRange({})) assert.equal(value[0], 1, 'format byte of the binary layout');
  await raw.close();
});

test('writes go on after in-process defragmentations, under large values, deletes and lease records (LMDB\'s own compacting copy made LMDB abort here)', () => {
  for (const seed of ['3', '1']) {
    const dir = tmpDir('etcd-ts-defrag-');
    try {
      const r = spawnSync(process.execPath, [fileURLToPath(new URL('../fixtures/defrag-load.mjs', import.meta.url)), path.join(dir, 'db'), '120', seed, '8'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.signal, null, `seed ${seed}: ${r.stderr.slice(-300)}`);
      assert.equal(r.status, 0, `seed ${seed}: ${r.stderr.slice(-300)}`);
      assert.equal(r.stdout, 'done 121\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
