// What `snapshot status` and `snapshot restore` do with a snapshot file (etcd 3.4's
// clientv3/snapshot/v3_snapshot.go Status and Restore), on the bbolt file etcd's Snapshot RPC
// streams: the backend's buckets, followed by the SHA-256 of them.
//
// restore writes OUR server's data dir, not etcd's: an LMDB backend at member/snap/db in the
// layout of src/server/storage/backend.ts. The CLI never imports server code statically (it would
// load lmdb and the server into every `etcdctl get`); restore alone loads the server's backend
// module from dist/ at run time, as `serve` loads the server.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BoltReader, goPathError } from '../bbolt/reader.js';
import { crc32c } from '../bbolt/crc32c.js';
import type { SnapshotStatus } from './printers/printer.js';
import { distDir } from './here.js';
import type { Io } from './context.js';

/** SHA-256 digest length: what etcd appends to the database file. */
const SHA256_SIZE = 32;

/** etcd's hasChecksum: a bbolt file is a whole number of 512-byte sectors, so a remainder of 32 is the digest. */
export const hasChecksum = (n: number): boolean => n % 512 === SHA256_SIZE;

/** A revision key's main revision: the first 8 bytes, big-endian (etcd's bytesToRev). */
function mainRev(k: Buffer): bigint {
  return k.length >= 8 ? k.readBigInt64BE(0) : 0n;
}

/** etcd's snapshot Status: integrity check, then a CRC-32C over bucket names, keys and values. */
export function snapshotStatus(file: string): SnapshotStatus {
  try {
    fs.statSync(file);
  } catch (e) {
    throw new Error(goPathError('stat', file, e as NodeJS.ErrnoException));
  }
  const db = BoltReader.open(file);
  try {
    const errs = db.check();
    if (errs.length > 0) throw new Error(`snapshot file integrity check failed. ${errs.length} errors found.\n${errs.join('\n')}`);
    let hash = 0;
    let revision = 0n;
    let totalKey = 0;
    for (const b of db.rootEntries()) {
      if (!b.isBucket) throw new Error(`cannot get hash of bucket ${b.key.toString('latin1')}`);
      hash = crc32c(b.key, hash);
      const isKey = b.key.toString('latin1') === 'key';
      for (const e of db.entries(b.value)) {
        hash = crc32c(e.key, hash);
        if (!e.isBucket) hash = crc32c(e.value, hash);
        if (isKey) revision = mainRev(e.key);
        totalKey++;
      }
    }
    return { hash, revision: revision.toString(), totalKey, totalSize: db.size };
  } finally {
    db.close();
  }
}

// --- restore ---

export interface RestoreOptions {
  snapshotPath: string;
  name: string;
  dataDir: string;
  walDir: string;
  peerURLs: string[];
  initialCluster: string;
  initialClusterToken: string;
  skipHashCheck: boolean;
}

/** etcd's types.NewURLs: checked and sorted. */
function newURLs(strs: string[]): string[] {
  if (strs.length === 0) throw new Error('no valid URLs given');
  const out = strs.map((raw) => {
    const s = raw.trim();
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(s);
    const scheme = m?.[1] ?? '';
    if (!['http', 'https', 'unix', 'unixs'].includes(scheme)) throw new Error(`URL scheme must be http, https, unix, or unixs: ${s}`);
    if (!/^(\[[^\]]*\]|[^:\[\]]*):[^:]*$/.test(m![2]!)) throw new Error(`URL address does not have the form "host:port": ${s}`);
    if (m![3] !== '') throw new Error(`URL must not contain a path: ${s}`);
    return s;
  });
  return out.sort();
}

/** etcd's types.NewURLsMap: "name=url,name=url", a name may repeat; insertion order kept. */
function newURLsMap(s: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (const part of s.split(',')) {
    if (part === '') continue;
    const i = part.indexOf('=');
    const [k, v] = i >= 0 ? [part.slice(0, i), part.slice(i + 1)] : [part, ''];
    raw.set(k, [...(raw.get(k) ?? []), v]);
  }
  const m = new Map<string, string[]>();
  for (const [k, v] of raw) m.set(k, newURLs(v));
  return m;
}

