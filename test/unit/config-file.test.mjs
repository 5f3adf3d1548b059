// etcd's --config-file YAML as read by src/server/config_file.ts: the parts of YAML etcd's sample
// configuration uses, values as the flags take them, unknown keys skipped, clear errors otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from '../../dist/server/config_file.js';
import { parseServerFlags } from '../../dist/server/flags.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers.mjs';

test('scalars, quotes, comments, lists, the TLS maps, unknown keys and empty values', () => {
  const text = [
    '# This is the configuration file for the etcd server.',
    '---',
    "name: 'node1'",
    'data-dir: /var/lib/etcd   # a comment',
    'wal-dir:',
    'snapshot-count: 10000',
    'listen-client-urls: "http://127.0.0.1:2379,http://10.0.0.1:2379"',
    "initial-cluster: 'node1=http://10.0.0.1:2380,it''s=http://10.0.0.2:2380'",
    'log-outputs: [stderr, "stdout"]',
    'cors:',
    '  - https://a.example',
    '  - https://b.example',
    'enable-v2: true',
    'self-signed-cert-validity: 1',
    'some-map-etcd-has-not:',
    '  deep: 1',
    'client-transport-security:',
    '  cert-file: /etc/etcd/server.crt',
    '  key-file: /etc/etcd/server.key',
    '  client-cert-auth: true',
    '  allowed-cn: ignored',
    'peer-transport-security:',
    '  trusted-ca-file: /etc/etcd/ca.crt',
    'auto-compaction-retention: "1"',
  ].join('\n');
  assert.deepEqual(Object.fromEntries(parseConfigFile('etcd.yml', text)), {
    name: 'node1',
    'data-dir': '/var/lib/etcd',
    'snapshot-count': '10000',
    'listen-client-urls': 'http://127.0.0.1:2379,http://10.0.0.1:2379',
    'initial-cluster': "node1=http://10.0.0.1:2380,it's=http://10.0.0.2:2380",
    'log-outputs': 'stderr,stdout',
    cors: 'https://a.example,https://b.example',
    'enable-v2': 'true',
    'self-signed-cert-validity': '1',
    'cert-file': '/etc/etcd/server.crt',
    'key-file': '/etc/etcd/server.key',
    'client-cert-auth': 'true',
    'peer-trusted-ca-file': '/etc/etcd/ca.crt',
    'auto-compaction-retention': '1',
  });
});

