// The client port beyond plain gRPC: HTTP/1.1 next to it (/health, /version, /metrics and Go's 404,
// compared with real etcd where the bytes can be the same), and real etcdctl's per-endpoint dials,
// whose :authority is the endpoint URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { call, kvClient, realEtcdSkip, runCtl, startServer } from '../helpers.mjs';

const skip = realEtcdSkip();

/** GET over HTTP/1.1; resolves with status, the headers that matter, and the body. */
function get(endpoint, path, method = 'GET') {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          type: res.headers['content-type'],
          cors: res.headers['access-control-allow-origin'],
          nosniff: res.headers['x-content-type-options'],
          body,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('/health, /version and unknown paths answer as real etcd does, on the gRPC port', { skip, timeout: 60_000 }, async () => {
  const answers = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    try {
      const kv = kvClient(s.endpoint);
      await call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.from('v') }); // gRPC on the same port
      kv.close();
      answers[kind] = {
        health: await get(s.endpoint, '/health'),
        missing: await get(s.endpoint, '/nosuch'),
        version: await get(s.endpoint, '/version'),
      };
    } finally {
      await s.stop();
    }
  }
  assert.deepEqual(answers.ours.health, answers.etcd.health);
  assert.deepEqual(answers.ours.missing, answers.etcd.missing);
  assert.equal(answers.ours.missing.body, '404 page not found\n');
  const { body: ourVersion, ...ourHead } = answers.ours.version;
  const { body: theirVersion, ...theirHead } = answers.etcd.version;
  assert.deepEqual(ourHead, theirHead);
  assert.deepEqual(Object.keys(JSON.parse(ourVersion)), Object.keys(JSON.parse(theirVersion)));
  assert.equal(JSON.parse(ourVersion).etcdcluster, '3.4.0');
});

test('/health turns false with the NOSPACE alarm; /metrics counts requests under etcd\'s names', async () => {
  const s = await startServer('ours', { extraArgs: ['--quota-backend-bytes', '300000'] });
  const kv = kvClient(s.endpoint);
  try {
    const value = (text, name) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
    const before = (await get(s.endpoint, '/metrics')).body;
    await call(kv, 'Put', { key: Buffer.from('a'), value: Buffer.from('1') });
    await call(kv, 'Range', { key: Buffer.from('a') });
    await call(kv, 'Range', { key: Buffer.from('a') });
    let m = await get(s.endpoint, '/metrics');
    assert.equal(m.status, 200);
    assert.equal(m.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(value(m.body, 'etcd_mvcc_put_total') - value(before, 'etcd_mvcc_put_total'), 1);
    assert.equal(value(m.body, 'etcd_mvcc_range_total') - value(before, 'etcd_mvcc_range_total'), 2);
    assert.equal(value(m.body, 'etcd_server_has_leader'), 1);
    assert.equal(value(m.body, 'etcd_debugging_mvcc_current_revision'), 2);
    assert.equal(value(m.body, 'etcd_debugging_mvcc_keys_total'), 1);
    assert.equal(value(m.body, 'etcd_server_quota_backend_bytes'), 300000);
    assert.ok(value(m.body, 'etcd_disk_wal_fsync_duration_seconds_count') >= 1);
    assert.match(m.body, /^# TYPE etcd_disk_wal_fsync_duration_seconds histogram$/m);
    assert.match(m.body, /^etcd_disk_wal_fsync_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);

    let refused = false;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        await call(kv, 'Put', { key: Buffer.from(`big${i}`), value: Buffer.alloc(60000, 1) });
      } catch (e) {
        refused = /database space exceeded/.test(e.details);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.ok(refused, 'the quota was reached');
    const h = await get(s.endpoint, '/health');
    assert.deepEqual([h.status, h.body, h.nosniff], [503, '{"health":"false"}\n', 'nosniff']);
    m = await get(s.endpoint, '/metrics');
    assert.ok(value(m.body, 'etcd_server_proposals_failed_total') >= 1);
    assert.equal((await get(s.endpoint, '/health', 'POST')).status, 405);
  } finally {
    kv.close();
    await s.stop();
  }
});

test('real etcdctl endpoint status, endpoint hashkv and defrag with http:// endpoints, as against real etcd', { skip, timeout: 60_000 }, async () => {
  const out = {};
  for (const kind of ['etcd', 'ours']) {
    const s = await startServer(kind);
    const url = `http://${s.endpoint}`;
    try {
      const run = (...args) => {
        const r = runCtl('etcdctl', ['--endpoints', url, ...args]);
        return { code: r.code, stdout: r.stdout.replaceAll(url, 'URL'), stderr: r.stderr.replaceAll(url, 'URL') };
      };
      assert.equal(run('put', 'k', 'v').code, 0);
      const status = run('endpoint', 'status');
      const hashkv = run('endpoint', 'hashkv');
      const defrag = run('defrag');
      out[kind] = {
        status: [status.code, status.stdout.split(', ').slice(0, 1).join(), status.stderr],
        hashkv: [hashkv.code, hashkv.stdout.replace(/, \d+\n$/, ', HASH\n'), hashkv.stderr],
        defrag: [defrag.code, defrag.stdout, defrag.stderr],
      };
    } finally {
      await s.stop();
    }
  }
  assert.deepEqual(out.ours, out.etcd);
  assert.equal(out.ours.defrag[1], 'Finished defragmenting etcd member[URL]\n');
  assert.equal(out.ours.status[1], 'URL');
});

test('bad clients on the client port: an absolute URL that does not parse, an HTTP/2 preamble that never ends', async () => {
  const net = await import('node:net');
  const s = await startServer('ours');
  const [host, port] = s.endpoint.split(':');
  const exchange = (bytes) =>
    new Promise((resolve) => {
      const sock = net.connect(Number(port), host, () => sock.write(bytes));
      let got = Buffer.alloc(0);
      sock.on('data', (d) => (got = Buffer.concat([got, d])));
      sock.on('error', () => {});
      sock.on('close', () => resolve(got));
      setTimeout(() => sock.destroy(), 3000);
    });
  try {
    const r = await exchange('GET http://a:99999/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(r.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"health":"true"\}$/);
    // preface, SETTINGS, then 340 KB of PINGs and never the ACK of the server's SETTINGS
    const ping = Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const flood = Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      ...Array.from({ length: 20000 }, () => ping),
    ]);
    const t0 = Date.now();
    await exchange(flood);
    assert.ok(Date.now() - t0 < 2500, 'dropped well before the sniffing timeout');
    const kv = kvClient(s.endpoint);
    await call(kv, 'Put', { key: Buffer.from('still'), value: Buffer.from('up') });
    kv.close();
    assert.equal(s.proc.exitCode, null, 'the server is still running');
  } finally {
    await s.stop();
  }
});

test('SIGTERM ends the server at once while a client holds an idle keep-alive HTTP/1.1 connection, as etcd', async () => {
  const s = await startServer('ours');
  const [host, port] = s.endpoint.split(':');
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  try {
    const status = await new Promise((resolve, reject) => {
      const req = http.get({ host, port: Number(port), path: '/health', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'the connection stays open, idle');
    const t0 = Date.now();
    const { code, sig } = await s.stop();
    assert.deepEqual({ code, sig }, { code: null, sig: 'SIGTERM' }); // ended by the signal, re-raised after the shutdown
    // it used to wait for the client to close the connection (undici: about 30 s)
    assert.ok(Date.now() - t0 < 3000, `exited after ${Date.now() - t0} ms`);
  } finally {
    agent.destroy();
    await s.kill();
  }
});
