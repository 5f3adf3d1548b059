// Unit tests of the write-ahead log: group commit, reading back, torn tails, corruption, segments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WAL, WALCorruptError, WAL_HEADER_BYTES, encodeRecord } from '../../dist/server/storage/wal.js';
import { tmpDir } from '../helpers.mjs';

function tmpdir() {
  return tmpDir('etcd-ts-wal-');
}

function openWal(dir, after = 0, opts = {}) {
  const synced = [];
  const warnings = [];
  const { wal, records } = WAL.open(
    dir,
    after,
    { segmentBytes: 64 * 1024 * 1024, warn: (m) => warnings.push(m), ...opts },
    (last) => synced.push(last),
    (err) => {
      throw err;
    },
  );
  return { wal, records, synced, warnings };
}

async function writeN(wal, from, n, size = 10) {
  for (let i = 0; i < n; i++) wal.append(from + i, Buffer.alloc(size, (from + i) % 256));
  await wal.idle();
}

test('appends in one turn share one sync, and read back in order', async () => {
  const dir = tmpdir();
  const a = openWal(dir);
  await writeN(a.wal, 1, 100);
  assert.ok(a.synced.length >= 1 && a.synced.length <= 2, `synced ${a.synced.length} batches`);
  assert.equal(a.synced.at(-1), 100);
  await a.wal.close();
  const b = openWal(dir);
  assert.equal(b.records.length, 100);
  assert.deepEqual(b.records.map((r) => r.index), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(b.records[41].data[0], 42);
  assert.equal(b.wal.last(), 100);
  await b.wal.close();
  const c = openWal(dir, 60);
  assert.equal(c.records.length, 40, 'only records after the backend index');
  await c.wal.close();
});

// The tests below look at the records' bytes at the end of the file, so they write segments without
// preallocation; the preallocated layout has its own tests further down.
const FLAT = { preallocate: false };

test('a torn tail is truncated with a warning, and appending continues', async () => {
  const dir = tmpdir();
  const a = openWal(dir, 0, FLAT);
  await writeN(a.wal, 1, 10);
  await a.wal.close();
  const [file] = fs.readdirSync(dir);
  const full = path.join(dir, file);
  const size = fs.statSync(full).size;
  // a half-written record: header promises 100 bytes, only 7 arrived
  const torn = Buffer.alloc(WAL_HEADER_BYTES + 7);
  torn.writeUInt32LE(100, 0);
  fs.appendFileSync(full, torn);
  const b = openWal(dir, 0, FLAT);
  assert.equal(b.records.length, 10);
  assert.equal(b.warnings.length, 1);
  assert.match(b.warnings[0], /torn tail/);
  assert.equal(fs.statSync(full).size, size);
  await writeN(b.wal, 11, 1);
  await b.wal.close();
  assert.equal(openWal(dir, 0, FLAT).records.length, 11);
});

test('a bad CRC on the last record is a torn write; in the middle it is corruption', async () => {
  const dir = tmpdir();
  const a = openWal(dir, 0, FLAT);
  await writeN(a.wal, 1, 5);
  await a.wal.close();
  const [file] = fs.readdirSync(dir);
  const full = path.join(dir, file);
  const rec = WAL_HEADER_BYTES + 10;
  const buf = fs.readFileSync(full);
  // flip a payload byte of the last record
  const last = Buffer.from(buf);
  last[4 * rec + WAL_HEADER_BYTES + 3] ^= 0xff;
  fs.writeFileSync(full, last);
  const b = openWal(dir, 0, FLAT);
  assert.equal(b.records.length, 4);
  await b.wal.close();
  // now corrupt record 2 of 4: valid records follow, so this is not a torn write
  const mid = fs.readFileSync(full);
  mid[1 * rec + WAL_HEADER_BYTES + 1] ^= 0xff;
  fs.writeFileSync(full, mid);
  assert.throws(() => openWal(dir, 0, FLAT), WALCorruptError);
  assert.equal(fs.statSync(full).size, 4 * rec, 'nothing truncated on corruption');
});

test('segments are cut at the size limit and released once the backend holds them', async () => {
  const dir = tmpdir();
  const a = openWal(dir, 0, { segmentBytes: 1000 });
  for (let i = 1; i <= 50; i++) {
    a.wal.append(i, Buffer.alloc(100, 1));
    await a.wal.idle();
  }
  const n = a.wal.segmentCount();
  assert.ok(n > 3, `${n} segments`);
  const removed = a.wal.releaseTo(30);
  assert.ok(removed > 0);
  await a.wal.close();
  const b = openWal(dir, 30, { segmentBytes: 1000 });
  assert.deepEqual(b.records.map((r) => r.index), Array.from({ length: 20 }, (_, i) => i + 31));
  await b.wal.close();
  // a log that starts after what the backend holds has lost entries
  assert.throws(() => openWal(dir, 2, { segmentBytes: 1000 }), /log starts at index/);
});

test('appending out of order is refused', async () => {
  const a = openWal(tmpdir());
  assert.throws(() => a.wal.append(2, Buffer.from('x')), /append of index 2 after 0/);
  await a.wal.close();
});

test('a damaged length field is corruption, not a torn tail, when valid records follow or it was applied', async () => {
  const dir = tmpdir();
  const a = openWal(dir, 0, FLAT);
  await writeN(a.wal, 1, 20);
  await a.wal.close();
  const [file] = fs.readdirSync(dir);
  const full = path.join(dir, file);
  const rec = WAL_HEADER_BYTES + 10;
  const buf = fs.readFileSync(full);
  buf.writeUInt32LE(1000000, 5 * rec); // record 6 now claims to run past the end of the file
  fs.writeFileSync(full, buf);
  // records 7..20 are still there: not a torn write, whatever the backend holds
  assert.throws(() => openWal(dir, 3, FLAT), WALCorruptError);
  // the last record damaged, but the backend already applied it: it was acknowledged
  const b2 = fs.readFileSync(full);
  b2.writeUInt32LE(10, 5 * rec);
  b2.writeUInt32LE(1000000, 19 * rec);
  fs.writeFileSync(full, b2);
  assert.throws(() => openWal(dir, 20, FLAT), WALCorruptError);
  assert.equal(fs.statSync(full).size, 20 * rec, 'nothing truncated');
  // the same damage past what the backend holds, with nothing after it: a torn tail
  const c = openWal(dir, 10, FLAT);
  assert.equal(c.records.length, 9);
  assert.equal(c.warnings.length, 1);
  await c.wal.close();
});

/** A log of one preallocated segment holding records 1-10 of 10 bytes each, closed. */
async function tenRecords(seg) {
  const dir = tmpdir();
  const a = openWal(dir, 0, { segmentBytes: seg });
  await writeN(a.wal, 1, 10);
  await a.wal.close();
  const [file] = fs.readdirSync(dir);
  return { dir, seg, full: path.join(dir, file), rec: WAL_HEADER_BYTES + 10 };
}

test('segments are preallocated: the zeros after the last record are a clean end, not a torn tail', async () => {
  const dir = tmpdir();
  const seg = 256 * 1024;
  const a = openWal(dir, 0, { segmentBytes: seg });
  const [file] = fs.readdirSync(dir);
  const full = path.join(dir, file);
  assert.equal(fs.statSync(full).size, seg, 'extended to the segment size up front');
  await writeN(a.wal, 1, 10);
  assert.equal(fs.statSync(full).size, seg, 'appends overwrite zeros, the size stays');
  await a.wal.close();
  const b = openWal(dir, 0, { segmentBytes: seg });
  assert.equal(b.records.length, 10);
  assert.deepEqual(b.warnings, []);
  await writeN(b.wal, 11, 5);
  await b.wal.close();
  const c = openWal(dir, 0, { segmentBytes: seg });
  assert.deepEqual(c.records.map((r) => r.index), Array.from({ length: 15 }, (_, i) => i + 1));
  await c.wal.close();
});

test('preallocated: a torn record in the zeros is dropped with a warning; bytes after the zeros are corruption', async () => {
  const { dir, seg, full, rec } = await tenRecords(256 * 1024);
  const clean = fs.readFileSync(full);
  // a half-written 11th record: its header arrived, its payload did not
  const torn = Buffer.from(clean);
  torn.writeUInt32LE(10, 10 * rec);
  torn.writeUInt32LE(0xdeadbeef, 10 * rec + 4);
  torn.writeBigUInt64LE(11n, 10 * rec + 8);
  fs.writeFileSync(full, torn);
  const b = openWal(dir, 0, { segmentBytes: seg });
  assert.equal(b.records.length, 10);
  assert.equal(b.warnings.length, 1);
  assert.match(b.warnings[0], /torn tail/);
  assert.equal(fs.statSync(full).size, seg, 'the cut-off end is zeros again');
  assert.ok(fs.readFileSync(full).subarray(10 * rec).every((x) => x === 0));
  await writeN(b.wal, 11, 1);
  await b.wal.close();
  assert.equal(openWal(dir, 0, { segmentBytes: seg }).records.length, 11);
  // a valid-looking record far after a bad one, past zeros: damage in the middle, not a torn write
  const mid = fs.readFileSync(full);
  mid[1 * rec + WAL_HEADER_BYTES + 1] ^= 0xff;
  fs.writeFileSync(full, mid);
  assert.throws(() => openWal(dir, 0, { segmentBytes: seg }), WALCorruptError);
  assert.deepEqual(fs.readFileSync(full), mid, 'nothing changed on corruption');
});

/** A log of records 1-30 of 100 bytes each, in 1000-byte segments (several of them), closed. */
async function thirtyInSegments() {
  const dir = tmpdir();
  const a = openWal(dir, 0, { segmentBytes: 1000 });
  for (let i = 1; i <= 30; i++) {
    a.wal.append(i, Buffer.alloc(100, 1));
    await a.wal.idle();
  }
  await a.wal.close();
  return dir;
}

test('preallocated: a finished segment is cut back to its records; an old flat segment is extended on open', async () => {
  const dir = await thirtyInSegments();
  const files = fs.readdirSync(dir).sort();
  assert.ok(files.length > 2, `${files.length} segments`);
  for (const f of files.slice(0, -1)) {
    const size = fs.statSync(path.join(dir, f)).size;
    assert.equal(size % (WAL_HEADER_BYTES + 100), 0, `${f}: ${size} bytes, whole records only`);
  }
  const b = openWal(dir, 0, { segmentBytes: 1000 });
  assert.equal(b.records.length, 30);
  await b.wal.close();

  const flat = tmpdir();
  const c = openWal(flat, 0, { ...FLAT, segmentBytes: 4096 });
  await writeN(c.wal, 1, 3);
  await c.wal.close();
  const [f] = fs.readdirSync(flat);
  assert.equal(fs.statSync(path.join(flat, f)).size, 3 * (WAL_HEADER_BYTES + 10));
  const d = openWal(flat, 0, { segmentBytes: 4096 });
  assert.equal(fs.statSync(path.join(flat, f)).size, 4096);
  await writeN(d.wal, 4, 2);
  await d.wal.close();
  assert.equal(openWal(flat, 0, { segmentBytes: 4096 }).records.length, 5);
});

test('preallocated: an unsynced batch whose first sector never reached the disk is a torn tail, unless the backend had it', async () => {
  const { dir, seg, full, rec } = await tenRecords(64 * 1024);
  // records 11-40 as one batch, then the machine fails before its sync: the sector holding the
  // batch's start stays zero, later sectors made it
  const buf = fs.readFileSync(full);
  let off = 10 * rec;
  for (let i = 11; i <= 40; i++) off += encodeRecord(i, Buffer.alloc(10, i)).copy(buf, off);
  buf.fill(0, 10 * rec, 512);
  fs.writeFileSync(full, buf);
  // the backend had applied past the gap: those entries were acknowledged, so this is corruption
  assert.throws(() => openWal(dir, 12, { segmentBytes: seg }), WALCorruptError);
  const b = openWal(dir, 0, { segmentBytes: seg });
  assert.equal(b.records.length, 10);
  assert.match(b.warnings[0] ?? '', /torn tail/);
  await writeN(b.wal, 11, 2);
  await b.wal.close();
  assert.deepEqual(openWal(dir, 0, { segmentBytes: seg }).records.map((r) => r.index), Array.from({ length: 12 }, (_, i) => i + 1));
});

test('preallocated: only the allocated part of a sparse segment is read, and data found past a gap still counts', async () => {
  const { dir, seg, full, rec } = await tenRecords(4 * 1024 * 1024);
  // a record of an unsynced batch that reached the disk far past a zeroed stretch (beyond what the
  // first read covers): the log ends at record 10, the stray record is cut off with a warning
  const fd = fs.openSync(full, 'r+');
  fs.writeSync(fd, encodeRecord(11, Buffer.alloc(10, 11)), 0, rec, 3 * 1024 * 1024);
  fs.closeSync(fd);
  const b = openWal(dir, 0, { segmentBytes: seg });
  assert.equal(b.records.length, 10);
  assert.match(b.warnings[0] ?? '', /torn tail/);
  await writeN(b.wal, 11, 1);
  await b.wal.close();
  const c = openWal(dir, 0, { segmentBytes: seg });
  assert.deepEqual(c.records.map((r) => r.index), Array.from({ length: 11 }, (_, i) => i + 1));
  assert.deepEqual(c.warnings, []);
  await c.wal.close();
  assert.ok(fs.readFileSync(full).subarray(11 * rec).every((x) => x === 0), 'the stray record is gone');
});

// A last segment whose file ends inside its last record (a copy or `truncate` that stopped short):
// etcd repairs that by cutting the record off, and so does open, whether the backend had applied
// the record or not. Record 10 of tenRecords() is cut inside its header or inside its payload.
const CUTS = [
  ['header', (rec) => 9 * rec + 5],
  ['payload', (rec) => 10 * rec - 5],
];

for (const [part, cutAt] of CUTS) {
  test(`a last segment ending inside its last record's ${part} is cut back with a warning; appends go on after the last good record`, async () => {
    const { dir, seg, full, rec } = await tenRecords(64 * 1024);
    fs.truncateSync(full, cutAt(rec));
    const b = openWal(dir, 0, { segmentBytes: seg, syncThread: true });
    assert.deepEqual(b.records.map((r) => r.index), Array.from({ length: 9 }, (_, i) => i + 1));
    assert.equal(b.warnings.length, 1);
    assert.match(b.warnings[0], new RegExp(`torn tail of ${path.basename(full)} at offset ${9 * rec} .*the file ends inside the record`));
    assert.equal(b.wal.last(), 9);
    assert.equal(fs.statSync(full).size, seg, 'preallocated again');
    assert.ok(fs.readFileSync(full).subarray(9 * rec).every((x) => x === 0), 'the cut record is gone');
    await writeN(b.wal, 10, 3); // one turn's batch of 3: synced by the sync thread
    await b.wal.close();
    assert.deepEqual(fs.readFileSync(full).subarray(9 * rec, 10 * rec), encodeRecord(10, Buffer.alloc(10, 10)), 'written where the cut record began');
    const c = openWal(dir, 0, { segmentBytes: seg });
    assert.deepEqual(c.records.map((r) => r.index), Array.from({ length: 12 }, (_, i) => i + 1));
    assert.deepEqual(c.warnings, []);
    await c.wal.close();
  });

  test(`a cut in the last record's ${part} that the backend already applied: the log goes on after the backend's index in a new segment`, async () => {
    const { dir, seg, full, rec } = await tenRecords(64 * 1024);
    fs.truncateSync(full, cutAt(rec));
    // a clean stop: the backend holds all 10 records
    const b = openWal(dir, 10, { segmentBytes: seg });
    assert.deepEqual(b.records, []);
    assert.equal(b.wal.last(), 10);
    assert.equal(b.warnings.length, 2);
    assert.match(b.warnings[0], /torn tail .*the file ends inside the record/);
    assert.match(b.warnings[1], /the repair cut entries 10\.\.10 from the log, which the backend already holds; the log goes on in 0000000000000001-000000000000000b\.wal/);
    assert.equal(fs.statSync(full).size, 9 * rec, 'the finished segment keeps only its whole records');
    await b.wal.close();
    // reopened with nothing written since
    const c = openWal(dir, 10, { segmentBytes: seg, syncThread: true });
    assert.deepEqual([c.records, c.warnings, c.wal.last()], [[], [], 10]);
    await writeN(c.wal, 11, 3);
    await c.wal.close();
    // a crash before the backend saved 11-13: they are read back from the log
    const d = openWal(dir, 10, { segmentBytes: seg });
    assert.deepEqual(d.records.map((r) => r.index), [11, 12, 13]);
    assert.deepEqual(d.warnings, []);
    assert.equal(d.wal.releaseTo(13), 1, 'the segment before the gap goes once the backend holds what follows');
    await d.wal.close();
    assert.deepEqual(fs.readdirSync(dir), ['0000000000000001-000000000000000b.wal']);
    const e = openWal(dir, 13, { segmentBytes: seg });
    assert.equal(e.wal.last(), 13);
    await e.wal.close();
  });
}

// The repair above cuts entries the backend holds and then starts a new segment after the
// backend's index. A crash between the two leaves a log that ends cleanly before the backend's
// index: refused as lost entries, unless the repair's intent (written before the cut) says so.
test('a repair cut short by a crash after its cut is finished at the next start; without its intent the same log is refused', async () => {
  const { dir, seg, full, rec } = await tenRecords(64 * 1024);
  fs.truncateSync(full, 9 * rec); // the cut was made ...
  assert.throws(() => openWal(dir, 10, { segmentBytes: seg }), /log ends at index 9 but the backend holds up to 10/);
  fs.writeFileSync(path.join(dir, 'repair-intent'), 'garbage\n'); // an intent that says no index is no intent
  assert.throws(() => openWal(dir, 10, { segmentBytes: seg }), /log ends at index 9 but the backend holds up to 10/);
  fs.writeFileSync(path.join(dir, 'repair-intent'), '9\n'); // nor is one below the backend's index
  assert.throws(() => openWal(dir, 10, { segmentBytes: seg }), /log ends at index 9 but the backend holds up to 10/);
  fs.writeFileSync(path.join(dir, 'repair-intent'), '10\n'); // ... after its intent was written
  const b = openWal(dir, 10, { segmentBytes: seg });
  assert.deepEqual([b.records, b.wal.last()], [[], 10]);
  assert.match(b.warnings.join('\n'), /finishing the repair of the last start/);
  assert.match(b.warnings.join('\n'), /the log goes on in 0000000000000001-000000000000000b\.wal/);
  await writeN(b.wal, 11, 2);
  await b.wal.close();
  assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(full), '0000000000000001-000000000000000b.wal'], 'the intent is gone');
  const c = openWal(dir, 10, { segmentBytes: seg });
  assert.deepEqual([c.records.map((r) => r.index), c.warnings], [[11, 12], []]);
  await c.wal.close();
});

