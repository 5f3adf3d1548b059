// The library client (dist/client/index.js) over both transports, grpc-js (the default) and
// node:http2 (what the CLI bundle uses), against real etcd: KV, txn, watch, lease, member list,
// status, failover to a live endpoint, errors mapped to EtcdError, and uint64 IDs kept exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutEtcd, startEtcd, freePort, ROOT } from './harness.mjs';
import * as path from 'node:path';

const skip = skipWithoutEtcd();
let E;
let lib;
let transports;

before(async () => {
  if (skip) return;
  lib = await import(path.join(ROOT, 'dist', 'client', 'index.js'));
  // The http2 transport takes the schema the build embeds in the CLI bundle.
  const { buildSchema } = await import(path.join(ROOT, 'dist', 'client', 'schema.js'));
  const schema = buildSchema(path.join(ROOT, 'proto'));
  const codec = new lib.Codec(schema);
  transports = { 'grpc-js': undefined, http2: lib.http2Transport(() => codec) };
  E = await startEtcd({ clientPort: await freePort(23830, 23839), peerPort: await freePort(23840, 23849) });
});

after(async () => {
  await E?.stop();
});

for (const name of ['grpc-js', 'http2']) {
  test(`client over ${name}: kv, txn, errors, member list, status, lease`, { skip }, async () => {
    const c = new lib.EtcdClient({ endpoints: ['127.0.0.1:23999', E.endpoint], dialTimeoutMs: 3000, transport: transports[name] });
    try {
      const key = Buffer.from(`lib-${name}`);
      const put = await c.put({ key, value: Buffer.from('v1'), prev_kv: true });
      assert.equal(put.prev_kv, null);
      assert.match(put.header.member_id, /^\d+$/);
      // uint64 IDs stay exact decimal strings (etcd's are usually above 2^53).
      const members = await c.memberList();
      assert.equal(members.members[0].ID, put.header.member_id);
      assert.equal(BigInt(members.members[0].ID).toString(), members.members[0].ID);
      const got = await c.range({ key });
      assert.equal(got.kvs[0].value.toString(), 'v1');
      assert.equal(got.count, '1');
      const txn = await c.txn({
        compare: [{ key, target: 'VALUE', result: 'EQUAL', value: Buffer.from('v1') }],
        success: [{ request_put: { key, value: Buffer.from('v2') } }, { request_range: { key } }],
        failure: [],
      });
      assert.equal(txn.succeeded, true);
      assert.equal(txn.responses[1].response_range.kvs[0].value.toString(), 'v2');
      await assert.rejects(c.range({ key: Buffer.alloc(0) }), (e) => e instanceof lib.EtcdError && e.message === 'etcdserver: key is not provided' && e.is('EmptyKey'));
      await assert.rejects(c.range({ key, revision: '999999' }), (e) => e instanceof lib.EtcdError && e.is('FutureRev'));
      const st = await c.status();
      assert.equal(st.leader, put.header.member_id);
      const lease = await c.leaseGrant('60');
      assert.ok(BigInt(lease.ID) > 0n);
      const ka = await c.leaseKeepAliveOnce(lease.ID);
      assert.equal(ka.ID, lease.ID);
      const ttl = await c.leaseTimeToLive(lease.ID, true);
      assert.equal(ttl.grantedTTL, '60');
      assert.ok((await c.leaseLeases()).leases.some((l) => l.ID === lease.ID));
      await c.leaseRevoke(lease.ID);
      await assert.rejects(c.leaseRevoke(lease.ID), (e) => e.message === 'etcdserver: requested lease not found');
    } finally {
      c.close();
    }
  });

  test(`client over ${name}: watch from a revision, and cancel`, { skip }, async () => {
    const c = new lib.EtcdClient({ endpoints: [E.endpoint], transport: transports[name] });
    try {
      const key = Buffer.from(`watch-${name}`);
      const first = await c.put({ key, value: Buffer.from('a') });
      await c.put({ key, value: Buffer.from('b') });
      const seen = [];
      const w = c.watch({ key, startRevision: first.header.revision, prevKv: true }, (r) => seen.push(...r.events));
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await c.deleteRange({ key });
      while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      w.cancel();
      await w.done;
      assert.deepEqual(seen.map((e) => [e.type, e.kv.value.toString()]), [['PUT', 'a'], ['PUT', 'b'], ['DELETE', '']]);
      assert.equal(seen[2].prev_kv.value.toString(), 'b');
    } finally {
      c.close();
    }
  });

  test(`client over ${name}: no endpoint answers -> deadline error after the dial timeout`, { skip }, async () => {
    const c = new lib.EtcdClient({ endpoints: ['127.0.0.1:23998', '127.0.0.1:23999'], dialTimeoutMs: 500, transport: transports[name] });
    const t0 = Date.now();
    await assert.rejects(c.range({ key: Buffer.from('x') }), (e) => e instanceof lib.ClientError && e.message === 'context deadline exceeded');
    assert.ok(Date.now() - t0 < 2000);
    c.close();
  });
}

test('a message over the 2 MiB client limit fails as etcdctl', { skip }, async () => {
  const c = new lib.EtcdClient({ endpoints: [E.endpoint], transport: transports.http2 });
  await assert.rejects(c.put({ key: Buffer.from('big2'), value: Buffer.alloc(2200000, 'x') }), (e) => e.message === 'rpc error: code = ResourceExhausted desc = trying to send message larger than max (2200011 vs. 2097152)');
  c.close();
});