/** URLsMap.String(): name=url pairs, sorted. */
const urlsMapString = (m: Map<string, string[]>): string =>
  [...m].flatMap(([n, us]) => us.map((u) => `${n}=${u}`)).sort().join(',');


/** etcd's ServerConfig.VerifyBootstrap for a restore. */
function verifyBootstrap(name: string, peerURLs: string[], cluster: Map<string, string[]>): void {
  const urls = cluster.get(name);
  if (!urls) throw new Error(`couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration`);
  const ap = [...peerURLs].sort();
  const ic = [...urls].sort();
  let why: string | undefined;
  if (ap.length !== ic.length) why = `len([${ap.map((u) => JSON.stringify(u)).join(' ')}]) != len([${ic.map((u) => JSON.stringify(u)).join(' ')}])`;
  else {
    // etcd resolves host names before it gives up; IP addresses and localhost it takes as they
    // are. We compare the strings: a DNS name that resolves to an IP given on the other side is
    // refused here where etcd would accept it.
    const i = ap.findIndex((u, k) => u !== ic[k]);
    if (i >= 0) why = `resolved urls: ${JSON.stringify(ap[i])} != ${JSON.stringify(ic[i])}`;
  }
  if (why !== undefined) {
    const missing = ic.filter((u) => !ap.includes(u));
    if (missing.length > 0) {
      throw new Error(`--initial-cluster has ${missing.map((u) => `${name}=${u}`).join(',')} but missing from --initial-advertise-peer-urls=${ap.join(',')} (${why})`);
    }
    const extra = ap.filter((u) => !ic.includes(u));
    const mine = ap.map((u) => `${name}=${u}`).join(',');
    if (extra.length > 0) throw new Error(`--initial-advertise-peer-urls has ${extra.join(',')} but missing from --initial-cluster=${mine}`);
    throw new Error(`failed to resolve ${ap.join(',')} to match --initial-cluster=${mine} (${why})`);
  }
  const seen = new Set<string>();
  for (const us of cluster.values()) {
    for (const u of us) {
      if (seen.has(u)) throw new Error(`initial cluster ${urlsMapString(cluster)} has duplicate url`);
      seen.add(u);
    }
  }
  if (urlsMapString(cluster) === '') throw new Error('initial cluster unset and no discovery URL found');
}

/** etcd's member ID: SHA-1 of the sorted peer URLs and the cluster token, first 8 bytes big-endian. */
function memberIdOf(peerURLs: string[], token: string): bigint {
  const h = createHash('sha1');
  for (const u of [...peerURLs].sort()) h.update(u);
  h.update(token);
  return h.digest().readBigUInt64BE(0);
}

/** etcd's cluster ID: SHA-1 of the sorted member IDs as 8-byte big-endian values, first 8 bytes. */
function clusterIdOf(ids: bigint[]): bigint {
  const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => b.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(b).digest().readBigUInt64BE(0);
}

