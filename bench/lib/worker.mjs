// One load-generator thread: opens its share of the gRPC channels, runs its share of the concurrent
// clients (each client = one request in flight at a time, back to back) and reports the requests that
// completed inside the measured window, with their latencies.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import {
  openChannel, callRaw, waitReady, METHOD, keyOf, encodePut, encodeRange, decodePut, decodeRange,
  openH2, h2Call, frame, unframe,
} from './wire.mjs';
import { mulberry32 } from './prng.mjs';

const w = workerData;

// deterministic, so runs against both servers send the same key sequence
const rand = mulberry32(w.seed);
const POOL = 4096;
const pool = [];
const value = Buffer.alloc(w.valueSize, 'v');
for (let i = 0; i < POOL; i++) {
  if (w.op === 'put') pool.push(encodePut(keyOf(Math.floor(rand() * w.keyspace), w.keySize), value));
  else pool.push(encodeRange(keyOf(Math.floor(rand() * w.rangeKeys), w.keySize), w.serializable));
}
const method = METHOD[w.op];
const h2 = w.client !== 'grpc-js';
if (h2) for (let i = 0; i < POOL; i++) pool[i] = frame(pool[i]);

// call(channel, bytes, wantBody, cb(err, responseMessageBytes))
const call = h2
  ? (ch, bytes, wantBody, cb) => h2Call(ch, method, bytes, wantBody, (err, body) => cb(err, body && unframe(body)))
  : (ch, bytes, _wantBody, cb) => callRaw(ch, method, bytes, w.deadlineMs, cb);

let channels;
try {
  if (h2) {
    channels = await Promise.all(w.targets.map((t) => openH2(t)));
  } else {
    channels = w.targets.map((t, i) => openChannel(t, w.channelBase + i));
    await Promise.all(channels.map((c) => waitReady(c, 10000)));
  }
} catch (e) {
  parentPort.postMessage({ type: 'error', error: `channel not ready: ${e.message}` });
  process.exit(1);
}
parentPort.postMessage({ type: 'ready' });

const go = await new Promise((resolve) => parentPort.once('message', resolve));
const measureStart = go.t0 + w.warmupMs;
const measureEnd = measureStart + w.durationMs;

let lat = new Float64Array(1 << 16);
let count = 0;
let errors = 0;
const errorSamples = new Set();
let check = null; // result of decoding one response, to prove the server did the work
let next = 0;

function record(ms) {
  if (count === lat.length) {
    const bigger = new Float64Array(lat.length * 2);
    bigger.set(lat);
    lat = bigger;
  }
  lat[count++] = ms;
}

function checkResponse(buf) {
  try {
    if (w.op === 'put') {
      const r = decodePut(buf);
      const rev = Number(r.header?.revision ?? 0);
      check = rev > 0 ? { ok: true } : { ok: false, why: `put answered with revision ${rev}` };
    } else {
      const r = decodeRange(buf);
      const n = r.kvs?.length ?? 0;
      const v = n ? Buffer.from(r.kvs[0].value).length : -1;
      check = n === 1 && v === w.valueSize
        ? { ok: true }
        : { ok: false, why: `range answered ${n} kvs (value ${v} bytes, expected 1 kv of ${w.valueSize})` };
    }
  } catch (e) {
    check = { ok: false, why: `undecodable response: ${e.message}` };
  }
}

function loop(channel, done) {
  const issue = () => {
    if (Date.now() >= measureEnd) return done();
    const started = performance.now();
    const bytes = pool[next++ & (POOL - 1)];
    call(channel, bytes, check === null, (err, res) => {
      const now = Date.now();
      const inWindow = now >= measureStart && now < measureEnd;
      if (err) {
        if (inWindow) errors++;
        if (errorSamples.size < 3) errorSamples.add(`${err.code} ${err.details ?? err.message}`);
        setTimeout(issue, 5); // do not spin on a failing server
        return;
      }
      if (inWindow) {
        record(performance.now() - started);
        if (check === null) checkResponse(res);
      }
      issue();
    });
  };
  issue();
}

// A server that stops answering must not hang the bench: cut the connections 15 s after the window.
setTimeout(() => { for (const c of channels) h2 ? c.destroy() : c.close(); }, measureEnd + 15000 - Date.now()).unref();
await new Promise((r) => setTimeout(r, Math.max(0, go.t0 - Date.now())));
await Promise.all(
  Array.from({ length: w.clients }, (_, i) => new Promise((done) => loop(channels[i % channels.length], done))),
);
for (const c of channels) h2 ? c.destroy() : c.close();
const out = lat.slice(0, count);
parentPort.postMessage(
  { type: 'result', count, errors, errorSamples: [...errorSamples], check, lat: out },
  [out.buffer],
);
