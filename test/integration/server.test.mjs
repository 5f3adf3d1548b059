// Integration tests of the server executable (bin/etcd.js) on 127.0.0.1 with temp data dirs:
// flags, errors with etcd's texts and codes, durability across kill -9, data dir safety.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ETCDCTL_BIN, ROOT, call, freePort, h2Frame, hpackLiterals, kvClient, realEtcdSkip, startServer, tmpDir } from '../helpers.mjs';
import { H2_PREFACE, parseFrames } from '../../dist/server/h2/authority.js';
import { loadApi } from '../../dist/api/proto.js';
import { startServer as startInProcess } from '../../dist/index.js';

function runEtcd(args, env = {}) {
  return spawnSync(process.execPath, [path.join(ROOT, 'bin', 'etcd.js'), ...args], {
    encoding: 'utf8',
    timeout: 15000,
    env: { ...process.env, ...env },
  });
}

test('bad flags stop the server with etcd\'s message and exit code (2 when a flag does not parse, 1 when its value is refused)', () => {
  let r = runEtcd(['--nosuch']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^flag provided but not defined: -nosuch\n/);
  r = runEtcd(['--max-txn-ops', 'abc']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid value "abc" for flag -max-txn-ops: parse error/);
  r = runEtcd(['--listen-client-urls', 'bad']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /URL scheme must be http, https, unix, or unixs: bad/);
  r = runEtcd(['--initial-cluster-state', 'bogus']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid value "bogus" for flag -initial-cluster-state/);
  // a value etcd refuses when it verifies the configuration: its wording and exit code 1
  r = runEtcd(['--auto-compaction-mode', 'bogus']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'error verifying flags, unknown auto-compaction-mode "bogus". See \'etcd --help\'.\n');
  // etcd 3.4 panics here; a clear error is better
  r = runEtcd(['--log-level', 'bogus']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown log-level "bogus"/);
  r = runEtcd(['--client-cert-auth=maybe']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid boolean value "maybe" for -client-cert-auth/);
});

test('a multi-member --initial-cluster (the seed compose file) is refused clearly', () => {
  const r = runEtcd([
    '--name', 'node1', '--data-dir', tmpDir(),
    '--initial-advertise-peer-urls', 'http://127.0.0.1:24990',
    '--listen-peer-urls', 'http://127.0.0.1:24990',
    '--advertise-client-urls', 'http://127.0.0.1:24991',
    '--listen-client-urls', 'http://127.0.0.1:24991',
    '--initial-cluster', 'node1=http://127.0.0.1:24990,node2=http://127.0.0.2:2380,node3=http://127.0.0.3:2380',
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', 'docker-etcd',
  ]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /lists 3 members \(node1, node2, node3\).*cluster mode/);
});

test('https without readable certificates fails at start', () => {
  const r = runEtcd([
    '--data-dir', tmpDir(),
    '--listen-client-urls', 'https://127.0.0.1:24992', '--advertise-client-urls', 'https://127.0.0.1:24992',
    '--cert-file', '/nonexistent/cert.pem', '--key-file', '/nonexistent/key.pem',
  ]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read --cert-file \/nonexistent\/cert.pem/);
});

test('ETCD_* variables are read; a variable shadowed by its flag, or one whose value does not parse, stops the start as in etcd', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const s = await startServer('ours', { dataDir: dir, port, name: null, env: { ETCD_NAME: 'fromenv', ETCD_MAX_TXN_OPS: '2' } });
  try {
    const kv = kvClient(s.endpoint);
    const put = (k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } });
    await assert.rejects(call(kv, 'Txn', { success: [put('a'), put('b'), put('c')] }), (e) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(e.details, 'etcdserver: too many operations in txn request');
      return true;
    });
    const api = loadApi();
    const cl = new api.etcdserverpb.Cluster(s.endpoint, grpc.credentials.createInsecure());
    const res = await call(cl, 'MemberList', {});
    assert.equal(res.members[0].name, 'fromenv');
    kv.close();
    cl.close();
  } finally {
    await s.stop();
  }
  // etcd: "C | pkg/flags: conflicting environment variable ..." and exit 1
  let r = runEtcd(['--name', 'flagname', '--data-dir', tmpDir()], { ETCD_NAME: 'envname' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /conflicting environment variable \\?"ETCD_NAME\\?" is shadowed by corresponding command-line flag \(either unset environment variable or disable flag\)/);
  r = runEtcd(['--data-dir', tmpDir()], { ETCD_MAX_TXN_OPS: 'abc' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'error verifying flags, invalid value "abc" for ETCD_MAX_TXN_OPS: parse error. See \'etcd --help\'.\n');
  r = runEtcd(['--data-dir', tmpDir()], { ETCD_LISTEN_CLIENT_URLS: 'ftp://x' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error verifying flags, invalid value "ftp:\/\/x" for ETCD_LISTEN_CLIENT_URLS: URL scheme must be http, https, unix, or unixs: ftp:\/\/x\./);
});

test('--config-file: the server runs on the YAML file\'s settings, and the flags beside it are ignored, as in etcd', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const file = path.join(dir, 'etcd.yml');
  fs.writeFileSync(file, [
    "name: 'fromfile'",
    `data-dir: ${path.join(dir, 'data')}`,
    `listen-client-urls: http://127.0.0.1:${port}`,
    `advertise-client-urls: http://127.0.0.1:${port}`,
    'max-txn-ops: 2',
  ].join('\n'));
  // the helper's own --name, --data-dir and ports go on the command line: all ignored
  const s = await startServer('ours', { port, extraArgs: ['--config-file', file] });
  try {
    const cl = new (loadApi().etcdserverpb.Cluster)(s.endpoint, grpc.credentials.createInsecure());
    assert.equal((await call(cl, 'MemberList', {})).members[0].name, 'fromfile');
    cl.close();
    const kv = kvClient(s.endpoint);
    const put = (k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } });
    await assert.rejects(call(kv, 'Txn', { success: [put('a'), put('b'), put('c')] }), /too many operations in txn request/);
    kv.close();
    assert.ok(fs.existsSync(path.join(dir, 'data', 'member', 'wal')), 'the data dir is the file\'s');
  } finally {
    await s.stop();
  }
});

