// Leases, locks and elections with real etcdctl, against our server and (where it fits) real etcd with
// the same steps and the same expected output apart from lease IDs: grant / put --lease / timetolive
// --keys / keep-alive --once / revoke / natural expiry seen by a watcher, restart with live leases,
// bad input; lock mutual exclusion between two processes and between etcdctl and our Lock service;
// election hand-over. Ports 26000-26999 only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { call, kvClient, realEtcdSkip, runCtl, startServer, tmpDir } from '../helpers.mjs';
import { sleep, spawnCli, start } from './ports26.mjs';
import { loadApi } from '../../dist/api/proto.js';

const skip = realEtcdSkip();

const ctl = (s, ...args) => runCtl('etcdctl', ['--endpoints', s.endpoint, ...args]);
const ours = (s, ...args) => runCtl('ours', ['--endpoints', s.endpoint, ...args]);

/** etcdctl output with lease IDs and the zap warning's time and client id made comparable. */
function normalize(text, ids) {
  let t = text;
  for (const [id, name] of ids) t = t.split(id).join(name);
  t = t.replace(/"ts":"[^"]+"/g, '"ts":"T"').replace(/client-[0-9a-f-]+/g, 'client-X').replace(/127\.0\.0\.1:\d+/g, 'EP');
  // the keys of a lease come out of a Go map in etcd: order them
  t = t.replace(/attached keys\(\[([^\]]*)\]\)/g, (_m, ks) => `attached keys([${ks.split(' ').sort().join(' ')}])`);
  return t;
}

const hexId = (out) => /lease ([0-9a-f]{16}) granted/.exec(out)?.[1];

/** etcdctl 3.4 logs a zap JSON warning line before some errors; our CLI does not. */
const dropZap = (t) => t.split('\n').filter((l) => !l.startsWith('{"level":"warn"')).join('\n');

/** One body, run against a server with a CLI: returns the transcript of every step (normalized). */
async function leaseSteps(s, run = ctl) {
  const ids = new Map();
  const steps = [];
  const step = (args) => {
    const r = run(s, ...args);
    const id = hexId(r.stdout);
    if (id && !ids.has(id)) ids.set(id, `<L${ids.size}>`);
    steps.push({ args: args.join(' '), code: r.code, stdout: r.stdout, stderr: r.stderr });
    return r;
  };
  const L = hexId(step(['lease', 'grant', '100']).stdout);
  ids.set(BigInt('0x' + L).toString(), '<L0dec>');
  step(['put', 'k1', 'v1', `--lease=${L}`]);
  step(['put', 'k2', 'v2', `--lease=${L}`]);
  step(['put', 'k2', 'v3']); // k2 leaves the lease
  step(['put', 'k1', 'v4', '--ignore-lease']); // k1 keeps it
  step(['lease', 'timetolive', L, '--keys']);
  step(['lease', 'timetolive', L]);
  step(['lease', 'keep-alive', '--once', L]);
  step(['get', 'k1', '-w', 'fields']);
  for (const w of ['json', 'fields']) {
    step(['lease', 'timetolive', L, '--keys', '-w', w]);
    step(['lease', 'keep-alive', '--once', L, '-w', w]);
    step(['lease', 'list', '-w', w]);
  }
  step(['lease', 'grant', '7', '-w', 'table']);
  step(['lease', 'grant', 'abc']);
  step(['lease', 'revoke', 'zz']);
  step(['lease', 'timetolive']);
  step(['lease', 'timetolive', '1234']);
  step(['lease', 'keep-alive', '--once', '1234']);
  step(['put', 'k3', 'v', '--lease=1234']);
  step(['lease', 'grant', '9000000001']);
  step(['lease', 'revoke', '1234']);
  step(['lease', 'list']);
  step(['lease', 'revoke', L]);
  step(['get', 'k', '--prefix']);
  step(['lease', 'timetolive', L]);
  step(['lease', 'grant', '0']);
  return steps.map((x) => ({
    ...x,
    args: normalize(x.args, ids),
    stdout: normalize(x.stdout, ids)
      .replace(/"(cluster_id|member_id|revision|raft_term|ID|id|ClusterID|MemberID|RaftTerm|Revision|Lease)" ?: ?\d+/g, '"$1":N')
      .replace(/"(ttl|TTL)" ?: ?(9\d|100)\b/g, '"$1":~100')
      .replace(/remaining\((9\d|100)s\)/g, 'remaining(~100s)')
      .replace(/\b(?!0000)[0-9a-f]{16}\b/g, '<other lease>'),
    stderr: normalize(x.stderr, ids),
  }));
}

