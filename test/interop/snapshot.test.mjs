// Maintenance.Snapshot against real etcd: the same writes (puts, overwrites, deletes, a txn, a lease,
// thousands of keys, a value over a page, a compaction, writes after it) go to our server and to real
// etcd 3.4; then
//   1. real etcdctl `snapshot save` works against both and prints the same;
//   2. real etcdctl `snapshot status` reports the same revision and total key count for both files;
//   3. real etcdctl `snapshot restore` of our file, and a real etcd started on the result, serves the
//      same keys, values, revisions, versions, lease and current/compacted revision as our server;
// and our CLI's `snapshot save` prints what etcdctl prints and saves real etcd's snapshot byte for byte.
// Ports 26500-26999 only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { call, kvClient, realEtcdSkip, runCtl, startServer, tmpDir } from '../helpers.mjs';

const skip = realEtcdSkip();

let nextPort = 26500 + (process.pid % 25) * 20;
async function port() {
  for (let i = 0; i < 500; i++) {
    const p = nextPort++;
    if (nextPort > 26999) nextPort = 26500;
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error('no free port in 26500-26999');
}

async function start(kind, dataDir = tmpDir('snapshot-test-')) {
  return startServer(kind, { dataDir, port: await port(), peerPort: await port() });
}

const ctl = (s, ...args) => runCtl('etcdctl', ['--endpoints', s.endpoint, ...args]);
const ok = (r) => {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};
/** The messages of etcdctl's zap log lines, in order (their times differ from run to run). */
const logMessages = (stderr) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l).msg);

/** The same writes, through real etcdctl and gRPC; returns the lease ID granted (hex). */
async function writeHistory(s) {
  ok(ctl(s, 'put', 'a', '1'));
  ok(ctl(s, 'put', 'b', '2'));
  ok(ctl(s, 'put', 'a', '3'));
  ok(ctl(s, 'del', 'b'));
  ok(runCtl('etcdctl', ['--endpoints', s.endpoint, 'txn'], { input: 'value("a") = "3"\n\nput t1 yes\nput t2 yes\ndel a\n\nput t1 no\n\n' }));
  const lease = /lease ([0-9a-f]+) granted/.exec(ok(ctl(s, 'lease', 'grant', '600')))[1];
  ok(ctl(s, 'put', 'leased', 'v', '--lease', lease));
  ok(ctl(s, 'put', 'big', 'x'.repeat(9000)));
  const kv = kvClient(s.endpoint);
  try {
    for (let i = 0; i < 3000; i++) {
      await call(kv, 'Put', { key: Buffer.from(`many/${String(i).padStart(5, '0')}`), value: Buffer.from(`value ${i}`) });
    }
    for (let i = 0; i < 3000; i += 3) await call(kv, 'Put', { key: Buffer.from(`many/${String(i).padStart(5, '0')}`), value: Buffer.from('again') });
    for (let i = 1; i < 3000; i += 7) await call(kv, 'DeleteRange', { key: Buffer.from(`many/${String(i).padStart(5, '0')}`) });
  } finally {
    kv.close();
  }
  ok(ctl(s, 'compaction', '2000'));
  ok(ctl(s, 'put', 'after', 'compaction'));
  ok(ctl(s, 'del', 'many/00000'));
  ok(ctl(s, 'put', 't1', 'changed'));
  return lease;
}

const kvsOf = (s) => JSON.parse(ok(ctl(s, 'get', '', '--prefix', '-w', 'json')));