test('as etcd: a negative --quota-backend-bytes turns the quota off, a listen URL given twice is listened on once, SIGTERM ends the process by that signal, --log-level error keeps info lines out', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const s = await startServer('ours', {
    port,
    extraArgs: ['--quota-backend-bytes', '-5', '--log-level', 'error', '--listen-client-urls', `${url},${url}`, '--advertise-client-urls', url],
  });
  const kv = kvClient(s.endpoint);
  try {
    await call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.alloc(200000, 1) });
    const metrics = await new Promise((resolve, reject) => {
      http.get(`${url}/metrics`, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.match(metrics, /^etcd_server_quota_backend_bytes -5$/m);
  } finally {
    kv.close();
  }
  const exit = await s.stop();
  assert.deepEqual(exit, { code: null, sig: 'SIGTERM' }, 'a shell sees 143');
  assert.doesNotMatch(s.logs.join(''), /"level":"info"/);
  const r = runEtcd(['--listen-client-urls', 'http://127.0.0.1:2652x', '--advertise-client-urls', 'http://127.0.0.1:2652x']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^invalid value "http:\/\/127\.0\.0\.1:2652x" for flag -listen-client-urls: parse "http:\/\/127\.0\.0\.1:2652x": invalid port ":2652x" after host\n/);
});

test('--listen-client-urls without --advertise-client-urls is refused with etcd\'s two lines, exit 1', () => {
  for (const env of [{}, { ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:24993' }]) {
    const r = runEtcd(env.ETCD_LISTEN_CLIENT_URLS ? ['--data-dir', tmpDir()] : ['--data-dir', tmpDir(), '--listen-client-urls', 'http://127.0.0.1:24993'], env);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      "error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'etcd --help'.\n" +
        'When listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client.\n',
    );
  }
});

test('on a data dir that has run before, --initial-cluster-state existing and a multi-member --initial-cluster are not read, as in etcd', async () => {
  const dir = tmpDir();
  const first = await startServer('ours', { dataDir: dir });
  const kv = kvClient(first.endpoint);
  await call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.from('v') });
  kv.close();
  await first.stop();
  const peer = `http://127.0.0.1:${first.peerPort}`;
  for (const extraArgs of [
    ['--initial-cluster-state', 'existing'],
    ['--initial-cluster', `default=${peer},other=http://127.0.0.2:2380`, '--initial-cluster-state', 'new'],
  ]) {
    const s = await startServer('ours', { dataDir: dir, extraArgs });
    try {
      const kv2 = kvClient(s.endpoint);
      assert.equal((await call(kv2, 'Range', { key: Buffer.from('k') })).kvs[0].value.toString(), 'v');
      kv2.close();
    } finally {
      await s.stop();
    }
  }
  // a fresh data dir still refuses: joining a running cluster needs cluster mode
  const url = `http://127.0.0.1:${await freePort()}`;
  const r = runEtcd(['--data-dir', tmpDir(), '--listen-client-urls', url, '--advertise-client-urls', url, '--initial-cluster-state', 'existing']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--initial-cluster-state existing joins a running cluster, which needs cluster mode/);
});

test('a second server on the same data dir is refused', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir });
  try {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = runEtcd(['--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is in use by another etcd server/);
  } finally {
    await s.stop();
  }
});

