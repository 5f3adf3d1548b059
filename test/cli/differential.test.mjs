// Differential tests: the same script of commands through real etcdctl (against etcd B) and
// through ours (against etcd A, an identical twin: same IDs, same advertised URLs, same history);
// stdout, stderr and exit code must match byte for byte in simple, fields and json modes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutEtcd, startEtcd, freePort, runCli, spawnCli, killSpawned } from './harness.mjs';

const skip = skipWithoutEtcd();
let A; // driven by our CLI
let B; // driven by real etcdctl

before(async () => {
  if (skip) return;
  const twin = { advertisePeer: 'http://127.0.0.1:23899', advertiseClient: 'http://127.0.0.1:23898' };
  const [ca, pa, cb, pb] = [await freePort(23710, 23719), await freePort(23720, 23729), await freePort(23730, 23739), await freePort(23740, 23749)];
  [A, B] = await Promise.all([startEtcd({ clientPort: ca, peerPort: pa, ...twin }), startEtcd({ clientPort: cb, peerPort: pb, ...twin })]);
});

after(async () => {
  killSpawned();
  await A?.stop();
  await B?.stop();
});

/** Runs one step on both sides and compares; returns our result. */
function same(args, opts = {}) {
  const ours = runCli('ours', A.endpoint, args, opts);
  const theirs = runCli('theirs', B.endpoint, args, opts);
  assert.deepEqual(ours, theirs, `etcdctl ${args.join(' ')}${opts.input ? ` <<< ${JSON.stringify(String(opts.input))}` : ''}`);
  return ours;
}

const MODES = [[], ['-w', 'fields'], ['-w', 'json'], ['-w', 'protobuf']];

test('put, get, del in every output mode', { skip }, () => {
  same(['version']);
  for (const m of MODES) same(['put', 'foo', 'bar', ...m]);
  for (const m of MODES) same(['put', 'foo', `bar-${m.length}`, '--prev-kv', ...m]);
  same(['put', 'stdin-key'], { input: 'value from stdin\n' });
  same(['put', 'foo2', 'hello world']);
  same(['put', '/testdir/testkey', 'Hello world']);
  same(['put', 'bin'], { input: Buffer.from('a\x00b\nc\xff\u00e9') });
  same(['put', 'ключ', 'значение "quoted" \\ tab\t<&>']);
  for (const m of MODES) {
    same(['get', 'foo', ...m]);
    same(['get', 'bin', ...m]);
    same(['get', 'ключ', ...m]);
    same(['get', 'missing', ...m]);
    same(['get', 'foo', '--prefix', ...m]);
    same(['get', '', '--prefix', '--keys-only', ...m]);
    same(['get', 'foo', '--hex', ...m]);
  }
  same(['get', 'foo', '--print-value-only']);
  same(['get', 'a', 'g']);
  same(['get', 'foo', '--from-key']);
  same(['get', '', '--from-key', '--limit', '2', '-w', 'json']);
  same(['get', '', '--prefix', '--limit=1', '-w', 'fields']);
  same(['get', 'foo', '--limit', '-1']);
  for (const by of ['', 'KEY', 'CREATE', 'MODIFY', 'VALUE', 'VERSION']) {
    for (const order of ['', 'ASCEND', 'DESCEND']) {
      same(['get', '', '--prefix', '--keys-only', `--sort-by=${by}`, `--order=${order}`]);
    }
  }
  same(['get', 'foo', '--rev', '2', '-w', 'json']);
  same(['get', 'foo', '--consistency', 's', '-w', 'json']);
  same(['get', 'foo', '--keys-only', '-w', 'fields']);
  for (const m of MODES) same(['del', 'missing', ...m]);
  same(['del', 'foo2', '--prev-kv']);
  same(['put', 'foo2', 'again']);
  same(['del', 'foo2', '-w', 'json', '--prev-kv']);
  same(['put', 'foo2', 'again']);
  same(['del', 'foo', '--prefix', '-w', 'fields', '--prev-kv']);
  same(['put', 'zz1', '1']);
  same(['put', 'zz2', '2']);
  same(['del', 'zz', '--from-key', '-w', 'json']);
  same(['put', 'k1', '1']);
  same(['put', 'k2', '2']);
  same(['del', 'k1', 'k3', '-w', 'json']);
  same(['get', '', '--prefix', '-w', 'json']);
});