test('lease commands: etcdctl against our server prints what it prints against etcd', { skip }, async () => {
  const ours = await start('ours');
  const etcd = await start('etcd');
  try {
    const a = await leaseSteps(ours);
    const b = await leaseSteps(etcd);
    for (let i = 0; i < a.length; i++) assert.deepEqual(a[i], b[i], `step ${b[i].args}`);
    // and what it prints is right, not only the same
    assert.match(a[a.length - 1].stdout, /^lease <L\d+> granted with TTL\(2s\)\n$/);
    const ttl = a.find((x) => x.args === 'lease timetolive <L0> --keys');
    assert.match(ttl.stdout, /^lease <L0> granted with TTL\(100s\), remaining\(~100s\), attached keys\(\[k1\]\)\n$/);
    assert.match(a.find((x) => x.args === 'lease timetolive 1234').stdout, /^lease 0000000000001234 already expired\n$/);
    const tooLarge = a.find((x) => x.args === 'lease grant 9000000001');
    assert.equal(tooLarge.code, 1);
    assert.match(tooLarge.stderr, /Error: failed to grant lease \(etcdserver: too large lease TTL\)/);
    assert.match(a.find((x) => x.args === 'put k3 v --lease=1234').stderr, /Error: etcdserver: requested lease not found/);
  } finally {
    await ours.stop();
    await etcd.stop();
  }
});

const spawnCtl = (s, args) => spawnCli('etcdctl', s.endpoint, args);

test('lease commands: our CLI prints what etcdctl prints, in every output mode', { skip }, async () => {
  const s = await start('ours');
  const s2 = await start('ours');
  try {
    const a = await leaseSteps(s, ours);
    const b = await leaseSteps(s2, ctl);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual({ ...a[i], stderr: dropZap(a[i].stderr) }, { ...b[i], stderr: dropZap(b[i].stderr) }, `step ${b[i].args}`);
    }
  } finally {
    await s.stop();
    await s2.stop();
  }
});

async function expirySteps(s) {
  const L = hexId(ctl(s, 'lease', 'grant', '2').stdout);
  assert.equal(ctl(s, 'put', 'ek', 'v', `--lease=${L}`).code, 0);
  const w = spawnCtl(s, ['watch', 'ek']);
  await sleep(500);
  assert.equal(ctl(s, 'get', 'ek', '--print-value-only').stdout, 'v\n');
  await w.waitFor(/DELETE/, 6000);
  await sleep(200);
  await w.kill();
  const got = ctl(s, 'get', 'ek');
  const ttl = ctl(s, 'lease', 'timetolive', L);
  return { watch: w.out, get: got.stdout, ttl: ttl.stdout.replace(L, '<L>') };
}

test('natural expiry: the keys go and a watcher sees DELETE, as on etcd', { skip }, async () => {
  const ours = await start('ours');
  const etcd = await start('etcd');
  try {
    const [a, b] = await Promise.all([expirySteps(ours), expirySteps(etcd)]);
    assert.deepEqual(a, b);
    assert.deepEqual(a, { watch: 'DELETE\nek\n\n', get: '', ttl: 'lease <L> already expired\n' });
  } finally {
    await ours.stop();
    await etcd.stop();
  }
});

