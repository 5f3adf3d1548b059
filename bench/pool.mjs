#!/usr/bin/env node
// Pools the rounds of several `bench/run.mjs --json FILE` runs: for every step, the ours/etcd ratio
// of each round (the two servers' rounds run back to back), then their median, mean, quartiles,
// how many rounds ours was ahead, and the median ratio of server CPU per request. One run of a few
// rounds cannot settle a 5% question on a noisy machine; a pool of runs narrows it.
//
//   node bench/pool.mjs run1.json run2.json ...
import * as fs from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0 || files.includes('--help') || files.includes('-h')) {
  console.log('usage: node bench/pool.mjs run1.json [run2.json ...]   (files from bench/run.mjs --json)');
  process.exit(files.length === 0 ? 2 : 0);
}
const ratios = new Map();
const cpu = new Map();
const push = (m, k, v) => (m.get(k) ?? m.set(k, []).get(k)).push(v);
for (const f of files) {
  let runs;
  try {
    ({ runs } = JSON.parse(fs.readFileSync(f, 'utf8')));
  } catch (e) {
    console.error(`pool.mjs: ${f}: ${e.message}`);
    process.exit(2);
  }
  if (!runs || !Array.isArray(runs.etcd) || !Array.isArray(runs.ours)) {
    console.error(`pool.mjs: ${f}: not a bench/run.mjs --json file (no runs.etcd / runs.ours)`);
    process.exit(2);
  }
  const etcd = runs.etcd;
  const ours = runs.ours;
  for (let r = 0; r < Math.min(etcd.length, ours.length); r++) {
    for (const se of etcd[r].steps) {
      const so = ours[r].steps.find((s) => s.name === se.name);
      if (!so || !(se.rps > 0) || !(so.rps > 0)) continue;
      push(ratios, se.name, so.rps / se.rps);
      if (se.serverCores > 0 && so.serverCores > 0) push(cpu, se.name, so.serverCores / so.rps / (se.serverCores / se.rps));
    }
  }
}
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const quantile = (v, p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
const median = (xs) => {
  const v = sorted(xs);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
console.log(`| step | rounds | ours/etcd, median of rounds | mean | quartiles | rounds ours ahead | CPU/req ours/etcd |`);
console.log(`|---|---:|---:|---:|---:|---:|---:|`);
for (const [name, xs] of ratios) {
  const v = sorted(xs);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const c = cpu.get(name);
  console.log(
    `| ${name} | ${v.length} | ${median(v).toFixed(2)}x | ${mean.toFixed(2)}x | ` +
      `${quantile(v, 0.25).toFixed(2)}-${quantile(v, 0.75).toFixed(2)} | ${v.filter((x) => x >= 1).length}/${v.length} | ` +
      `${c ? median(c).toFixed(2) : '-'} |`,
  );
}
