// Randomized differential test of the CLI: a seeded PRNG writes a few hundred etcdctl command lines
// (valid and invalid: put/get/del/txn/compaction/watch/lease/member/endpoint with random flags,
// output modes, global flags, a dead endpoint, odd keys and values), and each one runs through our
// CLI and through real etcdctl 3.4. stdout, stderr and the exit code must match byte for byte.
//
// Design: two twin real etcd servers, A and B, started with the same name, cluster token and
// advertised URLs, so they have the same cluster and member IDs. Every step runs our CLI against A
// and real etcdctl against B, at the same time. As long as the two CLIs send the same requests, the
// twins go through the same history: revisions, versions, compactions, hashes and raft indexes line
// up exactly, and a difference in what a CLI sent shows in its own output or in a later step's. (One
// shared server cannot give that: a mutating command run by both CLIs would write twice, and the
// second run would see other revisions.) The run stops at the first mismatch, since the twins may
// have diverged from there on.
//
// Normalized, because it cannot match between two servers or two runs, and nothing else:
// - lease IDs: etcd makes them from its start time, so the twins' differ. Each new lease on B is
//   paired with the one made at the same step on A (in ID order), commands name "the k-th lease"
//   with each side's own ID, and B's ID is rewritten to A's in etcdctl's output (decimal, %x, %016x
//   and protobuf varint forms).
// - the endpoint each CLI dialed (A's or B's port), where endpoint status/health print it.
// - endpoint health's "took" times, endpoint status's database size (bbolt's file grows with the
//   timing of its commits) and raft term (an election on a loaded machine bumps one twin's only).
// - lease timetolive's remaining TTL when within a second: the two sides ask at slightly different
//   times; and the order of its attached keys (etcd lists them from a Go map).
// - etcdctl's zap JSON log lines on stderr (timestamps; ours does not log them), and the timestamp
//   of capnslog lines (ETCDCTL_* variable warnings), which both print.
// - endpoint hashkv's hash: the hashed values are the keys' protobuf records, which hold lease IDs.
// - the goroutine dump after a Go panic, and the pc of a runtime fault (addresses; ours prints the
//   panic line and exit code only).
//
// Left out on purpose: our extensions that etcdctl 3.4 refuses (get -w table, get --count-only and
// the revision filters); the usage texts of the top level and of `member`, which list etcdctl's
// commands that ours does not have (auth, user, role, member add, ...); -d/--discovery-srv (DNS
// lookups, which depend on the machine's resolver); --debug (grpc-go's own log lines); TLS
// (--insecure-transport=false against this plain server waits out the command timeout); valid TTLs
// under an hour (an expiring lease would delete keys at a time that differs between the twins); and
// watches that never end: a watch runs until both sides have printed the same amount and then been
// quiet, and is then stopped.
//
// CLI_FUZZ_SEED=<n> runs that one seed, CLI_FUZZ_STEPS=<n> sets the steps per seed (default: seeds 1
// and 2, 100 steps each), CLI_FUZZ_ALL=1 lists every mismatch. Ports: 28400-28599.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, realEtcdSkip, spawnCtl, runCtlAsync, kvClient, leaseClient, call, mulberry32 } from '../helpers.mjs';
import { freePort } from './harness.mjs';

const skip = realEtcdSkip();
const SEEDS = process.env.CLI_FUZZ_SEED ? [Number(process.env.CLI_FUZZ_SEED)] : [1, 2];
const STEPS = Number(process.env.CLI_FUZZ_STEPS ?? 100);
// CLI_FUZZ_ALL=1: report every mismatch at the end instead of stopping at the first (for triage:
// after a mismatch the twins may have diverged, so later ones can be consequences).
const KEEP_GOING = process.env.CLI_FUZZ_ALL === '1';

// Never listened on: the twins' advertised URLs (so their IDs agree) and the dead endpoint.
const DEAD = '127.0.0.1:28597';
const CLIENT_ADV = 'http://127.0.0.1:28598';
const PEER_ADV = 'http://127.0.0.1:28599';
let portCursor = 28400 + (process.pid % 12) * 15; // parallel runs (other seeds) start apart
async function nextPort() {
  const p = await freePort(portCursor, 28589);
  portCursor = p + 1 > 28589 ? 28400 : p + 1;
  return p;
}

