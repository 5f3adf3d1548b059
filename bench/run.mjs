#!/usr/bin/env node
// Runs the KV load (bench/kv.mjs) against real etcd and against our server, one at a time on its own
// temp data dir so the two never share the 2 cores, and prints a side-by-side table: ours, etcd, ratio.
// With --rounds N the servers alternate N times (etcd, ours, ours, etcd, ...) and the table shows the
// median of the rounds for every cell, plus "per round": the median (and range) of each round's
// ours/etcd ratio, and the server CPU per request. If our server does not build or start, etcd's column is printed
// and ours is reported missing.
//
//   node bench/run.mjs [--rounds 3] [--duration 3] [--warmup 1] [--steps ...] [--workers cores-1]
//                      [--channels 8] [--client h2|grpc-js] [--only etcd|ours] [--no-build] [--json FILE]
//
// A whole run with the defaults takes about 3 minutes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { runKv, DEFAULTS, parseSteps, stepName, fmtInt, fmtMs } from './kv.mjs';
import {
  startServer, cpuSeconds, machineBusySeconds, peakRssMiB, OURS_BIN, OURS_NODE_FLAGS, ETCD_BIN, cleanEnv,
} from './lib/servers.mjs';
import { ROOT } from './lib/wire.mjs';

function parseArgs(argv) {
  const o = { ...DEFAULTS, duration: 3, rounds: 3, only: null, build: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--rounds': o.rounds = Number(val()); break;
      case '--duration': o.duration = Number(val()); break;
      case '--warmup': o.warmup = Number(val()); break;
      case '--steps': o.steps = val(); break;
      case '--workers': o.workers = Number(val()); break;
      case '--channels': o.channels = Number(val()); break;
      case '--client': o.client = val(); break;
      case '--value-size': o.valueSize = Number(val()); break;
      case '--only': o.only = val(); break;
      case '--no-build': o.build = false; break;
      case '--json': o.json = val(); break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  parseSteps(o.steps);
  return o;
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** Builds dist/ and checks that bin/etcd.js exists; returns null if ours can run, else why not. */
function prepareOurs(build) {
  if (!fs.existsSync(OURS_BIN)) return 'bin/etcd.js is missing';
  if (!build) return null;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8', env: cleanEnv() });
  if (r.status !== 0) return `build failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`;
  return null;
}

/** One server, one pass over the steps, with the server's CPU and the machine's other load sampled. */
async function measure(kind, o) {
  const server = await startServer(kind);
  const samples = new Map();
  const steps = [];
  try {
    const results = await runKv([server.endpoint], {
      ...o,
      onWindow: (phase, step, windowStart) => {
        if (phase !== 'start') return;
        const name = stepName(step);
        const read = () => ({
          server: cpuSeconds(server.pid),
          self: cpuSeconds('self'),
          machine: machineBusySeconds(),
          t: Date.now(),
        });
        setTimeout(() => {
          const a = read();
          setTimeout(() => samples.set(name, { a, b: read() }), o.duration * 1000);
        }, Math.max(0, windowStart - Date.now()));
      },
    });
    for (const r of results) {
      const s = samples.get(r.name);
      if (s) {
        const secs = (s.b.t - s.a.t) / 1000;
        r.serverCores = (s.b.server - s.a.server) / secs;
        r.benchCores = (s.b.self - s.a.self) / secs;
        r.otherCores = Math.max(0, (s.b.machine - s.a.machine) / secs - r.serverCores - r.benchCores);
      }
      steps.push(r);
    }
    return { kind, steps, peakRssMiB: peakRssMiB(server.pid) };
  } finally {
    await server.stop();
  }
}

function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cleanEnv() });
  return (r.stdout || '').split('\n')[0].trim() || '?';
}

const o = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`run.mjs: ${e.message}`);
    process.exit(2);
  }
})();
if (o.help) {
  const src = fs.readFileSync(new URL(import.meta.url), 'utf8');
  console.log(src.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}

const started = Date.now();
let kinds = o.only ? [o.only] : ['etcd', 'ours'];
let oursMissing = null;
if (kinds.includes('ours')) {
  oursMissing = prepareOurs(o.build);
  if (oursMissing) kinds = kinds.filter((k) => k !== 'ours');
}

console.log(`# etcd-ts KV bench, ${new Date().toString()}`);
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, ` +
  `${versionOf(ETCD_BIN, ['--version'])}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
const dirty = (spawnSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'scripts'], { cwd: ROOT, encoding: 'utf8' })
  .stdout || '').split('\n').filter(Boolean).length;
console.log(`ours: built from the work tree at ${head || '?'}` +
  `${dirty ? ` with ${dirty} uncommitted path(s) under src/, bin/, scripts/` : ', clean'}` +
  `; run as node ${[...OURS_NODE_FLAGS, 'bin/etcd.js'].join(' ')}`);
console.log(`load: ${o.client} gRPC client, closed loop; ${o.duration} s measured per step after ${o.warmup} s ` +
  `warm-up; up to ${o.workers} worker threads and ${o.channels} channels; key ${o.keySize} B, value ` +
  `${o.valueSize} B, ${o.keyspace} keys; ${o.rounds} round(s)`);

