// The write-ahead log on a failing disk: node's fs functions are swapped for ones that fail (EIO,
// ENOSPC) or are slow, through node:module's syncBuiltinESMExports, which carries the swap into the
// `import * as fs` the log uses. What must hold: nothing is reported durable that was not synced,
// whatever was synced is reported before the failure, and a failed log takes no more appends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { WAL } from '../../dist/server/storage/wal.js';
import { tmpDir } from '../helpers.mjs';

const original = { fdatasync: fs.fdatasync, fdatasyncSync: fs.fdatasyncSync, writeSync: fs.writeSync };

/** Swaps fs functions for the duration of fn, and puts the real ones back whatever happens. */
async function withFs(patch, fn) {
  Object.assign(fs, patch);
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    Object.assign(fs, original);
    syncBuiltinESMExports();
  }
}

function ioError(code) {
  return Object.assign(new Error(`${code}: i/o error, fdatasync`), { code });
}

/** Opens a log in a new dir; events records 'synced N' and 'failed MSG' in the order they come. */
function openWal(dir = tmpDir('etcd-ts-walf-')) {
  const events = [];
  const { wal, records } = WAL.open(
    dir,
    0,
    { segmentBytes: 64 * 1024 * 1024, inlineSyncMaxBatch: 2 },
    (last) => events.push(`synced ${last}`),
    (err) => events.push(`failed ${err.message}`),
  );
  return { dir, wal, records, events };
}

const appendN = (wal, from, n) => {
  for (let i = 0; i < n; i++) wal.append(from + i, Buffer.from(`record ${from + i}`));
};

test('a failed sync reports no durability for its batch, fails the log, and refuses appends', async () => {
  const { dir, wal, events } = openWal();
  appendN(wal, 1, 5);
  await wal.idle();
  assert.deepEqual(events, ['synced 5']);
  await withFs(
    {
      fdatasync: (fd, cb) => process.nextTick(cb, ioError('EIO')),
      fdatasyncSync: () => {
        throw ioError('EIO');
      },
    },
    async () => {
      appendN(wal, 6, 5); // a batch of 5: synced on the thread pool
      await wal.idle();
    },
  );
  assert.deepEqual(events, ['synced 5', 'failed wal: write failed: EIO: i/o error, fdatasync']);
  assert.throws(() => wal.append(11, Buffer.from('x')), /wal: write failed: EIO/);
  // what was synced before the failure reads back; the failed batch is on disk, unacknowledged
  const again = openWal(dir);
  assert.ok(again.records.length >= 5);
  assert.deepEqual(again.records.slice(0, 5).map((r) => r.data.toString()), [1, 2, 3, 4, 5].map((i) => `record ${i}`));
  await again.wal.close();
});

test('a small batch synced inline fails the same way', async () => {
  const { wal, events } = openWal();
  await withFs(
    {
      fdatasyncSync: () => {
        throw ioError('EIO');
      },
    },
    async () => {
      appendN(wal, 1, 1);
      await wal.idle();
    },
  );
  assert.deepEqual(events, ['failed wal: write failed: EIO: i/o error, fdatasync']);
});

test('when the next batch cannot be written while the previous one syncs, the synced one is reported first', async () => {
  const { wal, events } = openWal();
  let writes = 0;
  let release;
  const syncing = new Promise((r) => {
    release = r;
  });
  await withFs(
    {
      // the first batch's sync is held until the second batch is waiting behind it
      fdatasync: (fd, cb) => {
        original.fdatasync(fd, (err) => syncing.then(() => cb(err)));
      },
      // the second batch's write fails: the disk is full
      writeSync: (...args) => {
        if (++writes === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return original.writeSync(...args);
      },
    },
    async () => {
      appendN(wal, 1, 5);
      await new Promise((r) => setImmediate(r)); // batch 1 written, its sync running
      appendN(wal, 6, 5); // batch 2 waits for it
      await new Promise((r) => setImmediate(r));
      release();
      await wal.idle();
    },
  );
  assert.deepEqual(events, ['synced 5', 'failed wal: write failed: ENOSPC: no space left on device, write']);
  assert.throws(() => wal.append(11, Buffer.from('x')), /ENOSPC/);
});

test('a slow disk holds acknowledgements back until the sync returns, in index order', async () => {
  const { wal, events } = openWal();
  let release;
  const syncing = new Promise((r) => {
    release = r;
  });
  await withFs(
    { fdatasync: (fd, cb) => original.fdatasync(fd, (err) => syncing.then(() => cb(err))) },
    async () => {
      appendN(wal, 1, 5);
      await new Promise((r) => setTimeout(r, 50));
      appendN(wal, 6, 3);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(events, [], 'nothing is durable before its sync returns');
      release();
      await wal.idle();
    },
  );
  assert.deepEqual(events, ['synced 5', 'synced 8']);
  await wal.close();
});
