// Shared by the integration and interop tests: start our server (the real executable) or real etcd
// on 127.0.0.1 with a temp data dir, and talk to either with a grpc-js client from our protos.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadApi } from '../dist/api/proto.js';

export { mulberry32 } from '../bench/lib/prng.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

/** Real etcd available? Under CI=true a missing peer is a failure, not a skip. */
export function realEtcdSkip() {
  const have = fs.existsSync(ETCD_BIN) && fs.existsSync(ETCDCTL_BIN);
  if (have) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${ETCD_BIN} / ${ETCDCTL_BIN} are missing`);
  return 'real etcd (Debian etcd-server, etcd-client) is not installed';
}

// Every temp dir a test file makes lives under one directory of its own, removed when the test
// process exits: a run leaves nothing behind in the system's temp dir.
let runDir;
export function tmpDir(prefix = 'etcd-ts-test-') {
  if (runDir === undefined) {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'etcd-ts-run-'));
    process.on('exit', () => fs.rmSync(runDir, { recursive: true, force: true }));
  }
  return fs.mkdtempSync(path.join(runDir, prefix));
}

// Test processes running at once (node --test runs files in parallel unless told otherwise, and
// several checkouts may test on one machine) must not pick the same port: one that is free when
// checked may be taken before the server binds it, and a server that then fails to listen leaves
// its test talking to another test's server. A port is claimed with a file made exclusively in a
// directory shared by every test process, naming the claimant's pid; a dead claimant's file is
// taken over, and this process's files go when it exits.
const PORT_CLAIMS = path.join(os.tmpdir(), 'etcd-ts-test-ports');
const claimed = [];

function claimPort(p) {
  fs.mkdirSync(PORT_CLAIMS, { recursive: true });
  const file = path.join(PORT_CLAIMS, String(p));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      if (claimed.length === 0) process.on('exit', () => claimed.forEach((f) => fs.rmSync(f, { force: true })));
      claimed.push(file);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const owner = Number(fs.readFileSync(file, 'utf8'));
    if (owner === process.pid || processAlive(owner)) return false;
    fs.rmSync(file, { force: true }); // its claimant is gone
  }
  return false;
}

function processAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

let nextPort = 24100 + (process.pid % 50) * 16;
/** A free port from this test suite's range (24100-24999), claimed for this process (see above). */
export async function freePort() {
  for (let i = 0; i < 900; i++) {
    const p = nextPort++;
    if (nextPort > 24999) nextPort = 24100;
    if (!claimPort(p)) continue;
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port');
}

async function waitReady(endpoint, proc, logs, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${logs.join('')}`);
    const ok = await new Promise((resolve) => {
      const c = kvClient(endpoint);
      c.Range({ key: Buffer.from('health') }, { deadline: Date.now() + 500 }, (err) => {
        c.close();
        resolve(!err);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server at ${endpoint} not ready: ${logs.join('')}`);
}

/**
 * Starts a server process. kind 'ours' runs bin/etcd.js (with node's own flags nodeArgs), 'etcd' runs
 * real etcd; same flags.
 * Returns { endpoint, proc, dataDir, logs, stop(), kill() }.
 */
export async function startServer(kind = 'ours', { dataDir = tmpDir(), port, peerPort, name = 'default', extraArgs = [], env = {}, wait = true, nodeArgs = [] } = {}) {
  port ??= await freePort();
  peerPort ??= await freePort();
  const args = [
    ...(name === null ? [] : ['--name', name]), // null: leave the name to ETCD_NAME or the default
    '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${port}`,
    '--advertise-client-urls', `http://127.0.0.1:${port}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    ...extraArgs,
  ];
  const cmd = kind === 'ours' ? process.execPath : ETCD_BIN;
  const argv = kind === 'ours' ? [...nodeArgs, path.join(ROOT, 'bin', 'etcd.js'), ...args] : args;
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const logs = [];
  proc.stdout.on('data', (d) => logs.push(d.toString()));
  proc.stderr.on('data', (d) => logs.push(d.toString()));
  const endpoint = `127.0.0.1:${port}`;
  const exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, sig })));
  const h = {
    kind,
    endpoint,
    port,
    peerPort,
    proc,
    dataDir,
    logs,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
  if (wait) {
    try {
      await waitReady(endpoint, proc, logs);
    } catch (e) {
      await h.kill();
      throw e;
    }
  }
  return h;
}

let api;
function services() {
  api ??= loadApi();
  return api.etcdserverpb;
}

export function kvClient(endpoint) {
  return new (services().KV)(endpoint, grpc.credentials.createInsecure());
}

export function leaseClient(endpoint) {
  return new (services().Lease)(endpoint, grpc.credentials.createInsecure());
}

/** options: grpc-js channel options, e.g. a larger 'grpc.max_receive_message_length'. */
export function watchClient(endpoint, options = {}) {
  return new (services().Watch)(endpoint, grpc.credentials.createInsecure(), options);
}

/**
 * A response made comparable across servers: without what legitimately differs (cluster and member
 * ids, raft term in headers), byte strings as latin1 text; those longer than digestAbove bytes as
 * their length and a digest.
 */
export function normalizeResponse(x, digestAbove = Infinity) {
  if (Array.isArray(x)) return x.map((v) => normalizeResponse(v, digestAbove));
  if (Buffer.isBuffer(x)) {
    if (x.length <= digestAbove) return x.toString('latin1');
    return `<${x.length} bytes ${createHash('sha1').update(x).digest('hex').slice(0, 10)}>`;
  }
  if (x && typeof x === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(x)) {
      if (k === 'cluster_id' || k === 'member_id' || k === 'raft_term') continue;
      out[k] = normalizeResponse(v, digestAbove);
    }
    return out;
  }
  return x;
}

export function call(client, method, req) {
  return new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** normalizeResponse without digests: a gRPC reply (or request) made comparable across servers. */
export function normalizeReply(x) {
  return normalizeResponse(x);
}

/** The command and argv that run a CLI: real etcdctl, or ours ('ours' or anything else). */
function ctlCommand(which, args) {
  return which === 'etcdctl' ? [ETCDCTL_BIN, args] : [process.execPath, [path.join(ROOT, 'bin', 'etcdctl.js'), ...args]];
}

/** Runs a CLI (real etcdctl or ours) and returns { code, stdout, stderr }. */
export function runCtl(which, args, { input, env = {} } = {}) {
  const [cmd, argv] = ctlCommand(which, args);
  const r = spawnSync(cmd, argv, {
    input,
    env: { ...process.env, ETCDCTL_API: '3', ...env },
    encoding: 'utf8',
    timeout: 20000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts a CLI (real etcdctl or ours) without waiting for it, in an environment without inherited
 * ETCDCTL_* settings; stdin gets `input` (a string or Buffer) and is closed. Output is kept as bytes.
 * Returns { proc, stdout(), stderr(), lastOutputAt(), exited: Promise<{ code, signal }> }.
 */
export function spawnCtl(which, args, { input, env = {} } = {}) {
  const [cmd, argv] = ctlCommand(which, args);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_') && k !== 'NO_COLOR'));
  const proc = spawn(cmd, argv, { env: { ...clean, ETCDCTL_API: '3', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  let last = Date.now();
  proc.stdout.on('data', (d) => (out.push(d), (last = Date.now())));
  proc.stderr.on('data', (d) => (err.push(d), (last = Date.now())));
  proc.stdin.on('error', () => {}); // a CLI that exits before reading its input
  proc.stdin.end(input ?? '');
  // 'close', not 'exit': by then every byte the CLI wrote has been read.
  const exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  return { proc, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err), lastOutputAt: () => last, exited };
}

/** spawnCtl, waiting for the exit: { code, signal, stdout, stderr } with Buffers. */
export async function runCtlAsync(which, args, opts = {}) {
  const c = spawnCtl(which, args, opts);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), opts.timeoutMs ?? 30000);
  const { code, signal } = await c.exited;
  clearTimeout(timer);
  return { code, signal, stdout: c.stdout(), stderr: c.stderr() };
}

// ---- test-side HTTP/2 and HPACK writing (raw strings, no Huffman) ----

/** One HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload. */
export function h2Frame(type, flags, streamId, payload) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with a `prefixBits` prefix, its first byte's other bits from `first`. */
export function hpackInt(first, prefixBits, value) {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return [first | value];
  const out = [first | mask];
  value -= mask;
  while (value >= 128) {
    out.push((value & 127) | 128);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

/** An HPACK string literal, not Huffman-coded. */
export function hpackStr(s) {
  const b = Buffer.from(s, 'latin1');
  return [...hpackInt(0, 7, b.length), ...b];
}

/** A header block of literals without indexing, each with a new name. */
export function hpackLiterals(fields) {
  return Buffer.from(fields.flatMap(([n, v]) => [0, ...hpackStr(n), ...hpackStr(v)]));
}

/** clientv3's GetPrefixRangeEnd: the key (latin1) with its last byte below 0xff incremented; all 0xff: "\0". */
export function prefixEnd(k) {
  const b = Buffer.from(k, 'latin1');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const e = Buffer.from(b.subarray(0, i + 1));
      e[i]++;
      return e.toString('latin1');
    }
  }
  return '\0';
}
