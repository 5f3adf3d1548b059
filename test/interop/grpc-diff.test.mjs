// Differential interop at the gRPC level: one script of KV and watch requests sent to real etcd and
// to etcd-ts; the responses (or errors: code and text) must be equal field for field. Covers what
// etcdctl cannot send: min/max revision filters, nested txns, range compares, "\0" range ends.
import { test } from 'node:test';
import * as http2 from 'node:http2';
import assert from 'node:assert/strict';
import { call, kvClient, normalizeReply as normalize, realEtcdSkip, startServer, watchClient } from '../helpers.mjs';
import { loadApi } from '../../dist/api/proto.js';

const skip = realEtcdSkip();
const B = (s) => Buffer.from(s);
const put = (k, v) => ({ request_put: { key: B(k), value: B(v) } });
const get = (k, extra = {}) => ({ request_range: { key: B(k), ...extra } });

const SCRIPT = [
  ['Compact', { revision: 0 }],
  ['Put', { key: B('a'), value: B('1') }],
  ['Put', { key: B('b'), value: B('2') }],
  ['Put', { key: B('a'), value: B('3'), prev_kv: true }],
  ['Put', { key: B('c'), value: B('4') }],
  ['Put', { key: B('\xff'), value: B('hi') }],
  ['Range', { key: B('\0'), range_end: B('\0') }],
  ['Range', { key: B('b'), range_end: B('\0') }],
  ['Range', { key: B('a'), range_end: B('c'), count_only: true }],
  ['Range', { key: B('a'), range_end: B('z'), limit: 1 }],
  ['Range', { key: B('a'), range_end: B('z'), limit: 2, sort_order: 'DESCEND', sort_target: 'MOD' }],
  ['Range', { key: B('a'), range_end: B('z'), sort_target: 'VALUE' }],
  ['Range', { key: B('a'), range_end: B('z'), min_mod_revision: 3, max_mod_revision: 4 }],
  ['Range', { key: B('a'), range_end: B('z'), min_create_revision: 3 }],
  ['Range', { key: B('a'), range_end: B('z'), max_create_revision: 2, keys_only: true }],
  ['Range', { key: B('a'), revision: 2 }],
  ['Range', { key: B('a'), range_end: B('a') }],
  ['Range', { key: B('a'), range_end: B('z'), sort_order: 5 }],
  ['Txn', { success: [put('ts', '1'), get('ts', { sort_order: 5 })] }],
  ['Put', { key: B('a'), ignore_value: true, lease: 0 }],
  ['Put', { key: B('zz'), ignore_lease: true, value: B('x') }],
  ['Txn', {
    compare: [{ key: B('a'), range_end: B('c'), target: 'VERSION', result: 'GREATER', version: 0 }],
    success: [put('d', '5'), get('a', { range_end: B('e') }), { request_txn: { compare: [{ key: B('b'), target: 'VALUE', result: 'EQUAL', value: B('2') }], success: [put('e', '6')], failure: [] } }],
    failure: [],
  }],
  ['Txn', {
    compare: [{ key: B('nope'), target: 'VALUE', result: 'EQUAL', value: B('') }],
    success: [put('f', '1')],
    failure: [{ request_delete_range: { key: B('d'), prev_kv: true } }, get('d')],
  }],
  ['Txn', { compare: [{ key: B('a'), target: 'CREATE', result: 'LESS', create_revision: 100 }], success: [get('a'), get('b')], failure: [] }],
  ['Txn', { success: [{ request_delete_range: { key: B('a'), range_end: B('c') } }, put('b', 'x')] }],
  ['Txn', { success: [put('q', '1'), { request_txn: { success: [put('q', '2')] } }] }],
  ['Txn', { success: [put('q', '1')], failure: [put('q', '2')] }],
  ['Txn', { success: [get('a', { revision: 100 })] }],
  ['DeleteRange', { key: B('a'), range_end: B('\0'), prev_kv: true }],
  ['DeleteRange', { key: B('a') }],
  ['Compact', { revision: 3 }],
  ['Range', { key: B('a'), revision: 2 }],
  ['Compact', { revision: 2 }],
  ['Range', { key: B('q'), revision: 3 }],
  // past --max-request-bytes: etcd's own check; past it + 512 KiB: the gRPC message limit
  ['Put', { key: B('big'), value: Buffer.alloc(1600000, 1) }],
  ['Put', { key: B('big'), value: Buffer.alloc(2200000, 1) }],
  ['Range', { key: Buffer.alloc(2200000, 1) }],
  ['Txn', { success: [{ request_put: { key: B('big'), value: Buffer.alloc(2200000, 1) } }] }],
  ['Put', { key: B('after'), value: B('big') }],
];

