// Our CLI gives the same answers against our server (`etcdctl serve`) as against real etcd, for the
// same script, once cluster and member IDs (which differ between two clusters) are masked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipWithoutEtcd, startEtcd, freePort, runCli, tmpDir, ROOT, OURS, cleanEnv } from './harness.mjs';

const serverBuilt = fs.existsSync(path.join(ROOT, 'dist', 'server', 'main.js'));
const skip = skipWithoutEtcd() || (serverBuilt ? false : 'dist/server/main.js not built');
let real;
let ours;
let oursDir;

before(async () => {
  if (skip) return;
  real = await startEtcd({ clientPort: await freePort(23870, 23874), peerPort: await freePort(23875, 23879) });
  const port = await freePort(23860, 23864);
  oursDir = tmpDir('etcd-ts-cli-ours-');
  const proc = spawn(process.execPath, [OURS, 'serve', '--name', 'cli-test', '--data-dir', oursDir,
    '--listen-client-urls', `http://127.0.0.1:${port}`, '--advertise-client-urls', `http://127.0.0.1:${port}`,
    '--listen-peer-urls', `http://127.0.0.1:${await freePort(23865, 23869)}`], { stdio: 'ignore', env: cleanEnv() });
  ours = { endpoint: `http://127.0.0.1:${port}`, proc };
  const deadline = Date.now() + 20000;
  while (runCli('ours', ours.endpoint, ['get', 'x'], { globals: ['--dial-timeout=500ms'] }).code !== 0) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('our server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await real?.stop();
  if (ours && ours.proc.exitCode === null) {
    ours.proc.kill('SIGTERM');
    await new Promise((r) => ours.proc.once('exit', r));
  }
  if (oursDir) fs.rmSync(oursDir, { recursive: true, force: true });
});

const maskIds = (s) => s.replace(/"cluster_id":\d+,"member_id":\d+/g, 'IDS').replace(/"(ClusterID|MemberID)" : \d+/g, '"$1" : N');

test('the same script gives the same output on our server and on real etcd', { skip }, () => {
  const script = [
    [['put', 'a', '1']],
    [['put', 'a', '2', '--prev-kv', '-w', 'json']],
    [['get', 'a', '-w', 'json']],
    [['get', 'a', '-w', 'fields']],
    [['put', 'b', 'x']],
    [['get', '', '--prefix', '--keys-only']],
    [['del', 'a', '--prev-kv', '-w', 'json']],
    [['get', 'nothing', '-w', 'json']],
    [['txn', '-w', 'json'], 'mod("b") > "0"\n\nput c 1\nget b\n\n\n'],
    [['compaction', '3']],
    [['get', 'b', '--rev', '2']],
    [['get', 'b', '--rev', '99']],
    [['put', '', 'x']],
  ];
  for (const [args, input] of script) {
    const a = runCli('ours', ours.endpoint, args, { input });
    const b = runCli('ours', real.endpoint, args, { input });
    assert.deepEqual({ ...a, stdout: maskIds(a.stdout) }, { ...b, stdout: maskIds(b.stdout) }, args.join(' '));
  }
});