test('txn from stdin', { skip }, () => {
  same(['put', 'tk', 'v1']);
  const ok = 'mod("tk") > "0"\nval("tk") = "v1"\n\nput tk v2\nget tk\ndel nothing\n\nput tk never\n\n';
  for (const m of MODES) same(['txn', ...m], { input: ok });
  const fail = 'ver("tk") = "1"\n\nput tk no\n\nget tk --prefix\nput "quoted key" "a value"\n\n';
  for (const m of MODES) same(['txn', ...m], { input: fail });
  same(['txn', '-i'], { input: 'c("tk") != "0"\n\nput tk3 x\n\n\n' });
  same(['txn'], { input: '\n\n\n' });
  // Malformed input: etcdctl's messages and exit code 3.
  same(['txn'], { input: 'garbage\n\n\n\n' });
  same(['txn'], { input: 'mod("tk") > "x"\n\n\n\n' });
  same(['txn'], { input: 'foo("tk") > "1"\n\n\n\n' });
  same(['txn'], { input: 'mod("tk") > "1"\n' });
  same(['txn'], { input: '\nbogus tk\n\n\n' });
  same(['txn', 'extra']);
});

test('compaction', { skip }, () => {
  same(['put', 'ck', '1']);
  same(['put', 'ck', '2']);
  same(['put', 'ck', '3']);
  same(['compaction', '3']);
  same(['get', 'ck', '--rev', '2']);
  same(['compaction', '3']);
  same(['compaction', '--physical', '4']);
  same(['compaction', '99999']);
  same(['compaction']);
  same(['compaction', 'abc']);
});

test('member list', { skip }, () => {
  for (const m of [...MODES, ['-w', 'table']]) same(['member', 'list', ...m]);
});

test('endpoint status and health', { skip }, () => {
  // The twins differ only in the port they listen on, which these commands print.
  const hostA = A.endpoint.replace('http://', '');
  const hostB = B.endpoint.replace('http://', '');
  const mask = (r) => ({ ...r, stdout: r.stdout.replaceAll(hostA, hostB), stderr: r.stderr.replaceAll(hostA, hostB).replace(/took = [^\n]+/g, 'took = T') });
  for (const m of [...MODES, ['-w', 'table']]) {
    const ours = mask(runCli('ours', A.endpoint, ['endpoint', 'status', ...m]));
    const theirs = runCli('theirs', B.endpoint, ['endpoint', 'status', ...m]);
    // The database file sizes of the two servers may differ by a page; compare the rest.
    const noSize = (r) => ({ ...r, stdout: r.stdout.replace(/\d+ kB/g, 'N kB').replace(/"(dbSize|dbSizeInUse)":\d+/g, '"$1":N').replace(/"DBSize" : \d+/g, '"DBSize" : N') });
    assert.deepEqual(noSize(ours), noSize(theirs), `endpoint status ${m.join(' ')}`);
  }
  const ours = mask(runCli('ours', A.endpoint, ['endpoint', 'health']));
  const theirs = mask(runCli('theirs', B.endpoint, ['endpoint', 'health']));
  assert.deepEqual(ours, theirs);
  const dead = ['--dial-timeout=1s', '--command-timeout=1s'];
  const o = runCli('ours', 'http://127.0.0.1:23999', ['endpoint', 'health'], { globals: dead });
  const t = runCli('theirs', 'http://127.0.0.1:23999', ['endpoint', 'health'], { globals: dead });
  assert.deepEqual(o, t);
});

test('watch -i reads watch and progress requests from stdin', { skip }, async () => {
  const wa = spawnCli('ours', A.endpoint, ['watch', '-i']);
  const wb = spawnCli('theirs', B.endpoint, ['watch', '-i']);
  const next = currentRev() + 1;
  let ra, rb;
  try {
    for (const w of [wa, wb]) w.proc.stdin.write(`watch iw1 --rev ${next}\nbogus\nwatch --prefix iw --rev ${next} -- sh -c "echo exec $ETCD_WATCH_KEY"\n`);
    await new Promise((r) => setTimeout(r, 300));
    same(['put', 'iw1', 'x']);
    const done = (o) => o.includes('exec "iw1"');
    await wa.waitFor(done);
    await wb.waitFor(done);
  } finally {
    [ra, rb] = [await wa.stop(), await wb.stop()];
  }
  // Two watches print the same event; their order between the two is not fixed.
  const sorted = (s) => s.split('\n').sort().join('\n');
  assert.deepEqual([sorted(ra.stdout), ra.stderr], [sorted(rb.stdout), rb.stderr]);
});

