// Maintenance commands, real etcdctl 3.4 against ours: `alarm list|disarm`, `defrag`, `snapshot
// status` and `snapshot restore`. Each step runs both CLIs against the same server (real etcd, then
// our server) and compares stdout, stderr and exit code byte for byte. Where etcdctl 3.4 panics (the
// fields printer on an alarm response without a header) the exit code and the panic's first line
// are compared, not Go's goroutine dump. Restore is checked end to end: a snapshot saved by real
// etcdctl from real etcd is restored by real etcdctl (then served by real etcd) and by ours (then
// served by our server); both must serve the same keys, values, revisions, versions, leases and the
// same cluster and member IDs. Ports 27000-27499 only; every process is stopped by its handle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { skipWithoutEtcd, startEtcd, runCli, tmpDir, cleanEnv, stripZap, ROOT, OURS, ETCD, ETCDCTL } from './harness.mjs';

const serverBuilt = fs.existsSync(path.join(ROOT, 'dist', 'server', 'main.js'));
const skip = skipWithoutEtcd() || (serverBuilt ? false : 'dist/server/main.js not built');

let nextPort = 27000 + (process.pid % 20) * 20;
/** A port in 27000-27499 that is free right now. */
async function port() {
  for (let i = 0; i < 500; i++) {
    const p = nextPort++;
    if (nextPort > 27489) nextPort = 27000;
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port in 27000-27489');
}
/** Never listened on: the dead endpoint of the failure cases. */
const DEAD = '127.0.0.1:27499';

const QUOTA = 300000;
const dirs = [];
const procs = [];
let real; // real etcd with a small space quota
let ours; // our server

/** Starts our server (bin/etcd.js) and waits until it answers. */
async function startOurs(dataDir, { name = 'maint', extra = [] } = {}) {
  const cp = await port();
  const pp = await port();
  const args = [path.join(ROOT, 'bin', 'etcd.js'), '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${cp}`, '--advertise-client-urls', `http://127.0.0.1:${cp}`,
    '--listen-peer-urls', `http://127.0.0.1:${pp}`, ...extra];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  let logs = '';
  proc.stderr.on('data', (d) => (logs += d));
  procs.push(proc);
  const endpoint = `http://127.0.0.1:${cp}`;
  const deadline = Date.now() + 20000;
  while (runCli('ours', endpoint, ['get', 'x'], { globals: ['--dial-timeout=500ms'] }).code !== 0) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`our server did not start: ${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, proc, stop: () => stopProc(proc) };
}

/** Starts real etcd on an existing (restored) data dir. */
async function startRealOn(dataDir, { name, peerUrl }) {
  const cp = await port();
  const proc = spawn(ETCD, ['--name', name, '--data-dir', dataDir, '--listen-client-urls', `http://127.0.0.1:${cp}`,
    '--advertise-client-urls', `http://127.0.0.1:${cp}`, '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(proc);
  let logs = '';
  proc.stderr.on('data', (d) => (logs += d));
  const deadline = Date.now() + 20000;
  while (!logs.includes('ready to serve client requests')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`etcd did not start: ${logs.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { endpoint: `http://127.0.0.1:${cp}`, proc, stop: () => stopProc(proc) };
}

async function stopProc(proc) {
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
}

before(async () => {
  if (skip) return;
  real = await startEtcd({ clientPort: await port(), peerPort: await port(), extra: ['--quota-backend-bytes', String(QUOTA)] });
  const d = tmpDir('etcd-ts-maint-ours-');
  dirs.push(d);
  ours = await startOurs(d);
});

after(async () => {
  for (const p of procs) await stopProc(p);
  await real?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs one step with both CLIs against the same server and compares; returns ours. */
function same(endpoint, args, { globals = [], panics = false } = {}) {
  const theirs = runCli('theirs', endpoint, args, { globals });
  const o = runCli('ours', endpoint, args, { globals });
  const what = `etcdctl ${[...globals, ...args].join(' ')} against ${endpoint}`;
  if (panics) {
    // a Go panic: compare its first line and the exit code (2)
    const first = (r) => ({ stdout: r.stdout, code: r.code, stderr: r.stderr.split('\n')[0] });
    assert.deepEqual(first(o), first(theirs), what);
    assert.equal(o.code, 2, what);
  } else {
    assert.deepEqual(o, theirs, what);
  }
  return o;
}

const MODES = [[], ['-w', 'fields'], ['-w', 'json'], ['-w', 'protobuf'], ['-w', 'table']];

/** Puts big values until the server refuses one: NOSPACE is raised. */
function fillUp(endpoint) {
  const big = 'x'.repeat(40000);
  for (let i = 0; i < 60; i++) {
    const r = runCli('theirs', endpoint, ['put', `fill${i % 8}`, big]);
    if (r.code !== 0) {
      assert.match(r.stderr, /database space exceeded/);
      return;
    }
  }
  assert.fail('the quota was never reached');
}

test('alarm list and disarm against real etcd, with and without NOSPACE', { skip }, () => {
  for (const m of MODES) same(real.endpoint, ['alarm', 'list', ...m], { panics: m[1] === 'fields' });
  same(real.endpoint, ['alarm', 'disarm']);
  same(real.endpoint, ['alarm', 'list', 'extra']);
  same(real.endpoint, ['alarm', 'disarm', 'extra']);
  fillUp(real.endpoint);
  for (const m of MODES) same(real.endpoint, ['alarm', 'list', ...m], { panics: m[1] === 'fields' });
  const list = same(real.endpoint, ['alarm', 'list']);
  assert.match(list.stdout, /^memberID:\d+ alarm:NOSPACE \n$/);
  // disarm prints the alarms it lifted: raise NOSPACE again before each CLI's disarm
  for (const m of [[], ['-w', 'json'], ['-w', 'protobuf']]) {
    fillUp(real.endpoint);
    const theirs = runCli('theirs', real.endpoint, ['alarm', 'disarm', ...m]);
    fillUp(real.endpoint);
    const o = runCli('ours', real.endpoint, ['alarm', 'disarm', ...m]);
    assert.deepEqual(o, theirs, `alarm disarm ${m.join(' ')}`);
    assert.notEqual(o.stdout, '');
  }
  fillUp(real.endpoint);
  same(real.endpoint, ['alarm', 'disarm', '-w', 'fields'], { panics: true });
  same(real.endpoint, ['alarm', 'list', '-w', 'json']);
  // free the space again for the other tests
  for (let i = 0; i < 8; i++) runCli('theirs', real.endpoint, ['del', `fill${i}`]);
  const rev = JSON.parse(runCli('theirs', real.endpoint, ['get', 'x', '-w', 'json']).stdout).header.revision;
  runCli('theirs', real.endpoint, ['compaction', String(rev), '--physical']);
  runCli('theirs', real.endpoint, ['defrag']);
  runCli('theirs', real.endpoint, ['alarm', 'disarm']);
});

test('NOSPACE on our server as on real etcd: refused puts and lease grants, endpoint status errors, disarm, raised again by the next put', { skip, timeout: 120_000 }, async () => {
  const value = 'x'.repeat(100000);
  const out = {};
  for (const kind of ['etcd', 'ours']) {
    const quota = ['--quota-backend-bytes', '200000'];
    const s = kind === 'etcd'
      ? await startEtcd({ clientPort: await port(), peerPort: await port(), extra: quota })
      : await startOurs(tmpDir('etcd-ts-cli-data-'), { extra: quota });
    try {
      const ctl = (...args) => {
        const r = runCli('theirs', s.endpoint, args);
        // member ids differ with the ports; the rest must not
        return { ...r, stdout: r.stdout.replace(/memberID:\d+/g, 'memberID:ID') };
      };
      const steps = [];
      let refused;
      for (let i = 0; i < 20 && !refused; i++) {
        const r = ctl('put', `big${i}`, value);
        if (r.code !== 0) refused = r;
      }
      assert.ok(refused, `${kind}: the quota was never reached`);
      steps.push(['refused put', refused]);
      steps.push(['alarm list', ctl('alarm', 'list')]);
      const status = JSON.parse(ctl('endpoint', 'status', '-w', 'json').stdout)[0].Status;
      steps.push(['status errors', status.errors.map((e) => e.replace(/memberID:\d+/, 'memberID:ID'))]);
      steps.push(['lease grant', ctl('lease', 'grant', '10')]);
      steps.push(['small put', ctl('put', 'small', 'x')]);
      steps.push(['delete', ctl('del', 'big0')]);
      steps.push(['alarm disarm', ctl('alarm', 'disarm')]);
      steps.push(['alarm list after disarm', ctl('alarm', 'list')]);
      // the data is all still there: the next big put does not fit, and raises the alarm again
      steps.push(['put after disarm', ctl('put', 'big-again', value)]);
      steps.push(['alarm list again', ctl('alarm', 'list')]);
      out[kind] = steps;
    } finally {
      await s.stop();
    }
  }
  assert.equal(out.etcd[0][1].stderr, 'Error: etcdserver: mvcc: database space exceeded\n');
  assert.equal(out.etcd[1][1].stdout, 'memberID:ID alarm:NOSPACE \n');
  assert.deepEqual(out.ours, out.etcd);
});

test('alarm list and disarm against our server', { skip }, () => {
  // like etcd 3.4, our server answers Alarm without a header: etcdctl's fields printer panics on both
  for (const m of MODES) same(ours.endpoint, ['alarm', 'list', ...m], { panics: m[1] === 'fields' });
  same(ours.endpoint, ['alarm', 'disarm']);
  same(ours.endpoint, ['alarm', 'disarm', '-w', 'json']);
  same(ours.endpoint, ['alarm', 'disarm', '-w', 'fields'], { panics: true });
});

test('defrag against real etcd and our server, with failures', { skip }, () => {
  for (const s of [real, ours]) {
    const host = s.endpoint.replace('http://', '');
    // per-endpoint dials of an http:// endpoint carry the URL as :authority (see src/server/listener.ts)
    for (const ep of [s.endpoint, host]) {
      for (const m of [[], ['-w', 'json'], ['-w', 'table']]) assert.equal(same(ep, ['defrag', ...m]).code, 0);
    }
    const ep = s.endpoint;
    if (s === real) same(ep, ['defrag', '--cluster']);
    same(ep, ['defrag', '--cluster=false', 'ignored-arg']);
    const fail = same(`${host},${DEAD}`, ['defrag'], { globals: ['--command-timeout=1s'] });
    assert.equal(fail.code, 1);
    assert.equal(fail.stdout, `Finished defragmenting etcd member[${host}]\n`);
    assert.equal(fail.stderr, `Failed to defragment etcd member[${DEAD}] (context deadline exceeded)\n`);
  }
});

test('defrag --data-dir on what is not a bbolt data dir: etcdctl\'s panic', { skip }, () => {
  const d = tmpDir('etcd-ts-maint-defrag-');
  dirs.push(d);
  fs.mkdirSync(path.join(d, 'notbolt', 'member', 'snap'), { recursive: true });
  fs.writeFileSync(path.join(d, 'notbolt', 'member', 'snap', 'db'), 'hello\n');
  fs.mkdirSync(path.join(d, 'isdir', 'member', 'snap', 'db'), { recursive: true });
  // capnslog's timestamp differs; the rest of the two lines and the exit code must not
  const norm = (r) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr.split('\n').slice(0, 2).join('\n').replace(/^\S+ \S+ C \|/, 'T C |') });
  for (const dir of ['missing', 'notbolt', 'isdir']) {
    const args = ['defrag', '--data-dir', path.join(d, dir)];
    const o = norm(runCli('ours', DEAD, args));
    assert.deepEqual(o, norm(runCli('theirs', DEAD, args)), dir);
    assert.equal(o.code, 2);
  }
});

/** Runs a CLI in a directory (restore's messages name relative paths). */
function runIn(which, cwd, args) {
  const cmd = which === 'ours' ? process.execPath : ETCDCTL;
  const argv = which === 'ours' ? [OURS, ...args] : args;
  const r = spawnSync(cmd, argv, { cwd, env: cleanEnv(), encoding: 'buffer', timeout: 30000 });
  return { stdout: r.stdout.toString('latin1'), stderr: stripZap(r.stderr.toString('utf8')), code: r.status };
}

test('snapshot status and restore of real etcd\'s snapshot: same output, same served state', { skip }, async () => {
  const work = tmpDir('etcd-ts-maint-snap-');
  dirs.push(work);
  // a history: puts, overwrites, deletes, a lease with keys, a compaction, writes after it
  const e = real.endpoint;
  const ctl = (...args) => {
    const r = runCli('theirs', e, args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  ctl('put', 'a', '1');
  ctl('put', 'b', '2');
  ctl('put', 'a', '3');
  ctl('del', 'b');
  const lease = /lease ([0-9a-f]+) granted/.exec(ctl('lease', 'grant', '600'))[1];
  ctl('put', 'leased', 'v', '--lease', lease);
  assert.equal(runCli('theirs', e, ['put', 'bin'], { input: Buffer.from([0xff, 0, 0x78]) }).code, 0);
  const rev = JSON.parse(ctl('get', 'a', '-w', 'json')).header.revision;
  ctl('compaction', String(rev));
  ctl('put', 'a', '4');
  ctl('put', 'c', 'after');
  for (let i = 0; i < 300; i++) ctl('put', `many/${String(i).padStart(3, '0')}`, `v${i}`.repeat(i % 7));
  const snap = path.join(work, 'real.db');
  ctl('snapshot', 'save', snap);

  // status: every output mode, and the same answer for a snapshot of our server
  for (const m of MODES) same(DEAD, ['snapshot', 'status', snap, ...m]);
  const oursSnap = path.join(work, 'ours.db');
  assert.equal(runCli('ours', ours.endpoint, ['snapshot', 'save', oursSnap]).code, 0);
  for (const m of MODES) same(DEAD, ['snapshot', 'status', oursSnap, ...m]);
  // status failures
  fs.writeFileSync(path.join(work, 'small.txt'), 'x'.repeat(5000));
  fs.writeFileSync(path.join(work, 'tiny.txt'), 'x'.repeat(50));
  for (const f of ['missing.db', 'small.txt', 'tiny.txt', '.']) same(DEAD, ['snapshot', 'status', path.join(work, f)]);
  same(DEAD, ['snapshot', 'status']);
  same(DEAD, ['snapshot', 'status', 'a', 'b']);

  // restore: the same messages and exit codes for the same mistakes, each CLI in its own cwd
  const cwdOurs = path.join(work, 'o');
  const cwdTheirs = path.join(work, 't');
  for (const c of [cwdOurs, cwdTheirs]) {
    fs.mkdirSync(c);
    fs.copyFileSync(snap, path.join(c, 'snap.db'));
    const bad = fs.readFileSync(snap);
    bad[5000] ^= 0xff;
    fs.writeFileSync(path.join(c, 'bad.db'), bad);
    fs.writeFileSync(path.join(c, 'nohash.db'), fs.readFileSync(snap).subarray(0, fs.statSync(snap).size - 32));
    fs.mkdirSync(path.join(c, 'exists'));
  }
  const sameIn = (args) => {
    const o = runIn('ours', cwdOurs, args);
    assert.deepEqual(o, runIn('theirs', cwdTheirs, args), args.join(' '));
    return o;
  };
  const restore = (...args) => ['snapshot', 'restore', ...args];
  sameIn(restore());
  sameIn(restore('snap.db', 'extra'));
  sameIn(restore('snap.db', '--data-dir', 'exists'));
  sameIn(restore('snap.db', '--data-dir', 'x1', '--name', 'other'));
  sameIn(restore('snap.db', '--data-dir', 'x2', '--initial-advertise-peer-urls', 'foo'));
  sameIn(restore('snap.db', '--data-dir', 'x3', '--initial-advertise-peer-urls', 'http://127.0.0.1:1234'));
  sameIn(restore('snap.db', '--data-dir', 'x4', '--initial-cluster', 'default=http://localhost:2380,b=http://localhost:2380'));
  sameIn(restore('missing.db', '--data-dir', 'x5'));
  assert.equal(sameIn(restore('bad.db', '--data-dir', 'x6')).code, 1);
  sameIn(restore('bad.db', '--data-dir', 'x6'));
  assert.match(sameIn(restore('nohash.db', '--data-dir', 'x7')).stderr, /snapshot missing hash/);
  assert.equal(sameIn(restore('nohash.db', '--data-dir', 'x8', '--skip-hash-check')).code, 0);
  assert.equal(sameIn(restore('snap.db')).code, 0); // default.etcd
  assert.equal(sameIn(restore('snap.db', '--wal-dir', 'w1', '--data-dir', 'x9')).code, 0);
  sameIn(restore('snap.db', '--wal-dir', 'w1', '--data-dir', 'x10'));

  // end to end: restored by each CLI, served by each server, with a real cluster identity
  const peerPort = await port();
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const flags = ['--name', 'm1', '--initial-cluster', `m1=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster-token', 'restore-token'];
  assert.equal(sameIn(restore('snap.db', '--data-dir', 'final', ...flags)).code, 0);
  const theirsServer = await startRealOn(path.join(cwdTheirs, 'final'), { name: 'm1', peerUrl });
  const reads = [['get', '', '--prefix', '-w', 'json'], ['get', 'a', '--rev', String(rev), '-w', 'json'], ['get', 'a', '--rev', String(rev - 1), '-w', 'json'],
    ['get', 'leased', '-w', 'fields'], ['lease', 'list', '-w', 'json'], ['lease', 'timetolive', lease, '--keys']];
  const want = reads.map((args) => runCli('theirs', theirsServer.endpoint, args));
  await theirsServer.stop();
  const oursServer = await startOurs(path.join(cwdOurs, 'final'), { name: 'm1', extra: ['--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `m1=${peerUrl}`] });
  const got = reads.map((args) => runCli('ours', oursServer.endpoint, args));
  await oursServer.stop();
  // raft terms differ (each server counts its own elections); TTLs count down
  const norm = (r) => ({ ...r, stdout: r.stdout.replace(/"raft_term":\d+/g, 'T').replace(/"RaftTerm" : \d+/, 'T').replace(/remaining\(\d+s\)/, 'R') });
  for (let i = 0; i < reads.length; i++) assert.deepEqual(norm(got[i]), norm(want[i]), reads[i].join(' '));
  const hdr = JSON.parse(got[0].stdout).header;
  assert.equal(hdr.member_id === undefined, false);
  assert.ok(JSON.parse(got[0].stdout).kvs.length > 300);
});
