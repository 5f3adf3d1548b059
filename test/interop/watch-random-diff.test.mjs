// Randomized differential test of the Watch service: a seeded PRNG makes a scenario of writes
// (puts, deletes, ranged deletes, multi-op txns, compactions, bursts of large txns) and watch
// requests (creates with random key/range/prefix/from-key, start revisions in the past, compacted,
// current, future or negative, prev_kv, filters, fragment, client-chosen and duplicate watch ids;
// cancels of live, compacted, finished and unknown ids; progress requests) over a few watch streams.
// The same scenario runs against real etcd and etcd-ts, step by step, and every step's responses
// must be equal.
//
// Determinism: a create or cancel request is followed on its stream by a progress request, whose
// reply (etcd queues control responses in order) says the request has been handled, so the next
// write cannot overtake it. After each step the test waits for that reply, until both servers are
// quiet (no response for IDLE_MS) and, where real etcd hands the work to its 100 ms sync loop (a watcher created at a
// revision not after the current one starts "unsynced"), at least UNSYNCED_WAIT_MS, so that no write
// runs while a watcher is unsynced. With that schedule etcd's batching of events into responses and
// the header revisions of all responses are deterministic, so responses are compared whole, not as
// flattened event lists. What is not deterministic is the order of responses of different watchers
// (etcd's sendLoop picks between its control channel and its event channel at random, and notifies
// the watchers of one write in map order), so each stream's responses are compared per watch_id,
// in arrival order within one watch_id.
//
// Progress notifications are timing-based; both servers use the default interval (10 minutes), so
// progress_notify watchers never get one during the test and the flag is only checked to add nothing.
//
// Reproduce or lengthen: WATCH_FUZZ_SEED=7 (or 1,2,3) WATCH_FUZZ_STEPS=400; a failure lists the last
// WATCH_FUZZ_HISTORY (12) steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { call, kvClient, normalizeResponse, realEtcdSkip, startServer, watchClient, prefixEnd, mulberry32 } from '../helpers.mjs';

const skip = realEtcdSkip();
const SEEDS = process.env.WATCH_FUZZ_SEED ? process.env.WATCH_FUZZ_SEED.split(',').map(Number) : [4, 5, 32, 81];
const STEPS = Number(process.env.WATCH_FUZZ_STEPS ?? 60);
const STREAMS = 3;
/** Small, so that fragment's limit (this + 512 KiB, as etcd) is reached by replaying a few bursts. */
const MAX_REQUEST_BYTES = 65536;
const BIG_VALUE = 30000;
const IDLE_MS = 25;
/** Longer than etcd's syncWatchersLoop period (100 ms). */
const UNSYNCED_WAIT_MS = 160;
const SETTLE_CAP_MS = 2500;

const B = (s) => Buffer.from(s, 'latin1');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function prng(seed) {
  const next = mulberry32(seed);
  return {
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    weighted(table) {
      const total = table.reduce((s, [w]) => s + w, 0);
      let x = next() * total;
      for (const [w, v] of table) {
        if ((x -= w) < 0) return v;
      }
      return table[table.length - 1][1];
    },
  };
}

// keys that are prefixes of each other, the smallest and largest one-byte keys
const WRITE_KEYS = ['a', 'ab', 'abc', 'b', 'ba', 'c', '\x00', '\xff'];
const WATCH_KEYS = ['', 'a', 'ab', 'abc', 'b', 'ba', 'c', 'zz', '\x00', '\xff'];

/** Without the ids and terms in headers; byte strings past 64 bytes as their length and a digest. */
const norm = (x) => normalizeResponse(x, 64);

// ---- scenario generation: one step at a time, from the PRNG and the state etcd has shown so far ----

function randomDelete(r) {
  const k = r.pick(WRITE_KEYS);
  const form = r.weighted([[5, 'key'], [2, 'prefix'], [2, 'range'], [1, 'fromkey']]);
  const req = { key: B(k) };
  if (form === 'prefix') req.range_end = B(prefixEnd(k));
  if (form === 'range') req.range_end = B(r.pick(WRITE_KEYS));
  if (form === 'fromkey') req.range_end = B('\0');
  if (r.chance(0.3)) req.prev_kv = true;
  return req;
}

function randomOps(r, n) {
  const ops = [];
  for (let i = 0; i < n; i++) {
    if (r.chance(0.7)) ops.push({ request_put: { key: B(r.pick(WRITE_KEYS)), value: B(`v${r.int(1000)}`) } });
    else ops.push({ request_delete_range: randomDelete(r) });
  }
  return ops;
}