test('bad input: etcdctl messages and exit codes', { skip }, () => {
  same(['get']);
  same(['put']);
  same(['del']);
  same(['del', 'a', 'b', 'c']);
  same(['get', 'foo', '-w', 'yaml']);
  same(['get', 'foo', '--order', 'foo']);
  same(['get', 'foo', '--sort-by', 'bar']);
  same(['get', 'foo', '--consistency', 'x']);
  same(['get', 'foo', '--prefix', '--from-key']);
  same(['get', 'foo', 'bar', '--prefix']);
  same(['get', 'foo', '--print-value-only', '-w', 'json']);
  same(['put', 'foo', 'bar', '-w', 'table']);
  // Ours has a table for get, where etcdctl 3.4 has none (etcd-io/etcd#9522).
  const table = runCli('ours', A.endpoint, ['get', 'tk', '-w', 'table']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^\+-+\+-+\+/);
  assert.match(table.stdout, /\| KEY \| VALUE \|/);
  same(['put', 'foo', 'bar', '--lease', 'xyz']);
  same(['put', 'foo', 'bar', '--lease', '1234']);
  same(['put', 'foo', '--ignore-value', 'bar']);
  same(['put', 'nokey', '--ignore-value']);
  same(['put', '', 'x']);
  same(['watch']);
  same(['watch', 'a', 'b', '--prefix']);
  // Flag errors: etcdctl's usage text on stdout, the error twice on stderr.
  for (const args of [['get', 'foo', '--rev', 'abc'], ['get', 'foo', '--badflag'], ['nosuchcmd'], ['lease', 'grant', '--help'], ['compaction', '-1']]) same(args);
});

test('a value over the server limit', { skip }, () => {
  same(['put', 'big'], { input: Buffer.alloc(1600 * 1024, 'x') });
  same(['put', 'big'], { input: Buffer.alloc(1400 * 1024, 'x') });
  // Over the client's own 2 MiB send limit: grpc-go's message, which etcdctl prints as is.
  same(['put', 'big'], { input: Buffer.alloc(2200 * 1000, 'x') });
  same(['get', 'big', '--keys-only']);
  same(['del', 'big']);
});

test('a dead endpoint fails with the deadline error, quickly', { skip }, () => {
  const globals = ['--dial-timeout=1s', '--command-timeout=1s'];
  const t0 = Date.now();
  const ours = runCli('ours', 'http://127.0.0.1:23999', ['get', 'foo'], { globals });
  const took = Date.now() - t0;
  const theirs = runCli('theirs', 'http://127.0.0.1:23999', ['get', 'foo'], { globals });
  assert.deepEqual(ours, theirs);
  assert.ok(took < 4000, `took ${took} ms`);
  // The second endpoint answers when the first is down.
  const two = `http://127.0.0.1:23999,${A.endpoint}`;
  const r = runCli('ours', two, ['get', 'foo', '-w', 'json'], {});
  assert.equal(r.code, 0, r.stderr);
});

test('ETCDCTL_* environment variables, and a flag beats its variable', { skip }, () => {
  same(['get', '', '--prefix', '--keys-only'], { env: { ETCDCTL_WRITE_OUT: 'json' } });
  // --debug lists every global flag as ETCDCTL_* (etcdctl adds grpc-go's own log lines).
  const dbgOurs = runCli('ours', A.endpoint, ['get', 'envk', '--debug', '--dial-timeout=3s'], { env: { ETCDCTL_HEX: 'true' } });
  const dbgTheirs = runCli('theirs', A.endpoint, ['get', 'envk', '--debug', '--dial-timeout=3s'], { env: { ETCDCTL_HEX: 'true' } });
  const grpcLog = /^(INFO|WARNING): .*\n/gm;
  assert.deepEqual(dbgOurs, { ...dbgTheirs, stderr: dbgTheirs.stderr.replace(grpcLog, '') });
  same(['put', 'envk', 'v']);
  // A variable whose flag is given is fatal in etcdctl 3.4 (a capnslog line, exit 1); an unknown one
  // gets a warning. Variables apply where the client is set up: not for `version`, nor before an
  // argument error.
  const noTime = (r) => ({ ...r, stderr: r.stderr.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} /gm, '') });
  for (const [env, args] of [
    [{ ETCDCTL_WRITE_OUT: 'json' }, ['get', 'envk', '-w', 'simple']],
    [{ ETCDCTL_BOGUS: '1' }, ['get', 'envk']],
    [{ ETCDCTL_BOGUS: '1' }, ['version']],
    [{ ETCDCTL_DIAL_TIMEOUT: 'x' }, ['put', 'k']],
    [{ ETCDCTL_WATCH_KEY: 'a' }, ['get', 'envk']],
  ]) {
    assert.deepEqual(noTime(runCli('ours', A.endpoint, args, { env })), noTime(runCli('theirs', B.endpoint, args, { env })), `${JSON.stringify(env)} ${args.join(' ')}`);
  }
});

/** The twins' current revision (the same on both). */
function currentRev() {
  return Number(JSON.parse(runCli('ours', A.endpoint, ['get', 'x', '-w', 'json']).stdout).header.revision);
}

/**
 * Runs the same watch on both twins, applies `writes` to both, and compares what the watchers
 * printed. Unless `live` is set, the watch starts at the next revision (--rev), so a watcher that is
 * slow to start on a loaded machine still sees every write; `live` watches wait a while instead.
 */
