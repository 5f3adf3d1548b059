// The write-ahead log with its sync thread (WALOptions.syncThread, the server's default): batches
// are written by the main thread and synced by a dedicated thread. Failures are injected in child
// processes that preload test/fixtures/failing-disk.mjs, which the sync thread loads too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WAL } from '../../dist/server/storage/wal.js';
import { tmpDir } from '../helpers.mjs';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

function tmpdir() {
  return tmpDir('etcd-ts-walt-');
}

function openWal(dir, opts = {}) {
  const synced = [];
  const { wal, records } = WAL.open(
    dir,
    0,
    { segmentBytes: 64 * 1024 * 1024, syncThread: true, ...opts },
    (last) => synced.push(last),
    (err) => {
      throw err;
    },
  );
  return { wal, records, synced };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('sync thread: batches from many turns are synced in order and read back whole', async () => {
  const dir = tmpdir();
  const a = openWal(dir);
  let next = 1;
  for (let t = 0; t < 40; t++) {
    // one record in some turns (synced inline when the thread is idle), many in others
    const n = t % 4 === 0 ? 1 : 7;
    for (let i = 0; i < n; i++, next++) a.wal.append(next, Buffer.alloc(50, next % 256));
    await turn();
  }
  await a.wal.idle();
  const last = next - 1;
  assert.equal(a.synced.at(-1), last);
  for (let i = 1; i < a.synced.length; i++) assert.ok(a.synced[i] > a.synced[i - 1], `reports in order: ${a.synced}`);
  assert.ok(a.synced.length < last, 'records share syncs');
  await a.wal.close();
  const b = openWal(dir);
  assert.deepEqual(b.records.map((r) => r.index), Array.from({ length: last }, (_, i) => i + 1));
  assert.equal(b.records[99].data[0], 100);
  await b.wal.close();
});

test('sync thread: segments are cut only between syncs, and nothing is lost across cuts', async () => {
  const dir = tmpdir();
  const a = openWal(dir, { segmentBytes: 2000 });
  await a.wal.ready();
  let next = 1;
  for (let t = 0; t < 30; t++) {
    // appends keep coming while the thread syncs, so some cuts wait for it to catch up
    for (let i = 0; i < 5; i++, next++) a.wal.append(next, Buffer.alloc(100, next % 256));
    if (t % 3 === 2) await new Promise((resolve) => setTimeout(resolve, 5));
    else await turn();
  }
  await a.wal.idle();
  assert.equal(a.synced.at(-1), next - 1);
  const n = a.wal.segmentCount();
  assert.ok(n >= 5, `${n} segments`);
  await a.wal.close();
  const b = openWal(dir, { segmentBytes: 2000 });
  assert.deepEqual(b.records.map((r) => r.index), Array.from({ length: next - 1 }, (_, i) => i + 1));
  await b.wal.close();
});

function runChild(scenario, env) {
  const dir = tmpdir();
  const r = spawnSync(
    process.execPath,
    ['--import', path.join(FIXTURES, 'failing-disk.mjs'), path.join(FIXTURES, 'wal-sync-thread.mjs'), path.join(dir, 'wal'), scenario],
    { encoding: 'utf8', timeout: 30000, env: { ...process.env, ...env } },
  );
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

test('sync thread: a failed fdatasync on the thread reports nothing more durable and fails the log', () => {
  const trigger = path.join(tmpdir(), 'fail');
  const events = runChild('sync-fails', { ETCD_TS_TEST_FAIL_FILE: trigger });
  assert.equal(events[0], 'synced 5');
  assert.match(events[1], /^failed wal: write failed: EIO/);
  assert.equal(events[2], 'append refused');
  assert.equal(events.length, 3, JSON.stringify(events));
});

test('sync thread: a write failing while the thread syncs: the synced batch is reported, then the failure', () => {
  const trigger = path.join(tmpdir(), 'fail-writes');
  const events = runChild('write-fails-while-syncing', {
    ETCD_TS_TEST_FAIL_WRITES_FILE: trigger,
    ETCD_TS_TEST_SYNC_DELAY_MS: '300',
  });
  assert.deepEqual(events.slice(0, 1), ['synced 5']);
  assert.match(events[1] ?? '', /^failed wal: write failed: ENOSPC/);
  assert.equal(events.length, 2, JSON.stringify(events));
});