function randomStartRev(r, st) {
  const kind = r.weighted([
    [8, 'now'], [4, 'past'], [2, 'current'], [2, 'next'], [1, 'future'],
    [2, 'compacted'], [1, 'belowCompacted'], [1, 'negative'],
    // just before the last burst (a replay that passes fragment's limit) or flood (1000 revisions)
    [st.bulkStarts.length ? 3 : 0, 'beforeBulk'],
  ]);
  switch (kind) {
    case 'now': return 0;
    case 'past': return 1 + r.int(st.rev);
    case 'current': return st.rev;
    case 'next': return st.rev + 1;
    case 'future': return st.rev + 2 + r.int(4);
    case 'compacted': return st.compactRev > 0 ? st.compactRev : 1 + r.int(st.rev);
    case 'belowCompacted': return st.compactRev > 1 ? 1 + r.int(st.compactRev - 1) : 1;
    case 'beforeBulk': return Math.max(1, r.pick(st.bulkStarts) - r.int(3));
    default: return r.pick([-1, -3]);
  }
}

function randomWatchId(r, s) {
  const active = [...s.active];
  const compacted = [...s.compacted];
  const gone = [...s.gone];
  const kind = r.weighted([
    [11, 'auto'], [2, active.length ? 'dup' : 'auto'], [1, compacted.length ? 'compacted' : 'auto'],
    [1, gone.length ? 'gone' : 'auto'], [3, 'small'], [1, 'large'], [1, 'negative'],
  ]);
  switch (kind) {
    case 'auto': return '0';
    case 'dup': return r.pick(active);
    case 'compacted': return r.pick(compacted);
    case 'gone': return r.pick(gone);
    case 'small': return String(1 + r.int(6));
    case 'large': return r.pick(['9007199254740993', '9223372036854775807', '4611686018427387904']);
    default: return r.pick(['-1', '-7']);
  }
}

function genCreate(r, st) {
  const stream = r.int(STREAMS);
  const key = r.pick(WATCH_KEYS);
  const req = { key: B(key) };
  const form = r.weighted([[4, 'key'], [3, 'prefix'], [2, 'range'], [1, 'fromkey']]);
  if (form === 'prefix') req.range_end = B(prefixEnd(key));
  if (form === 'range') req.range_end = B(r.pick(WATCH_KEYS));
  if (form === 'fromkey') req.range_end = B('\0');
  const start = randomStartRev(r, st);
  if (start !== 0) req.start_revision = start;
  if (r.chance(0.4)) req.prev_kv = true;
  // 7 is no filter etcd knows: it is ignored
  const filters = r.weighted([[6, []], [2, ['NOPUT']], [2, ['NODELETE']], [1, ['NOPUT', 'NODELETE']], [0.5, [7, 'NODELETE']]]);
  if (filters.length) req.filters = filters;
  const id = randomWatchId(r, st.streams[stream]);
  if (id !== '0') req.watch_id = id;
  if (r.chance(0.2)) req.progress_notify = true;
  // a replay of a burst is what passes fragment's limit
  if (r.chance(start !== 0 && st.bulkStarts.some((b) => start <= b) ? 0.7 : 0.3)) req.fragment = true;
  // etcd's watchable store puts a watcher that starts at or before the current revision in its
  // unsynced group, which its sync loop serves every 100 ms
  return { kind: 'create', stream, req, wait: start !== 0 && start <= st.rev ? UNSYNCED_WAIT_MS : 0 };
}

function genCancel(r, st) {
  const stream = r.int(STREAMS);
  const s = st.streams[stream];
  const choices = [[1, '4242'], [0.5, '-1']];
  if (s.active.size) choices.push([6, r.pick([...s.active])]);
  if (s.compacted.size) choices.push([2, r.pick([...s.compacted])]);
  if (s.gone.size) choices.push([1, r.pick([...s.gone])]);
  return { kind: 'cancel', stream, id: r.weighted(choices) };
}