test('a lock left by a killed server whose PID now belongs to another process does not block the restart', async () => {
  const dir = tmpDir();
  const first = await startServer('ours', { dataDir: dir });
  await first.kill();
  const lockFile = path.join(dir, 'member', 'lock');
  // the killed server's lock, its PID now taken by an unrelated live process
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const owner = fs.readFileSync(lockFile, 'utf8').trim().split(/\s+/);
    assert.equal(owner.length, 3, `the lock records PID, start time and boot: ${owner.join(' ')}`);
    fs.writeFileSync(lockFile, `${other.pid} ${owner[1]} ${owner[2]}\n`);
    const s = await startServer('ours', { dataDir: dir });
    await s.stop();
    // the same PID with its own start time is a live owner: refused
    const stat = fs.readFileSync(`/proc/${other.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    fs.writeFileSync(lockFile, `${other.pid} ${start} ${owner[2]}\n`);
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = runEtcd(['--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`is in use by another etcd server \\(pid ${other.pid}\\)`));
    // a lock file that names no process at all (garbage, empty) is left over, not held
    for (const junk of ['garbage\n', '']) {
      fs.writeFileSync(lockFile, junk);
      const again = await startServer('ours', { dataDir: dir });
      await again.stop();
    }
  } finally {
    other.kill();
  }
});

test('etcd errors: codes and texts byte for byte', async () => {
  const s = await startServer('ours');
  const kv = kvClient(s.endpoint);
  const expectErr = async (method, req, code, details) => {
    await assert.rejects(call(kv, method, req), (e) => {
      assert.equal(e.code, code, `${method}: ${e.details}`);
      assert.equal(e.details, details);
      return true;
    });
  };
  try {
    await expectErr('Put', { key: Buffer.alloc(0), value: Buffer.from('v') }, grpc.status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
    await expectErr('Range', { key: Buffer.alloc(0) }, grpc.status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
    await expectErr('Put', { key: Buffer.from('k'), value: Buffer.alloc(1600 * 1024) }, grpc.status.INVALID_ARGUMENT, 'etcdserver: request is too large');
    await expectErr('Put', { key: Buffer.from('k'), ignore_value: true, value: Buffer.from('x') }, grpc.status.INVALID_ARGUMENT, 'etcdserver: value is provided');
    await expectErr('Put', { key: Buffer.from('k'), ignore_value: true }, grpc.status.INVALID_ARGUMENT, 'etcdserver: key not found');
    await expectErr('Put', { key: Buffer.from('k'), value: Buffer.from('x'), lease: '12345' }, grpc.status.NOT_FOUND, 'etcdserver: requested lease not found');
    await expectErr('Range', { key: Buffer.from('k'), revision: 1000 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
    const put = (k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } });
    await expectErr('Txn', { success: [put('a'), put('a')] }, grpc.status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request');
    await expectErr('Txn', { success: Array.from({ length: 129 }, (_, i) => put(`k${i}`)) }, grpc.status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request');
    // 1.4 MB is fine, as in etcd
    await call(kv, 'Put', { key: Buffer.from('big'), value: Buffer.alloc(1400 * 1000) });
    for (let i = 0; i < 3; i++) await call(kv, 'Put', { key: Buffer.from('c'), value: Buffer.from(String(i)) });
    await call(kv, 'Compact', { revision: 4 });
    await expectErr('Range', { key: Buffer.from('c'), revision: 3 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await expectErr('Compact', { revision: 4 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    // nothing was lost by the failed requests
    const r = await call(kv, 'Range', { key: Buffer.from('c') });
    assert.equal(r.kvs[0].value.toString(), '2');
    assert.equal(r.header.revision, '5');
    // a service not built yet answers UNIMPLEMENTED instead of hanging
    const api = loadApi();
    const auth = new api.etcdserverpb.Auth(s.endpoint, grpc.credentials.createInsecure());
    await assert.rejects(call(auth, 'AuthEnable', {}), (e) => e.code === grpc.status.UNIMPLEMENTED);
    auth.close();
  } finally {
    kv.close();
    await s.stop();
  }
});

test('kill -9 under concurrent writes: every acknowledged write survives, nothing half-written', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir, extraArgs: [] });
  const acked = new Map();
  const clients = Array.from({ length: 4 }, () => kvClient(s.endpoint));
  let stop = false;
  const worker = async (w) => {
    const kv = clients[w % clients.length];
    for (let i = 0; !stop; i++) {
      const key = `w${w}/k${i}`;
      const value = `${w}-${i}-${'x'.repeat(i % 50)}`;
      try {
        const res = await call(kv, 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
        acked.set(key, { value, rev: Number(res.header.revision) });
      } catch {
        return; // the server died under us: this write was never acknowledged
      }
    }
  };
  const workers = Array.from({ length: 32 }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 1500));
  await s.kill();
  stop = true;
  await Promise.all(workers);
  for (const c of clients) c.close();
  assert.ok(acked.size > 100, `only ${acked.size} writes acknowledged`);

  const s2 = await startServer('ours', { dataDir: dir });
  try {
    const kv = kvClient(s2.endpoint);
    const all = await call(kv, 'Range', { key: Buffer.from('w'), range_end: Buffer.from('x') });
    const got = new Map(all.kvs.map((kv) => [kv.key.toString(), kv]));
    let maxAcked = 0;
    for (const [key, { value, rev }] of acked) {
      const kvp = got.get(key);
      assert.ok(kvp, `acknowledged ${key} is missing after kill -9`);
      assert.equal(kvp.value.toString(), value);
      assert.equal(Number(kvp.mod_revision), rev);
      maxAcked = Math.max(maxAcked, rev);
    }
    // at most the writes in flight at the kill were added beyond the acknowledged ones
    assert.ok(Number(all.header.revision) >= maxAcked);
    for (const kvp of all.kvs) assert.match(kvp.value.toString(), /^\d+-\d+-x*$/);
    kv.close();
  } finally {
    await s2.stop();
  }
});

test('alarms go through the log: raised and lifted just before a kill -9, they are as answered after the restart', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir });
  const maint = () => new (loadApi().etcdserverpb.Maintenance)(s.endpoint, grpc.credentials.createInsecure());
  let m = maint();
  const kv = kvClient(s.endpoint);
  await call(m, 'Alarm', { action: 'ACTIVATE', memberID: 3, alarm: 'NOSPACE' });
  await call(m, 'Alarm', { action: 'ACTIVATE', memberID: 4, alarm: 'CORRUPT' });
  await call(m, 'Alarm', { action: 'DEACTIVATE', memberID: 3, alarm: 'NOSPACE' });
  // the backend saves every 100 ms: killed now, the alarms are in the log only
  await s.kill();
  m.close();
  kv.close();
  const s2 = await startServer('ours', { dataDir: dir, port: s.port, peerPort: s.peerPort });
  try {
    m = maint();
    const got = await call(m, 'Alarm', { action: 'GET', alarm: 'NONE' });
    assert.deepEqual(got.alarms, [{ memberID: '4', alarm: 'CORRUPT' }]);
    const kv2 = kvClient(s2.endpoint);
    await assert.rejects(call(kv2, 'Put', { key: Buffer.from('k'), value: Buffer.from('v') }), { code: grpc.status.DATA_LOSS, details: 'etcdserver: corrupt cluster' });
    const st = await call(m, 'Status', {});
    assert.deepEqual(st.errors, ['memberID:4 alarm:CORRUPT ']);
    kv2.close();
    m.close();
  } finally {
    await s2.stop();
  }
});

test('a corrupt log stops the server with a clear error, and touches nothing', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir });
  const kv = kvClient(s.endpoint);
  for (let i = 0; i < 20; i++) await call(kv, 'Put', { key: Buffer.from(`k${i}`), value: Buffer.from('v') });
  kv.close();
  await s.kill(); // the backend may not have saved everything: the log holds it
  const walDir = path.join(dir, 'member', 'wal');
  const [seg] = fs.readdirSync(walDir);
  const file = path.join(walDir, seg);
  const buf = fs.readFileSync(file);
  buf[20] ^= 0xff; // inside the first record, with good records after it
  fs.writeFileSync(file, buf);
  const url = `http://127.0.0.1:${await freePort()}`;
  const r = runEtcd(['--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /wal: crc mismatch at offset 0/);
  assert.deepEqual(fs.readFileSync(file), buf, 'the log is left as it was');
});

test('a log file that ends inside its last record is cut back with a warning, and everything before it is served', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir });
  let kv = kvClient(s.endpoint);
  for (let i = 0; i < 10; i++) await call(kv, 'Put', { key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) });
  kv.close();
  await s.stop();
  const walDir = path.join(dir, 'member', 'wal');
  const file = path.join(walDir, fs.readdirSync(walDir).sort().at(-1));
  // walk the records (16-byte header: u32 payload length, u32 CRC, u64 index) to the zeros of the
  // preallocated rest, then cut the file 5 bytes before the end of the last record
  const buf = fs.readFileSync(file);
  let end = 0;
  while (end + 16 <= buf.length && (buf.readUInt32LE(end) !== 0 || buf.readUInt32LE(end + 4) !== 0)) end += 16 + buf.readUInt32LE(end);
  assert.ok(end > 10 * 16, `records end at ${end}`);
  fs.truncateSync(file, end - 5);

  const s2 = await startServer('ours', { dataDir: dir });
  try {
    assert.match(s2.logs.join(''), new RegExp(`"level":"warn".*"msg":"wal: dropping torn tail of ${path.basename(file)} .*the file ends inside the record`));
    kv = kvClient(s2.endpoint);
    const before = await call(kv, 'Range', { key: Buffer.from('k'), range_end: Buffer.from('l') });
    assert.deepEqual(before.kvs.map((x) => `${x.key}=${x.value}`), Array.from({ length: 10 }, (_, i) => `k${i}=v${i}`));
    await call(kv, 'Put', { key: Buffer.from('after'), value: Buffer.from('repair') });
    kv.close();
  } finally {
    await s2.stop();
  }
  const s3 = await startServer('ours', { dataDir: dir });
  try {
    assert.doesNotMatch(s3.logs.join(''), /torn tail/);
    kv = kvClient(s3.endpoint);
    const all = await call(kv, 'Range', { key: Buffer.from('a'), range_end: Buffer.from('l') });
    assert.deepEqual(all.kvs.map((x) => `${x.key}=${x.value}`), ['after=repair', ...Array.from({ length: 10 }, (_, i) => `k${i}=v${i}`)]);
    kv.close();
  } finally {
    await s3.stop();
  }
});