async function runScript(endpoint) {
  const kv = kvClient(endpoint);
  const out = [];
  for (const [method, req] of SCRIPT) {
    try {
      out.push(normalize(await call(kv, method, req)));
    } catch (e) {
      out.push({ error: e.code, details: e.details });
    }
  }
  // watch: history from revision 1 over everything, then one live event
  const wc = watchClient(endpoint);
  const stream = wc.Watch();
  const resps = [];
  stream.on('data', (r) => resps.push(normalize(r)));
  stream.on('error', () => {});
  stream.write({ create_request: { key: B('\0'), range_end: B('\0'), start_revision: 3, prev_kv: true } });
  stream.write({ create_request: { key: B('q'), start_revision: 1 } });
  stream.write({ create_request: { key: B('b'), watch_id: 7, filters: ['NOPUT'] } });
  stream.write({ create_request: { key: B('b'), range_end: B('a'), watch_id: 8 } });
  stream.write({ create_request: { key: B('b'), watch_id: 9, start_revision: 1000 } });
  await new Promise((r) => setTimeout(r, 500));
  await call(kv, 'Put', { key: B('b'), value: B('live') });
  await call(kv, 'DeleteRange', { key: B('b') });
  await new Promise((r) => setTimeout(r, 500));
  stream.end();
  wc.close();
  kv.close();
  // the two create responses race with history replay only in order across watchers; sort by watch id
  const byWatch = {};
  for (const r of resps) (byWatch[r.watch_id] ??= []).push(r);
  return { out, watch: byWatch };
}

test('the same gRPC requests get the same responses from real etcd and etcd-ts', { skip, timeout: 60_000 }, async () => {
  const results = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    try {
      results[kind] = await runScript(s.endpoint);
    } finally {
      await s.stop();
    }
  }
  for (let i = 0; i < SCRIPT.length; i++) {
    assert.deepEqual(results.ours.out[i], results.etcd.out[i], `request ${i}: ${SCRIPT[i][0]} ${JSON.stringify(normalize(SCRIPT[i][1])).slice(0, 100)}`);
  }
  assert.deepEqual(results.ours.watch, results.etcd.watch);
});

/** One gRPC call as raw HTTP/2, body as given, malformed or not: its status, text, whether it replied, and the header and trailer names. */
function rawGrpc(endpoint, method, body) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${endpoint}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    let headers = {};
    let trailers;
    let size = 0;
    req.on('response', (h) => {
      headers = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (d) => {
      size += d.length;
    });
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      const t = trailers ?? headers; // a trailers-only response carries the status in its headers
      // a reply's size differs with the ids in its header; whether there is one is compared
      resolve({
        status: t['grpc-status'],
        message: decodeURIComponent(t['grpc-message'] ?? ''),
        replied: size > 0,
        headers: Object.keys(headers).sort().join(' '),
        contentType: headers['content-type'],
        trailers: trailers ? Object.keys(trailers).sort().join(' ') : null,
      });
    });
    req.end(body);
  });
}

/** gRPC's length-prefixed message framing. */
function frame(msg, flag = 0) {
  const b = Buffer.alloc(5 + msg.length);
  b[0] = flag;
  b.writeUInt32BE(msg.length, 1);
  msg.copy(b, 5);
  return b;
}

