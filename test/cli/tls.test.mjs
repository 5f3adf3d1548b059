// TLS: our CLI and etcdctl against a real etcd on https:// with a test CA, with and without client
// certificates (--client-cert-auth), and with --insecure-skip-tls-verify. Certificates are made
// with openssl in a temp dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipWithoutEtcd, startEtcd, freePort, runCli, tmpDir } from './harness.mjs';

let skip = skipWithoutEtcd();
if (!skip) {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    if (process.env.CI === 'true') throw new Error('CI=true but openssl is missing');
    skip = 'openssl not installed';
  }
}

let dir;
let mtls; // etcd requiring client certificates
let plain; // etcd on https without client-cert-auth

function makeCerts(d) {
  const ossl = (...a) => execFileSync('openssl', a, { cwd: d, stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=etcd-ts test CA');
  fs.writeFileSync(path.join(d, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const name of ['server', 'client']) {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.cnf');
  }
}

before(async () => {
  if (skip) return;
  dir = tmpDir('etcd-ts-cli-tls-');
  makeCerts(dir);
  const f = (n) => path.join(dir, n);
  const serverTls = ['--cert-file', f('server.crt'), '--key-file', f('server.key')];
  [mtls, plain] = await Promise.all([
    startEtcd({ scheme: 'https', clientPort: await freePort(23760, 23764), peerPort: await freePort(23765, 23769), extra: [...serverTls, '--trusted-ca-file', f('ca.crt'), '--client-cert-auth'] }),
    startEtcd({ scheme: 'https', clientPort: await freePort(23770, 23774), peerPort: await freePort(23775, 23779), extra: serverTls }),
  ]);
});

after(async () => {
  await mtls?.stop();
  await plain?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function both(endpoint, args, globals) {
  const ours = runCli('ours', endpoint, args, { globals });
  const theirs = runCli('theirs', endpoint, args, { globals });
  assert.deepEqual(ours, theirs, args.join(' '));
  return ours;
}

test('https with client certificates', { skip }, () => {
  const g = [`--cacert=${path.join(dir, 'ca.crt')}`, `--cert=${path.join(dir, 'client.crt')}`, `--key=${path.join(dir, 'client.key')}`];
  both(mtls.endpoint, ['put', 'tls-key', 'secret'], g);
  const r = both(mtls.endpoint, ['get', 'tls-key'], g);
  assert.equal(r.stdout, 'tls-key\nsecret\n');
  // The bare host:port form takes TLS from the certificate flags.
  const bare = mtls.endpoint.replace('https://', '');
  assert.equal(runCli('ours', bare, ['get', 'tls-key', '--print-value-only'], { globals: g }).stdout, 'secret\n');
});

test('https with a CA only, and with --insecure-skip-tls-verify', { skip }, () => {
  both(plain.endpoint, ['put', 'k', 'v'], [`--cacert=${path.join(dir, 'ca.crt')}`]);
  const r = runCli('ours', plain.endpoint, ['get', 'k', '--print-value-only'], { globals: ['--insecure-skip-tls-verify'] });
  assert.deepEqual([r.stdout, r.code], ['v\n', 0], r.stderr);
});

test('an untrusted server certificate fails with the deadline error', { skip }, () => {
  const g = ['--dial-timeout=1s', '--command-timeout=1s'];
  const ours = runCli('ours', plain.endpoint, ['get', 'k'], { globals: g });
  assert.deepEqual([ours.stdout, ours.stderr, ours.code], ['', 'Error: context deadline exceeded\n', 1]);
});