test('a corrupt database file stops the server with exit 1 and a fatal log naming it, not a crash in LMDB', async () => {
  const dir = tmpDir();
  const s = await startServer('ours', { dataDir: dir });
  const kv = kvClient(s.endpoint);
  for (let i = 0; i < 2000; i++) {
    await call(kv, 'Put', { key: Buffer.from(`key/${i % 700}`), value: Buffer.alloc(i % 100 === 0 ? 20000 : 150, i) });
  }
  kv.close();
  await s.stop();
  const db = path.join('member', 'snap', 'db', 'data.mdb');
  const damages = {
    'every 997th byte flipped after the meta pages': (buf) => {
      for (let i = 8192; i < buf.length; i += 997) buf[i] ^= 0xff;
      return buf;
    },
    'truncated to half': (buf) => buf.subarray(0, buf.length >> 1),
  };
  for (const [name, damage] of Object.entries(damages)) {
    const copy = tmpDir();
    fs.cpSync(dir, copy, { recursive: true });
    const file = path.join(copy, db);
    const bad = damage(fs.readFileSync(file));
    fs.writeFileSync(file, bad);
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = runEtcd(['--data-dir', copy, '--listen-client-urls', url, '--advertise-client-urls', url]);
    assert.equal(r.signal, null, `${name}: killed by ${r.signal}`);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    const fatal = JSON.parse(r.stderr.trim().split('\n').pop());
    assert.equal(fatal.level, 'fatal');
    assert.match(fatal.msg, new RegExp(`^failed to start: backend: ${file.replace(/[.]/g, '\\.')} is corrupt: \\S`), name);
    assert.deepEqual(fs.readFileSync(file), bad, `${name}: the file is left as it was`);
  }
  // the undamaged data dir still starts
  const again = await startServer('ours', { dataDir: dir });
  await again.stop();
});