function genStep(r, st) {
  const kind = r.weighted([
    [22, 'put'], [8, 'delete'], [10, 'txn'], [5, 'compact'], [24, 'create'], [10, 'cancel'], [4, 'progress'], [2, 'burst'],
    [0.5, 'flood'],
  ]);
  switch (kind) {
    case 'put': {
      const req = { key: B(r.pick(WRITE_KEYS)), value: B(`v${r.int(1000)}`) };
      if (r.chance(0.2)) req.prev_kv = true;
      return { kind: 'Put', req };
    }
    case 'delete':
      return { kind: 'DeleteRange', req: randomDelete(r) };
    case 'txn': {
      if (r.chance(0.2)) {
        // a put of a key and a from-key delete that covers it, in one txn: etcd's overlap check
        // misses "\0" range ends, so it runs both, and both events carry the same revision
        const k = r.pick(WRITE_KEYS);
        const ops = [
          { request_put: { key: B(k), value: B(`v${r.int(1000)}`) } },
          { request_delete_range: { key: B(r.pick(WRITE_KEYS.filter((x) => x <= k))), range_end: B('\0') } },
        ];
        return { kind: 'Txn', req: { success: r.chance(0.5) ? ops : ops.reverse() } };
      }
      const req = { success: randomOps(r, 1 + r.int(3)), failure: randomOps(r, r.int(3)) };
      if (r.chance(0.6)) {
        req.compare = [{ key: B(r.pick(WRITE_KEYS)), target: 'VERSION', result: r.pick(['GREATER', 'EQUAL']), version: 0 }];
      }
      return { kind: 'Txn', req };
    }
    case 'compact': {
      const rev = r.weighted([
        [6, st.compactRev + 1 + r.int(Math.max(1, st.rev - st.compactRev))],
        [1, st.compactRev],
        [1, st.rev + 1],
      ]);
      return { kind: 'Compact', req: { revision: rev, physical: true } };
    }
    case 'create':
      return genCreate(r, st);
    case 'cancel':
      return genCancel(r, st);
    case 'progress':
      // now and then a request with none of create, cancel, progress: etcd ignores it
      return { kind: r.chance(0.15) ? 'empty' : 'progress', stream: r.int(STREAMS) };
    case 'flood':
      // more revisions than etcd sends an unsynced watcher at once (1000), for later replays. Equal
      // puts of one key, sent concurrently: the same events whatever order they are applied in.
      // While it runs, how etcd batches events into responses depends on timing (a watcher whose
      // channel fills up falls behind and catches up several revisions at a time): this step's
      // events are compared flattened per watch_id.
      return { kind: 'flood', key: B(r.pick(WRITE_KEYS)), n: 1001 + r.int(100), flatten: true };
    default: {
      // large values, so that replaying them passes fragment's limit
      const txns = [];
      for (let i = 0, n = 10 + r.int(7); i < n; i++) {
        const k1 = r.pick(WRITE_KEYS);
        const k2 = r.pick(WRITE_KEYS.filter((k) => k !== k1));
        txns.push({
          success: [k1, k2].map((k) => ({ request_put: { key: B(k), value: Buffer.alloc(BIG_VALUE - r.int(2000), 97 + r.int(26)) } })),
        });
      }
      return { kind: 'burst', txns };
    }
  }
}

function describe(step) {
  return JSON.stringify(norm(step));
}

// ---- running a step on one server ----

async function startSide(kind) {
  const server = await startServer(kind, { extraArgs: ['--max-request-bytes', String(MAX_REQUEST_BYTES)] });
  const side = { kind, server, kv: kvClient(server.endpoint), log: [], lastData: Date.now(), streams: [], progressReplies: Array(STREAMS).fill(0) };
  for (let i = 0; i < STREAMS; i++) {
    // etcd sends an unsynced watcher up to 1000 revisions in one response, whatever their size: a
    // replay of large values passes grpc's default 4 MiB receive limit
    const client = watchClient(server.endpoint, { 'grpc.max_receive_message_length': -1 });
    const stream = client.Watch();
    stream.on('data', (resp) => {
      side.log.push({ stream: i, resp: norm(resp) });
      if (isProgressReply(resp)) side.progressReplies[i]++;
      side.lastData = Date.now();
    });
    stream.on('error', (e) => {
      side.log.push({ stream: i, error: `${e.code} ${e.details}` });
      side.lastData = Date.now();
    });
    side.streams.push({ client, stream });
  }
  return side;
}

/** A reply to a progress request (or a progress notification, which the test never gets). */
function isProgressReply(r) {
  return String(r.watch_id) === '-1' && !r.created && !r.canceled && r.events.length === 0 && String(r.compact_revision) === '0';
}

async function stopSide(side) {
  for (const { client, stream } of side.streams) {
    stream.end();
    client.close();
  }
  side.kv.close();
  await side.server.stop();
}

async function unary(side, method, req) {
  try {
    return norm(await call(side.kv, method, req));
  } catch (e) {
    return { error: e.code, details: e.details };
  }
}

