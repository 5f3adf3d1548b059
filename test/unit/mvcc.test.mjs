// Unit tests of the MVCC store and watchers: revisions, key generations, ranges, compaction, watch
// delivery and catch-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KVStore } from '../../dist/server/mvcc/kvstore.js';
import { WatchableStore } from '../../dist/server/mvcc/watchable_store.js';

const b = (s) => Buffer.from(s);

function put(store, key, value, lease = '0') {
  const txn = store.write();
  const r = txn.put(key, b(value), lease);
  txn.end();
  return r;
}

function del(store, key, end) {
  const txn = store.write();
  const r = txn.deleteRange(key, end);
  txn.end();
  return r;
}

test('revisions start at 1, each write txn makes one, no-op writes make none', () => {
  const s = new KVStore();
  assert.equal(s.rev(), 1);
  put(s, 'a', '1');
  assert.equal(s.rev(), 2);
  const t = s.write();
  t.put('b', b('x'), '0');
  t.put('c', b('y'), '0');
  assert.equal(t.end(), 3);
  assert.deepEqual(del(s, 'missing', undefined), []);
  assert.equal(s.rev(), 3);
  const c = s.range('c', undefined).kvs[0];
  assert.equal(c.main, 3);
  assert.equal(c.sub, 1);
});

test('versions, create revisions and generations across deletes', () => {
  const s = new KVStore();
  put(s, 'a', '1'); // 2
  put(s, 'a', '2'); // 3
  del(s, 'a'); // 4
  put(s, 'a', '3'); // 5
  const v = s.range('a', undefined).kvs[0];
  assert.deepEqual([v.createRev, v.main, v.version, v.value.toString()], [5, 5, 1, '3']);
  const old = s.range('a', undefined, { rev: 3 }).kvs[0];
  assert.deepEqual([old.createRev, old.main, old.version, old.value.toString()], [2, 3, 2, '2']);
  assert.equal(s.range('a', undefined, { rev: 4 }).count, 0);
});

test('ranges: interval, from-key, limit keeps count, future revision', () => {
  const s = new KVStore();
  for (const k of ['a', 'b', 'c', 'd']) put(s, k, k);
  assert.deepEqual(s.range('b', 'd').kvs.map((v) => v.key), ['b', 'c']);
  assert.deepEqual(s.range('b', '').kvs.map((v) => v.key), ['b', 'c', 'd']);
  const lim = s.range('a', '', { limit: 2 });
  assert.equal(lim.kvs.length, 2);
  assert.equal(lim.count, 4);
  assert.equal(s.range('a', '', { countOnly: true }).kvs.length, 0);
  assert.throws(() => s.range('a', undefined, { rev: 99 }), /required revision is a future revision/);
  // byte order, not UTF-16 order
  put(s, '\xff', 'hi');
  assert.deepEqual(s.range('d', '').kvs.map((v) => v.key), ['d', '\xff']);
});

test('compaction removes old versions and refuses reads below it', () => {
  const s = new KVStore();
  put(s, 'a', '1'); // 2
  put(s, 'a', '2'); // 3
  put(s, 'b', '1'); // 4
  del(s, 'b'); // 5
  put(s, 'c', '1'); // 6
  const removed = s.compact(5);
  // a@2 is obsolete (a@3 is newer), b@4 and its tombstone b@5 are gone
  assert.deepEqual(removed.map((v) => `${v.key}@${v.main}`).sort(), ['a@2', 'b@4', 'b@5']);
  assert.equal(s.range('a', undefined, { rev: 5 }).kvs[0].value.toString(), '2');
  assert.throws(() => s.range('a', undefined, { rev: 4 }), /required revision has been compacted/);
  assert.throws(() => s.compact(5), /required revision has been compacted/);
  assert.throws(() => s.compact(100), /future revision/);
  assert.equal(s.keyCount(), 2);
});

test('write txn reads see its own writes at the next revision', () => {
  const s = new KVStore();
  put(s, 'a', '1');
  const t = s.write();
  assert.equal(t.rev(), 2);
  t.put('a', b('2'), '0');
  assert.equal(t.rev(), 3);
  assert.equal(t.range('a', undefined).kvs[0].value.toString(), '2');
  t.deleteRange('a', undefined);
  assert.equal(t.range('a', undefined).count, 0);
  t.end();
  assert.equal(s.rev(), 3);
});

function sink() {
  const got = [];
  return {
    congested: false,
    got,
    compactedAt: undefined,
    deliver(w, events, rev) {
      got.push(...events.map((e) => `${e.value === null ? 'DEL' : 'PUT'} ${e.key}@${e.main}`));
      return !this.congested;
    },
    compacted(w, rev) {
      this.compactedAt = rev;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));
async function settle() {
  for (let i = 0; i < 5; i++) await tick();
}

test('watchers: live events, ranges, filters, history replay', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  put(s, 'a', '1'); // 2
  const live = sink();
  ws.watch(1, { key: 'a', end: undefined, startRev: 0, noPut: false, noDelete: false }, live);
  const ranged = sink();
  ws.watch(2, { key: 'a', end: 'c', startRev: 0, noPut: true, noDelete: false }, ranged);
  const history = sink();
  ws.watch(3, { key: 'a', end: '', startRev: 1, noPut: false, noDelete: false }, history);
  put(s, 'a', '2'); // 3
  put(s, 'b', '1'); // 4
  del(s, 'a'); // 5
  await settle();
  assert.deepEqual(live.got, ['PUT a@3', 'DEL a@5']);
  assert.deepEqual(ranged.got, ['DEL a@5']);
  assert.deepEqual(history.got, ['PUT a@2', 'PUT a@3', 'PUT b@4', 'DEL a@5']);
});