/** A minimal protobuf reader for the two messages restore decodes (varints and bytes only). */
function pbFields(buf: Buffer): Map<number, bigint | Buffer> {
  const out = new Map<number, bigint | Buffer>();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const no = tag >>> 3;
    switch (tag & 7) {
      case 0:
        out.set(no, BigInt.asIntN(64, varint()));
        break;
      case 2: {
        const n = Number(varint());
        out.set(no, buf.subarray(i, i + n));
        i += n;
        break;
      }
      case 1:
        i += 8;
        break;
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${tag & 7}`);
    }
  }
  return out;
}

const int = (f: Map<number, bigint | Buffer>, no: number): bigint => (f.get(no) as bigint | undefined) ?? 0n;
const bytes = (f: Map<number, bigint | Buffer>, no: number): Buffer => (f.get(no) as Buffer | undefined) ?? Buffer.alloc(0);

/** One key version in the server backend's terms (src/server/mvcc/key_index.ts KeyVersion). */
interface KeyVersion {
  key: string;
  main: number;
  sub: number;
  createRev: number;
  version: number;
  value: Buffer | null;
  lease: string;
}

interface SnapshotContent {
  versions: KeyVersion[];
  leases: { id: string; ttl: number }[];
  rev: number;
  compactRev: number;
}

/** etcd's compaction rule: of the versions at or below rev, a key keeps its newest, unless a tombstone. */
function compact(versions: KeyVersion[], rev: number): KeyVersion[] {
  const newest = new Map<string, KeyVersion>();
  for (const v of versions) if (v.main <= rev) newest.set(v.key, v);
  return versions.filter((v) => v.main > rev || (newest.get(v.key) === v && v.value !== null));
}

/** Reads the key, lease and meta buckets of an etcd backend (layout in src/server/storage/snapshot.ts). */
function readSnapshotContent(file: string): SnapshotContent {
  const db = BoltReader.open(file);
  try {
    const buckets = new Map<string, Buffer>();
    for (const b of db.rootEntries()) if (b.isBucket) buckets.set(b.key.toString('latin1'), Buffer.from(b.value));
    const versions: KeyVersion[] = [];
    let rev = 1;
    const kb = buckets.get('key');
    if (kb) {
      for (const { key, value } of db.entries(kb)) {
        if (key.length < 17) throw new Error(`mvcc: bad revision key of ${key.length} bytes`);
        const main = Number(key.readBigInt64BE(0));
        const sub = Number(key.readBigInt64BE(9));
        const f = pbFields(value);
        const tomb = key.length === 18 && key[17] === 0x74; // 't'
        versions.push({
          key: bytes(f, 1).toString('latin1'),
          main,
          sub,
          createRev: tomb ? 0 : Number(int(f, 2)),
          version: tomb ? 0 : Number(int(f, 4)),
          value: tomb ? null : Buffer.from(bytes(f, 5)),
          lease: tomb ? '0' : int(f, 6).toString(),
        });
        rev = Math.max(rev, main);
      }
    }
    let compactRev = -1;
    const mb = buckets.get('meta');
    let scheduled = -1;
    if (mb) {
      for (const { key, value } of db.entries(mb)) {
        const k = key.toString('latin1');
        if (k === 'finishedCompactRev' && value.length >= 8) compactRev = Number(value.readBigInt64BE(0));
        if (k === 'scheduledCompactRev' && value.length >= 8) scheduled = Number(value.readBigInt64BE(0));
      }
    }
    // a compaction scheduled but not finished when the snapshot was taken: etcd finishes it on restore
    let kept = versions;
    if (scheduled > compactRev) {
      compactRev = scheduled;
      kept = compact(versions, scheduled);
    }
    rev = Math.max(rev, compactRev);
    const leases: { id: string; ttl: number }[] = [];
    const lb = buckets.get('lease');
    if (lb) {
      for (const { value } of db.entries(lb)) {
        const f = pbFields(value);
        leases.push({ id: int(f, 1).toString(), ttl: Number(int(f, 2)) });
      }
    }
    return { versions: kept, leases, rev, compactRev };
  } finally {
    db.close();
  }
}

/** Go's %v of a []byte: [1 2 3]. */
const goBytes = (b: Buffer): string => `[${[...b].join(' ')}]`;

interface ServerBackend {
  applied(): { consistentIndex: number; rev: number; compactRev: number };
  save(added: readonly KeyVersion[], removed: readonly KeyVersion[], state: { consistentIndex: number; rev: number; compactRev: number }): void;
  putLease(id: string, value: unknown): void;
  putMetaSync(key: string, value: unknown): void;
  close(): Promise<void>;
}

/** etcd's snapshot Restore, writing our server's data dir. Progress goes to stderr as zap lines. */
export async function restoreSnapshot(o: RestoreOptions, io: Io): Promise<void> {
  const peerURLs = newURLs(o.peerURLs);
  const cluster = newURLsMap(o.initialCluster);
  verifyBootstrap(o.name, peerURLs, cluster);
  const ids = new Map([...cluster].map(([n, us]) => [n, memberIdOf(us, o.initialClusterToken)]));
  const clusterId = clusterIdOf([...ids.values()]);
  const memberId = ids.get(o.name)!;
  if (fs.existsSync(o.dataDir)) throw new Error(`data-dir ${JSON.stringify(o.dataDir)} exists`);
  const defaultWal = path.join(o.dataDir, 'member', 'wal');
  if (o.walDir !== defaultWal && fs.existsSync(o.walDir)) throw new Error(`wal-dir ${JSON.stringify(o.walDir)} exists`);
  const snapDir = path.join(o.dataDir, 'member', 'snap');
  const where = { path: o.snapshotPath, 'wal-dir': o.walDir, 'data-dir': o.dataDir, 'snap-dir': snapDir };
  const log = (caller: string, msg: string, fields: Record<string, unknown>): void =>
    io.err(JSON.stringify({ level: 'info', ts: Date.now() / 1000, caller, msg, ...fields }) + '\n');
  log('snapshot/v3_snapshot.go:296', 'restoring snapshot', where);

  // the file, its SHA-256 trailer checked unless --skip-hash-check (etcd's saveDB)
  let fd: number;
  try {
    fd = fs.openSync(o.snapshotPath, 'r');
  } catch (e) {
    throw new Error(goPathError('open', o.snapshotPath, e as NodeJS.ErrnoException));
  }
  try {
    const size = fs.fstatSync(fd).size;
    fs.mkdirSync(snapDir, { recursive: true, mode: 0o700 });
    const hashed = hasChecksum(size);
    if (!hashed && !o.skipHashCheck) throw new Error('snapshot missing hash but --skip-hash-check=false');
    if (hashed && !o.skipHashCheck) {
      const want = Buffer.alloc(SHA256_SIZE);
      fs.readSync(fd, want, 0, SHA256_SIZE, size - SHA256_SIZE);
      const h = createHash('sha256');
      const chunk = Buffer.alloc(1 << 20);
      for (let off = 0; off < size - SHA256_SIZE; ) {
        const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - SHA256_SIZE - off), off);
        if (n <= 0) break;
        h.update(chunk.subarray(0, n));
        off += n;
      }
      const got = h.digest();
      if (!got.equals(want)) throw new Error(`expected sha256 ${goBytes(want)}, got ${goBytes(got)}`);
    }
  } finally {
    fs.closeSync(fd);
  }

  const content = readSnapshotContent(o.snapshotPath);
  const spec = pathToFileURL(path.join(distDir(), 'server', 'storage', 'backend.js')).href;
  const { Backend } = (await import(spec)) as { Backend: { open(file: string): ServerBackend } };
  const be = Backend.open(path.join(snapDir, 'db'));
  try {
    for (const l of content.leases) be.putLease(l.id, { ttl: l.ttl });
    // etcd sets the consistent index to the number of members, the entries its new log starts with
    be.save(content.versions, [], { consistentIndex: cluster.size, rev: content.rev, compactRev: content.compactRev });
    // identity as the server derives it at a first start (server.ts bootstrapIdentity), so a
    // server started on this dir keeps the restored IDs whatever flags it gets
    be.putMetaSync('clusterId', clusterId.toString());
    be.putMetaSync('memberId', memberId.toString());
    be.putMetaSync('peerURLs', cluster.get(o.name));
    be.putMetaSync('name', o.name);
  } finally {
    await be.close();
  }
  fs.mkdirSync(o.walDir, { recursive: true, mode: 0o700 });
  for (const [n, id] of ids) {
    log('membership/cluster.go:392', 'added member', {
      'cluster-id': clusterId.toString(16),
      'local-member-id': '0',
      'added-peer-id': id.toString(16),
      'added-peer-peer-urls': cluster.get(n),
    });
  }
  log('snapshot/v3_snapshot.go:309', 'restored snapshot', where);
}
