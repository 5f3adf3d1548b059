// Starting and stopping the servers under test (real etcd, ours) for the bench, on 127.0.0.1 ports in
// 25000-25999 and temp data dirs, plus /proc readings of their CPU time and memory.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, openChannel, callRaw, METHOD, encodeRange } from './wire.mjs';

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
export const OURS_BIN = path.join(ROOT, 'bin', 'etcd.js');
export const OURS_CTL = path.join(ROOT, 'bin', 'etcdctl.js');
/**
 * Node flags our server runs with: none, as `npm start`, `npx etcd` and bin/etcd.js run it. (Until
 * Nov 30 this was a 64 MiB young generation, then worth 15-19% more puts/s at 256 clients; once the
 * KV calls left grpc-js and allocated less per put, paired runs against V8's default measured no
 * difference, and it cost about 100 MiB of peak RSS.)
 */
export const OURS_NODE_FLAGS = [];

const PORT_LO = 25000;
const PORT_HI = 25999;
let nextPort = PORT_LO + 100 + ((process.pid * 7) % 800);

/** A free 127.0.0.1 port in 25000-25999. */
export async function freePort() {
  for (let i = 0; i < PORT_HI - PORT_LO; i++) {
    const p = nextPort++;
    if (nextPort > PORT_HI) nextPort = PORT_LO;
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port in 25000-25999');
}

/** The environment for child processes: as a user runs them, without an inherited extra CA bundle. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

function tail(file, n = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

async function ready(endpoint, proc, logFile, timeoutMs) {
  const target = endpoint.replace(/^http:\/\//, '');
  const bytes = encodeRange(Buffer.from('bench-health'), false);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before serving:\n${tail(logFile)}`);
    }
    const ch = openChannel(target, 'health');
    const ok = await new Promise((resolve) => callRaw(ch, METHOD.range, bytes, 1000, (err) => resolve(!err)));
    ch.close();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not serving after ${timeoutMs / 1000} s:\n${tail(logFile)}`);
}

/**
 * Starts `kind` ('etcd' = real etcd, 'ours' = node bin/etcd.js) with etcd's flags on a temp data dir.
 * Returns { kind, pid, endpoint, dataDir, logFile, stop() }; throws with the log's tail if it fails.
 */
export async function startServer(kind, { timeoutMs = 20000 } = {}) {
  const port = await freePort();
  const peer = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `etcd-ts-bench-${kind}-`));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const endpoint = `http://127.0.0.1:${port}`;
  const args = [
    '--name', 'bench',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peer}`,
  ];
  const [cmd, argv] = kind === 'etcd' ? [ETCD_BIN, args] : [process.execPath, [...OURS_NODE_FLAGS, OURS_BIN, ...args]];
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(cmd, argv, { stdio: ['ignore', log, log], env: cleanEnv() });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready(endpoint, proc, logFile, timeoutMs);
  } catch (e) {
    const log = tail(logFile);
    await stop();
    throw Object.assign(new Error(`${kind} at ${endpoint}: ${e.message}`), { log });
  }
  return { kind, pid: proc.pid, endpoint, dataDir, logFile, stop };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system, all threads) used so far by process `pid` ('self' for this one). */
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole machine has been busy (all cores, everything but idle and iowait). */
export function machineBusySeconds() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = line;
  return (user + nice + system + irq + softirq + (steal || 0)) / CLK_TCK;
}

/** Peak resident memory (VmHWM) of `pid` in MiB. */
export function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
