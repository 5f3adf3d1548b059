// Differential harness for the CLI tests: two real etcd servers with identical identities (same
// name, token and advertised URLs, so the same cluster and member IDs), one driven by real etcdctl
// and one by ours with the same script of commands. Every step's stdout, stderr and exit code must
// then match byte for byte. Ports come from the CLI's range, 23700-23999.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tmpDir as sharedTmpDir } from '../helpers.mjs';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ETCD = process.env.ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
export const OURS = path.join(ROOT, 'bin', 'etcdctl.js');

/** false when real etcd is there; a skip reason when not; throws under CI=true. */
export function skipWithoutEtcd() {
  if (fs.existsSync(ETCD) && fs.existsSync(ETCDCTL)) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${ETCD} or ${ETCDCTL} is missing`);
  return `${ETCD} / ${ETCDCTL} not installed`;
}

export function tmpDir(prefix = 'etcd-ts-cli-') {
  return sharedTmpDir(prefix);
}

/** A free port in [lo, hi]. */
export async function freePort(lo, hi) {
  for (let p = lo; p <= hi; p++) {
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error(`no free port in ${lo}-${hi}`);
}

/** The environment both CLIs run with: no inherited ETCDCTL_* or colour settings. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCDCTL_') && k !== 'NODE_EXTRA_CA_CERTS' && k !== 'NO_COLOR') env[k] = v;
  }
  return { ...env, ETCDCTL_API: '3', ...extra };
}

/**
 * Starts real etcd. `advertise` fixes the advertised peer and client URLs (and so the member and
 * cluster IDs) independently of the ports it listens on. `extra` adds flags (TLS, limits).
 */
export async function startEtcd({ clientPort, peerPort, advertisePeer, advertiseClient, extra = [], scheme = 'http' }) {
  const dir = tmpDir('etcd-ts-cli-data-');
  const args = [
    '--name', 'cli-test',
    '--data-dir', dir,
    '--listen-client-urls', `${scheme}://127.0.0.1:${clientPort}`,
    '--advertise-client-urls', advertiseClient ?? `${scheme}://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', advertisePeer ?? `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `cli-test=${advertisePeer ?? `http://127.0.0.1:${peerPort}`}`,
    '--initial-cluster-token', 'etcd-ts-cli-test',
    ...extra,
  ];
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const launch = async () => {
    const proc = spawn(ETCD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const logs = [];
    proc.stderr.on('data', (d) => logs.push(d.toString()));
    const deadline = Date.now() + 20000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`etcd exited ${proc.exitCode}: ${logs.join('')}`);
      if (logs.join('').includes('ready to serve client requests')) break;
      if (Date.now() > deadline) throw new Error(`etcd not ready: ${logs.join('').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Wait for the first leader election to finish so raft_term is settled.
    await new Promise((r) => setTimeout(r, 200));
    return proc;
  };
  let proc = await launch();
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  };
  return {
    endpoint,
    dir,
    /** Stops etcd and starts it again on the same data dir and ports. */
    async restart(pauseMs = 0) {
      await kill();
      await new Promise((r) => setTimeout(r, pauseMs));
      proc = await launch();
    },
    async stop() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** etcdctl 3.4 logs a zap JSON warning before some errors; ours does not. Drop those lines. */
export function stripZap(s) {
  return s
    .split('\n')
    .filter((l) => !l.startsWith('{"level":'))
    .join('\n');
}

export function runCli(which, endpoint, args, { input, env = {}, globals = [] } = {}) {
  const cmd = which === 'ours' ? process.execPath : ETCDCTL;
  const argv = which === 'ours' ? [OURS, `--endpoints=${endpoint}`, ...globals, ...args] : [`--endpoints=${endpoint}`, ...globals, ...args];
  const r = spawnSync(cmd, argv, { input: Buffer.from(input ?? ''), env: cleanEnv(env), encoding: 'buffer', timeout: 30000 });
  return { stdout: r.stdout.toString('latin1'), stderr: stripZap(r.stderr.toString('utf8')), code: r.status };
}

const spawned = new Set();

/** Kills every long-running CLI a test left behind (call from after()), so no test file hangs. */
export function killSpawned() {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  spawned.clear();
}

/** Spawns a long-running CLI (watch) and collects its output until stopped. */
export function spawnCli(which, endpoint, args, { env = {}, globals = [] } = {}) {
  const cmd = which === 'ours' ? process.execPath : ETCDCTL;
  const argv = which === 'ours' ? [OURS, `--endpoints=${endpoint}`, ...globals, ...args] : [`--endpoints=${endpoint}`, ...globals, ...args];
  const p = spawn(cmd, argv, { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  spawned.add(p);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d.toString('latin1')));
  p.stderr.on('data', (d) => (stderr += d.toString('utf8')));
  const exited = new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));
  return {
    proc: p,
    get stdout() {
      return stdout;
    },
    async waitFor(pred, ms = 20000) {
      const end = Date.now() + ms;
      while (!pred(stdout, stderr)) {
        if (Date.now() > end) throw new Error(`timed out; stdout=${JSON.stringify(stdout)} stderr=${JSON.stringify(stderr)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      const { code } = await exited;
      return { stdout, stderr: stripZap(stderr), code };
    },
    async exit() {
      const { code } = await exited;
      return { stdout, stderr: stripZap(stderr), code };
    },
  };
}
