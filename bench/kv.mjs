#!/usr/bin/env node
// KV load generator for etcd v3 servers (ours or real etcd): durable Put throughput and p50/p99
// latency at 1, 16, 64 and 256 concurrent clients, then Range throughput, over several gRPC channels,
// with the load spread over worker threads (one node thread tops out near 10k req/s).
//
//   node bench/kv.mjs --endpoints http://127.0.0.1:25379[,http://...] [options]
//
// Options (defaults in brackets):
//   --endpoints URLS     comma-separated client URLs; channels are spread over them (required)
//   --steps LIST         [put:1,put:16,put:64,put:256,range:64,srange:64]
//                        put = Put, range = linearizable Range, srange = serializable Range
//   --duration S         measured seconds per step [5]
//   --warmup S           unmeasured seconds before each step's window [1]
//   --workers N          at most N worker threads per step [cores - 1, at least 1: on 2 cores a
//                        second load thread takes more CPU from the server than it adds load]
//   --channels N         at most N gRPC channels (TCP connections) per step [8]
//   --key-size B         [8]    --value-size B  [256]    --keyspace N  [100000]
//   --range-keys N       keys written before the range steps and read by them [1000]
//   --client h2|grpc-js  gRPC over node's http2 directly (cheap, default) or through grpc-js [h2]
//   --json               print the results as JSON instead of a table
//
// Each client keeps one request in flight, back to back (closed loop), like etcd's own `benchmark`
// tool. Requests are pre-encoded; responses are counted, and one per step is decoded and checked.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import * as os from 'node:os';
import {
  openChannel, callRaw, waitReady, METHOD, keyOf, encodePut, targetOf,
} from './lib/wire.mjs';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'worker.mjs');

export const DEFAULTS = {
  steps: 'put:1,put:16,put:64,put:256,range:64,srange:64',
  duration: 5,
  warmup: 1,
  workers: Math.max(1, os.cpus().length - 1),
  channels: 8,
  keySize: 8,
  valueSize: 256,
  keyspace: 100000,
  rangeKeys: 1000,
  client: 'h2',
};

export function parseSteps(s) {
  return s.split(',').filter(Boolean).map((item) => {
    const [op, n] = item.split(':');
    if (!['put', 'range', 'srange'].includes(op) || !(Number(n) >= 1)) throw new Error(`bad step "${item}"`);
    return { op, clients: Number(n) };
  });
}

export function stepName(step) {
  const label = { put: 'put', range: 'range (linearizable)', srange: 'range (serializable)' }[step.op];
  return `${label}, ${step.clients} client${step.clients === 1 ? '' : 's'}`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Writes the keys the range steps read, so every Range finds exactly one key of value-size bytes. */
async function prefill(targets, o) {
  const ch = openChannel(targets[0], 9999);
  await waitReady(ch, 10000);
  const value = Buffer.alloc(o.valueSize, 'v');
  let next = 0;
  const one = () => new Promise((resolve, reject) => {
    const loop = () => {
      if (next >= o.rangeKeys) return resolve();
      const bytes = encodePut(keyOf(next++, o.keySize), value);
      callRaw(ch, METHOD.put, bytes, 10000, (err) => (err ? reject(err) : loop()));
    };
    loop();
  });
  await Promise.all(Array.from({ length: 32 }, one));
  ch.close();
}

async function runStep(targets, step, o, stepIndex) {
  const nWorkers = Math.max(1, Math.min(step.clients, o.workers));
  const nChannels = Math.max(nWorkers, Math.min(step.clients, o.channels));
  const workers = [];
  let channelBase = 0;
  for (let i = 0; i < nWorkers; i++) {
    const clients = Math.floor(step.clients / nWorkers) + (i < step.clients % nWorkers ? 1 : 0);
    const chans = Math.floor(nChannels / nWorkers) + (i < nChannels % nWorkers ? 1 : 0);
    const wTargets = Array.from({ length: chans }, (_, j) => targets[(channelBase + j) % targets.length]);
    const worker = new Worker(WORKER, {
      workerData: {
        op: step.op === 'put' ? 'put' : 'range',
        serializable: step.op === 'srange',
        client: o.client,
        targets: wTargets,
        channelBase,
        clients,
        keySize: o.keySize,
        valueSize: o.valueSize,
        keyspace: o.keyspace,
        rangeKeys: o.rangeKeys,
        warmupMs: o.warmup * 1000,
        durationMs: o.duration * 1000,
        deadlineMs: 10000,
        seed: 1000 * (stepIndex + 1) + i,
      },
    });
    channelBase += chans;
    const ready = new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new Error(m.error));
      });
    });
    const result = new Promise((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (m) => m.type === 'result' && resolve(m));
    });
    workers.push({ worker, ready, result });
  }
  await Promise.all(workers.map((w) => w.ready));
  const t0 = Date.now() + 20;
  for (const w of workers) w.worker.postMessage({ t0 });
  o.onWindow?.('start', step, t0 + o.warmup * 1000);
  const results = await Promise.all(workers.map((w) => w.result));
  o.onWindow?.('end', step);
  await Promise.all(workers.map((w) => w.worker.terminate()));

  let total = 0;
  for (const r of results) total += r.count;
  const all = new Float64Array(total);
  let at = 0;
  for (const r of results) { all.set(r.lat, at); at += r.lat.length; }
  all.sort();
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const checks = results.map((r) => r.check).filter(Boolean);
  const bad = checks.find((c) => !c.ok);
  return {
    name: stepName(step),
    op: step.op,
    clients: step.clients,
    workers: nWorkers,
    channels: nChannels,
    requests: total,
    errors,
    errorSamples: [...new Set(results.flatMap((r) => r.errorSamples))].slice(0, 3),
    check: bad ? bad.why : checks.length ? 'ok' : 'no response checked',
    rps: total / o.duration,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
  };
}