async function restartSteps(kind) {
  const dir = tmpDir();
  let s = await start(kind, dir);
  const short = hexId(ctl(s, 'lease', 'grant', '5').stdout);
  const long = hexId(ctl(s, 'lease', 'grant', '60').stdout);
  ctl(s, 'put', 'a', '1', `--lease=${short}`);
  ctl(s, 'put', 'b', '2', `--lease=${long}`);
  await sleep(3000);
  await s.kill(); // kill -9: nothing flushed on the way out
  await sleep(3000); // the short lease's TTL passes while the server is down
  s = await startServer(kind, { dataDir: dir, port: s.port, peerPort: s.peerPort });
  try {
    const afterRestart = {
      list: ctl(s, 'lease', 'list').stdout.split('\n').slice(1).filter(Boolean).sort(),
      keys: ctl(s, 'get', '', '--prefix', '--keys-only').stdout,
      shortTTL: Number(/remaining\((-?\d+)s\)/.exec(ctl(s, 'lease', 'timetolive', short).stdout)?.[1]),
    };
    await sleep(7000);
    const later = {
      list: ctl(s, 'lease', 'list').stdout.split('\n').slice(1).filter(Boolean).sort(),
      keys: ctl(s, 'get', '', '--prefix', '--keys-only').stdout,
    };
    return { short, long, afterRestart, later };
  } finally {
    await s.stop();
  }
}

test('restart with live leases: none lost, none early; an expired one goes after its TTL', { skip }, async () => {
  const [ours, etcd] = await Promise.all([restartSteps('ours'), restartSteps('etcd')]);
  for (const r of [ours, etcd]) {
    assert.deepEqual(r.afterRestart.list, [r.short, r.long].sort(), 'both leases survive');
    assert.equal(r.afterRestart.keys, 'a\n\nb\n\n');
    assert.ok(r.afterRestart.shortTTL >= 4 && r.afterRestart.shortTTL <= 6, `short lease renewed: ${r.afterRestart.shortTTL}`);
    assert.deepEqual(r.later.list, [r.long]);
    assert.equal(r.later.keys, 'b\n\n');
  }
});

// ---- locks ----

test('lock: two etcdctl processes exclude each other, and a killed holder hands over when its lease expires', { skip }, async () => {
  const s = await start('ours');
  try {
    const a = spawnCtl(s, ['lock', '--ttl', '2', 'mylock']);
    await a.waitFor(/^mylock\/[0-9a-f]+\n/);
    const b = spawnCtl(s, ['lock', '--ttl', '2', 'mylock']);
    await sleep(1500);
    assert.equal(b.out, '', 'the second waits while the first holds');
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    await b.waitFor(/^mylock\/[0-9a-f]+\n/, 8000);
    const waited = Date.now() - killedAt;
    assert.ok(waited >= 1000, `handed over only after the holder's lease expired (${waited} ms)`);
    assert.notEqual(a.out, b.out);
    await b.kill('SIGINT');
    // a command run under the lock sees etcdctl's environment
    const r = ctl(s, 'lock', 'mylock', '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY"');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mylock\/[0-9a-f]+\n$/);
  } finally {
    await s.stop();
  }
});

function lockClients(endpoint) {
  const api = loadApi();
  return {
    lock: new api.v3lockpb.Lock(endpoint, grpc.credentials.createInsecure()),
    election: new api.v3electionpb.Election(endpoint, grpc.credentials.createInsecure()),
    lease: new api.etcdserverpb.Lease(endpoint, grpc.credentials.createInsecure()),
  };
}