test('a congested watcher falls behind, then catches up with every event once, in order', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  const slow = sink();
  ws.watch(1, { key: 'k', end: '', startRev: 0, noPut: false, noDelete: false }, slow);
  const fast = sink();
  ws.watch(2, { key: 'k', end: '', startRev: 0, noPut: false, noDelete: false }, fast);
  slow.congested = true;
  const want = [];
  for (let i = 0; i < 2500; i++) {
    put(s, `k${i % 7}`, String(i));
    want.push(`PUT k${i % 7}@${i + 2}`);
  }
  await settle();
  assert.equal(fast.got.length, 2500, 'other watchers are not held up');
  assert.ok(slow.got.length <= 1);
  slow.congested = false;
  ws.resume();
  for (let i = 0; i < 20; i++) await tick();
  assert.deepEqual(slow.got, want);
});

test('a watcher starting below the compacted revision is told and dropped', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  for (let i = 0; i < 5; i++) put(s, 'a', String(i));
  s.compact(4);
  const w = sink();
  ws.watch(1, { key: 'a', end: undefined, startRev: 2, noPut: false, noDelete: false }, w);
  await settle();
  assert.equal(w.compactedAt, 4);
  assert.deepEqual(w.got, []);
  const ok = sink();
  ws.watch(2, { key: 'a', end: undefined, startRev: 4, noPut: false, noDelete: false }, ok);
  await settle();
  assert.deepEqual(ok.got, ['PUT a@4', 'PUT a@5', 'PUT a@6']);
});

test('a caught-up watcher that becomes congested after a compaction is not cancelled', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  const w = sink();
  ws.watch(1, { key: 'x', end: undefined, startRev: 0, noPut: false, noDelete: false }, w);
  for (let i = 0; i < 50; i++) put(s, `other${i}`, 'v'); // x unchanged: the watcher is never visited
  s.compact(s.rev());
  w.congested = true;
  put(s, 'x', '1');
  w.congested = false;
  ws.resume();
  await settle();
  assert.equal(w.compactedAt, undefined);
  assert.deepEqual(w.got, [`PUT x@${s.rev()}`]);
});

test('a watcher with a future start revision waits for it', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  const w = sink();
  ws.watch(1, { key: 'k', end: undefined, startRev: 4, noPut: false, noDelete: false }, w);
  put(s, 'k', 'a'); // 2
  put(s, 'k', 'b'); // 3
  put(s, 'k', 'c'); // 4
  await settle();
  assert.deepEqual(w.got, ['PUT k@4']);
});

test('compaction forgets deletes at the compacted revision, in the watch history too', async () => {
  const s = new KVStore();
  const ws = new WatchableStore(s);
  put(s, 'd', '1'); // 2
  del(s, 'd'); // 3
  put(s, 'e', '1'); // 4
  s.compact(3);
  const w = sink();
  ws.watch(1, { key: 'd', end: 'f', startRev: 3, noPut: false, noDelete: false }, w);
  await settle();
  assert.deepEqual(w.got, ['PUT e@4']);
});

test('compacting revision 0 of a new store succeeds once, as in etcd', () => {
  const s = new KVStore();
  assert.equal(s.compactRev(), -1);
  s.compact(0);
  assert.throws(() => s.compact(0), /compacted/);
});

test('the live key count follows puts, deletes, compaction and restore', () => {
  const s = new KVStore();
  const put = (k, v) => {
    const t = s.write();
    t.put(k, Buffer.from(v), '0');
    t.end();
  };
  const del = (k, end) => {
    const t = s.write();
    t.deleteRange(k, end);
    t.end();
  };
  put('a', '1');
  put('a', '2');
  put('b', '1');
  put('c', '1');
  assert.equal(s.liveKeyCount(), 3);
  del('a', undefined);
  assert.equal(s.liveKeyCount(), 2);
  put('a', '3');
  del('b', 'd');
  assert.equal(s.liveKeyCount(), 1);
  s.compact(s.rev());
  assert.equal(s.liveKeyCount(), 1);
  assert.equal(s.liveKeyCount(), s.range('\0', '', { countOnly: true }).count);
  const r = new KVStore();
  r.restore(s.keptVersions(), s.rev(), s.compactRev());
  assert.equal(r.liveKeyCount(), 1);
});

test('a stored value does not keep a much larger buffer (a WAL segment at replay) alive', async () => {
  const { Applier, NO_LEASES } = await import('../../dist/server/apply/applier.js');
  const store = new KVStore();
  const applier = new Applier(store, NO_LEASES);
  // as at log replay, where a request is decoded from a view into a whole (up to 64 MiB) segment
  const segment = Buffer.alloc(1 << 20, 0x61);
  const value = segment.subarray(1000, 1256);
  applier.apply({ put: { key: Buffer.from('k'), value, lease: '0' } });
  const kv = store.range('k', undefined).kvs[0];
  assert.equal(kv.value.toString(), 'a'.repeat(256));
  assert.ok(kv.value.buffer.byteLength < 64 * 1024, `value pins ${kv.value.buffer.byteLength} bytes`);
  segment.fill(0x62);
  assert.equal(kv.value.toString(), 'a'.repeat(256), 'the stored value is a copy');
  // a value in a buffer of about its own size (an HTTP/2 frame's) is kept as it is, not copied
  const frame = Buffer.alloc(330, 0x63);
  applier.apply({ put: { key: Buffer.from('k2'), value: frame.subarray(60, 316), lease: '0' } });
  assert.equal(store.range('k2', undefined).kvs[0].value.buffer, frame.buffer);
});