test('what is not YAML of that shape is refused with the file and line', () => {
  assert.throws(() => parseConfigFile('c.yml', 'name node1'), /^ConfigFileError: c\.yml:1: expected "key: value", found name node1$/);
  assert.throws(() => parseConfigFile('c.yml', "name: 'node1"), /c\.yml:1: unterminated quoted value 'node1/);
  assert.throws(() => parseConfigFile('c.yml', 'name: a\n  data-dir: b'), /c\.yml:2: unexpected indentation before data-dir/);
  assert.throws(() => parseConfigFile('c.yml', 'log-outputs: [a, b'), /c\.yml:1: unterminated list/);
  assert.throws(() => parseConfigFile('c.yml', '- a'), /c\.yml:1: a list item with no key/);
});

test('a config file replaces the command line and the ETCD_* variables, as in etcd', () => {
  const dir = tmpDir('etcd-ts-cf-');
  const file = path.join(dir, 'etcd.yml');
  fs.writeFileSync(file, 'name: fromfile\nmax-txn-ops: 7\nlisten-client-urls: http://127.0.0.1:24999\n');
  try {
    for (const [argv, env] of [[['--config-file', file, '--name', 'flag', '--max-txn-ops', '3'], { ETCD_NAME: 'env' }], [['--name', 'flag'], { ETCD_CONFIG_FILE: file }]]) {
      const p = parseServerFlags(argv, env);
      assert.equal(p.config.name, 'fromfile');
      assert.equal(p.config.maxTxnOps, 7);
      assert.equal(p.config.dataDir, 'fromfile.etcd');
      assert.deepEqual(p.config.listenClientUrls, ['http://127.0.0.1:24999']);
      // no advertise URLs in a file: etcd keeps the default ones
      assert.deepEqual(p.config.advertiseClientUrls, ['http://127.0.0.1:2379']);
      assert.match(p.warnings.join('\n'), /other command line flags and environment variables are ignored/);
    }
    fs.writeFileSync(file, 'client-cert-auth: yes\nenable-v2: off\nproxy: off\n');
    const yaml11 = parseServerFlags(['--config-file', file], {});
    assert.equal(yaml11.config.clientTLS?.clientCertAuth, true, 'YAML 1.1: yes is true for a bool');
    fs.writeFileSync(file, 'max-txn-ops: lots\n');
    assert.throws(() => parseServerFlags(['--config-file', file], {}), (e) => e.name === 'FlagVerifyError' && e.message === `invalid value "lots" for max-txn-ops in ${file}: parse error`);
    assert.throws(() => parseServerFlags(['--config-file', path.join(dir, 'none.yml')], {}), (e) => e.name === 'FlagVerifyError' && e.message === `open ${path.join(dir, 'none.yml')}: no such file or directory`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the rest of etcd 3.4\'s flags are taken (without effect), and still only with values etcd would parse', () => {
  const p = parseServerFlags(['--pre-vote', '--backend-batch-interval', '10ms', '--backend-batch-limit', '-1', '--max-concurrent-streams', '100', '--experimental-initial-corrupt-check=true', '--unsafe-no-fsync'], {});
  assert.equal(p.config.name, 'default');
  assert.throws(() => parseServerFlags(['--backend-batch-interval', 'soon'], {}), /invalid value "soon" for flag -backend-batch-interval: parse error/);
  assert.throws(() => parseServerFlags(['--backend-batch-limit', 'x'], {}), /invalid value "x" for flag -backend-batch-limit: parse error/);
  assert.throws(() => parseServerFlags(['--pre-vote=maybe'], {}), /invalid boolean value "maybe" for -pre-vote: parse error/);
  assert.equal(parseServerFlags(['--proxy', 'off'], {}).config.name, 'default');
  // Go's integers (base prefixes, leading-0 octal, underscores) and durations (sequences, fractions, sign)
  assert.equal(parseServerFlags(['--max-txn-ops', '0x10'], {}).config.maxTxnOps, 16);
  assert.equal(parseServerFlags(['--max-txn-ops', '017'], {}).config.maxTxnOps, 15);
  assert.equal(parseServerFlags(['--max-txn-ops', '1_000'], {}).config.maxTxnOps, 1000);
  assert.equal(parseServerFlags(['--quota-backend-bytes', '0x40000000'], {}).config.quotaBackendBytes, 2 ** 30);
  for (const bad of ['08', '_1', '1__0', '-1', '0x']) assert.throws(() => parseServerFlags(['--max-txn-ops', bad], {}), /parse error/, bad);
  assert.equal(parseServerFlags(['--experimental-watch-progress-notify-interval', '1m30s'], {}).config.watchProgressNotifyIntervalMs, 90_000);
  assert.equal(parseServerFlags(['--experimental-watch-progress-notify-interval', '.5s'], {}).config.watchProgressNotifyIntervalMs, 500);
  for (const ok of ['0', '-1s', '1h2m3.5s']) parseServerFlags(['--backend-batch-interval', ok], {});
  for (const bad of ['5', '1h2', 's', '']) assert.throws(() => parseServerFlags([`--backend-batch-interval=${bad}`], {}), /parse error/, bad);
  assert.throws(() => parseServerFlags(['--proxy', 'on'], {}), (e) => e.name === 'FlagVerifyError' && /etcd-ts does not run as a v2 proxy/.test(e.message));
});