test('startServer() embeds the server in-process', async () => {
  const dir = tmpDir();
  const srv = await startInProcess({
    dataDir: dir,
    listenClientUrls: ['http://127.0.0.1:0'],
    logger: () => {},
  });
  try {
    assert.equal(srv.endpoints.length, 1);
    const kv = kvClient(srv.endpoints[0]);
    await call(kv, 'Put', { key: Buffer.from('lib'), value: Buffer.from('ok') });
    const r = await call(kv, 'Range', { key: Buffer.from('lib') });
    assert.equal(r.kvs[0].value.toString(), 'ok');
    assert.equal(r.header.member_id, srv.memberId.toString());
    kv.close();
  } finally {
    await srv.close();
  }
  // the same dir opens again after close
  const again = await startInProcess({ dataDir: dir, listenClientUrls: ['http://127.0.0.1:0'], logger: () => {} });
  await again.close();
});

test('--quota-backend-bytes: writes past the quota get NOSPACE, deletes and reads still work', async () => {
  const s = await startServer('ours', { extraArgs: ['--quota-backend-bytes', '200000'] });
  const kv = kvClient(s.endpoint);
  try {
    let refused;
    let stored = 0;
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        await call(kv, 'Put', { key: Buffer.from(`k${i}`), value: Buffer.alloc(60000, 120) });
        stored++;
      } catch (e) {
        refused = e;
      }
      await new Promise((r) => setTimeout(r, 100)); // the backend commits in the background
    }
    assert.ok(refused, 'a put past the quota was refused');
    assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(refused.details, 'etcdserver: mvcc: database space exceeded');
    const del = await call(kv, 'DeleteRange', { key: Buffer.from('k0') });
    assert.equal(del.deleted, '1');
    // a txn that only deletes is not held back by the quota either
    const t = await call(kv, 'Txn', { success: [{ request_delete_range: { key: Buffer.from('k1') } }] });
    assert.equal(t.succeeded, true);
    await assert.rejects(call(kv, 'Txn', { success: [{ request_put: { key: Buffer.from('n'), value: Buffer.from('v') } }] }), /database space exceeded/);
    assert.ok(stored >= 2, `${stored} puts before the quota`);
    const r = await call(kv, 'Range', { key: Buffer.from('k'), range_end: Buffer.from('l'), count_only: true });
    assert.equal(Number(r.count), stored - 2, 'reads work; the two deletes went through');
    const api = loadApi();
    const m = new api.etcdserverpb.Maintenance(s.endpoint, grpc.credentials.createInsecure());
    const alarms = await call(m, 'Alarm', { action: 'GET' });
    assert.deepEqual(alarms.alarms.map((a) => a.alarm), ['NOSPACE']);
    m.close();
  } finally {
    kv.close();
    await s.stop();
  }
});