async function execStep(side, step) {
  switch (step.kind) {
    case 'create':
      side.streams[step.stream].stream.write({ create_request: step.req });
      side.streams[step.stream].stream.write({ progress_request: {} }); // the barrier
      return null;
    case 'cancel':
      side.streams[step.stream].stream.write({ cancel_request: { watch_id: step.id } });
      side.streams[step.stream].stream.write({ progress_request: {} });
      return null;
    case 'progress':
      side.streams[step.stream].stream.write({ progress_request: {} });
      return null;
    case 'empty':
      side.streams[step.stream].stream.write({});
      side.streams[step.stream].stream.write({ progress_request: {} });
      return null;
    case 'burst': {
      const out = [];
      for (const t of step.txns) out.push(await unary(side, 'Txn', t));
      return out;
    }
    case 'flood': {
      const revs = [];
      for (let i = 0; i < step.n; i += 64) {
        const batch = Array.from({ length: Math.min(64, step.n - i) }, () => unary(side, 'Put', { key: step.key, value: B('f') }));
        for (const res of await Promise.all(batch)) revs.push(res.error ? res : Number(res.header.revision));
      }
      return { revs: revs.sort((a, b) => a - b), header: { revision: String(Math.max(...revs)) } };
    }
    default:
      return unary(side, step.kind, step.req);
  }
}

/**
 * What one step produced on one server: its unary result and, per stream, the responses by
 * watch_id; with flatten, per watch_id the events of all responses and the responses without events.
 */
function stepView(side, from, result, flatten = false) {
  const streams = Array.from({ length: STREAMS }, () => ({}));
  for (const { stream, resp, error } of side.log.slice(from)) {
    // Replies that belong to no watcher (progress replies, refused creates) carry watch_id -1, which
    // a client may also choose for a watcher: they get a group of their own, since etcd sends them
    // on its control channel, in no fixed order with a watcher's events.
    const key = error ? 'stream error' : resp.watch_id === '-1' && (isProgressReply(resp) || resp.canceled && resp.created) ? 'no watcher' : resp.watch_id;
    (streams[stream][key] ??= []).push(error ?? resp);
  }
  if (flatten) {
    for (const byId of streams) {
      for (const [id, resps] of Object.entries(byId)) {
        byId[id] = {
          events: resps.flatMap((r) => r.events ?? []),
          responsesWithoutEvents: resps.filter((r) => !r.events?.length),
        };
      }
    }
  }
  return { result, streams };
}

async function settle(sides, from, step, replies) {
  const t0 = Date.now();
  const minMs = step.wait ?? 0;
  for (;;) {
    await sleep(5);
    const now = Date.now();
    if (now - t0 < minMs) continue;
    if (step.stream !== undefined && !sides.every((s, i) => s.progressReplies[step.stream] > replies[i])) {
      if (now - t0 > SETTLE_CAP_MS) return;
      continue;
    }
    const idle = sides.every((s) => now - s.lastData >= IDLE_MS);
    if (idle && isDeepStrictEqual(stepView(sides[0], from[0], null, step.flatten), stepView(sides[1], from[1], null, step.flatten))) return;
    if (now - t0 > SETTLE_CAP_MS) return;
  }
}

/** A step view's responses of one watch_id (of a flattened view: those without events). */
const responsesOf = (group) => (Array.isArray(group) ? group : group.responsesWithoutEvents);

/** Learns from etcd's responses what the next steps can refer to: revisions and watch ids. */
function advance(st, step, view) {
  const bulkStart = st.rev + 1;
  const results = step.kind === 'burst' ? view.result : [view.result];
  for (const res of results ?? []) {
    if (res && res.header && step.kind !== 'Compact') st.rev = Number(res.header.revision);
  }
  if (step.kind === 'Compact' && view.result && !view.result.error) st.compactRev = step.req.revision;
  if (step.kind === 'burst' || step.kind === 'flood') st.bulkStarts.push(bulkStart);
  view.streams.forEach((byId, i) => {
    const s = st.streams[i];
    for (const group of Object.values(byId)) {
      for (const resp of responsesOf(group)) {
        if (!resp || typeof resp !== 'object' || resp.watch_id === undefined) continue;
        const id = resp.watch_id;
        if (resp.created && !resp.canceled) {
          s.active.add(id);
          s.gone.delete(id);
        } else if (!resp.created && (resp.canceled || resp.compact_revision !== '0')) {
          s.active.delete(id);
          if (resp.compact_revision !== '0') s.compacted.add(id);
          else {
            s.compacted.delete(id);
            s.gone.add(id);
          }
        }
      }
    }
  });
}

