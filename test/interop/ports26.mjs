// Ports for the lease/lock/election tests: 26000-26999 only, so these suites never collide with the
// others' ranges when run side by side. Also a server starter and a long-running CLI process handle.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { ETCDCTL_BIN, ROOT, startServer, tmpDir } from '../helpers.mjs';

let nextPort = 26000 + (process.pid % 40) * 24;

/** A port in 26000-26999 that is free right now. */
export async function port() {
  for (let i = 0; i < 200; i++) {
    const p = nextPort++;
    if (nextPort > 26999) nextPort = 26000;
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port in 26000-26999');
}

/** Starts our server ('ours') or real etcd ('etcd') on ports from this range. */
export async function start(kind, dataDir = tmpDir()) {
  return startServer(kind, { dataDir, port: await port(), peerPort: await port() });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A CLI process left running (lock, elect, watch): its output so far, waitFor(regex), kill(signal). */
export function spawnCli(which, endpoint, args) {
  const cmd = which === 'etcdctl' ? ETCDCTL_BIN : process.execPath;
  const argv = which === 'etcdctl' ? [] : [path.join(ROOT, 'bin', 'etcdctl.js')];
  const p = spawn(cmd, [...argv, '--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const h = { proc: p, out: '', err: '' };
  p.stdout.on('data', (d) => (h.out += d));
  p.stderr.on('data', (d) => (h.err += d));
  h.exited = new Promise((r) => p.once('exit', (code, sig) => r({ code, sig })));
  h.waitFor = async (re, ms = 10000) => {
    const end = Date.now() + ms;
    while (!re.test(h.out)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(h.out)} / ${h.err}`);
      await sleep(25);
    }
  };
  h.kill = async (sig = 'SIGKILL') => {
    if (p.exitCode === null && p.signalCode === null) p.kill(sig);
    return h.exited;
  };
  return h;
}
