// Auth: --user name:password and --user name --password p authenticate and send the token; a wrong
// password gives etcd's message and exit code 2, as etcdctl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { skipWithoutEtcd, startEtcd, freePort, runCli, ROOT } from './harness.mjs';

const skip = skipWithoutEtcd();
let E;

before(async () => {
  if (skip) return;
  // Tokens live one second, so a long-lived client must authenticate again.
  E = await startEtcd({ clientPort: await freePort(23780, 23784), peerPort: await freePort(23785, 23789), extra: ['--auth-token-ttl=1'] });
  for (const args of [['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['auth', 'enable']]) {
    const r = runCli('theirs', E.endpoint, args);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  await E?.stop();
});

function both(args, globals) {
  const ours = runCli('ours', E.endpoint, args, { globals });
  const theirs = runCli('theirs', E.endpoint, args, { globals });
  assert.deepEqual(ours, theirs, [...globals, ...args].join(' '));
  return ours;
}

test('authenticated put and get', { skip }, () => {
  both(['put', 'ak', 'av'], ['--user=root:rootpw']);
  assert.equal(both(['get', 'ak'], ['--user=root', '--password=rootpw']).stdout, 'ak\nav\n');
});

test('no credentials and wrong credentials', { skip }, () => {
  both(['get', 'ak'], []);
  const r = both(['get', 'ak'], ['--user=root:wrong']);
  assert.equal(r.code, 2);
});

test('--user without a password asks for it', { skip }, () => {
  const ours = runCli('ours', E.endpoint, ['get', 'ak', '--user=root'], { input: 'rootpw\n' });
  const theirs = runCli('theirs', E.endpoint, ['get', 'ak', '--user=root'], { input: 'rootpw\n' });
  // etcdctl also prints stty's complaints about a non-terminal stdin on stderr; ours does not.
  assert.deepEqual([ours.stdout, ours.code], [theirs.stdout, theirs.code]);
  assert.equal(ours.stderr, '');
});

test('the library client authenticates again when its token expires', { skip }, async () => {
  const lib = await import(path.join(ROOT, 'dist', 'client', 'index.js'));
  const c = new lib.EtcdClient({ endpoints: [E.endpoint], auth: { username: 'root', password: 'rootpw' } });
  try {
    await c.put({ key: Buffer.from('tok'), value: Buffer.from('1') });
    await new Promise((r) => setTimeout(r, 2500));
    const r = await c.range({ key: Buffer.from('tok') });
    assert.equal(r.kvs[0].value.toString(), '1');
  } finally {
    c.close();
  }
});
