#!/usr/bin/env node
// Start-up cost of a one-shot CLI command: wall time of `node bin/etcdctl.js get k` against
// `etcdctl get k` (the real Go etcdctl), both against the same running server, interleaved, 20 runs
// each after 2 unmeasured warm-up runs each; prints the medians and the ratio. `node -e 0` is timed
// in the same rotation, as the floor any node CLI pays. Children run without NODE_EXTRA_CA_CERTS, as
// users run them (an inherited extra CA bundle adds ~30 ms to every node start on node 20).
//
//   node bench/oneshot.mjs [--runs 20] [--endpoint http://127.0.0.1:P] [--server etcd|ours]
//
// Without --endpoint it starts a server itself (real etcd by default, or ours with --server ours) on a
// temp data dir, writes k=v with etcdctl, measures, and stops it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { startServer, cleanEnv, ETCDCTL_BIN, OURS_CTL } from './lib/servers.mjs';
import { ROOT } from './lib/wire.mjs';

const o = { runs: 20, endpoint: null, server: 'etcd', warmup: 2 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--runs') o.runs = Number(argv[++i]);
  else if (a === '--endpoint') o.endpoint = argv[++i];
  else if (a === '--server') o.server = argv[++i];
  else if (a === '-h' || a === '--help') {
    const src = fs.readFileSync(new URL(import.meta.url), 'utf8');
    console.log(src.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
    process.exit(0);
  } else {
    console.error(`oneshot.mjs: unknown argument ${a}`);
    process.exit(2);
  }
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const env = cleanEnv({ ETCDCTL_API: '3' });

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', cwd: ROOT });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

let server = null;
let endpoint = o.endpoint;
if (!endpoint) {
  server = await startServer(o.server);
  endpoint = server.endpoint;
}
try {
  const put = timed(ETCDCTL_BIN, [`--endpoints=${endpoint}`, 'put', 'k', 'v']);
  if (put.status !== 0) throw new Error(`etcdctl put k v failed: ${put.stderr}`);

  const contenders = [
    { name: 'etcdctl get k (Go)', cmd: ETCDCTL_BIN, args: [`--endpoints=${endpoint}`, 'get', 'k'] },
  ];
  let oursMissing = null;
  if (fs.existsSync(OURS_CTL)) {
    contenders.push({ name: 'node bin/etcdctl.js get k', cmd: process.execPath, args: [OURS_CTL, `--endpoints=${endpoint}`, 'get', 'k'], ours: true });
  } else {
    oursMissing = 'bin/etcdctl.js is missing';
  }
  contenders.push({ name: 'node -e 0 (node start-up floor)', cmd: process.execPath, args: ['-e', '0'], floor: true });

  for (const c of contenders) {
    c.times = [];
    c.failures = [];
  }
  const expected = timed(ETCDCTL_BIN, contenders[0].args);
  for (let i = 0; i < o.warmup + o.runs; i++) {
    // Rotate the order each round so no contender always runs first (or right after another).
    const order = contenders.map((_, j) => contenders[(i + j) % contenders.length]);
    for (const c of order) {
      const r = timed(c.cmd, c.args);
      if (i < o.warmup) continue;
      c.times.push(r.ms);
      if (!c.floor && (r.status !== 0 || r.stdout !== expected.stdout)) {
        c.failures.push(`exit ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify((r.stderr || '').trim().slice(0, 200))}`);
      }
    }
  }

  console.log(`one-shot \`get k\` against ${endpoint} (${server ? `${o.server}, started by this script` : 'given'}), ` +
    `${o.runs} interleaved runs each after ${o.warmup} warm-up, NODE_EXTRA_CA_CERTS unset, node ${process.version}`);
  console.log('');
  console.log('| command | median ms | min ms | max ms | failed runs |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of contenders) {
    console.log(`| ${c.name} | ${median(c.times).toFixed(1)} | ${Math.min(...c.times).toFixed(1)} | ` +
      `${Math.max(...c.times).toFixed(1)} | ${c.floor ? '-' : c.failures.length} |`);
  }
  console.log('');
  const go = contenders[0];
  const ours = contenders.find((c) => c.ours);
  if (ours) {
    console.log(`ratio ours / etcdctl: ${(median(ours.times) / median(go.times)).toFixed(2)}x (goal: at most 3x)`);
    if (ours.failures.length) console.log(`ours failed ${ours.failures.length} of ${o.runs} runs, e.g. ${ours.failures[0]}`);
  } else {
    console.log(`ours: missing (${oursMissing})`);
  }
  if (go.failures.length) console.log(`etcdctl failed ${go.failures.length} runs, e.g. ${go.failures[0]}`);
} finally {
  await server?.stop();
}