async function watchBoth(args, writes, { expectExit = false, until, live = false } = {}) {
  const sep = args.indexOf('--');
  const from = !expectExit && !live && !args.includes('--rev') ? [`--rev=${currentRev() + 1}`] : [];
  const full = sep < 0 ? [...args, ...from] : [...args.slice(0, sep), ...from, ...args.slice(sep)];
  // Without --live the writes go first and both watchers replay them from --rev: etcd then sends
  // them in one response per catch-up, on both sides alike. (Writing while the two CLIs start
  // raced: a watcher created between two writes sees them in separate responses.)
  if (!live) for (const w of writes) same(w);
  const wa = spawnCli('ours', A.endpoint, full);
  const wb = spawnCli('theirs', B.endpoint, full);
  try {
    if (live) {
      await new Promise((r) => setTimeout(r, 2000));
      for (const w of writes) same(w);
    }
    if (until) {
      await wa.waitFor(until);
      await wb.waitFor(until);
    }
  } finally {
    if (!expectExit) await Promise.all([wa.stop(), wb.stop()]);
  }
  const [ra, rb] = expectExit ? [await wa.exit(), await wb.exit()] : [await wa.stop(), await wb.stop()];
  assert.deepEqual({ stdout: ra.stdout, stderr: ra.stderr, code: expectExit ? ra.code : 0 }, { stdout: rb.stdout, stderr: rb.stderr, code: expectExit ? rb.code : 0 }, `watch ${args.join(' ')}`);
  return ra;
}

test('watch: live, --prev-kv, --prefix, --rev, every mode', { skip }, async () => {
  const writes = [['put', 'w1', 'a'], ['put', 'w1', 'b'], ['del', 'w1'], ['put', 'w2', 'c']];
  const n = (k) => (out) => out.split(k).length > 1;
  await watchBoth(['watch', 'w1', '--prev-kv'], writes, { until: (o) => o.includes('DELETE'), live: true });
  await watchBoth(['watch', 'w1', '--prev-kv'], writes, { until: (o) => o.includes('DELETE') });
  // the last write's key, w2, base64 in JSON
  await watchBoth(['watch', 'w', '--prefix', '-w', 'json'], writes, { until: (o) => o.includes('"dzI="') });
  // (fields prints an event a line at a time: wait for its last line, not its first)
  await watchBoth(['watch', 'w1', '-w', 'fields'], writes, { until: (o) => /DELETE[^]*"Lease" : \d+\n/.test(o) });
  const r = runCli('ours', A.endpoint, ['get', 'w2', '-w', 'json']);
  const rev = Number(JSON.parse(r.stdout).header.revision);
  // The history holds the last event twice (w2 was put twice): wait for the second.
  await watchBoth(['watch', 'w', '--prefix', '--rev', String(rev - 6)], [], { until: (o) => o.split('PUT\nw2\nc\n').length > 2 });
});

test('watch -- command runs with ETCD_WATCH_* variables', { skip }, async () => {
  const cmd = ['sh', '-c', 'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"'];
  await watchBoth(['watch', 'x1', '--', ...cmd], [['put', 'x1', 'v "1"'], ['del', 'x1']], { until: (o) => o.includes('"DELETE" "x1"') && o.endsWith('\n') });
});

test('watch from a compacted revision is canceled: exit 5', { skip }, async () => {
  same(['put', 'cw', '1']);
  same(['put', 'cw', '2']);
  const r = runCli('ours', A.endpoint, ['get', 'cw', '-w', 'json']);
  const rev = JSON.parse(r.stdout).header.revision;
  same(['compaction', String(rev)]);
  for (const m of MODES) await watchBoth(['watch', 'cw', '--rev', '2', ...m], [], { expectExit: true });
});

test('our extensions: get --count-only and the revision filters', { skip }, () => {
  for (const k of ['ext/a', 'ext/b', 'ext/c']) same(['put', k, 'v']);
  const count = runCli('ours', A.endpoint, ['get', 'ext/', '--prefix', '--count-only']);
  assert.deepEqual([count.stdout, count.code], ['3\n', 0], count.stderr);
  const json = JSON.parse(runCli('ours', A.endpoint, ['get', 'ext/', '--prefix', '--count-only', '-w', 'json']).stdout);
  assert.equal(json.count, 3);
  assert.equal(json.kvs, undefined);
  const revB = Number(JSON.parse(runCli('ours', A.endpoint, ['get', 'ext/b', '-w', 'json']).stdout).kvs[0].mod_revision);
  const newer = runCli('ours', A.endpoint, ['get', 'ext/', '--prefix', '--keys-only', `--min-mod-revision=${revB}`]);
  assert.equal(newer.stdout, 'ext/b\n\next/c\n\n');
  const older = runCli('ours', A.endpoint, ['get', 'ext/', '--prefix', '--keys-only', `--max-create-revision=${revB}`]);
  assert.equal(older.stdout, 'ext/a\n\next/b\n\n');
});
