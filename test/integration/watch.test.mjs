// Watch behaviour through the real server: a stuck client does not hold up writes or other
// watchers and later gets every event once, in order; progress notifications; auto-compaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, kvClient, startServer, watchClient } from '../helpers.mjs';

function openWatch(endpoint, create) {
  const client = watchClient(endpoint);
  const stream = client.Watch();
  const responses = [];
  stream.on('data', (r) => responses.push(r));
  stream.on('error', () => {});
  stream.write({ create_request: create });
  return { client, stream, responses };
}

const events = (responses) => responses.flatMap((r) => r.events.map((e) => `${e.type} ${e.kv.key}@${e.kv.mod_revision}`));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a stuck watcher does not block writes or other watchers, then catches up exactly once', { timeout: 120_000 }, async () => {
  const s = await startServer('ours');
  const kv = kvClient(s.endpoint);
  try {
    const stuck = openWatch(s.endpoint, { key: Buffer.from('k'), range_end: Buffer.from('l') });
    const healthy = openWatch(s.endpoint, { key: Buffer.from('k'), range_end: Buffer.from('l') });
    await sleep(300);
    stuck.stream.pause(); // the client stops reading: its HTTP/2 window fills up
    const value = Buffer.alloc(2048, 97);
    const N = 4000;
    const started = Date.now();
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => call(kv, 'Put', { key: Buffer.from(`k${i + j}`), value })));
    }
    const writeMs = Date.now() - started;
    await sleep(500);
    assert.equal(events(healthy.responses).length, N, 'the healthy watcher saw every event');
    assert.ok(events(stuck.responses).length < N, 'the stuck watcher really was stuck');
    stuck.stream.resume();
    for (let i = 0; i < 100 && events(stuck.responses).length < N; i++) await sleep(100);
    const got = events(stuck.responses);
    assert.equal(got.length, N, `stuck watcher caught up (${got.length}/${N}); writes took ${writeMs} ms`);
    assert.deepEqual(got, events(healthy.responses), 'same events, same order, no duplicates');
    for (const w of [stuck, healthy]) {
      w.stream.end();
      w.client.close();
    }
  } finally {
    kv.close();
    await s.stop();
  }
});

test('progress notifications and progress requests carry the current revision', async () => {
  const s = await startServer('ours', { extraArgs: ['--experimental-watch-progress-notify-interval', '300ms'] });
  const kv = kvClient(s.endpoint);
  try {
    await call(kv, 'Put', { key: Buffer.from('a'), value: Buffer.from('1') });
    const w = openWatch(s.endpoint, { key: Buffer.from('p'), progress_notify: true });
    await sleep(900);
    const progress = w.responses.filter((r) => !r.created && r.events.length === 0);
    assert.ok(progress.length >= 1, 'got progress notifications');
    assert.equal(progress[0].header.revision, '2');
    w.stream.write({ progress_request: {} });
    await sleep(200);
    const reply = w.responses.find((r) => r.watch_id === '-1');
    assert.ok(reply, 'a progress reply for no watcher in particular (watch_id -1)');
    assert.equal(reply.header.revision, '2');
    w.stream.end();
    w.client.close();
  } finally {
    kv.close();
    await s.stop();
  }
});

test('periodic auto-compaction compacts old revisions', async () => {
  const s = await startServer('ours', { extraArgs: ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '1s'] });
  const kv = kvClient(s.endpoint);
  try {
    for (let i = 0; i < 5; i++) await call(kv, 'Put', { key: Buffer.from('c'), value: Buffer.from(String(i)) });
    // as etcd: the first compaction, one retention after the start, is to the revision then (1);
    // the next, one retention later, to the revision after these puts
    await sleep(3000);
    await assert.rejects(call(kv, 'Range', { key: Buffer.from('c'), revision: 2 }), /required revision has been compacted/);
    const r = await call(kv, 'Range', { key: Buffer.from('c') });
    assert.equal(r.kvs[0].value.toString(), '4');
  } finally {
    kv.close();
    await s.stop();
  }
});

test('fragment: a response of at least --max-request-bytes + 512 KiB is split, all but the last marked; a smaller one is not', async () => {
  const s = await startServer('ours', { extraArgs: ['--max-request-bytes', '10000'] });
  const kv = kvClient(s.endpoint);
  const watches = [];
  const open = (create) => {
    const w = openWatch(s.endpoint, create);
    watches.push(w);
    return w;
  };
  try {
    const put = (k, n) => ({ request_put: { key: Buffer.from(k), value: Buffer.alloc(n, 120) } });
    for (const k of ['f1', 'f2', 'f3']) await call(kv, 'Put', put(k, 3000).request_put);
    // etcd fragments at --max-request-bytes plus its 512 KiB gRPC allowance: three events with
    // prev_kv (about 18 KB) past --max-request-bytes alone still go out whole
    const small = open({ key: Buffer.from('f'), range_end: Buffer.from('g'), fragment: true, prev_kv: true });
    await sleep(300);
    await call(kv, 'Txn', { success: [put('f1', 3000), put('f2', 3000), put('f3', 3000)] });
    await sleep(300);
    const smallParts = small.responses.filter((r) => r.events.length > 0);
    assert.deepEqual(smallParts.map((r) => [r.events.length, r.fragment]), [[3, false]]);
    // 64 revisions of 9000 bytes replayed in one response: about 580 KB, past 10000 + 512 KiB
    for (let i = 0; i < 64; i++) await call(kv, 'Put', put(`g${String(i).padStart(2, '0')}`, 9000).request_put);
    const frag = open({ key: Buffer.from('g'), range_end: Buffer.from('h'), start_revision: 1, fragment: true });
    const whole = open({ key: Buffer.from('g'), range_end: Buffer.from('h'), start_revision: 1 });
    await sleep(1000);
    const parts = frag.responses.filter((r) => r.events.length > 0);
    assert.equal(parts.length, 2, `split into ${parts.length} responses`);
    assert.deepEqual(parts.map((r) => r.fragment), [true, false]);
    assert.ok(parts[0].events.length > 50 && parts[0].events.length < 64, `first part: ${parts[0].events.length} events`);
    const wholeParts = whole.responses.filter((r) => r.events.length > 0);
    assert.equal(wholeParts.length, 1);
    assert.deepEqual(events(parts), events(wholeParts));
    assert.equal(events(parts).length, 64);
  } finally {
    for (const w of watches) {
      w.stream.end();
      w.client.close();
    }
    kv.close();
    await s.stop();
  }
});