test('malformed gRPC requests to KV get the status and text real etcd gives', { skip, timeout: 60_000 }, async () => {
  const putBytes = (req) => loadApi().etcdserverpb.KV.service.Put.requestSerialize(req);
  const good = frame(putBytes({ key: B('k'), value: B('v') }));
  const CASES = [
    ['a good put', '/etcdserverpb.KV/Put', good],
    ['no message', '/etcdserverpb.KV/Put', Buffer.alloc(0)],
    ['two messages in a unary call', '/etcdserverpb.KV/Put', Buffer.concat([good, good])],
    ['bytes that are not a PutRequest', '/etcdserverpb.KV/Put', frame(Buffer.from([0x0a, 0xff, 0xff, 0xff]))],
    ['a message cut short', '/etcdserverpb.KV/Put', good.subarray(0, good.length - 2)],
    ['a length prefix cut short', '/etcdserverpb.KV/Range', good.subarray(0, 3)],
    ['the compressed flag without an encoding', '/etcdserverpb.KV/Put', frame(B('\x0a\x01k'), 1)],
    ['a length prefix past the limit', '/etcdserverpb.KV/Range', Buffer.from([0, 0x7f, 0, 0, 0, 1, 2, 3])],
    ['a method KV does not have', '/etcdserverpb.KV/Nope', good],
    ['a range after all that', '/etcdserverpb.KV/Range', frame(B('\x0a\x01k'))],
  ];
  const results = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    try {
      results[kind] = [];
      for (const [name, method, body] of CASES) results[kind].push({ name, ...(await rawGrpc(s.endpoint, method, body)) });
    } finally {
      await s.stop();
    }
  }
  assert.equal(results.ours[0].status, '0');
  assert.deepEqual(results.ours, results.etcd);
});

test('HashKV: the same history hashes the same on real etcd and etcd-ts, at every revision, before and after compactions', { skip, timeout: 60_000 }, async () => {
  const api = loadApi();
  const out = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    const kv = kvClient(s.endpoint);
    const m = new api.etcdserverpb.Maintenance(s.endpoint, (await import('@grpc/grpc-js')).credentials.createInsecure());
    const hashes = [];
    const hashAt = async (revision) => {
      try {
        const r = await call(m, 'HashKV', { revision });
        hashes.push([revision, r.hash, r.compact_revision]);
      } catch (e) {
        hashes.push([revision, e.code, e.details]);
      }
    };
    try {
      await hashAt(0); // empty store
      await call(kv, 'Put', { key: B('a'), value: B('1') });
      await call(kv, 'Put', { key: B('b'), value: B('2'), lease: 0 });
      await call(kv, 'Put', { key: B('a'), value: B('3') });
      await call(kv, 'DeleteRange', { key: B('b') });
      await call(kv, 'Put', { key: B('c'), value: Buffer.alloc(300, 7) });
      await call(kv, 'Txn', { success: [put('d', '4'), put('e', '5')] });
      await call(kv, 'Put', { key: B('b'), value: B('6') });
      for (let r = 0; r <= 8; r++) await hashAt(r);
      await call(kv, 'Compact', { revision: 4, physical: true });
      for (let r = 0; r <= 8; r++) await hashAt(r);
      await call(kv, 'DeleteRange', { key: B('a'), range_end: B('z') });
      await call(kv, 'Compact', { revision: 9, physical: true });
      for (const r of [0, 8, 9]) await hashAt(r);
      out[kind] = hashes;
    } finally {
      kv.close();
      m.close();
      await s.stop();
    }
  }
  assert.equal(out.etcd[0][1], 1084519789, 'real etcd hashes an empty store to CRC-32C("key")');
  assert.deepEqual(out.ours, out.etcd);
});

test('--max-request-bytes: the largest value a put may carry is the same byte count on real etcd and etcd-ts', { skip, timeout: 60_000 }, async () => {
  const largest = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind, { extraArgs: ['--max-request-bytes', '1000'] });
    const kv = kvClient(s.endpoint);
    try {
      const fits = async (n) => {
        try {
          await call(kv, 'Put', { key: B('bk'), value: Buffer.alloc(n, 120) });
          return true;
        } catch (e) {
          assert.equal(e.details, 'etcdserver: request is too large');
          return false;
        }
      };
      let lo = 900;
      let hi = 1000;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (await fits(mid)) lo = mid;
        else hi = mid - 1;
      }
      largest[kind] = lo;
    } finally {
      kv.close();
      await s.stop();
    }
  }
  assert.ok(largest.etcd > 900 && largest.etcd < 1000, `etcd: ${largest.etcd}`);
  assert.equal(largest.ours, largest.etcd);
});