test('lock: our Lock service and etcdctl lock exclude each other both ways', { skip }, async () => {
  const s = await start('ours');
  const c = lockClients(s.endpoint);
  try {
    // the service holds: etcdctl waits until Unlock
    const g = await call(c.lease, 'LeaseGrant', { TTL: 30 });
    const held = await call(c.lock, 'Lock', { name: Buffer.from('shared'), lease: g.ID });
    assert.equal(held.key.toString(), `shared/${BigInt(g.ID).toString(16)}`);
    const e = spawnCtl(s, ['lock', 'shared']);
    await sleep(1200);
    assert.equal(e.out, '');
    await call(c.lock, 'Unlock', { key: held.key });
    await e.waitFor(/^shared\/[0-9a-f]+\n/);

    // etcdctl holds: the service waits until etcdctl lets go
    let got;
    const p = call(c.lock, 'Lock', { name: Buffer.from('shared') }).then((r) => (got = r));
    await sleep(1000);
    assert.equal(got, undefined);
    await e.kill('SIGINT'); // etcdctl revokes its session on the way out
    await p;
    assert.match(got.key.toString(), /^shared\/[0-9a-f]+$/);
    const kv = kvClient(s.endpoint);
    const r = await call(kv, 'Range', { key: Buffer.from('shared/'), range_end: Buffer.from('shared0') });
    assert.deepEqual(r.kvs.map((x) => x.key.toString()), [got.key.toString()]);
    kv.close();

    // an unknown lease, or an empty key to unlock: etcd's errors
    await assert.rejects(call(c.lock, 'Lock', { name: Buffer.from('x'), lease: '4660' }), (err) => {
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'etcdserver: requested lease not found');
      return true;
    });
    await assert.rejects(call(c.lock, 'Unlock', { key: Buffer.alloc(0) }), /etcdserver: key is not provided/);
  } finally {
    for (const x of Object.values(c)) x.close();
    await s.stop();
  }
});

// ---- elections ----

test('election: the next candidate takes over when the leader resigns or its lease expires; observers follow', { skip }, async () => {
  const s = await start('ours');
  const c = lockClients(s.endpoint);
  try {
    const observer = spawnCtl(s, ['elect', '-l', 'el']);
    const p1 = spawnCtl(s, ['elect', 'el', 'p1']);
    await p1.waitFor(/^el\/[0-9a-f]+\np1\n$/);
    await observer.waitFor(/p1\n/);
    const p2 = spawnCtl(s, ['elect', 'el', 'p2']);
    await sleep(1000);
    assert.equal(p2.out, '', 'p2 waits');
    const leader = await call(c.election, 'Leader', { name: Buffer.from('el') });
    assert.equal(leader.kv.value.toString(), 'p1');

    // p1 is stopped: etcdctl resigns, p2 leads
    await p1.kill('SIGTERM');
    await p2.waitFor(/^el\/[0-9a-f]+\np2\n$/);
    await observer.waitFor(/p2\n/);

    // a campaign through our service with a short lease, queued behind p2
    const g = await call(c.lease, 'LeaseGrant', { TTL: 2 });
    let won;
    const campaign = call(c.election, 'Campaign', { name: Buffer.from('el'), lease: g.ID, value: Buffer.from('p3') }).then((r) => (won = r));
    await sleep(500);
    assert.equal(won, undefined);
    // p2 is killed outright: its session lease (60 s, not kept alive any more) still holds the key,
    // so revoke it as its expiry would
    const p2Lease = /^el\/([0-9a-f]+)/.exec(p2.out)[1];
    await p2.kill('SIGKILL');
    // keep p3's lease alive while waiting
    const ka = c.lease.LeaseKeepAlive();
    ka.on('data', () => {});
    ka.on('error', () => {});
    const keep = setInterval(() => ka.write({ ID: g.ID }), 500);
    assert.equal(ctl(s, 'lease', 'revoke', p2Lease).code, 0);
    await campaign;
    assert.equal(won.leader.key.toString(), `el/${BigInt(g.ID).toString(16)}`);
    await observer.waitFor(/p3\n/);

    // proclaim and resign through the service
    await call(c.election, 'Proclaim', { leader: won.leader, value: Buffer.from('p3b') });
    await observer.waitFor(/p3b\n/);
    await call(c.election, 'Resign', { leader: won.leader });
    clearInterval(keep);
    ka.end();
    await assert.rejects(call(c.election, 'Leader', { name: Buffer.from('el') }), /election: no leader/);
    await assert.rejects(call(c.election, 'Proclaim', { leader: won.leader, value: Buffer.from('x') }), /election: not leader/);
    await assert.rejects(call(c.election, 'Resign', {}), /"leader" field must be provided/);
    const values = observer.out.split('\n').filter((_l, i) => i % 2 === 1);
    assert.deepEqual(values.slice(0, 4), ['p1', 'p2', 'p3', 'p3b']);
    await observer.kill('SIGINT');
  } finally {
    for (const x of Object.values(c)) x.close();
    await s.stop();
  }
});

