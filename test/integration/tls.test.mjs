// TLS on the client port: https:// listen URLs with a server certificate, and mutual TLS with
// --client-cert-auth. Checked with real etcdctl (Debian etcd-client), which our server must satisfy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { freePort, realEtcdSkip, runCtl, startServer, tmpDir } from '../helpers.mjs';

const skip = realEtcdSkip();

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCerts() {
  const d = tmpDir('etcd-ts-certs-');
  const ssl = (...args) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=etcd-ts test CA');
  fs.writeFileSync(path.join(d, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  fs.writeFileSync(path.join(d, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`);
  }
  return d;
}

async function startTLS(certs, clientCertAuth) {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  return startServer('ours', {
    port,
    wait: false,
    extraArgs: [
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--cert-file', path.join(certs, 'server.crt'), '--key-file', path.join(certs, 'server.key'),
      ...(clientCertAuth ? ['--trusted-ca-file', path.join(certs, 'ca.crt'), '--client-cert-auth'] : []),
    ],
  }).then(async (s) => {
    // the helper's plain-text readiness probe cannot speak TLS; wait for the log line instead
    for (let i = 0; i < 100 && !s.logs.join('').includes('serving client traffic'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { ...s, url };
  });
}

test('https with a CA, and mutual TLS with client certificates', { skip, timeout: 60_000 }, async () => {
  const certs = makeCerts();
  const ca = ['--cacert', path.join(certs, 'ca.crt')];
  const client = ['--cert', path.join(certs, 'client.crt'), '--key', path.join(certs, 'client.key')];

  const s = await startTLS(certs, false);
  try {
    let r = runCtl('etcdctl', ['--endpoints', s.url, ...ca, 'put', 'tls', 'yes']);
    assert.equal(r.stdout, 'OK\n', r.stderr);
    r = runCtl('etcdctl', ['--endpoints', s.url, ...ca, 'get', 'tls', '--print-value-only']);
    assert.equal(r.stdout, 'yes\n');
    // without the CA the server's certificate is not trusted
    r = runCtl('etcdctl', ['--endpoints', s.url, '--dial-timeout', '1s', '--command-timeout', '2s', 'get', 'tls']);
    assert.notEqual(r.code, 0);
    // HTTP/1.1 on the same TLS port (ALPN http/1.1), as etcd serves /health over https
    const health = await new Promise((resolve, reject) => {
      https
        .get(`${s.url}/health`, { ca: fs.readFileSync(path.join(certs, 'ca.crt')), agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode, body }));
        })
        .on('error', reject);
    });
    assert.deepEqual(health, { status: 200, body: '{"health":"true"}' });
    // endpoint status dials the endpoint URL itself (its :authority is the whole URL)
    r = runCtl('etcdctl', ['--endpoints', s.url, ...ca, 'endpoint', 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${s.url}, [0-9a-f]+, 3\\.4\\.0, `));
  } finally {
    await s.stop();
  }

  const m = await startTLS(certs, true);
  try {
    let r = runCtl('etcdctl', ['--endpoints', m.url, ...ca, ...client, 'put', 'mtls', 'yes']);
    assert.equal(r.stdout, 'OK\n', r.stderr);
    // no client certificate: refused
    r = runCtl('etcdctl', ['--endpoints', m.url, ...ca, '--dial-timeout', '1s', '--command-timeout', '2s', 'get', 'mtls']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
  } finally {
    await m.stop();
  }
});
