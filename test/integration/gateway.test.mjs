// The gRPC-JSON gateway (/v3/...): the same HTTP requests against real etcd and against ours, with
// status codes, JSON bodies and the headers grpc-gateway sets compared after normalizing what must
// differ (cluster and member IDs, raft term, server-chosen lease IDs, TTLs counting down, sizes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { realEtcdSkip, startServer } from '../helpers.mjs';

const skip = realEtcdSkip();
const b64 = (s) => Buffer.from(s).toString('base64');

function post(endpoint, path, body, method = 'POST') {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), path, method, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({
          status: res.statusCode,
          type: res.headers['content-type'],
          grpc: res.headers['grpc-metadata-content-type'],
          trailer: res.trailers['grpc-trailer-content-type'],
          body: normalize(json),
        });
      });
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** Drops what differs between two servers by design. */
function normalize(v) {
  if (Array.isArray(v)) return v.map(normalize);
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (['cluster_id', 'member_id', 'raft_term', 'raftTerm', 'raftIndex', 'raftAppliedIndex'].includes(k)) continue;
    if (['dbSize', 'dbSizeInUse', 'version', 'leader', 'hash'].includes(k) && typeof x === 'string') out[k] = '*';
    else if (k === 'hash' || (k === 'ID' && typeof x === 'string' && x.length > 12)) out[k] = '*';
    else if (k === 'clientURLs') out[k] = x.map(() => '*');
    else out[k] = normalize(x);
  }
  return out;
}

/** Opens a watch stream; returns { lines, waitFor(n), close() }. */
function openWatch(endpoint, body) {
  const [host, port] = endpoint.split(':');
  const lines = [];
  let buf = '';
  let waiters = [];
  const req = http.request({ host, port: Number(port), path: '/v3/watch', method: 'POST', agent: false });
  const head = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      resolve({ status: res.statusCode, type: res.headers['content-type'] });
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(normalize(JSON.parse(buf.slice(0, i))));
          buf = buf.slice(i + 1);
        }
        waiters = waiters.filter((w) => !w());
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  req.end(JSON.stringify(body));
  return {
    head,
    lines,
    waitFor: (n) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`watch: ${lines.length} of ${n} lines`)), 5000);
        const check = () => (lines.length >= n ? (clearTimeout(t), resolve(lines.slice()), true) : false);
        if (!check()) waiters.push(check);
      }),
    close: () => req.destroy(),
  };
}

/** One scenario, written once, run against both servers. */
async function scenario(endpoint) {
  const r = {};
  const p = (path, body) => post(endpoint, path, body);
  r.put = await p('/v3/kv/put', { key: b64('foo'), value: b64('bar') });
  r.putPrev = await p('/v3/kv/put', { key: b64('foo'), value: b64('baz'), prev_kv: true });
  await p('/v3/kv/put', { key: b64('dir/a'), value: b64('1') });
  await p('/v3/kv/put', { key: b64('dir/b'), value: b64('2') });
  await p('/v3/kv/put', { key: b64('dir/c'), value: b64('3') });
  r.range = await p('/v3/kv/range', { key: b64('foo') });
  r.rangeMissing = await p('/v3/kv/range', { key: b64('nope') });
  r.prefix = await p('/v3/kv/range', { key: b64('dir/'), range_end: b64('dir0') });
  r.limit = await p('/v3/kv/range', { key: b64('dir/'), range_end: b64('dir0'), limit: 2, sort_order: 'DESCEND' });
  r.keysOnly = await p('/v3/kv/range', { key: b64('dir/'), range_end: b64('dir0'), keys_only: true });
  r.countOnly = await p('/v3beta/kv/range', { key: b64('dir/'), range_end: b64('dir0'), count_only: true });
  r.camelCase = await p('/v3/kv/range', { key: b64('dir/'), rangeEnd: b64('dir0'), countOnly: true });
  r.txnSuccess = await p('/v3/kv/txn', {
    compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('baz') }],
    success: [{ request_put: { key: b64('t'), value: b64('yes') } }, { request_range: { key: b64('foo') } }],
    failure: [{ request_put: { key: b64('t'), value: b64('no') } }],
  });
  r.txnFailure = await p('/v3/kv/txn', {
    compare: [{ key: b64('foo'), target: 'VERSION', result: 'GREATER', version: '5' }],
    success: [{ request_put: { key: b64('t'), value: b64('yes') } }],
    failure: [{ request_range: { key: b64('t') } }],
  });
  r.deletePrev = await p('/v3/kv/deleterange', { key: b64('dir/'), range_end: b64('dir0'), prev_kv: true });
  r.deleteNone = await p('/v3/kv/deleterange', { key: b64('zzz') });
  r.compact = await p('/v3/kv/compaction', { revision: '3' });
  r.compacted = await p('/v3/kv/range', { key: b64('foo'), revision: 2 });
  r.future = await p('/v3/kv/compaction', { revision: '1000' });
  r.emptyKey = await p('/v3/kv/put', { key: '', value: b64('x') });
  r.emptyBody = await p('/v3/kv/range', '');
  r.badJson = await p('/v3/kv/put', '{bad');
  r.badBase64 = await p('/v3/kv/range', { key: 'not base64!' });
  r.array = await p('/v3/kv/range', '[]');
  r.unknownPath = await p('/v3/kv/nosuch', {});
  r.alphaPath = await p('/v3alpha/kv/range', { key: b64('foo') });
  r.getMethod = await post(endpoint, '/v3/kv/range', '', 'GET');

  r.grant = await p('/v3/lease/grant', { TTL: 60, ID: 4242 });
  r.grantAgain = await p('/v3/lease/grant', { TTL: 60, ID: 4242 });
  r.grantAny = await p('/v3/lease/grant', { TTL: '30' });
  r.putLease = await p('/v3/kv/put', { key: b64('leased'), value: b64('v'), lease: '4242' });
  r.putNoLease = await p('/v3/kv/put', { key: b64('leased'), value: b64('v'), lease: '999' });
  const ttl = await p('/v3/lease/timetolive', { ID: '4242', keys: true });
  assert.ok(Number(ttl.body.TTL) >= 58 && Number(ttl.body.TTL) <= 60, JSON.stringify(ttl.body));
  ttl.body.TTL = '*';
  r.timetolive = ttl;
  r.leases = await p('/v3/kv/lease/leases', {});
  r.leases.body.leases.sort((a, b) => (a.ID < b.ID ? -1 : 1));
  r.revoke = await p('/v3/lease/revoke', { ID: '4242' });
  r.revokeAgain = await p('/v3/kv/lease/revoke', { ID: '4242' });
  r.timetoliveGone = await p('/v3/kv/lease/timetolive', { ID: '4242' });
  r.leasedGone = await p('/v3/kv/range', { key: b64('leased') });

  r.members = await p('/v3/cluster/member/list', {});
  r.status = await p('/v3/maintenance/status', {});
  r.hash = await p('/v3/maintenance/hash', {});
  r.alarm = await p('/v3/maintenance/alarm', { action: 'GET' });
  r.defrag = await p('/v3/maintenance/defragment', {});

  // watch: created, a put and a delete with prev_kv, then the client goes away
  const w = openWatch(endpoint, { create_request: { key: b64('w'), prev_kv: true } });
  r.watchHead = await w.head;
  await w.waitFor(1);
  await p('/v3/kv/put', { key: b64('w'), value: b64('1') });
  await p('/v3/kv/deleterange', { key: b64('w') });
  r.watch = await w.waitFor(3);
  w.close();
  // a watch from a compacted revision is cancelled with the compact revision
  const wc = openWatch(endpoint, { create_request: { key: b64('foo'), start_revision: 2 } });
  r.watchCompacted = await wc.waitFor(2);
  wc.close();
  // the server still works after the streams went away
  r.after = await p('/v3/kv/range', { key: b64('w') });
  return r;
}