test('election: a killed leader hands over once its lease expires (our service, 2 s lease)', { skip }, async () => {
  const s = await start('ours');
  const c = lockClients(s.endpoint);
  try {
    const g = await call(c.lease, 'LeaseGrant', { TTL: 2 });
    const first = await call(c.election, 'Campaign', { name: Buffer.from('e2'), lease: g.ID, value: Buffer.from('a') });
    assert.equal(first.leader.rev, first.header.revision);
    const next = spawnCtl(s, ['elect', 'e2', 'b']);
    await sleep(800);
    assert.equal(next.out, '');
    // nobody keeps lease g alive: the leader is as good as dead
    await next.waitFor(/^e2\/[0-9a-f]+\nb\n$/, 6000);
    await next.kill('SIGTERM');
  } finally {
    for (const x of Object.values(c)) x.close();
    await s.stop();
  }
});

test('lease service over gRPC: keep-alive stream with many leases, TTL 0 for unknown ones; IDs of our choosing', { skip }, async () => {
  const s = await start('ours');
  const { lease } = lockClients(s.endpoint);
  try {
    const a = await call(lease, 'LeaseGrant', { TTL: 10 });
    const b = await call(lease, 'LeaseGrant', { TTL: 20, ID: 77 });
    assert.equal(b.ID, '77');
    assert.ok(BigInt(a.ID) > 0n);
    await assert.rejects(call(lease, 'LeaseGrant', { TTL: 20, ID: 77 }), (e) => {
      assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(e.details, 'etcdserver: lease already exists');
      return true;
    });
    const neg = await call(lease, 'LeaseGrant', { TTL: -3 });
    assert.equal(neg.TTL, '2');
    const stream = lease.LeaseKeepAlive();
    const got = [];
    stream.on('data', (r) => got.push([r.ID, r.TTL]));
    for (const id of [a.ID, '999', b.ID]) stream.write({ ID: id });
    while (got.length < 3) await sleep(20);
    assert.deepEqual(got, [[a.ID, '10'], ['999', '0'], ['77', '20']]);
    stream.end();
    const ttl = await call(lease, 'LeaseTimeToLive', { ID: 999 });
    assert.equal(ttl.TTL, '-1');
    const list = await call(lease, 'LeaseLeases', {});
    assert.deepEqual(list.leases.map((l) => l.ID).sort(), [a.ID, '77', neg.ID].sort());

    // txn compares on a key's lease
    const kv = kvClient(s.endpoint);
    await call(kv, 'Put', { key: Buffer.from('tk'), value: Buffer.from('v'), lease: '77' });
    const cmp = (l) => ({ compare: [{ key: Buffer.from('tk'), target: 'LEASE', result: 'EQUAL', lease: l }] });
    assert.equal((await call(kv, 'Txn', cmp('77'))).succeeded, true);
    assert.equal((await call(kv, 'Txn', cmp(a.ID))).succeeded, false);
    // revoking deletes the key in one revision, and the header says which
    const before = await call(kv, 'Range', { key: Buffer.from('tk') });
    const rv = await call(lease, 'LeaseRevoke', { ID: '77' });
    assert.equal(BigInt(rv.header.revision), BigInt(before.header.revision) + 1n);
    assert.equal((await call(kv, 'Range', { key: Buffer.from('tk') })).count, '0');
    kv.close();

    // a lock with an empty name is etcd's "/<lease>" key, not an error
    const { lock } = lockClients(s.endpoint);
    const held = await call(lock, 'Lock', { name: Buffer.alloc(0), lease: a.ID });
    assert.equal(held.key.toString(), `/${BigInt(a.ID).toString(16)}`);
    lock.close();
  } finally {
    lease.close();
    await s.stop();
  }
});