test('a repair whose backend index the log reaches leaves no intent behind; a stale intent is removed', async () => {
  const { dir, seg, full, rec } = await tenRecords(64 * 1024);
  fs.truncateSync(full, 10 * rec - 5);
  const b = openWal(dir, 10, { segmentBytes: seg });
  await b.wal.close();
  assert.ok(!fs.existsSync(path.join(dir, 'repair-intent')), 'removed once the new segment exists');
  // a crash after the new segment, before the intent was removed
  fs.writeFileSync(path.join(dir, 'repair-intent'), '10\n');
  const c = openWal(dir, 10, { segmentBytes: seg });
  assert.deepEqual([c.records, c.warnings, c.wal.last()], [[], [], 10]);
  await c.wal.close();
  assert.ok(!fs.existsSync(path.join(dir, 'repair-intent')));
});

test('a cut inside a record of a segment that is not the last is corruption, whatever the backend holds', async () => {
  const dir = await thirtyInSegments();
  const [first] = fs.readdirSync(dir).sort();
  const full = path.join(dir, first);
  const size = fs.statSync(full).size;
  fs.truncateSync(full, size - 5);
  const re = new RegExp(`^wal: short payload at offset ${size - (WAL_HEADER_BYTES + 100)} of ${first}$`);
  for (const after of [0, 30]) assert.throws(() => openWal(dir, after, { segmentBytes: 1000 }), (e) => e instanceof WALCorruptError && re.test(e.message));
  assert.equal(fs.statSync(full).size, size - 5, 'nothing truncated');
});

test('a complete last record that fails its CRC still stops open when the backend applied it', async () => {
  const { dir, seg, full, rec } = await tenRecords(64 * 1024);
  const buf = fs.readFileSync(full);
  buf[9 * rec + WAL_HEADER_BYTES + 3] ^= 0xff;
  fs.writeFileSync(full, buf);
  assert.throws(() => openWal(dir, 10, { segmentBytes: seg }), (e) => e instanceof WALCorruptError && e.message === `wal: crc mismatch at offset ${9 * rec} of ${path.basename(full)}`);
  assert.deepEqual(fs.readFileSync(full), buf, 'nothing changed');
});
