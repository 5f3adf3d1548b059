// Lease load, real etcd and ours in turn on fresh data dirs: grant throughput (closed loop, C clients),
// then keep-alive throughput with every granted lease (10,000 by default) live, over S bidirectional
// streams with P requests in flight on each, and the server's CPU time and peak RSS while it holds them.
//
//   node bench/lease.mjs [--leases 10000] [--clients 64] [--streams 8] [--pipeline 64] [--duration 5] [--only etcd|ours]
import * as grpc from '@grpc/grpc-js';
import { loadApi } from '../dist/api/proto.js';
import { cpuSeconds, peakRssMiB, startServer } from './lib/servers.mjs';

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
if (process.argv.includes('--help')) {
  console.log('node bench/lease.mjs [--leases N] [--clients C] [--streams S] [--pipeline P] [--duration SECONDS] [--only etcd|ours]');
  process.exit(0);
}
const LEASES = Number(arg('leases', 10000));
const CLIENTS = Number(arg('clients', 64));
const STREAMS = Number(arg('streams', 8));
const PIPELINE = Number(arg('pipeline', 64));
const DURATION = Number(arg('duration', 5));
const only = arg('only', '');

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function grantAll(lease) {
  const ids = [];
  const lat = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < LEASES) {
        next++;
        const t = performance.now();
        const r = await new Promise((resolve, reject) => lease.LeaseGrant({ TTL: 60 }, (e, res) => (e ? reject(e) : resolve(res))));
        lat.push(performance.now() - t);
        ids.push(r.ID);
      }
    }),
  );
  const secs = (performance.now() - started) / 1000;
  return { ids, rate: ids.length / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** Keep-alives for `ids` round-robin over STREAMS streams, PIPELINE in flight each, for DURATION s. */
async function keepAlive(lease, ids) {
  let done = 0;
  let bad = 0;
  let next = 0;
  const end = performance.now() + DURATION * 1000;
  await Promise.all(
    Array.from({ length: STREAMS }, () => new Promise((resolve) => {
      const s = lease.LeaseKeepAlive();
      let inflight = 0;
      const send = () => {
        while (inflight < PIPELINE && performance.now() < end) {
          inflight++;
          s.write({ ID: ids[next++ % ids.length] });
        }
        if (inflight === 0) {
          s.end();
          resolve();
        }
      };
      s.on('data', (r) => {
        inflight--;
        if (Number(r.TTL) > 0) done++;
        else bad++;
        send();
      });
      s.on('error', () => resolve());
      send();
    })),
  );
  return { rate: done / DURATION, bad };
}

const rows = [];
for (const kind of ['etcd', 'ours']) {
  if (only && only !== kind) continue;
  const srv = await startServer(kind);
  const api = loadApi();
  const lease = new api.etcdserverpb.Lease(srv.endpoint.replace('http://', ''), grpc.credentials.createInsecure());
  try {
    const cpu0 = cpuSeconds(srv.pid);
    const g = await grantAll(lease);
    const cpu1 = cpuSeconds(srv.pid);
    const k = await keepAlive(lease, g.ids);
    const cpu2 = cpuSeconds(srv.pid);
    // idle with every lease live: what holding them costs
    await new Promise((r) => setTimeout(r, 3000));
    const cpu3 = cpuSeconds(srv.pid);
    rows.push({
      server: kind,
      'grants/s': Math.round(g.rate),
      'grant p50 ms': g.p50.toFixed(2),
      'grant p99 ms': g.p99.toFixed(2),
      'grant CPU s': (cpu1 - cpu0).toFixed(2),
      'keep-alives/s': Math.round(k.rate),
      'keep-alive CPU s/s': ((cpu2 - cpu1) / DURATION).toFixed(2),
      'idle CPU s/s (leases live)': ((cpu3 - cpu2) / 3).toFixed(3),
      'peak RSS MiB': Math.round(peakRssMiB(srv.pid)),
      'TTL<=0 answers': k.bad,
    });
  } finally {
    lease.close();
    await srv.stop();
  }
}
console.log(`${LEASES} leases (TTL 60 s), grants from ${CLIENTS} clients; keep-alives on ${STREAMS} streams x ${PIPELINE} in flight for ${DURATION} s`);
console.table(rows);
