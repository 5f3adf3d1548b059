// Randomized differential test of the KV service: a seeded PRNG makes a sequence of Put, Range,
// DeleteRange, Txn and Compact requests (now and then a revoke or grant of the one lease) over a few
// short keys that are prefixes of each other, so operations collide; the same sequence goes to real
// etcd and to etcd-ts (fresh data dirs), and every answer must be equal after dropping what
// legitimately differs (cluster and member IDs, raft term). Errors compare as {code, details}.
//
// The generator reads the revision from real etcd's answers to pick meaningful revisions (historical,
// compacted, future), so a seed gives the same sequence as long as both servers agree, which the test
// checks step by step.
//
//   KV_FUZZ_SEED=n   run only seed n          KV_FUZZ_STEPS=n   requests per seed (default 300)
//   KV_FUZZ_SEEDS=n or a-b   run seeds 1..n or a..b instead of the fixed list
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { call, kvClient, normalizeReply as normalize, realEtcdSkip, startServer, mulberry32, prefixEnd } from '../helpers.mjs';
import { loadApi } from '../../dist/api/proto.js';

const skip = realEtcdSkip();

function seedList() {
  if (process.env.KV_FUZZ_SEED) return [Number(process.env.KV_FUZZ_SEED)];
  const range = process.env.KV_FUZZ_SEEDS;
  if (!range) return [1, 2, 3, 4, 5, 6];
  const [from, to] = range.includes('-') ? range.split('-').map(Number) : [1, Number(range)];
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
const SEEDS = seedList();
const STEPS = Number(process.env.KV_FUZZ_STEPS ?? 300);

// At most 10 keys, so a sort over a range never has more than 12 entries: Go's sort.Sort is then an
// insertion sort, which keeps ties in key order, as our stable sort does. (Past 12, etcd's pdqsort
// orders ties in a way no one should rely on.)
const KEYS = ['a', 'ab', 'abc', 'a\0', 'b', 'ba', 'c', '\0', '\xff', '\xff\xff'];
const VALUES = ['', 'v', 'w', 'v\0', 'zz', '\xff'];
const LEASE = '1000'; // granted on both servers before the run
const NO_SUCH_LEASE = '999';
const MAX_TXN_OPS = 128; // etcd's default --max-txn-ops
const B = (s) => Buffer.from(s, 'latin1');

class Gen {
  constructor(seed) {
    this.rnd = mulberry32(seed);
    this.rev = 1; // the store's revision, as real etcd last reported it
    this.compactRev = 0; // the last revision compacted successfully
  }

  int(n) {
    return Math.floor(this.rnd() * n);
  }

  chance(p) {
    return this.rnd() < p;
  }

  pick(arr) {
    return arr[this.int(arr.length)];
  }

  key() {
    return this.chance(0.01) ? '' : this.pick(KEYS);
  }

  rangeEnd(key) {
    switch (this.int(8)) {
      case 0:
      case 1:
        return undefined; // the key alone
      case 2:
      case 3:
        return prefixEnd(key);
      case 4:
        return '\0'; // every key from key on
      case 5:
        return key + '\0'; // the key alone, as an interval
      default:
        return this.pick(KEYS); // anything: below, at or past the key
    }
  }

  /** A revision around the interesting ones: current, historical, compacted, future, odd. */
  revision() {
    switch (this.int(10)) {
      case 0:
        return this.rev;
      case 1:
        return this.rev - 1;
      case 2:
      case 3:
        return 1 + this.int(this.rev);
      case 4:
        return this.compactRev;
      case 5:
        return this.compactRev - 1;
      case 6:
        return this.rev + 1;
      case 7:
        return this.rev + 1 + this.int(5);
      case 8:
        return -1;
      default:
        return 0;
    }
  }

  lease() {
    const r = this.rnd();
    return r < 0.75 ? '0' : r < 0.95 ? LEASE : NO_SUCH_LEASE;
  }

  put() {
    const p = { key: B(this.key()) };
    const ignoreValue = this.chance(0.12);
    const ignoreLease = this.chance(0.12);
    if (!ignoreValue || this.chance(0.1)) p.value = B(this.pick(VALUES));
    if (!ignoreLease || this.chance(0.1)) p.lease = this.lease();
    if (ignoreValue) p.ignore_value = true;
    if (ignoreLease) p.ignore_lease = true;
    if (this.chance(0.4)) p.prev_kv = true;
    return p;
  }

  /** A key and maybe a range end: the start of a Range or DeleteRange request. */
  keyRange() {
    const key = this.key();
    const r = { key: B(key) };
    const end = this.rangeEnd(key);
    if (end !== undefined) r.range_end = B(end);
    return r;
  }

  range() {
    const r = this.keyRange();
    if (this.chance(0.3)) r.limit = this.pick([1, 2, 3, -1]);
    if (this.chance(0.3)) r.revision = this.revision();
    if (this.chance(0.5)) {
      // an order etcd does not know (5) is sent as its number; an unknown target is left out, since
      // etcd 3.4 crashes on one (a nil sorter)
      r.sort_order = this.chance(0.05) ? 5 : this.pick(['NONE', 'ASCEND', 'DESCEND']);
      r.sort_target = this.pick(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);
    } else if (this.chance(0.2)) {
      r.sort_target = this.pick(['VERSION', 'CREATE', 'MOD', 'VALUE']);
    }
    if (this.chance(0.15)) r.keys_only = true;
    if (this.chance(0.15)) r.count_only = true;
    if (this.chance(0.3)) r.serializable = true;
    for (const f of ['min_mod_revision', 'max_mod_revision', 'min_create_revision', 'max_create_revision']) {
      if (this.chance(0.1)) r[f] = this.int(this.rev + 2) - (this.chance(0.05) ? 2 : 0);
    }
    return r;
  }

  deleteRange() {
    const d = this.keyRange();
    if (this.chance(0.5)) d.prev_kv = true;
    return d;
  }

  compare() {
    const key = this.chance(0.01) ? '' : this.pick(KEYS);
    const c = { key: B(key) };
    if (this.chance(0.3)) {
      const end = this.rangeEnd(key);
      if (end !== undefined) c.range_end = B(end);
    }
    c.result = this.chance(0.02) ? 7 : this.pick(['EQUAL', 'NOT_EQUAL', 'GREATER', 'LESS']);
    const target = this.chance(0.02) ? 9 : this.pick(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']);
    c.target = target;
    // the union member usually matches the target; sometimes another (etcd then compares with 0)
    const member = this.chance(0.9) ? target : this.pick(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']);
    switch (member) {
      case 'VERSION':
        c.version = this.int(4);
        break;
      case 'CREATE':
        c.create_revision = this.int(this.rev + 2);
        break;
      case 'MOD':
        c.mod_revision = this.int(this.rev + 2);
        break;
      case 'VALUE':
        if (this.chance(0.9)) c.value = B(this.pick(VALUES));
        break;
      case 'LEASE':
        c.lease = this.pick(['0', LEASE, NO_SUCH_LEASE]);
        break;
      default:
        c.version = this.int(3);
    }
    return c;
  }

  requestOp(depth, budget) {
    const r = this.rnd();
    if (r < 0.003) return {}; // an empty op
    if (r < 0.4) return { request_range: this.range() };
    if (r < 0.7) return { request_put: this.put() };
    if (r < 0.85 || depth >= 2) return { request_delete_range: this.deleteRange() };
    return { request_txn: this.txnBody(depth + 1, budget) };
  }

  ops(depth, budget) {
    const n = this.int(Math.min(5, budget + 1));
    return Array.from({ length: n }, () => this.requestOp(depth, budget));
  }

  txnBody(depth = 0, budget = MAX_TXN_OPS) {
    const t = { compare: Array.from({ length: this.int(4) }, () => this.compare()) };
    t.success = this.ops(depth, budget);
    t.failure = this.ops(depth, budget);
    return t;
  }

  txn() {
    let t;
    const r = this.rnd();
    if (r < 0.02) {
      // one op past --max-txn-ops
      t = { success: Array.from({ length: MAX_TXN_OPS + 1 }, () => ({ request_range: { key: B('a') } })) };
    } else if (r < 0.04) {
      // a nested txn gets what its parent leaves: parent 100 ops, nested 28 + (0 or 1)
      const inner = Array.from({ length: 28 + this.int(2) }, () => ({ request_range: { key: B('b') } }));
      t = { success: [...Array.from({ length: 99 }, () => ({ request_range: { key: B('a') } })), { request_txn: { success: inner } }] };
    } else {
      t = this.txnBody();
    }
    // A "\0"-ended delete does not count in etcd's put/delete overlap check, so a later put of a
    // deleted key with ignore_value/ignore_lease passes every check and then finds no key while the
    // txn applies: real etcd panics ("unexpected error during txn"). Such puts are not generated.
    if (hasGteDelete(t)) stripIgnores(t);
    return t;
  }

  compact() {
    const c = {};
    switch (this.int(8)) {
      case 0:
      case 1:
        c.revision = this.rev;
        break;
      case 2:
      case 3:
        c.revision = this.compactRev + 1 + this.int(Math.max(1, this.rev - this.compactRev));
        break;
      case 4:
        c.revision = this.compactRev; // already compacted
        break;
      case 5:
        c.revision = this.rev + 1 + this.int(3); // future
        break;
      case 6:
        c.revision = this.int(this.compactRev + 1); // past
        break;
      default:
        c.revision = this.chance(0.5) ? 0 : -1;
    }
    if (this.chance(0.4)) c.physical = true;
    return c;
  }

  next() {
    const r = this.rnd();
    if (r < 0.3) return ['Put', this.put()];
    if (r < 0.55) return ['Range', this.range()];
    if (r < 0.67) return ['DeleteRange', this.deleteRange()];
    if (r < 0.96) return ['Txn', this.txn()];
    // the lease's keys go when it is revoked (one delete revision, keys in order); then it is granted
    // again, or again while it exists
    if (r < 0.965) return ['LeaseRevoke', { ID: LEASE }];
    if (r < 0.97) return ['LeaseGrant', { ID: LEASE, TTL: 3600 }];
    return ['Compact', this.compact()];
  }

  /** Learns the store's revision from real etcd's answer. */
  observe(method, req, res) {
    if (isError(res)) return;
    const rev = Number(res.header?.revision ?? 0);
    if (rev > 0) this.rev = rev;
    if (method === 'Compact') this.compactRev = req.revision;
  }
}

function walkOps(t, f) {
  for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
    f(op);
    if (op.request_txn) walkOps(op.request_txn, f);
  }
}

function hasGteDelete(t) {
  let found = false;
  walkOps(t, (op) => {
    const e = op.request_delete_range?.range_end;
    if (e && e.length === 1 && e[0] === 0) found = true;
  });
  return found;
}

function stripIgnores(t) {
  walkOps(t, (op) => {
    const p = op.request_put;
    if (!p) return;
    delete p.ignore_value;
    delete p.ignore_lease;
  });
}

/** send's error answer; no reply of KV or Lease has these two fields. */
const isError = (res) => res.code !== undefined && res.details !== undefined;

async function send(kv, method, req) {
  try {
    return normalize(await call(kv, method, req));
  } catch (e) {
    return { code: e.code, details: e.details };
  }
}

function show(x) {
  const s = JSON.stringify(x);
  return s.length > 4000 ? `${s.slice(0, 4000)}...` : s;
}

/** One line per method and outcome (ok, succeeded/failed txn, or the error), for KV_FUZZ_STATS=1. */
function outcome(method, res) {
  if (isError(res)) return `${method} ${res.details}`;
  if (method === 'Txn') return `${method} ok ${res.succeeded ? 'success' : 'failure'} branch`;
  return `${method} ok`;
}

/** For a failure message: a server that has exited, and our server's last log lines. */
function serverState(servers) {
  const exited = servers.filter((s) => s.proc.exitCode !== null || s.proc.signalCode !== null);
  const gone = exited.map((s) => `\n  ${s.kind} exited (${s.proc.exitCode ?? s.proc.signalCode})`).join('');
  const ours = servers.find((s) => s.kind === 'ours');
  return `${gone}\n  our log ends: ${ours.logs.join('').split('\n').slice(-12).join('\n    ')}`;
}

async function runSeed(seed, stats) {
  const [etcd, ours] = await Promise.all([startServer('etcd'), startServer('ours')]);
  const servers = [etcd, ours];
  const clients = servers.map((s) => kvClient(s.endpoint));
  const api = loadApi();
  const leases = servers.map((s) => new api.etcdserverpb.Lease(s.endpoint, grpc.credentials.createInsecure()));
  const clientFor = (i, method) => (method.startsWith('Lease') ? leases[i] : clients[i]);
  try {
    await Promise.all(leases.map((l) => call(l, 'LeaseGrant', { ID: LEASE, TTL: 3600 })));
    const gen = new Gen(seed);
    for (let step = 0; step < STEPS; step++) {
      const [method, req] = gen.next();
      const [a, b] = await Promise.all(servers.map((_, i) => send(clientFor(i, method), method, req)));
      assert.deepEqual(
        b,
        a,
        `seed ${seed} step ${step}: ${method} ${show(normalize(req))}\n  etcd: ${show(a)}\n  ours: ${show(b)}${serverState(servers)}`,
      );
      gen.observe(method, req, a);
      const o = outcome(method, a);
      stats.set(o, (stats.get(o) ?? 0) + 1);
    }
    // the whole history still readable must be the same: every key at every revision since the last
    // compaction
    for (let rev = Math.max(1, gen.compactRev); rev <= gen.rev; rev++) {
      const req = { key: B('\0'), range_end: B('\0'), revision: rev };
      const [a, b] = await Promise.all(clients.map((kv) => send(kv, 'Range', req)));
      assert.deepEqual(b, a, `seed ${seed} after the run: Range ${show(normalize(req))}\n  etcd: ${show(a)}\n  ours: ${show(b)}`);
    }
  } finally {
    for (const c of [...clients, ...leases]) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

for (const seed of SEEDS) {
  test(`random KV requests (seed ${seed}, ${STEPS} steps) get the same answers from real etcd and etcd-ts`, { skip, timeout: 120_000 }, async (t) => {
    const stats = new Map();
    await runSeed(seed, stats);
    if (process.env.KV_FUZZ_STATS) for (const [o, n] of [...stats].sort()) t.diagnostic(`${n} ${o}`);
  });
}

// Requests on which the random test found etcd-ts answering differently, kept as a fixed script so
// each stays covered whatever the seeds reach. The state they run on: a@2, b@3, a@4 (a created at 2),
// c@5, so ordering by mod revision differs from key order. Every request is compared, and all the
// differences are reported together.
const put = (k, v) => ({ request_put: { key: B(k), value: B(v) } });
const get = (k) => ({ request_range: { key: B(k) } });
const FOUND = [
  ['Put', { key: B('a'), value: B('1') }],
  ['Put', { key: B('b'), value: B('2') }],
  ['Put', { key: B('a'), value: B('3') }],
  ['Put', { key: B('c'), value: B('4') }],
  // an op with no request: etcd refuses it as "key not found"
  ['Txn', { success: [{ request_range: { key: B('a') } }, {}] }],
  // an invalid op anywhere wins over a put/delete overlap (etcd checks overlaps last, at the top)
  ['Txn', { success: [{ request_txn: { success: [put('q', '1'), put('q', '2')] } }, { request_put: { key: B('') } }] }],
  // every put of the txn's path is checked before any range: the missing key wins over the future revision
  ['Txn', { success: [{ request_range: { key: B('a'), revision: 1000 } }, { request_put: { key: B('nope'), ignore_value: true } }] }],
  // a compare target etcd does not know compares as equal
  ['Txn', { compare: [{ key: B('a'), target: 9, result: 'NOT_EQUAL', version: 3 }], success: [get('a')], failure: [get('b')] }],
  ['Txn', { compare: [{ key: B('a'), target: 9, result: 'EQUAL', version: 3 }], success: [get('a')], failure: [get('b')] }],
  // a put alone is checked for its lease first, a put in a txn for its key first
  ['Put', { key: B('nope'), ignore_value: true, lease: '999' }],
  ['Txn', { success: [{ request_put: { key: B('nope'), ignore_value: true, lease: '999' } }] }],
  // an unknown sort order sorts nothing, even with a target other than the key
  ['Range', { key: B('a'), range_end: B('z'), sort_order: 5, sort_target: 'MOD' }],
  ['Range', { key: B('a'), range_end: B('z'), sort_order: 5, sort_target: 'VALUE', limit: 1 }],
  ['Range', { key: B('a'), range_end: B('z'), sort_target: 'MOD' }],
  // a "\0"-ended delete is not an overlap for etcd's check: the txn deletes b and c, then puts c;
  // then one puts b and deletes everything from a on, b included
  ['Txn', { success: [{ request_delete_range: { key: B('b'), range_end: B('\0'), prev_kv: true } }, put('c', '5')] }],
  ['Txn', { success: [put('b', '6'), { request_delete_range: { key: B('a'), range_end: B('\0'), prev_kv: true } }] }],
  ['Range', { key: B('\0'), range_end: B('\0') }],
];

test('requests the random test found answered differently get the same answers from real etcd and etcd-ts', { skip, timeout: 60_000 }, async () => {
  const servers = await Promise.all([startServer('etcd'), startServer('ours')]);
  const clients = servers.map((s) => kvClient(s.endpoint));
  const differences = [];
  try {
    for (const [i, [method, req]] of FOUND.entries()) {
      const [a, b] = await Promise.all(clients.map((kv) => send(kv, method, req)));
      try {
        assert.deepEqual(b, a);
      } catch {
        differences.push(`request ${i}: ${method} ${show(normalize(req))}\n  etcd: ${show(a)}\n  ours: ${show(b)}`);
      }
    }
  } finally {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
  assert.deepEqual(differences, [], differences.join('\n'));
});