/** Counts what the scenario exercised (from etcd's responses), for the test's diagnostics. */
function tally(stats, view) {
  for (const byId of view.streams) {
    for (const group of Object.values(byId)) {
      for (const r of responsesOf(group)) {
        if (typeof r !== 'object') continue;
        const kind = r.created
          ? r.canceled ? `refused: ${r.cancel_reason}` : 'created'
          : r.compact_revision !== '0' ? 'compacted' : r.canceled ? 'canceled' : r.fragment ? 'fragment' : r.events.length ? 'events' : 'no events';
        stats[kind] = (stats[kind] ?? 0) + 1;
        if (new Set(r.events.map((e) => e.kv.mod_revision)).size === 1000) stats['1000 revisions'] = (stats['1000 revisions'] ?? 0) + 1;
      }
    }
  }
}

const clip = (s, n = 3000) => (s.length > n ? `${s.slice(0, n)}...(${s.length} chars)` : s);

/** The parts of two step views that differ, both sides of each. */
function differences(ve, vo) {
  const out = [];
  if (!isDeepStrictEqual(vo.result, ve.result)) {
    out.push(`unary result\n    etcd: ${clip(JSON.stringify(ve.result))}\n    ours: ${clip(JSON.stringify(vo.result))}`);
  }
  for (let i = 0; i < STREAMS; i++) {
    const ids = new Set([...Object.keys(ve.streams[i]), ...Object.keys(vo.streams[i])]);
    for (const id of ids) {
      const e = ve.streams[i][id] ?? [];
      const o = vo.streams[i][id] ?? [];
      if (isDeepStrictEqual(o, e)) continue;
      if (!Array.isArray(e) || !Array.isArray(o)) {
        out.push(`stream ${i}, watch_id ${id}, flattened\n    etcd: ${clip(JSON.stringify(e))}\n    ours: ${clip(JSON.stringify(o))}`);
        continue;
      }
      let k = 0;
      while (k < e.length && k < o.length && isDeepStrictEqual(o[k], e[k])) k++;
      out.push(
        `stream ${i}, watch_id ${id}: ${e.length} responses from etcd, ${o.length} from ours; from response ${k} on\n` +
          `    etcd: ${clip(JSON.stringify(e.slice(k)))}\n    ours: ${clip(JSON.stringify(o.slice(k)))}`,
      );
    }
  }
  return out.join('\n  ');
}

async function runSeed(seed, steps, stats) {
  const r = prng(seed);
  const etcd = await startSide('etcd');
  const ours = await startSide('ours');
  const st = {
    rev: 1,
    compactRev: 0,
    /** The first revisions of bursts and floods. */
    bulkStarts: [],
    streams: Array.from({ length: STREAMS }, () => ({ active: new Set(), compacted: new Set(), gone: new Set() })),
  };
  const history = [];
  try {
    for (let i = 0; i < steps; i++) {
      const step = genStep(r, st);
      history.push(`${i}: ${describe(step)}`);
      const from = [etcd.log.length, ours.log.length];
      const replies = [etcd, ours].map((s) => (step.stream === undefined ? 0 : s.progressReplies[step.stream]));
      const [re, ro] = await Promise.all([execStep(etcd, step), execStep(ours, step)]);
      await settle([etcd, ours], from, step, replies);
      const ve = stepView(etcd, from[0], re, step.flatten);
      const vo = stepView(ours, from[1], ro, step.flatten);
      if (!isDeepStrictEqual(vo, ve)) {
        assert.fail(
          `seed ${seed}, step ${i} of ${steps} (reproduce: WATCH_FUZZ_SEED=${seed} WATCH_FUZZ_STEPS=${i + 1})\n` +
            `steps so far:\n  ${history.slice(-(Number(process.env.WATCH_FUZZ_HISTORY ?? 12))).join('\n  ')}\n` +
            `differences:\n  ${differences(ve, vo)}` +
            [etcd, ours]
              .filter((x) => x.server.proc.exitCode !== null || x.server.proc.signalCode !== null)
              .map((x) => `\n${x.kind} exited (${x.server.proc.exitCode ?? x.server.proc.signalCode}): ${x.server.logs.join('').slice(-2000)}`)
              .join(''),
        );
      }
      advance(st, step, ve);
      tally(stats, ve);
    }
  } finally {
    await Promise.all([stopSide(etcd), stopSide(ours)]);
  }
}

for (const seed of SEEDS) {
  test(`watch: a random scenario (seed ${seed}, ${STEPS} steps) gets the same responses from real etcd and etcd-ts`, { skip, timeout: 60_000 + STEPS * 1000 }, async (t) => {
    const stats = {};
    await runSeed(seed, STEPS, stats);
    t.diagnostic(`responses from etcd: ${JSON.stringify(stats)}`);
  });
}