// Alarms through the Maintenance API: any member ID and type (NONE and CORRUPT too), GET by type,
// deactivation, the write modes they set (CORRUPT refuses writes but not reads or read-only txns;
// NOSPACE refuses what adds data), Status's error list, /health with and without ?exclude, and the
// alarms again after a restart. One type of NOSPACE and CORRUPT at a time: with both raised, etcd's
// mode depends on the order of changes and on restarts (see src/server/apply/alarms.ts), ours not.
// Lists are compared sorted: etcd lists from a Go map, in no fixed order.
test('alarms: activate, list, deactivate, their effect on writes, /health and a restart, as real etcd', { skip, timeout: 60_000 }, async () => {
  const alarm = (action, memberID, type) => ['m', 'Alarm', { action, memberID, alarm: type }];
  const PUT = ['k', 'Put', { key: B('a'), value: B('1') }];
  const BEFORE = [
    alarm('ACTIVATE', 5, 'NONE'),
    alarm('GET', 0, 'NONE'),
    ['m', 'Status', {}],
    ['h', '/health'],
    PUT,
    alarm('ACTIVATE', 7, 'CORRUPT'),
    alarm('ACTIVATE', 7, 'CORRUPT'),
    PUT,
    ['k', 'Range', { key: B('a') }],
    ['k', 'Txn', { success: [get('a')] }],
    ['k', 'Txn', { success: [{ request_delete_range: { key: B('zz') } }] }],
    ['k', 'DeleteRange', { key: B('a') }],
    ['k', 'Compact', { revision: 1 }],
    alarm('GET', 0, 'NONE'),
    alarm('GET', 0, 'CORRUPT'),
    alarm('GET', 0, 'NOSPACE'),
    ['m', 'Status', {}],
    ['h', '/health?exclude=CORRUPT'],
    ['h', '/health?exclude=CORRUPT&exclude=NONE'],
  ];
  const AFTER = [
    alarm('GET', 0, 'NONE'),
    PUT,
    alarm('DEACTIVATE', 8, 'CORRUPT'),
    alarm('DEACTIVATE', 7, 'CORRUPT'),
    PUT,
    alarm('ACTIVATE', 9, 'NOSPACE'),
    alarm('ACTIVATE', 0, 'NOSPACE'),
    PUT,
    ['k', 'Txn', { success: [put('b', '1')] }],
    ['k', 'Txn', { success: [{ request_txn: { success: [put('c', '1')] } }] }], // etcd counts top-level puts only
    ['k', 'Txn', { success: [{ request_delete_range: { key: B('a') } }] }],
    ['k', 'DeleteRange', { key: B('c') }],
    ['m', 'Status', {}],
    ['h', '/health?exclude=NOSPACE'],
    alarm('DEACTIVATE', 9, 'NOSPACE'),
    PUT,
    alarm('DEACTIVATE', 0, 'NOSPACE'),
    PUT,
    alarm('DEACTIVATE', 5, 'NONE'),
    alarm('GET', 0, 'NONE'),
    ['m', 'Status', {}],
    ['h', '/health'],
  ];
  const sortList = (l) => [...l].sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
  async function run(endpoint, steps) {
    const kv = kvClient(endpoint);
    const m = new (loadApi().etcdserverpb.Maintenance)(endpoint, (await import('@grpc/grpc-js')).credentials.createInsecure());
    const out = [];
    for (const [svc, method, req] of steps) {
      if (svc === 'h') {
        const res = await fetch(`http://${endpoint}${method}`);
        out.push({ status: res.status, body: await res.text() });
        continue;
      }
      try {
        const r = normalize(await call(svc === 'm' ? m : kv, method, req));
        if (method === 'Status') out.push({ errors: sortList(r.errors) });
        else if (method === 'Alarm') out.push({ ...r, alarms: sortList(r.alarms) });
        else out.push(r);
      } catch (e) {
        out.push({ error: e.code, details: e.details });
      }
    }
    kv.close();
    m.close();
    return out;
  }
  const results = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    try {
      const before = await run(s.endpoint, BEFORE);
      await s.stop();
      const again = await startServer(kind, { dataDir: s.dataDir, port: s.port, peerPort: s.peerPort });
      try {
        results[kind] = [...before, ...(await run(again.endpoint, AFTER))];
      } finally {
        await again.stop();
      }
    } finally {
      await s.stop();
    }
  }
  const steps = [...BEFORE, ...AFTER];
  for (let i = 0; i < steps.length; i++) {
    assert.deepEqual(results.ours[i], results.etcd[i], `step ${i}: ${steps[i][1]} ${JSON.stringify(normalize(steps[i][2] ?? {}))}`);
  }
});
