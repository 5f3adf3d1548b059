// A watch survives a server restart: our `etcdctl watch` reconnects and resumes from the revision
// after the last event it printed, so no event is lost or repeated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutEtcd, startEtcd, freePort, runCli, spawnCli, killSpawned } from './harness.mjs';

const skip = skipWithoutEtcd();
let E;

before(async () => {
  if (skip) return;
  E = await startEtcd({ clientPort: await freePort(23790 + 10, 23809), peerPort: await freePort(23810, 23819) });
});

after(async () => {
  killSpawned();
  await E?.stop();
});

test('watch resumes after the server restarts', { skip }, async () => {
  const w = spawnCli('ours', E.endpoint, ['watch', 'r', '--prefix']);
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(runCli('ours', E.endpoint, ['put', 'r1', 'before']).code, 0);
  await w.waitFor((o) => o.includes('before'));
  // Down for a while; a write lands right after the restart, before the watch has reconnected.
  await E.restart(1500);
  assert.equal(runCli('ours', E.endpoint, ['put', 'r2', 'during']).code, 0);
  assert.equal(runCli('ours', E.endpoint, ['put', 'r3', 'after']).code, 0);
  await w.waitFor((o) => o.includes('after'), 15000);
  const r = await w.stop();
  assert.equal(r.stdout, 'PUT\nr1\nbefore\nPUT\nr2\nduring\nPUT\nr3\nafter\n');
});