// ---- our CLI ----

test('lock: our CLI and etcdctl exclude each other both ways; a killed holder hands over when its lease expires', { skip }, async () => {
  const s = await start('ours');
  try {
    for (const [first, second] of [['ours', 'etcdctl'], ['etcdctl', 'ours']]) {
      const a = spawnCli(first, s.endpoint, ['lock', '--ttl', '2', 'xl']);
      await a.waitFor(/^xl\/[0-9a-f]+\n\n$/);
      const b = spawnCli(second, s.endpoint, ['lock', '--ttl', '2', 'xl']);
      await sleep(1200);
      assert.equal(b.out, '', `${second} waits while ${first} holds`);
      const killedAt = Date.now();
      await a.kill('SIGKILL');
      await b.waitFor(/^xl\/[0-9a-f]+\n\n$/, 8000);
      assert.ok(Date.now() - killedAt >= 1000, 'handed over only after the lease expired');
      // SIGINT: the holder unlocks on the way out, exit 0
      await b.kill('SIGINT');
      assert.deepEqual(await b.exited, { code: 0, sig: null });
      assert.equal(ctl(s, 'get', 'xl/', '--prefix', '--keys-only').stdout, '');
    }
    // a command run under the lock, by our CLI, while etcdctl waits its turn
    const r = runCtl('ours', ['--endpoints', s.endpoint, 'lock', 'xl', '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^xl\/[0-9a-f]+ \d+\n$/);
    const bad = runCtl('ours', ['--endpoints', s.endpoint, 'lock']);
    assert.equal(bad.code, 128);
    assert.equal(bad.stderr, 'Error: lock takes a lock name argument and an optional command to execute\n');
    const fails = runCtl('ours', ['--endpoints', s.endpoint, 'lock', 'xl', '--', 'false']);
    assert.deepEqual([fails.code, fails.stderr], [1, 'Error: exit status 1\n']);
  } finally {
    await s.stop();
  }
});

test('elect: leadership passes between our CLI and etcdctl; observers of both CLIs print the same', { skip }, async () => {
  const s = await start('ours');
  try {
    const obsOurs = spawnCli('ours', s.endpoint, ['elect', '-l', 'ee']);
    const obsReal = spawnCli('etcdctl', s.endpoint, ['elect', '-l', 'ee']);
    const l1 = spawnCli('ours', s.endpoint, ['elect', 'ee', 'one']);
    await l1.waitFor(/^ee\/[0-9a-f]+\none\n$/);
    const l2 = spawnCli('etcdctl', s.endpoint, ['elect', 'ee', 'two']);
    const l3 = spawnCli('ours', s.endpoint, ['elect', 'ee', 'three']);
    await sleep(1000);
    assert.equal(l2.out + l3.out, '');
    await l1.kill('SIGTERM'); // resigns
    assert.equal((await l1.exited).code, 0);
    await l2.waitFor(/^ee\/[0-9a-f]+\ntwo\n$/);
    assert.equal(l3.out, '');
    await l2.kill('SIGINT');
    await l3.waitFor(/^ee\/[0-9a-f]+\nthree\n$/);
    await obsOurs.waitFor(/three\n$/);
    await obsReal.waitFor(/three\n$/);
    assert.equal(obsOurs.out, obsReal.out);
    assert.deepEqual(obsOurs.out.split('\n').filter((_l, i) => i % 2 === 1), ['one', 'two', 'three']);
    await l3.kill('SIGTERM');
    for (const o of [obsOurs, obsReal]) {
      await o.kill('SIGINT');
    }
    const bad = runCtl('ours', ['--endpoints', s.endpoint, 'elect', 'ee']);
    assert.deepEqual([bad.code, bad.stderr], [128, 'Error: no proposal argument but -l not set\n']);
  } finally {
    await s.stop();
  }
});