test('HashKV covers the versions a compaction keeps, and equal stores hash equal', async () => {
  const api = loadApi();
  const hashes = [];
  for (const first of ['x', 'y', 'x']) {
    const s = await startServer('ours');
    const kv = kvClient(s.endpoint);
    const m = new api.etcdserverpb.Maintenance(s.endpoint, grpc.credentials.createInsecure());
    try {
      // 'a' is written once, before the compaction, and stays visible after it
      await call(kv, 'Put', { key: Buffer.from('a'), value: Buffer.from(first) });
      await call(kv, 'Put', { key: Buffer.from('b'), value: Buffer.from('1') });
      await call(kv, 'Put', { key: Buffer.from('b'), value: Buffer.from('2') });
      await call(kv, 'Compact', { revision: 4, physical: true });
      const h = await call(m, 'HashKV', { revision: 0 });
      assert.equal(h.compact_revision, '4');
      hashes.push(h.hash);
      await assert.rejects(call(m, 'HashKV', { revision: 3 }), /required revision has been compacted/);
    } finally {
      kv.close();
      m.close();
      await s.stop();
    }
  }
  assert.equal(hashes[0], hashes[2], 'the same writes hash the same');
  assert.notEqual(hashes[0], hashes[1], 'a different value kept below the compaction changes the hash');
});

test('Defragment gives a compacted database\'s space back; once disarmed, NOSPACE is gone; data and writes made meanwhile survive', async () => {
  const dir = tmpDir();
  const quota = 2 * 1024 * 1024;
  const args = ['--quota-backend-bytes', String(quota)];
  let s = await startServer('ours', { dataDir: dir, extraArgs: args });
  const api = loadApi();
  let kv = kvClient(s.endpoint);
  let m = new api.etcdserverpb.Maintenance(s.endpoint, grpc.credentials.createInsecure());
  try {
    await call(kv, 'Put', { key: Buffer.from('keep'), value: Buffer.from('me') });
    let refused;
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        await call(kv, 'Put', { key: Buffer.from(`big${i}`), value: Buffer.alloc(100000, 120) });
      } catch (e) {
        refused = e;
      }
      await new Promise((r) => setTimeout(r, 30)); // the backend commits in the background
    }
    assert.match(refused?.details ?? '', /database space exceeded/);
    const full = await call(m, 'Status', {});
    // as etcd, a write is refused when the database plus the write would pass the quota (here also
    // counting the writes not yet committed to the file: a few hundred KB under load)
    assert.ok(Number(full.dbSize) >= quota / 2, `dbSize ${full.dbSize}`);
    // etcd's way out: delete, compact, defragment
    const del = await call(kv, 'DeleteRange', { key: Buffer.from('big'), range_end: Buffer.from('bih') });
    assert.ok(Number(del.deleted) > 5);
    await call(kv, 'Compact', { revision: del.header.revision, physical: true });
    await call(m, 'Defragment', {});
    await new Promise((r) => setTimeout(r, 300)); // the size is re-read every 250 ms
    const after = await call(m, 'Status', {});
    assert.ok(Number(after.dbSize) < Math.min(quota, Number(full.dbSize)) / 4, `dbSize after defragment ${after.dbSize} (was ${full.dbSize})`);
    // as in etcd, the alarm stays until it is disarmed, and writes wait for that
    const alarms = await call(m, 'Alarm', { action: 'GET' });
    assert.deepEqual(alarms.alarms.map((a) => a.alarm), ['NOSPACE']);
    await assert.rejects(call(kv, 'Put', { key: Buffer.from('after'), value: Buffer.from('ok') }), /database space exceeded/);
    const disarmed = await call(m, 'Alarm', { action: 'DEACTIVATE', memberID: alarms.alarms[0].memberID, alarm: 'NOSPACE' });
    assert.deepEqual(disarmed.alarms.map((a) => a.alarm), ['NOSPACE']);
    assert.deepEqual((await call(m, 'Alarm', { action: 'GET' })).alarms, [], 'NOSPACE is gone');
    await call(kv, 'Put', { key: Buffer.from('after'), value: Buffer.from('ok') });
    // writes keep going while the database is rewritten
    const during = Promise.all(
      Array.from({ length: 20 }, (_, i) => call(kv, 'Put', { key: Buffer.from(`during${i}`), value: Buffer.from(String(i)) })),
    ).catch((e) => e);
    await call(m, 'Defragment', {});
    const writes = await during;
    assert.ok(Array.isArray(writes), `writes during the defragmentation: ${writes}`);
  } finally {
    kv.close();
    m.close();
    await s.kill(); // no clean shutdown: what was acknowledged must be there after a restart
  }
  s = await startServer('ours', { dataDir: dir, extraArgs: args });
  kv = kvClient(s.endpoint);
  try {
    const get = async (k) => (await call(kv, 'Range', { key: Buffer.from(k) })).kvs.map((x) => x.value.toString());
    assert.deepEqual(await get('keep'), ['me']);
    assert.deepEqual(await get('after'), ['ok']);
    assert.deepEqual(await get('during19'), ['19']);
    const big = await call(kv, 'Range', { key: Buffer.from('big'), range_end: Buffer.from('bih'), count_only: true });
    assert.equal(big.count, '0');
    assert.equal(fs.existsSync(path.join(dir, 'member', 'snap', 'db.defrag')), false, 'no copy left behind');
  } finally {
    kv.close();
    await s.stop();
  }
});