const runs = { etcd: [], ours: [] };
const failures = [];
for (let round = 0; round < o.rounds; round++) {
  const order = round % 2 === 0 ? kinds : [...kinds].reverse();
  for (const kind of order) {
    process.stdout.write(`round ${round + 1}: ${kind} ... `);
    try {
      const m = await measure(kind, o);
      runs[kind].push(m);
      const put = m.steps.filter((s) => s.op === 'put').map((s) => `${fmtInt(s.rps)}`).join('/');
      console.log(`put/s ${put}; peak RSS ${m.peakRssMiB.toFixed(0)} MiB`);
    } catch (e) {
      console.log('failed');
      failures.push({ kind, round, error: e.message });
      if (kind === 'ours') {
        oursMissing = `did not start or failed under load: ${e.message.split('\n')[0]}`;
        kinds = kinds.filter((k) => k !== 'ours');
      }
    }
  }
}

// Median of the rounds, per step and per server.
const stepNames = parseSteps(o.steps).map(stepName);
function summary(kind) {
  const ms = runs[kind];
  if (!ms.length) return null;
  const rows = new Map();
  for (const name of stepNames) {
    const rs = ms.map((m) => m.steps.find((s) => s.name === name)).filter(Boolean);
    rows.set(name, {
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      serverCores: median(rs.map((r) => r.serverCores)),
      otherCores: median(rs.map((r) => r.otherCores)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      checks: [...new Set(rs.map((r) => r.check).filter((c) => c !== 'ok'))],
      errorSamples: [...new Set(rs.flatMap((r) => r.errorSamples))],
      rounds: rs.length,
    });
  }
  return { rows, peakRssMiB: median(ms.map((m) => m.peakRssMiB)) };
}
const ours = summary('ours');
const etcd = summary('etcd');

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-');
// The machine's speed drifts between rounds (±20% here); a round of ours and the round of etcd run
// next to it (etcd, ours, ours, etcd, ...) see about the same machine, so their ratio, taken per
// round and then the median, is steadier than the ratio of the two medians.
function pairedRatio(name) {
  const rs = [];
  for (let i = 0; i < Math.min(runs.ours.length, runs.etcd.length); i++) {
    const a = runs.ours[i].steps.find((s) => s.name === name);
    const b = runs.etcd[i].steps.find((s) => s.name === name);
    if (a && b && b.rps > 0) rs.push(a.rps / b.rps);
  }
  if (!rs.length) return '-';
  return `${median(rs).toFixed(2)}x (${Math.min(...rs).toFixed(2)}-${Math.max(...rs).toFixed(2)})`;
}
/** Server CPU per request, µs: median over the rounds. */
function cpuPerRequest(kind, name) {
  const rs = runs[kind].map((m) => m.steps.find((s) => s.name === name)).filter((r) => r && r.rps > 0);
  return rs.length ? median(rs.map((r) => (1e6 * r.serverCores) / r.rps)).toFixed(0) : '-';
}
const cell = (s, name, f, fmt) => (s ? fmt(s.rows.get(name)[f]) : 'missing');
console.log('');
console.log('| step | ours req/s | etcd req/s | ours/etcd | per round | ours p50 ms | etcd p50 ms | ours p99 ms | etcd p99 ms | server CPU ours / etcd (cores) | µs CPU/req ours / etcd |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const name of stepNames) {
  const cpu = (s) => (s ? s.rows.get(name).serverCores.toFixed(2) : '-');
  console.log(`| ${name} | ${cell(ours, name, 'rps', fmtInt)} | ${cell(etcd, name, 'rps', fmtInt)} | ` +
    `${ours && etcd ? ratio(ours.rows.get(name).rps, etcd.rows.get(name).rps) : '-'} | ${pairedRatio(name)} | ` +
    `${cell(ours, name, 'p50', fmtMs)} | ${cell(etcd, name, 'p50', fmtMs)} | ` +
    `${cell(ours, name, 'p99', fmtMs)} | ${cell(etcd, name, 'p99', fmtMs)} | ${cpu(ours)} / ${cpu(etcd)} | ` +
    `${cpuPerRequest('ours', name)} / ${cpuPerRequest('etcd', name)} |`);
}
console.log('');
if (ours || etcd) {
  const rss = (s) => (s ? `${s.peakRssMiB.toFixed(0)} MiB` : 'missing');
  console.log(`peak server RSS: ours ${rss(ours)}, etcd ${rss(etcd)}`);
  const other = (s) => (s ? median([...s.rows.values()].map((r) => r.otherCores)).toFixed(2) : '-');
  console.log(`CPU used by other processes during the measured windows (median, cores): ` +
    `ours' runs ${other(ours)}, etcd's runs ${other(etcd)}`);
}
const noisy = [];
for (const kind of ['ours', 'etcd']) {
  runs[kind].forEach((m, i) => m.steps.forEach((r) => {
    if (r.otherCores > 0.25) noisy.push(`${kind} round ${i + 1} ${r.name} (${r.otherCores.toFixed(2)} cores)`);
  }));
}
if (noisy.length) console.log(`other processes took more than 0.25 cores during: ${noisy.join('; ')}`);
for (const [kind, s] of [['ours', ours], ['etcd', etcd]]) {
  if (!s) continue;
  for (const [name, r] of s.rows) {
    if (r.errors) console.log(`${kind}, ${name}: ${r.errors} errors (${r.errorSamples.join('; ')})`);
    for (const c of r.checks) console.log(`${kind}, ${name}: response check: ${c}`);
  }
}
if (oursMissing) console.log(`ours: missing (${oursMissing})`);
for (const f of failures) console.log(`round ${f.round + 1}, ${f.kind}: ${f.error}`);
console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);

if (o.json) {
  fs.writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), options: o, runs, failures, oursMissing }, null, 2));
}
process.exit(etcd || ours ? 0 : 1);