test('the JSON gateway answers as etcd 3.4 does', { skip, timeout: 120_000 }, async () => {
  const results = {};
  const ports = { etcd: [27700, 27701], ours: [27710, 27711] };
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind, { port: ports[kind][0], peerPort: ports[kind][1] });
    try {
      results[kind] = await scenario(s.endpoint);
    } finally {
      await s.stop();
    }
  }
  const { etcd, ours } = results;
  for (const name of Object.keys(etcd)) assert.deepEqual(ours[name], etcd[name], `${name}: ${JSON.stringify(ours[name])}`);
  // spot checks that the comparison compares something
  assert.equal(ours.put.status, 200);
  assert.equal(ours.put.grpc, 'application/grpc');
  assert.equal(ours.range.body.kvs[0].value, b64('baz'));
  assert.equal(ours.range.body.count, '1');
  assert.equal(ours.emptyKey.status, 400);
  assert.equal(ours.emptyKey.body.message, 'etcdserver: key is not provided');
  assert.equal(ours.emptyKey.trailer, 'application/grpc');
  assert.equal(ours.compacted.body.code, 11);
  assert.equal(ours.badJson.body.code, 3);
  assert.equal(ours.unknownPath.status, 404);
  assert.equal(ours.grantAgain.status, 412);
  assert.equal(ours.watch[1].result.events[0].kv.key, b64('w'));
  assert.equal(ours.watch[2].result.events[0].type, 'DELETE');
  assert.equal(ours.watchCompacted[1].result.compact_revision, '3');
});

test('lease keep-alive streams one answer per request in the body, then ends', { skip, timeout: 60_000 }, async () => {
  const results = {};
  const ports = { etcd: [27720, 27721], ours: [27730, 27731] };
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind, { port: ports[kind][0], peerPort: ports[kind][1] });
    try {
      await post(s.endpoint, '/v3/lease/grant', { TTL: 60, ID: 77 });
      const r = await post(s.endpoint, '/v3/lease/keepalive', '{"ID":77}\n{"ID":78}');
      results[kind] = r;
    } finally {
      await s.stop();
    }
  }
  const lines = (r) => r.body.trim().split('\n').map((l) => normalize(JSON.parse(l)));
  assert.equal(results.ours.status, results.etcd.status);
  assert.deepEqual(lines(results.ours), lines(results.etcd));
  assert.deepEqual(lines(results.ours).map((l) => l.result.TTL), ['60', undefined]);
});