/**
 * Runs the steps against `endpoints` and returns one result per step. `opts.onWindow(phase, step, t)`
 * is told when each measured window starts and ends (run.mjs samples the server's CPU with it).
 */
export async function runKv(endpoints, opts = {}) {
  const o = { ...DEFAULTS, ...opts };
  const targets = endpoints.map(targetOf);
  const steps = typeof o.steps === 'string' ? parseSteps(o.steps) : o.steps;
  const out = [];
  let filled = false;
  for (let i = 0; i < steps.length; i++) {
    if (steps[i].op !== 'put' && !filled) {
      await prefill(targets, o);
      filled = true;
    }
    const r = await runStep(targets, steps[i], o, i);
    o.onResult?.(r);
    out.push(r);
  }
  return out;
}

export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}
export function fmtMs(n) {
  if (!Number.isFinite(n)) return '-';
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

function parseArgs(argv) {
  const o = { ...DEFAULTS, json: false, endpoints: null };
  const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') { o.json = true; continue; }
    if (a === '-h' || a === '--help') { o.help = true; continue; }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const key = camel(m[1]);
    if (!(key in o)) throw new Error(`unknown option --${m[1]}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`--${m[1]} needs a value`);
    o[key] = typeof DEFAULTS[key] === 'number' ? Number(v) : v;
  }
  return o;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`kv.mjs: ${e.message}`);
    process.exit(2);
  }
  if (o.help || !o.endpoints) {
    const src = (await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8');
    console.log(src.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
    process.exit(o.help ? 0 : 2);
  }
  const endpoints = o.endpoints.split(',');
  if (!o.json) {
    console.log(`endpoints ${endpoints.join(',')}; ${o.duration} s per step after ${o.warmup} s warm-up; ` +
      `key ${o.keySize} B, value ${o.valueSize} B, keyspace ${o.keyspace}`);
    console.log('| step | req/s | p50 ms | p99 ms | errors | workers/channels |');
    console.log('|---|---:|---:|---:|---:|---|');
  }
  const results = await runKv(endpoints, {
    ...o,
    onResult: (r) => {
      if (o.json) return;
      const note = r.check === 'ok' ? '' : ` (check: ${r.check})`;
      const errs = r.errors ? `${r.errors} ${r.errorSamples.join('; ')}` : '0';
      console.log(`| ${r.name} | ${fmtInt(r.rps)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${errs} | ${r.workers}/${r.channels} |${note}`);
    },
  });
  if (o.json) console.log(JSON.stringify(results, null, 2));
}