test('unix:// client URLs: a socket file named as in etcd, served to real etcdctl and to ours', { skip: realEtcdSkip() }, async () => {
  const cwd = tmpDir();
  const url = 'unix://localhost:24999';
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'etcd.js'), '--data-dir', path.join(cwd, 'd'), '--listen-client-urls', url, '--advertise-client-urls', url], { cwd, stdio: 'ignore' });
  try {
    const sock = path.join(cwd, 'localhost:24999');
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const theirs = spawnSync(ETCDCTL_BIN, ['--endpoints', url, 'put', 'u', 'x'], { cwd, encoding: 'utf8', timeout: 15000 });
    assert.equal(theirs.stdout, 'OK\n', theirs.stderr);
    const ours = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'etcdctl.js'), '--endpoints', url, 'get', 'u'], { cwd, encoding: 'utf8', timeout: 15000 });
    assert.equal(ours.stdout, 'u\nx\n', ours.stderr);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});

test('a client port already in use stops the server at start with a clear error and exit 1', async () => {
  const s = await startServer('ours');
  try {
    const url = `http://${s.endpoint}`;
    const r = runEtcd(['--data-dir', tmpDir(), '--listen-client-urls', url, '--advertise-client-urls', url]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on ${url}: .*address already in use`));
  } finally {
    await s.stop();
  }
});

test('KV unary calls take the lean path past grpc-js (h2/unary.ts); ETCD_TS_GRPC_FAST_UNARY=0 turns it off', async () => {
  for (const fast of ['1', '0']) {
    const s = await startServer('ours', { extraArgs: ['--log-level', 'debug'], env: { ETCD_TS_GRPC_FAST_UNARY: fast } });
    try {
      // the hook reaches into grpc-js: a grpc-js that keeps its HTTP/2 server elsewhere fails here
      assert.match(s.logs.join(''), new RegExp(`"msg":"gRPC KV fast unary path","enabled":${fast === '1'}`));
      const kv = kvClient(s.endpoint);
      const put = await call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.from('v') });
      assert.equal(put.header.revision, '2');
      const r = await call(kv, 'Range', { key: Buffer.from('k') });
      assert.equal(r.kvs[0].value.toString(), 'v');
      await assert.rejects(call(kv, 'Put', { value: Buffer.from('v') }), (e) => e.code === grpc.status.INVALID_ARGUMENT && e.details === 'etcdserver: key is not provided');
      kv.close();
    } finally {
      await s.stop();
    }
  }
});

/**
 * Sends `n` unary Puts one after another on one raw HTTP/2 connection and reports, for each answer,
 * whether its frames (HEADERS, DATA, trailing HEADERS) reached the client in one socket read, and
 * the frame types seen for its stream.
 */
async function answersInOneRead(endpoint, n) {
  const [host, port] = endpoint.split(':');
  const sock = net.connect(Number(port), host);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const block = hpackLiterals([
    [':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.KV/Put'], [':authority', endpoint],
    ['content-type', 'application/grpc'], ['te', 'trailers'],
  ]);
  const msg = loadApi().etcdserverpb.KV.service.Put.requestSerialize({ key: Buffer.from('k'), value: Buffer.from('v') });
  const body = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  sock.write(Buffer.concat([H2_PREFACE, h2Frame(4, 0, 0, Buffer.alloc(0))]));
  let pending = Buffer.alloc(0);
  let reads = 0;
  const seen = new Map(); // stream id -> { types, reads: Set of the reads its frames came in, done }
  let wake = () => {};
  sock.on('data', (chunk) => {
    reads++;
    pending = Buffer.concat([pending, chunk]);
    const { frames, consumed } = parseFrames(pending, 0);
    pending = pending.subarray(consumed);
    for (const f of frames) {
      if (f.type === 4 && !(f.flags & 1)) sock.write(h2Frame(4, 1, 0, Buffer.alloc(0))); // ack the server's SETTINGS
      if (f.streamId === 0) continue;
      const st = seen.get(f.streamId) ?? { types: [], reads: new Set(), done: false };
      seen.set(f.streamId, st);
      st.types.push(f.type);
      st.reads.add(reads);
      if ((f.type === 0 || f.type === 1) && f.flags & 1) st.done = true; // END_STREAM
      if (f.type === 3) st.done = true; // RST_STREAM
    }
    wake();
  });
  const out = [];
  try {
    for (let i = 0, id = 1; i < n; i++, id += 2) {
      sock.write(Buffer.concat([h2Frame(1, 4, id, block), h2Frame(0, 1, id, body)]));
      await new Promise((resolve, reject) => {
        const timer = setTimeout(reject, 5000, new Error(`no complete answer on stream ${id}`));
        wake = () => {
          if (seen.get(id)?.done) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const st = seen.get(id);
      out.push({ oneRead: st.reads.size === 1, types: st.types.join(',') });
    }
  } finally {
    sock.destroy();
  }
  return out;
}

test('a KV answer leaves in one socket write, HEADERS, DATA and trailers together, as grpc-go (etcd) sends it; ETCD_TS_GRPC_ONE_WRITE=0 goes back to node\'s two writes', async () => {
  for (const oneWrite of ['1', '0']) {
    const s = await startServer('ours', { env: { ETCD_TS_GRPC_ONE_WRITE: oneWrite } });
    try {
      const answers = await answersInOneRead(s.endpoint, 40);
      for (const a of answers) assert.equal(a.types, '1,0,1'); // HEADERS, DATA, trailing HEADERS
      const together = answers.filter((a) => a.oneRead).length;
      // the lean path's replies are real: the server counted the 40 puts
      const kv = kvClient(s.endpoint);
      assert.equal((await call(kv, 'Range', { key: Buffer.from('k') })).kvs[0].version, '40');
      kv.close();
      if (oneWrite === '1') assert.equal(together, 40, `${40 - together} of 40 answers came in two reads`);
      // two writes a turn apart nearly always reach the client as two reads: this shows the check
      // above can tell the difference
      else assert.ok(together < 40, 'node\'s two writes were never seen apart');
    } finally {
      await s.stop();
    }
  }
});

test('a disk that fails its syncs: the write is not acknowledged, the server exits 1 with a fatal log, and what was acknowledged survives', async () => {
  const dataDir = tmpDir();
  const trigger = path.join(dataDir, '..', `${path.basename(dataDir)}-fail`);
  const s = await startServer('ours', {
    dataDir,
    nodeArgs: ['--import', path.join(ROOT, 'test', 'fixtures', 'failing-disk.mjs')],
    env: { ETCD_TS_TEST_FAIL_FILE: trigger },
  });
  const kv = kvClient(s.endpoint);
  try {
    await call(kv, 'Put', { key: Buffer.from('before'), value: Buffer.from('1') });
    fs.writeFileSync(trigger, '');
    await assert.rejects(call(kv, 'Put', { key: Buffer.from('during'), value: Buffer.from('2') }), (e) => e.code === grpc.status.UNAVAILABLE);
    const exit = await Promise.race([s.exited, new Promise((r) => setTimeout(r, 10000, { code: 'still running after 10 s' }))]);
    assert.equal(exit.code, 1);
    assert.match(s.logs.join(''), /"level":"fatal".*"msg":"storage failure, stopping: wal: write failed: EIO: i\/o error, fdatasync"/);
  } finally {
    kv.close();
    await s.kill();
    fs.rmSync(trigger, { force: true });
  }
  const again = await startServer('ours', { dataDir });
  const kv2 = kvClient(again.endpoint);
  try {
    const r = await call(kv2, 'Range', { key: Buffer.from('before') });
    assert.equal(r.kvs[0].value.toString(), '1');
  } finally {
    kv2.close();
    await again.stop();
  }
});