async function startTwins() {
  const extraArgs = ['--initial-advertise-peer-urls', PEER_ADV, '--initial-cluster', `rdiff=${PEER_ADV}`, '--initial-cluster-token', 'etcd-ts-random-diff', '--advertise-client-urls', CLIENT_ADV];
  const opts = [];
  for (let i = 0; i < 2; i++) opts.push({ port: await nextPort(), peerPort: await nextPort(), name: 'rdiff', extraArgs });
  return Promise.all(opts.map((o) => startServer('etcd', o)));
}

// ---- the generator ----

const KEYS = ['a', 'ab', 'abc', 'b', 'foo', 'foo/bar', 'foo/baz', 'k 1', 'k\n2', 'ключ', '-key', 'z', 'x"q', '', 'ü'];
const VALUES = ['v', '', 'hello world', '-v', '--x', 'значение', 'a\tb', 'line1\nline2', '"q"', '\\', ' lead', 'x=y', '0'];

class Gen {
  constructor(seed) {
    this.r = mulberry32(seed);
  }
  chance(p) {
    return this.r() < p;
  }
  int(lo, hi) {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick(a) {
    return a[Math.floor(this.r() * a.length)];
  }
  /** A flag with a value, in one of pflag's spellings. */
  val(flag, v) {
    return this.chance(0.5) ? [`${flag}=${v}`] : [flag, v];
  }
  /** A boolean flag, mostly plain, sometimes --flag=true/false/garbage. */
  bool(flag) {
    if (this.chance(0.85)) return [flag];
    return [`${flag}=${this.pick(['true', 'false', '1', 'F', 'yes'])}`];
  }
  /** -w in some spelling, or nothing. `bad` adds formats etcdctl refuses. */
  out(modes = ['simple', 'json', 'fields', 'protobuf', 'table']) {
    if (this.chance(0.55)) return [];
    const m = this.chance(0.1) ? this.pick(['yaml', '', 'JSON']) : this.pick(modes);
    return this.pick([() => ['-w', m], () => [`-w=${m}`], () => ['--write-out', m], () => [`--write-out=${m}`]])();
  }
  key() {
    return this.pick(KEYS);
  }
  value() {
    return this.pick(VALUES);
  }
  rev(w) {
    if (this.chance(0.1)) return this.pick(['abc', '-1', '0', '1.5', '0x3', '99999999999999999999', String(w.rev + 50)]);
    return String(this.int(Math.max(1, w.compacted - 1), w.rev + 1));
  }
  /** A lease ID argument: a known lease (live or revoked), or a bad one. */
  lease(w) {
    if (w.leases.length > 0 && this.chance(0.8)) return `@L${this.int(0, w.leases.length - 1)}@`;
    return this.pick(['xyz', '0', 'ffffffffffff', '-', '12345678901234567890', '']);
  }
  /** Arguments with flags shuffled in between. */
  mix(args, flags) {
    const out = [...args];
    for (const f of flags) out.splice(this.int(0, out.length), 0, ...f);
    return out;
  }
  globals() {
    const g = [];
    if (this.chance(0.08)) g.push(['--hex']);
    if (this.chance(0.04)) g.push(this.val('--command-timeout', this.pick(['10s', '3s', 'abc', '0s', '1m', '2s500ms'])));
    if (this.chance(0.03)) g.push(this.val('--dial-timeout', this.pick(['3s', '1500ms', 'x', '5'])));
    if (this.chance(0.03)) g.push([this.pick(['--keepalive-time=5s', '--hex=false', '--bogus-global', '--user=root:pw', '--insecure-discovery', '--write-out=', '--debug=false', '--cacert='])]);
    return g;
  }
  /** ETCDCTL_* variables, now and then (a flag beats its variable, with a warning). */
  env() {
    if (!this.chance(0.05)) return undefined;
    const [k, v] = this.pick([
      ['ETCDCTL_WRITE_OUT', this.pick(['json', 'fields', 'yaml'])],
      ['ETCDCTL_HEX', this.pick(['true', 'false', 'maybe'])],
      ['ETCDCTL_DIAL_TIMEOUT', this.pick(['3s', 'x'])],
      ['ETCDCTL_COMMAND_TIMEOUT', this.pick(['4s', '5'])],
      ['ETCDCTL_BOGUS', '1'],
      ['ETCDCTL_WATCH_KEY', 'a'],
    ]);
    return { [k]: v };
  }
  endpoints() {
    if (this.chance(0.93)) return 'live';
    return this.pick(['dead-first', 'live-first', 'dead', 'http', 'twice']);
  }

  step(w) {
    const kinds = [
      [22, () => this.put(w)],
      [24, () => this.get(w)],
      [8, () => this.del(w)],
      [8, () => this.txn(w)],
      [2, () => this.compaction(w)],
      [3, () => this.watch(w)],
      [9, () => this.leaseCmd(w)],
      [2, () => ({ args: this.mix(['member', 'list'], [this.out()]) })],
      [4, () => this.endpoint(w)],
      [1, () => ({ args: [...this.pick([['alarm', 'list'], ['defrag'], ['version']]), ...this.out()] })],
      [6, () => this.bad(w)],
    ];
    let n = this.r() * kinds.reduce((s, [k]) => s + k, 0);
    let step;
    for (const [k, f] of kinds) {
      n -= k;
      if (n < 0) {
        step = f();
        break;
      }
    }
    step ??= kinds[0][1]();
    step.endpoints = this.endpoints();
    step.env = this.env();
    // With no endpoint up, etcdctl waits forever where it calls without a deadline (txn, watch,
    // lease timetolive/list/keep-alive): those get a live endpoint too.
    const noDeadline = step.watch || step.args.includes('txn') || ['timetolive', 'list', 'keep-alive'].some((c) => step.args.includes(c));
    if (step.endpoints === 'dead' && noDeadline) step.endpoints = 'dead-first';
    // (--cluster brings its own short timeouts, which other global flags must not lengthen)
    const g = step.args.includes('--cluster') ? [] : this.globals();
    if (g.length) {
      // Global flags go before the command or after its arguments (not after a `--`). An unknown
      // flag before the command takes the command word as its value (cobra): the top usage, left out.
      if ((step.args.includes('--') || this.chance(0.5)) && !g.flat().includes('--bogus-global')) step.args = [...g.flat(), ...step.args];
      else step.args = [...step.args, ...g.flat()];
    }
    return step;
  }

  put(w) {
    const flags = [this.out()];
    if (this.chance(0.15)) flags.push(this.bool('--prev-kv'));
    if (this.chance(0.06)) flags.push(this.bool('--ignore-value'));
    if (this.chance(0.05)) flags.push(this.bool('--ignore-lease'));
    if (this.chance(0.15)) flags.push(this.val('--lease', this.lease(w)));
    const key = this.key();
    let input;
    let args = [key];
    const how = this.r();
    if (how < 0.65) args.push(this.value());
    else if (how < 0.9) input = this.chance(0.5) ? Buffer.from(Array.from({ length: this.int(0, 12) }, () => this.int(0, 255))) : this.value();
    // else: no value at all
    if (this.chance(0.15)) return { args: ['put', ...flags.flat(), '--', ...args], input };
    return { args: ['put', ...this.mix(args, flags)], input };
  }

  getFlags(w) {
    const f = [];
    if (this.chance(0.25)) f.push(this.bool('--prefix'));
    if (this.chance(0.08)) f.push(this.bool('--from-key'));
    if (this.chance(0.15)) f.push(this.val('--limit', this.pick(['0', '1', '2', '3', '-1', 'abc', '99999999999999999999', '0x2'])));
    if (this.chance(0.12)) f.push(this.val('--rev', this.rev(w)));
    if (this.chance(0.12)) f.push(this.val('--sort-by', this.pick(['KEY', 'CREATE', 'MODIFY', 'VALUE', 'VERSION', 'key', '', 'bogus'])));
    if (this.chance(0.12)) f.push(this.val('--order', this.pick(['ASCEND', 'DESCEND', '', 'descend', 'x'])));
    if (this.chance(0.15)) f.push(this.bool('--keys-only'));
    if (this.chance(0.08)) f.push(this.bool('--print-value-only'));
    if (this.chance(0.08)) f.push(this.val('--consistency', this.pick(['l', 's', 'x', 'L'])));
    return f;
  }

  get(w) {
    const flags = [...this.getFlags(w), this.out(['simple', 'json', 'fields', 'protobuf'])];
    const args = this.chance(0.97) ? [this.key()] : [];
    if (this.chance(0.15)) args.push(this.key());
    if (this.chance(0.1)) return { args: ['get', ...flags.flat(), '--', ...args] };
    return { args: ['get', ...this.mix(args, flags)] };
  }

  del(w) {
    const flags = [this.out()];
    if (this.chance(0.25)) flags.push(this.bool('--prefix'));
    if (this.chance(0.08)) flags.push(this.bool('--from-key'));
    if (this.chance(0.2)) flags.push(this.bool('--prev-kv'));
    const args = this.chance(0.97) ? [this.key()] : [];
    if (this.chance(0.15)) args.push(this.key());
    if (this.chance(0.03)) args.push(this.key());
    return { args: ['del', ...this.mix(args, flags)] };
  }

  /** A key or value as a txn line writes it: bare, or in Go's %q quotes. */
  txnWord(s) {
    if (s !== '' && /^[\x21-\x7e]+$/.test(s) && !/["']/.test(s) && this.chance(0.6)) return s;
    return JSON.stringify(s);
  }

  txn(w) {
    const cmp = () => {
      if (this.chance(0.06)) return this.pick(['garbage', 'mod(foo) > 1', 'mod("foo")', 'mod("foo") > 1', 'val("a") = ', '("a") = "1"']);
      const target = this.pick(['mod', 'm', 'ver', 'version', 'c', 'create', 'val', 'value', 'bogus']);
      const numeric = !['val', 'value', 'bogus'].includes(target);
      const v = numeric && this.chance(0.9) ? String(this.int(0, w.rev + 1)) : this.value();
      return `${target}(${JSON.stringify(this.key())}) ${this.pick(['=', '>', '<', '!=', '=='])} ${JSON.stringify(v)}`;
    };
    const op = () => {
      const r = this.r();
      if (r < 0.4) {
        const extra = this.chance(0.3) ? ` ${this.pick(['--prev-kv', '--ignore-lease', `--lease=${this.lease(w)}`, '--bogus'])}` : '';
        return `put ${this.txnWord(this.key())} ${this.txnWord(this.value())}${extra}`;
      }
      if (r < 0.75) {
        const f = this.getFlags(w).flat().join(' ');
        return `get ${this.txnWord(this.key())}${f ? ' ' + f : ''}`;
      }
      if (r < 0.93) return `del ${this.txnWord(this.key())}${this.chance(0.3) ? ' ' + this.pick(['--prefix', '--prev-kv', '--from-key']) : ''}`;
      return this.pick(['bogus k', 'get', 'put onlykey', 'get k --bogus', 'put k v -w json', 'del', "put 'a b' c"]);
    };
    const lines = (f, max) => Array.from({ length: this.int(0, max) }, f);
    let text = [lines(cmp, 2), lines(op, 3), lines(op, 2)].map((l) => l.map((x) => x + '\n').join('') + '\n').join('');
    if (this.chance(0.05)) text = text.slice(0, this.int(0, text.length));
    const flags = [this.out()];
    if (this.chance(0.1)) flags.push(this.bool('-i'));
    const args = this.chance(0.03) ? ['extra'] : [];
    return { args: ['txn', ...this.mix(args, flags)], input: text };
  }

  compaction(w) {
    const flags = [];
    if (this.chance(0.3)) flags.push(this.bool('--physical'));
    const args = this.chance(0.1) ? [] : [this.chance(0.15) ? this.pick(['abc', '', '0', '-1']) : String(this.int(Math.max(1, w.compacted - 1), w.rev + 1))];
    return { args: ['compaction', ...this.mix(args, flags)] };
  }

  watch(w) {
    if (this.chance(0.15)) {
      return this.pick([
        () => ({ args: ['watch'] }),
        () => ({ args: ['watch', 'a', 'b', '--prefix'] }),
        () => ({ args: ['watch', 'k', '--'] }),
        // -i with lines that end it, or with no watch at all (a started watch would race EOF)
        () => ({ args: ['watch', '-i'], input: this.pick(['bogus\nwatch\n', 'watch --rev abc foo\n', 'watch --bogus a\n', 'watch -h\n', 'watch a --prefix=x\n', 'watch a --\n', '\nprogress\n', 'watch a b --prefix\n']) }),
        () => ({ args: ['watch', 'a', '--rev', 'abc'] }),
      ])();
    }
    const flags = [this.val('--rev', String(this.int(Math.max(1, w.compacted - 2), w.rev))), this.out()];
    if (this.chance(0.3)) flags.push(this.bool('--prefix'));
    if (this.chance(0.3)) flags.push(this.bool('--prev-kv'));
    const args = [this.key()];
    if (this.chance(0.1)) args.push(this.key());
    const exec = this.chance(0.1) ? ['--', 'echo', 'event'] : [];
    return { args: ['watch', ...this.mix(args, flags), ...exec], watch: true };
  }

  leaseCmd(w) {
    const live = w.leases.map((l, i) => [l, i]).filter(([l]) => !l.revoked);
    const r = this.r();
    if (r < 0.3 || w.leases.length === 0) {
      const ttl = this.pick(['3600', '7200', '10800', '3600', '7200', 'abc', '', '9000000001', '-5', '1.5', '0x10', '60s']);
      return { args: ['lease', 'grant', ...(this.chance(0.05) ? [] : [ttl]), ...this.out()] };
    }
    if (r < 0.42) return { args: ['lease', 'revoke', this.lease(w), ...this.out()] };
    if (r < 0.65) {
      const flags = [this.out(['simple', 'json', 'fields'])];
      if (this.chance(0.4)) flags.push(this.bool('--keys'));
      return { args: ['lease', 'timetolive', ...this.mix([this.lease(w)], flags)] };
    }
    if (r < 0.85) {
      // keep-alive without --once ends only for a lease that is gone.
      const id = this.lease(w);
      const gone = !/^@L(\d+)@$/.test(id) || w.leases[Number(/\d+/.exec(id)[0])].revoked;
      const once = !gone || this.chance(0.7) ? ['--once'] : [];
      return { args: ['lease', 'keep-alive', ...this.mix([id], [once, this.out()])] };
    }
    void live;
    return { args: ['lease', 'list', ...this.out()] };
  }

  endpoint(w) {
    const sub = this.pick(['status', 'health', 'hashkv', 'status']);
    const flags = [this.out()];
    if (sub === 'hashkv' && this.chance(0.5)) flags.push(this.val('--rev', this.rev(w)));
    // --cluster asks the members' advertised client URL, which nothing listens on: a short timeout.
    if (this.chance(0.1)) flags.push(['--cluster', '--command-timeout=1s', '--dial-timeout=1s']);
    return { args: ['endpoint', sub, ...flags.flat()] };
  }

  bad(w) {
    return this.pick([
      () => ({ args: [this.pick(['gett', 'foo', 'lease-grant', 'PUT'])] }),
      () => ({ args: [this.pick(['get', 'put', 'del', 'lease', 'endpoint', 'compaction', 'txn', 'watch']), this.pick(['--bogus', '-x', '--prefix=maybe', '--limit'])] }),
      () => ({ args: [this.pick(['get', 'put', 'del', 'compaction', 'lease grant', 'lease revoke', 'lease timetolive', 'lease keep-alive'])].flatMap((s) => s.split(' ')) }),
      () => ({ args: ['lease', this.pick(['bogus', 'gra', 'l', ''])] }),
      () => ({ args: [this.pick(['lease', 'endpoint', 'snapshot', 'alarm'])] }),
      () => ({ args: this.pick([['memb', 'list'], ['l', 'status'], ['endp'], ['endp', 'st'], ['endpoint', 'h'], ['ge', 'a'], ['del'], ['s'], ['lease', 'l'], ['m']]) }),
      () => ({ args: ['put', this.key(), this.value(), this.value()] }),
      () => ({ args: ['get', this.key(), ...this.val('--limit', '')] }),
      () => ({ args: ['get', this.key(), '--prefix', '--from-key'] }),
      () => ({ args: ['get', this.key(), '--print-value-only', '-w', this.pick(['json', 'fields', 'protobuf'])] }),
      () => ({ args: ['put', this.key(), '--ignore-value', this.value()] }),
      () => ({ args: ['version', ...this.out()] }),
      // (--help before the command word takes the word as its value: the top usage, left out)
      () => ({ args: ['help', ...this.pick([['get'], ['lease', 'grant'], ['endpoint', 'status'], ['lease', 'bogus']])] }),
      () => ({ args: [this.pick(['get', 'put', 'lease', 'txn']), '--help'] }),
    ])();
  }
}

// ---- running a step on both sides ----

/** Go's %x of an int64 given as a decimal string (negative: a sign, then the magnitude). */
function goHex(dec, width = 0) {
  const v = BigInt(dec);
  const digits = (v < 0n ? -v : v).toString(16);
  const sign = v < 0n ? '-' : '';
  return sign + digits.padStart(Math.max(0, width - sign.length), '0');
}

/** The protobuf varint of an int64 (as int64 fields are encoded: negative ones in 10 bytes). */
function varint(dec) {
  let v = BigInt.asUintN(64, BigInt(dec));
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out).toString('latin1');
}

/** Replaces `@L<k>@` with side's ID of the k-th lease (%x, as a user types it). */
function subst(s, w, side) {
  return s.replace(/@L(\d+)@/g, (_, k) => goHex(w.leases[Number(k)][side]));
}

function endpointArgs(kind, ep) {
  const list = { live: ep, 'dead-first': `${DEAD},${ep}`, 'live-first': `${ep},${DEAD}`, dead: DEAD, http: `http://${ep}`, twice: `${ep},${ep}` }[kind];
  return [`--endpoints=${list}`];
}

/** etcdctl 3.4 logs zap JSON warnings before some errors; ours does not. Drop those lines. */
function stripZap(s) {
  return s
    .split('\n')
    .filter((l) => !l.startsWith('{"level":'))
    .join('\n');
}

/** A table's cells, one array per row (borders dropped), or undefined when `s` is no table. */
function tableRows(s) {
  if (!s.startsWith('+')) return undefined;
  return s
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

/** Masks what cannot agree between the twins in endpoint status/health (see the top comment). */
function maskEndpoint(s) {
  const rows = tableRows(s);
  if (rows) {
    const hdr = rows[0];
    const mask = new Set(['TOOK', 'DB SIZE', 'RAFT TERM', 'HASH']);
    return rows.map((r) => r.map((c, i) => (mask.has(hdr[i]) && r !== hdr ? '*' : c)).join(' | ')).join('\n') + '\n[table]';
  }
  return s
    .replace(/took = [^\n]*/g, 'took = *')
    .replace(/"took":"[^"]*"/g, '"took":"*"')
    .replace(/"(dbSize|dbSizeInUse|raft_term)":\d+/g, '"$1":*')
    .replace(/"(DBSize|DBSizeInUse|RaftTerm|Took)" : [^\n]*/g, '"$1" : *')
    .replace(/, \d+(\.\d+)? [kMG]?B, (true|false), (true|false), \d+,/g, ', *B, $2, $3, *,')
    .replace(/"hash":\d+/g, '"hash":*')
    .replace(/"Hash" : \d+/g, '"Hash" : *')
    .replace(/^(<endpoint>, )\d+$/gm, '$1*');
}

function normalize(r, side, w, eps) {
  let stdout = r.stdout.toString('latin1');
  // A Go panic's goroutine dump (addresses, line numbers) cannot match; the panic line and exit code do.
  let stderr = stripZap(r.stderr.toString('latin1'))
    .replace(/(^panic: .*\n(?:\[signal .* pc=)?)(?:0x[0-9a-f]+\]\n)?(\ngoroutine \d+ \[running\]:\n)[\s\S]*$/m, '$1<pc>$2...')
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ([WC] \| )/gm, '<time> $1');
  for (const ep of eps) {
    stdout = stdout.replaceAll(ep, '<endpoint>');
    stderr = stderr.replaceAll(ep, '<endpoint>');
  }
  if (side === 'b') {
    for (const l of w.leases) {
      for (const [from, to] of [
        [l.b, l.a],
        [goHex(l.b, 16), goHex(l.a, 16)],
        [goHex(l.b), goHex(l.a)],
        [varint(l.b), varint(l.a)],
      ]) {
        stdout = stdout.replaceAll(from, to);
        stderr = stderr.replaceAll(from, to);
      }
    }
  }
  // (On every output: `endp st` is endpoint status too, and the patterns are endpoint's alone.)
  stdout = maskEndpoint(stdout);
  stderr = maskEndpoint(stderr);
  return { stdout, stderr, code: r.code, ...(r.signal ? { signal: r.signal } : {}) };
}

/** timetolive's remaining TTL: B's value becomes A's when they are within a second. */
function alignRemaining(ours, theirs) {
  const re = /remaining\((-?\d+)s\)|"(?:TTL|ttl)"(:| : )(-?\d+)/g;
  const mine = [...ours.stdout.matchAll(re)].map((m) => Number(m[1] ?? m[3]));
  let i = 0;
  theirs.stdout = theirs.stdout.replace(re, (all, a, _sep, b) => {
    const v = Number(a ?? b);
    const o = mine[i++];
    if (o === undefined || Math.abs(o - v) > 1) return all;
    return a !== undefined ? `remaining(${o}s)` : all.replace(/-?\d+$/, String(o));
  });
}

/**
 * timetolive --keys: etcd lists a lease's keys from a Go map, in an order of its own on each server;
 * they are compared sorted.
 */
function sortAttachedKeys(s) {
  return s
    .replace(/attached keys\(\[(.*)\]\)$/gm, (_, ks) => `attached keys([${ks.split(' ').sort().join(' ')}])`)
    .replace(/"keys":\[([^\]]*)\]/g, (_, ks) => `"keys":[${ks.split(',').sort().join(',')}]`)
    .replace(/(?:^"Key" : .*\n)+/gm, (block) => block.split('\n').filter(Boolean).sort().map((l) => l + '\n').join(''));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A watch runs until it exits, or until it has printed as much as the other side and been quiet
 * for a while; then it is stopped. Go's etcdctl is the reference for "as much".
 */
async function runWatch(argsA, argsB, input, env) {
  const a = spawnCtl('ours', argsA, { input, env });
  const b = spawnCtl('etcdctl', argsB, { input, env });
  const state = (c) => {
    c.done = false;
    c.exited.then(() => (c.done = true));
    c.start = Date.now();
    return c;
  };
  state(a);
  state(b);
  const settle = async (c, minMs, until, maxMs) => {
    for (;;) {
      if (c.done) return;
      const now = Date.now();
      if (now - c.start > maxMs) return;
      if (now - c.start >= minMs && now - c.lastOutputAt() >= 300 && until()) return;
      await sleep(20);
    }
  };
  await settle(b, 500, () => true, 8000);
  await settle(a, 800, () => !b.done && a.stdout().length >= b.stdout().length, 10000);
  const result = async (c) => {
    const ended = c.done;
    if (!ended) c.proc.kill('SIGTERM');
    const { code, signal } = await c.exited;
    return { code: ended ? code : 'still running', signal: ended ? signal : null, stdout: c.stdout(), stderr: c.stderr() };
  };
  return Promise.all([result(a), result(b)]);
}

/** The command line as a shell would take it (for the failure message). */
function shell(args) {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

async function refresh(w, A, B) {
  const r = await call(w.kv, 'Range', { key: Buffer.from('\0') });
  w.rev = Number(r.header.revision);
  const [la, lb] = await Promise.all([call(w.la, 'LeaseLeases', {}), call(w.lb, 'LeaseLeases', {})]);
  const ids = (res) => res.leases.map((l) => l.ID).sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
  const [ia, ib] = [ids(la), ids(lb)];
  const knownA = new Set(w.leases.map((l) => l.a));
  const knownB = new Set(w.leases.map((l) => l.b));
  const newA = ia.filter((id) => !knownA.has(id));
  const newB = ib.filter((id) => !knownB.has(id));
  assert.equal(newA.length, newB.length, `the twins made different numbers of leases (${A.endpoint}: ${newA}, ${B.endpoint}: ${newB})`);
  newA.forEach((a, i) => w.leases.push({ a, b: newB[i], revoked: false }));
  const liveA = new Set(ia);
  for (const l of w.leases) l.revoked = !liveA.has(l.a);
}

async function fuzz(seed, steps, mismatches = []) {
  const [A, B] = await startTwins();
  const w = { rev: 1, compacted: 0, leases: [], kv: kvClient(A.endpoint), la: leaseClient(A.endpoint), lb: leaseClient(B.endpoint) };
  const gen = new Gen(seed);
  const t0 = Date.now();
  try {
    await refresh(w, A, B);
    for (let i = 0; i < steps; i++) {
      const step = gen.step(w);
      const argsA = [...endpointArgs(step.endpoints, A.endpoint), ...step.args.map((s) => subst(s, w, 'a'))];
      const argsB = [...endpointArgs(step.endpoints, B.endpoint), ...step.args.map((s) => subst(s, w, 'b'))];
      const input = (side) => (typeof step.input === 'string' ? subst(step.input, w, side) : step.input);
      let ra, rb;
      const env = step.env;
      if (step.watch) [ra, rb] = await runWatch(argsA, argsB, input('a'), env);
      else [ra, rb] = await Promise.all([runCtlAsync('ours', argsA, { input: input('a'), env }), runCtlAsync('etcdctl', argsB, { input: input('b'), env })]);
      // New leases are paired before the comparison, which rewrites B's IDs to A's.
      await refresh(w, A, B);
      const eps = [A.endpoint, B.endpoint];
      const ours = normalize(ra, 'a', w, eps);
      const theirs = normalize(rb, 'b', w, eps);
      if (step.args.includes('timetolive')) {
        alignRemaining(ours, theirs);
        for (const r of [ours, theirs]) r.stdout = sortAttachedKeys(r.stdout);
      }
      const stdin = input('b') === undefined ? undefined : Buffer.from(input('b'));
      const shown = stdin && (Buffer.from(stdin.toString('utf8')).equals(stdin) ? stdin.toString('utf8') : stdin.toString('latin1'));
      const msg = [
        `seed ${seed}, step ${i}: ${env ? `${Object.entries(env).map(([k, v]) => `${k}=${shell([v])}`).join(' ')} ` : ''}etcdctl ${shell(argsB)}${stdin ? ` <<< ${JSON.stringify(shown)}` : ''}`,
        `  (ours ran: ${shell(argsA)})`,
        `  reproduce: CLI_FUZZ_SEED=${seed} CLI_FUZZ_STEPS=${i + 1} node --test test/cli/random-diff.test.mjs`,
        `  ours:    code ${ours.code}${ours.signal ? ` ${ours.signal}` : ''}\n    stdout ${JSON.stringify(ours.stdout)}\n    stderr ${JSON.stringify(ours.stderr)}`,
        `  etcdctl: code ${theirs.code}${theirs.signal ? ` ${theirs.signal}` : ''}\n    stdout ${JSON.stringify(theirs.stdout)}\n    stderr ${JSON.stringify(theirs.stderr)}`,
      ].join('\n');
      if (KEEP_GOING) {
        try {
          assert.deepEqual(ours, theirs, msg);
        } catch (e) {
          mismatches.push(e.message);
        }
      } else assert.deepEqual(ours, theirs, msg);
      if (step.args.includes('compaction') && ra.code === 0) w.compacted = Math.max(w.compacted, Number(/compacted revision (\d+)/.exec(ra.stdout.toString())?.[1] ?? 0));
    }
  } finally {
    for (const c of [w.kv, w.la, w.lb]) c.close();
    await Promise.all([A.stop(), B.stop()]);
  }
  return Date.now() - t0;
}

for (const seed of SEEDS) {
  test(`random etcdctl command lines, seed ${seed}: ours and etcdctl 3.4 print the same`, { skip, timeout: 10 * 60 * 1000 }, async (t) => {
    const mismatches = [];
    const ms = await fuzz(seed, STEPS, mismatches);
    t.diagnostic(`${STEPS} steps in ${ms} ms`);
    assert.equal(mismatches.length, 0, mismatches.join('\n\n'));
  });
}