test('snapshot save, status and restore with real etcdctl and etcd', { skip, timeout: 240000 }, async () => {
  const dir = tmpDir('snapshot-files-');
  const ours = await start('ours');
  const real = await start('etcd');
  const procs = [ours, real];
  try {
    const oursLease = await writeHistory(ours);
    await writeHistory(real);

    // 1. real etcdctl saves from both, with the same output
    const oursFile = path.join(dir, 'ours.db');
    const realFile = path.join(dir, 'real.db');
    const so = ctl(ours, 'snapshot', 'save', oursFile);
    const sr = ctl(real, 'snapshot', 'save', realFile);
    assert.equal(so.code, 0, so.stderr);
    assert.equal(sr.code, 0, sr.stderr);
    assert.equal(so.stdout, `Snapshot saved at ${oursFile}\n`);
    assert.equal(sr.stdout, `Snapshot saved at ${realFile}\n`);
    assert.deepEqual(logMessages(so.stderr), logMessages(sr.stderr));
    assert.ok(!fs.existsSync(`${oursFile}.part`));
    assert.equal(fs.statSync(oursFile).size % 512, 32, 'the database is followed by its SHA-256');

    // 2. status: same revision and key count as real etcd after the same writes
    const stOurs = JSON.parse(ok(runCtl('etcdctl', ['snapshot', 'status', oursFile, '-w', 'json'])));
    const stReal = JSON.parse(ok(runCtl('etcdctl', ['snapshot', 'status', realFile, '-w', 'json'])));
    assert.equal(stOurs.revision, stReal.revision);
    assert.equal(stOurs.totalKey, stReal.totalKey);
    assert.equal(stOurs.revision, Number(kvsOf(ours).header.revision));
    assert.match(ok(runCtl('etcdctl', ['snapshot', 'status', oursFile, '-w', 'table'])), /REVISION/);

    // 3. restore our file and serve it with real etcd
    const restoredDir = path.join(dir, 'restored');
    const rr = runCtl('etcdctl', ['snapshot', 'restore', oursFile, '--data-dir', restoredDir]);
    assert.equal(rr.code, 0, rr.stderr);
    const restored = await start('etcd', restoredDir);
    procs.push(restored);
    const want = kvsOf(ours);
    const got = kvsOf(restored);
    assert.equal(got.header.revision, want.header.revision, 'current revision');
    assert.equal(got.count, want.count);
    assert.deepEqual(got.kvs, want.kvs, 'keys, values, create/mod revisions, versions and leases');
    // history kept past the compaction reads the same; below it is compacted on both
    for (const rev of ['2000', '2500']) {
      assert.deepEqual(JSON.parse(ok(ctl(restored, 'get', 'many/', '--prefix', '--rev', rev, '-w', 'json'))).kvs, JSON.parse(ok(ctl(ours, 'get', 'many/', '--prefix', '--rev', rev, '-w', 'json'))).kvs, `at ${rev}`);
    }
    for (const s of [ours, restored]) {
      const r = ctl(s, 'get', 'a', '--rev', '1999');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /required revision has been compacted/);
    }
    // the lease survives restore, with its keys
    assert.match(ok(ctl(restored, 'lease', 'list')), new RegExp(oursLease));
    assert.match(ok(ctl(restored, 'lease', 'timetolive', oursLease, '--keys')), /attached keys\(\[leased\]\)/);
    // and the restored etcd takes writes at the next revision
    const put = JSON.parse(ok(ctl(restored, 'put', 'new', 'x', '-w', 'json')));
    assert.equal(Number(put.header.revision), Number(want.header.revision) + 1);
  } finally {
    for (const p of procs) await p.stop();
    for (const d of [dir, ours.dataDir, real.dataDir]) fs.rmSync(d, { recursive: true, force: true });
  }
});

test('our CLI snapshot save: etcdctl output, and real etcd snapshots saved byte for byte', { skip, timeout: 60000 }, async () => {
  const dir = tmpDir('snapshot-cli-');
  const ours = await start('ours');
  const real = await start('etcd');
  try {
    for (const s of [ours, real]) {
      ok(ctl(s, 'put', 'k', 'v'));
      ok(ctl(s, 'put', 'k2', 'v2'));
    }
    const a = path.join(dir, 'by-etcdctl.db');
    const b = path.join(dir, 'by-ours.db');
    const r1 = ctl(real, 'snapshot', 'save', a);
    const r2 = runCtl('ours', ['--endpoints', real.endpoint, 'snapshot', 'save', b]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.replace(b, 'F'), r1.stdout.replace(a, 'F'));
    assert.deepEqual(logMessages(r2.stderr), logMessages(r1.stderr));
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'the same bytes as etcdctl saved');

    // from our server too, and real etcdctl reads it
    const c = path.join(dir, 'ours.db');
    assert.equal(ok(runCtl('ours', ['--endpoints', ours.endpoint, 'snapshot', 'save', c])), `Snapshot saved at ${c}\n`);
    const st = JSON.parse(ok(runCtl('etcdctl', ['snapshot', 'status', c, '-w', 'json'])));
    assert.equal(st.revision, 3);

    // errors: etcdctl's texts and exit codes
    for (const which of ['etcdctl', 'ours']) {
      const two = runCtl(which, ['--endpoints', `${ours.endpoint},${real.endpoint}`, 'snapshot', 'save', path.join(dir, 'x.db')]);
      assert.equal(two.code, 5, which);
      assert.match(two.stderr, /Error: snapshot must be requested to one selected node, not multiple \[127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+\]/);
      const noDir = runCtl(which, ['--endpoints', ours.endpoint, 'snapshot', 'save', path.join(dir, 'missing', 'x.db')]);
      assert.equal(noDir.code, 5, which);
      assert.ok(noDir.stderr.includes(`Error: could not open ${dir}/missing/x.db.part (open ${dir}/missing/x.db.part: no such file or directory)`), noDir.stderr);
      const noArg = runCtl(which, ['--endpoints', ours.endpoint, 'snapshot', 'save']);
      assert.equal(noArg.code, 128, which);
      assert.match(noArg.stderr, /Error: snapshot save expects one argument/);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ['by-etcdctl.db', 'by-ours.db', 'ours.db'], 'no .part files left');
  } finally {
    await ours.stop();
    await real.stop();
    for (const d of [dir, ours.dataDir, real.dataDir]) fs.rmSync(d, { recursive: true, force: true });
  }
});
