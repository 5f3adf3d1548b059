// Differential interop: the same etcdctl (real, Debian etcd-client 3.4) commands against real etcd
// and against our server must print the same bytes and exit with the same codes. Both servers are
// started fresh with the same flags, so even the cluster and member IDs (derived from the peer URLs
// and the cluster token) agree; only client ports and etcdctl's own log timestamps are masked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ETCDCTL_BIN, realEtcdSkip, runCtl, startServer } from '../helpers.mjs';

const skip = realEtcdSkip();

/** Each step: etcdctl arguments (endpoint added), optional stdin. */
const STEPS = [
  ['put', 'foo', 'bar'],
  ['put', 'foo', 'bar2', '--prev-kv'],
  ['put', 'foo', 'bar3', '--prev-kv', '-w', 'json'],
  ['put', 'foo2', 'hello world', '-w', 'fields'],
  ['put', 'binkey', { stdin: 'a\u0000b\nc' }],
  ['put', '/testdir/testkey', 'Hello world'],
  ['get', '/testdir/testkey'],
  ['get', 'foo'],
  ['get', 'foo', '-w', 'json'],
  ['get', 'foo', '-w', 'fields'],
  ['get', 'foo', '--prefix'],
  ['get', 'foo', '--prefix', '--keys-only'],
  ['get', 'foo', '--prefix', '--count-only', '-w', 'json'],
  ['get', 'foo', '--prefix', '--limit', '1', '-w', 'json'],
  ['get', '', '--prefix', '--order', 'DESCEND', '--sort-by', 'MODIFY'],
  ['get', '', '--prefix', '--order', 'ASCEND', '--sort-by', 'VERSION', '-w', 'json'],
  ['get', '', '--prefix', '--sort-by', 'CREATE', '--keys-only'],
  ['get', 'foo', '--from-key', '-w', 'json'],
  ['get', 'foo', '--rev', '2'],
  ['get', 'foo', '--rev', '3', '-w', 'json'],
  ['get', 'foo', '--print-value-only'],
  ['get', 'foo', 'foo3'],
  ['get', 'binkey', '-w', 'fields'],
  ['get', 'binkey', '--hex'],
  ['get', 'missing'],
  ['get', 'missing', '-w', 'json'],
  ['get', 'foo', '--consistency', 's'],
  ['del', 'missing'],
  ['del', 'missing', '-w', 'json'],
  ['del', 'foo2', '--prev-kv'],
  ['put', 'p/1', 'a'],
  ['put', 'p/2', 'b'],
  ['del', 'p/', '--prefix', '--prev-kv', '-w', 'json'],
  ['txn', '-w', 'json', { stdin: 'mod("foo") > "0"\n\nput foo txnval\nget foo\n\nput foo other\n\n' }],
  ['txn', { stdin: 'value("foo") = "nope"\n\nput foo x\n\nget foo\ndel foo2\n\n' }],
  ['txn', { stdin: 'version("foo") = "5"\ncreate("foo") = "2"\n\nput t1 1\nput t2 2\n\n\n' }],
  ['txn', '-w', 'fields', { stdin: 'mod("foo") > "0"\n\nget foo --prefix\n\n\n' }],
  ['txn', { stdin: 'garbage\n\n\n\n' }],
  ['member', 'list'],
  ['member', 'list', '-w', 'json'],
  ['member', 'list', '-w', 'fields'],
  ['member', 'list', '-w', 'table'],
  ['put', 'c', '1'],
  ['put', 'c', '2'],
  ['compaction', '5'],
  ['get', 'foo', '--rev', '3'],
  ['get', 'c', '--rev', '5', '-w', 'json'],
  ['compaction', '4'],
  ['compaction', '1000'],
  ['get', 'foo', '--rev', '1000'],
  ['put', 'big', { bigValue: 1600 * 1024 }],
  ['get', 'big', '--count-only', '-w', 'json'],
  ['put', '', 'v'],
  ['get', '', '-w', 'json'],
  ['get', '', '--prefix', '--keys-only', '-w', 'json'],
];

function mask(s) {
  return (s ?? '<no output>')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .split('\n')
    .filter((l) => !l.startsWith('{"level":"warn"'))
    .join('\n');
}

function runSteps(endpoint) {
  return STEPS.map((step) => {
    const opts = typeof step.at(-1) === 'object' ? step.at(-1) : {};
    let args = step.filter((a) => typeof a === 'string');
    let input = opts.stdin;
    if (opts.bigValue) input = 'x'.repeat(opts.bigValue);
    const r = runCtl('etcdctl', ['--endpoints', endpoint, ...args], { input });
    return { args: args.join(' ').slice(0, 80), code: r.code, stdout: mask(r.stdout), stderr: mask(r.stderr) };
  });
}

/** Runs `etcdctl watch ...`, does the writes, and returns what the watcher printed. */
async function watchOutput(endpoint, watchArgs, writes) {
  const p = spawn(ETCDCTL_BIN, ['--endpoints', endpoint, 'watch', ...watchArgs], { env: { ...process.env, ETCDCTL_API: '3' } });
  const exited = new Promise((r) => p.once('exit', (code) => r(code)));
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  await new Promise((r) => setTimeout(r, 600));
  for (const w of writes) runCtl('etcdctl', ['--endpoints', endpoint, ...w]);
  await new Promise((r) => setTimeout(r, 600));
  if (p.exitCode === null) p.kill('SIGTERM');
  const code = await exited;
  return { stdout: mask(out), stderr: mask(err), code: code ?? 'signal' };
}

async function session(kind) {
  const s = await startServer(kind);
  try {
    const steps = runSteps(s.endpoint);
    const watches = {
      live: await watchOutput(s.endpoint, ['w', '--prefix', '--prev-kv'], [['put', 'w1', 'a'], ['put', 'w1', 'b'], ['del', 'w1']]),
      liveJson: await watchOutput(s.endpoint, ['w', '--prefix', '-w', 'json'], [['put', 'w2', 'x'], ['del', 'w2']]),
      history: await watchOutput(s.endpoint, ['foo', '--rev', '6', '--prefix', '-w', 'fields'], []),
      compacted: await watchOutput(s.endpoint, ['foo', '--rev', '2'], []),
      rangeEnd: await watchOutput(s.endpoint, ['a', 'd', '--rev', '1'], [['put', 'b', '1'], ['put', 'e', '1']]),
    };
    return { steps, watches };
  } finally {
    await s.stop();
  }
}

test('real etcdctl prints the same against real etcd and against etcd-ts', { skip, timeout: 180_000 }, async () => {
  const want = await session('etcd');
  const got = await session('ours');
  for (let i = 0; i < STEPS.length; i++) {
    assert.deepEqual(got.steps[i], want.steps[i], `step ${i}: etcdctl ${want.steps[i].args}`);
  }
  for (const k of Object.keys(want.watches)) {
    assert.deepEqual(got.watches[k], want.watches[k], `watch ${k}`);
  }
});
