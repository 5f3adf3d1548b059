// EtcdServer: one member's core. It owns the data directory and wires the layers: a write is
// proposed (wrapped in an InternalRequest), appended to the write-ahead log, applied once durable,
// saved to the backend, and only then answered. Reads go straight to the MVCC store.
//
// Today the log step is a local WAL; a Raft cluster replaces propose/append and nothing else.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EtcdError } from '../api/errors.js';
import type { InternalRequest, InternalRequest__Output } from '../api/gen/etcdserverpb/InternalRequest.js';
import type { ResponseHeader } from '../api/gen/etcdserverpb/ResponseHeader.js';
import { AlarmStore, type AlarmMember } from './apply/alarms.js';
import { Applier, NO_LEASES, type ApplyResult, type LeaseHooks } from './apply/applier.js';
import { spaceCost } from './apply/quota.js';
import { DEFAULT_QUOTA_BYTES, type ServerConfig } from './config.js';
import type { KeyVersion } from './mvcc/key_index.js';
import { Metrics, type MetricsSnapshot } from './metrics.js';
import { KVStore } from './mvcc/kvstore.js';
import { WatchableStore } from './mvcc/watchable_store.js';
import { Backend } from './storage/backend.js';
import { decodeInternalRequest, encodeInternalRequest, varintLength } from './storage/codec.js';
import { DataDirLock } from './storage/lock.js';
import { WAL } from './storage/wal.js';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** etcd's member ID: SHA-1 of the sorted peer URLs and the cluster token, first 8 bytes big-endian. */
export function memberIdOf(peerURLs: string[], clusterToken: string): bigint {
  const h = createHash('sha1');
  for (const u of [...peerURLs].sort()) h.update(u);
  h.update(clusterToken);
  return h.digest().readBigUInt64BE(0);
}

/** etcd's cluster ID: SHA-1 of the sorted member IDs as 8-byte big-endian values, first 8 bytes. */
export function clusterIdOf(memberIds: bigint[]): bigint {
  const ids = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => b.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(b).digest().readBigUInt64BE(0);
}

/**
 * How long applied entries may wait to be handed to the backend together: etcd's default backend
 * batch interval. Every hand-over is an LMDB transaction with its own disk sync, competing with the
 * log's for the disk (100 ms against 20 ms: see BENCHMARKS.md). Reads never wait for it (they are
 * served from memory), and the log holds the entries meanwhile.
 */
const SAVE_INTERVAL_MS = 100;

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Told once whether a proposal was applied (and how) or failed. */
export type ProposeCallback = (err: Error | null, result?: ApplyResult) => void;

interface Waiter {
  req: InternalRequest__Output;
  done: ProposeCallback;
}

export class EtcdServer {
  readonly kv = new KVStore();
  readonly metrics = new Metrics();
  readonly watchable: WatchableStore;
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: number;
  private readonly clusterIdStr: string;
  private readonly memberIdStr: string;
  readonly member: MemberInfo;
  private readonly backend: Backend;
  private readonly wal: WAL;
  private readonly lock: DataDirLock;
  private applier: Applier;
  private lessor: LeaseHooks = NO_LEASES;
  private readonly waiting = new Map<number, Waiter>();
  private appliedIndex: number;
  private nextIndex: number;
  private stopped: Error | undefined;
  private pendingAdded: KeyVersion[] = [];
  private pendingRemoved: KeyVersion[] = [];
  private savedIndex = 0;
  private saveTimer: NodeJS.Timeout | undefined;
  private releasing = false;
  /** Set while the backend is being defragmented: applied entries wait in memory (and in the log). */
  private savesHeld = false;
  private defragRun: Promise<void> | undefined;
  /** The raised alarms; changed only by applied Alarm entries. */
  private readonly alarms: AlarmStore;
  /** Refusals waiting for this member's NOSPACE alarm entry, proposed when a write passed the quota. */
  private raisingNoSpace: ProposeCallback[] | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Listeners told after each applied entry (the lessor uses it to persist; tests to observe). */
  private readonly appliedListeners: ((index: number) => void)[] = [];

  constructor(
    readonly cfg: ServerConfig,
    private readonly log: Logger,
    /** Builds the lessor before the log is replayed, so replayed lease entries find it. */
    makeLessor?: (backend: Backend, kv: KVStore) => LeaseHooks,
  ) {
    const memberDir = path.join(cfg.dataDir, 'member');
    fs.mkdirSync(path.join(memberDir, 'snap'), { recursive: true, mode: 0o700 });
    this.lock = DataDirLock.acquire(cfg.dataDir);
    try {
      this.backend = Backend.open(path.join(memberDir, 'snap', 'db'));
      const ids = this.bootstrapIdentity();
      this.clusterId = ids.clusterId;
      this.memberId = ids.memberId;
      this.term = ids.term;
      this.clusterIdStr = this.clusterId.toString();
      this.memberIdStr = this.memberId.toString();
      this.member = {
        id: this.memberId,
        name: cfg.name,
        peerURLs: ids.peerURLs,
        clientURLs: cfg.advertiseClientUrls,
        isLearner: false,
      };

      this.alarms = new AlarmStore(this.keptAlarms());
      const state = this.backend.applied();
      this.kv.restore(this.backend.versions(), state.rev, state.compactRev);
      this.watchable = new WatchableStore(this.kv);
      this.kv.onCommit((changes) => {
        for (const c of changes) this.pendingAdded.push(c);
      });
      if (makeLessor) this.lessor = makeLessor(this.backend, this.kv);
      this.applier = new Applier(this.kv, this.lessor, this.alarms);

      const { wal, records } = WAL.open(
        path.join(memberDir, 'wal'),
        state.consistentIndex,
        {
          segmentBytes: cfg.walSegmentBytes,
          syncThread: process.env.ETCD_TS_WAL_SYNC_THREAD !== '0',
          warn: (m) => this.log('warn', m),
          observe: (seconds, bytes) => {
            this.metrics.walFsync.observe(seconds);
            this.metrics.walWriteBytes += bytes;
          },
        },
        (last) => this.onDurable(last),
        (err) => this.fail(err),
      );
      this.wal = wal;
      this.appliedIndex = state.consistentIndex;
      this.savedIndex = state.consistentIndex;
      // replay what the backend had not saved yet
      for (const r of records) {
        try {
          this.applyEntry(r.index, decodeInternalRequest(r.data));
        } catch (e) {
          // an entry that failed with an etcd error (a put to an unknown lease, say) failed the
          // same way when first applied; replaying it changes nothing
          if (!(e instanceof EtcdError)) throw e;
        }
      }
      this.saveNow();
      this.nextIndex = this.wal.last() + 1;
      if (records.length > 0) this.log('info', `recovered ${records.length} log entries`, { appliedIndex: this.appliedIndex });
    } catch (e) {
      this.lock.release();
      throw e;
    }
  }

  /** Identity: derived as etcd does at the first start, then read back from the backend. */
  private bootstrapIdentity(): { clusterId: bigint; memberId: bigint; term: number; peerURLs: string[] } {
    const cfg = this.cfg;
    let cid = this.backend.getMeta<string>('clusterId');
    let mid = this.backend.getMeta<string>('memberId');
    let peerURLs = this.backend.getMeta<string[]>('peerURLs');
    if (cid === undefined || mid === undefined || peerURLs === undefined) {
      const members = parseInitialCluster(cfg.initialCluster);
      const mine = members.filter((m) => m.name === cfg.name);
      if (mine.length === 0) {
        throw new Error(`couldn't find local name "${cfg.name}" in the initial cluster configuration`);
      }
      peerURLs = mine.map((m) => m.url);
      const byName = new Map<string, string[]>();
      for (const m of members) byName.set(m.name, [...(byName.get(m.name) ?? []), m.url]);
      const ids = [...byName.values()].map((urls) => memberIdOf(urls, cfg.initialClusterToken));
      const memberId = memberIdOf(peerURLs, cfg.initialClusterToken);
      cid = clusterIdOf(ids).toString();
      mid = memberId.toString();
      this.backend.putMetaSync('clusterId', cid);
      this.backend.putMetaSync('memberId', mid);
      this.backend.putMetaSync('peerURLs', peerURLs);
      this.backend.putMetaSync('name', cfg.name);
    }
    // a new term per start, as a single member elects itself again after every restart
    const term = Number(this.backend.getMeta<number>('term') ?? 1) + 1;
    this.backend.putMetaSync('term', term);
    return { clusterId: BigInt(cid), memberId: BigInt(mid), term, peerURLs };
  }

  getLessor(): LeaseHooks {
    return this.lessor;
  }

  getBackend(): Backend {
    return this.backend;
  }

  onApplied(f: (index: number) => void): void {
    this.appliedListeners.push(f);
  }

  header(rev: number = this.kv.rev()): ResponseHeader {
    return { cluster_id: this.clusterIdStr, member_id: this.memberIdStr, revision: rev, raft_term: this.term };
  }

  /**
   * Bytes of the header etcd puts in every raft entry: field 100 (a 2-byte tag), its length, and the
   * request ID (field 1), a varint of 48 bits of time and counter under this member ID's low 16 bits
   * (etcd's idutil.Generator).
   */
  private etcdHeaderBytes(): number {
    if (this.headerBytes === 0) {
      const low16 = Number(this.memberId & 0xffffn);
      const idBits = 48 + (low16 === 0 ? 0 : 32 - Math.clz32(low16));
      this.headerBytes = 2 + 1 + 1 + Math.ceil(idBits / 7);
    }
    return this.headerBytes;
  }

  private headerBytes = 0;

  /** Backend space quota (--quota-backend-bytes; 0 means etcd's default, 2 GiB; negative: none). */
  quotaBytes(): number {
    const q = this.cfg.quotaBackendBytes;
    return q > 0 ? q : q < 0 ? Infinity : DEFAULT_QUOTA_BYTES;
  }

  /**
   * The raised alarms, all types, as etcd lists them. NOSPACE is raised when a write does not fit
   * in the quota; from then on every write that adds data (and every lease grant) is refused until
   * it is deactivated, whatever the size meanwhile (etcd's way out: compact, defragment, disarm).
   * Alarms are kept in the backend, so they outlive a restart, as etcd's alarm bucket does.
   */
  alarmList(): AlarmMember[] {
    return this.alarms.get('NONE');
  }

  /** The alarms as the backend keeps them; a data dir of etcd-ts before the alarm store kept a flag. */
  private keptAlarms(): AlarmMember[] {
    const kept = this.backend.getMeta<AlarmMember[]>(ALARMS_META_KEY);
    if (Array.isArray(kept)) return kept;
    return this.backend.getMeta<boolean>(LEGACY_NOSPACE_META_KEY) === true ? [{ memberID: this.memberIdStr, alarm: 'NOSPACE' }] : [];
  }

  /**
   * A write that does not fit in the quota: as etcd, this member's NOSPACE alarm is proposed (once,
   * while it is not raised) and the write refused once the alarm is applied.
   */
  private refuseOverQuota(done: ProposeCallback): void {
    if (this.alarms.isRaised(this.memberIdStr, 'NOSPACE')) return this.refuse(done, 'NoSpace');
    if (this.raisingNoSpace) {
      this.raisingNoSpace.push(done);
      return;
    }
    const waiting = (this.raisingNoSpace = [done]);
    this.proposeWith({ alarm: { action: 'ACTIVATE', memberID: this.memberIdStr, alarm: 'NOSPACE' } }, () => {
      this.raisingNoSpace = undefined;
      for (const d of waiting) this.refuse(d, 'NoSpace');
    });
  }

  /** Resolves once the log's sync thread runs; writes made before then wait for it. */
  ready(): Promise<void> {
    return this.wal.ready();
  }

  /** The index of the last applied log entry. */
  applied(): number {
    return this.appliedIndex;
  }

  /**
   * Proposes a write: it is answered once durable and applied. Errors of the request itself (etcd's
   * errors) reject with an EtcdError.
   */
  propose(req: InternalRequest): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      this.proposeWith(req, (err, result) => (err ? reject(err) : resolve(result!)));
    });
  }

  /**
   * propose() with a callback, called exactly once, possibly before this returns (a request refused
   * up front). For the busiest handlers: it saves the promises per request.
   */
  proposeWith(req: InternalRequest, done: ProposeCallback): void {
    if (this.stopped) return this.refuse(done, 'Stopped');
    // etcd's quota (etcdserver/quota.go): a request that adds data must fit, by etcd's estimate of
    // its cost, beside what the backend holds and what is on its way there
    const cost = spaceCost(req);
    if (cost > 0 && this.backend.projectedSize() + cost >= this.quotaBytes()) return this.refuseOverQuota(done);
    const index = this.nextIndex++;
    const data = encodeInternalRequest(req, index);
    // etcd refuses a request whose raft entry (InternalRaftRequest) passes --max-request-bytes. Ours
    // carries the log index as its ID where etcd's carries a header with a 64-bit request ID: the
    // size is counted as etcd's, so that the same request passes or fails on both.
    if (data.length - (1 + varintLength(index)) + this.etcdHeaderBytes() > this.cfg.maxRequestBytes) {
      this.nextIndex--;
      return this.refuse(done, 'RequestTooLarge');
    }
    if (cost > 0) this.backend.addPending(cost); // counted once it is on its way to the backend
    this.waiting.set(index, { req: req as InternalRequest__Output, done });
    try {
      this.wal.append(index, data);
    } catch (e) {
      this.waiting.delete(index);
      done(e as Error);
    }
  }

  private refuse(done: ProposeCallback, error: 'Stopped' | 'NoSpace' | 'RequestTooLarge'): void {
    this.metrics.proposalsFailed++;
    done(EtcdError.of(error));
  }

  /** True once the server has stopped taking writes (its log failed). */
  isStopped(): boolean {
    return this.stopped !== undefined;
  }

  /** The state /metrics reports. */
  metricsSnapshot(serverVersion: string, clusterVersion: string): MetricsSnapshot {
    const b = this.backend;
    const rev = this.kv.rev();
    return {
      metrics: this.metrics,
      memberIdHex: this.memberId.toString(16),
      serverVersion,
      clusterVersion,
      appliedIndex: this.appliedIndex,
      pendingProposals: this.waiting.size,
      quotaBytes: this.cfg.quotaBackendBytes < 0 ? this.cfg.quotaBackendBytes : this.quotaBytes(), // etcd shows a negative one as given
      dbSize: b.size(),
      dbSizeInUse: b.sizeInUse(),
      currentRevision: rev,
      compactRevision: this.kv.compactRev(),
      keys: this.kv.liveKeyCount(),
    };
  }

  private onDurable(last: number): void {
    for (let i = this.appliedIndex + 1; i <= last; i++) {
      const w = this.waiting.get(i);
      if (!w) continue;
      this.waiting.delete(i);
      let result: ApplyResult | undefined;
      let error: Error | null = null;
      try {
        result = this.applyEntry(i, w.req);
      } catch (e) {
        error = e as Error;
        this.metrics.proposalsFailed++;
      }
      try {
        w.done(error, result);
      } catch (e) {
        // a waiter's own failure must not stop the others from being answered
        this.log('error', `answering entry ${i} failed: ${(e as Error).message}`);
      }
    }
    this.saveApplied();
    this.maybeReleaseLog();
  }

  /** Applies entry index; saves its effects to the backend with the new consistent index. */
  private applyEntry(index: number, req: InternalRequest__Output): ApplyResult {
    let result: ApplyResult | undefined;
    let error: Error | undefined;
    try {
      result = this.applier.apply(req);
    } catch (e) {
      if (!(e instanceof EtcdError)) this.log('error', `apply of entry ${index} failed: ${(e as Error).message}`);
      error = e as Error;
    }
    this.appliedIndex = index;
    if (result?.kind === 'compaction') for (const v of result.removed) this.pendingRemoved.push(v);
    if (result?.kind === 'alarm') {
      // as etcd logs them, the member's ID in hex
      const { raised, disarmed } = result.change;
      const m = raised ?? disarmed;
      if (m) this.log('warn', raised ? 'alarm raised' : 'alarm disarmed', { alarm: String(m.alarm), from: BigInt(m.memberID).toString(16) });
    }
    for (const f of this.appliedListeners) f(index);
    if (error) throw error;
    return result!;
  }

  /**
   * Hands what was applied to the backend, at most every SAVE_INTERVAL_MS: each hand-over costs an
   * LMDB transaction, and until then the log holds the entries (it is released only up to what the
   * backend has saved and synced).
   */
  private saveApplied(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveNow();
    }, SAVE_INTERVAL_MS);
  }

  /** Queues the effects of everything applied since the last save, with the applied index. */
  private saveNow(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    if (this.savedIndex === this.appliedIndex || this.savesHeld) return;
    const added = this.pendingAdded;
    const removed = this.pendingRemoved;
    this.pendingAdded = [];
    this.pendingRemoved = [];
    this.savedIndex = this.appliedIndex;
    const alarms = this.alarms.takeChanged();
    if (alarms) {
      this.backend.putMetaOnSave(ALARMS_META_KEY, alarms);
      this.backend.putMetaOnSave(LEGACY_NOSPACE_META_KEY, undefined);
    }
    this.backend
      .save(added, removed, {
        consistentIndex: this.appliedIndex,
        rev: this.kv.rev(),
        compactRev: this.kv.compactRev(),
      })
      // the log still holds these entries, but a backend that cannot commit is a storage failure
      .catch((e) => this.fail(new Error(`backend: commit failed: ${(e as Error).message}`)));
  }

  /** Once the backend holds entries durably, the log segments before them can go. */
  private maybeReleaseLog(): void {
    if (this.releasing || this.savesHeld || this.wal.segmentCount() < 2) return;
    this.releasing = true;
    this.saveNow();
    const upTo = this.savedIndex;
    this.backend
      .flushed()
      .then(() => {
        const n = this.wal.releaseTo(upTo);
        if (n > 0) this.log('debug', `released ${n} log segments up to index ${upTo}`);
      })
      .catch((e) => this.log('warn', `log release failed: ${(e as Error).message}`))
      .finally(() => {
        this.releasing = false;
      });
  }

  /**
   * Told once if the server stops on a storage failure (the log or the backend could not be
   * written). It then refuses writes; the executable exits, as etcd does on a failed WAL sync.
   */
  onFatal: ((err: Error) => void) | undefined;

  private fail(err: Error): void {
    const first = this.stopped === undefined;
    this.stopped = err;
    this.log('error', `stopping: ${err.message}`);
    for (const [, w] of this.waiting) w.done(EtcdError.of('Stopped'));
    this.waiting.clear();
    if (first) this.onFatal?.(err);
  }

  /**
   * Defragments the backend (etcd's Defragment): everything applied is saved first; while the
   * database is rewritten, writes go on and are answered as usual (the log holds them) and are saved
   * once it is back. One at a time; a second call waits for the first.
   */
  defragment(): Promise<void> {
    const run = (this.defragRun ?? Promise.resolve())
      .catch(() => {})
      .then(async () => {
        if (this.stopped) throw EtcdError.of('Stopped');
        await this.sync();
        this.savesHeld = true;
        try {
          await this.backend.defragment();
        } catch (e) {
          this.log('error', `defragment failed: ${(e as Error).message}`);
          if (!this.backend.isOpen()) this.fail(e as Error);
          throw e;
        } finally {
          this.savesHeld = false;
          if (this.backend.isOpen()) {
            this.saveNow();
            this.maybeReleaseLog();
          }
        }
      });
    this.defragRun = run;
    return run;
  }

  /** Resolves when every durable write is also saved in the backend. */
  async sync(): Promise<void> {
    await this.wal.idle();
    this.saveNow();
    await this.backend.flushed();
  }

  addTimer(t: NodeJS.Timeout): void {
    this.timers.push(t);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.defragRun?.catch(() => {});
    try {
      await this.wal.close();
      this.saveNow();
      await this.backend.close();
    } finally {
      this.lock.release();
    }
  }
}

/** Where etcd-ts before the alarm store kept the NOSPACE alarm (true while raised) in the meta records. */
const LEGACY_NOSPACE_META_KEY = 'alarm:NOSPACE';
/** Where the raised alarms are kept in the backend's meta records: AlarmMember[]. */
const ALARMS_META_KEY = 'alarms';

/** Whether a server has run on this data dir: its log exists, as etcd decides it (wal.Exist). */
export function dataDirInitialized(dataDir: string): boolean {
  try {
    return fs.readdirSync(path.join(dataDir, 'member', 'wal')).some((f) => f.endsWith('.wal'));
  } catch {
    return false;
  }
}

export function parseInitialCluster(s: string): { name: string; url: string }[] {
  const out: { name: string; url: string }[] = [];
  for (const part of s.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`--initial-cluster: invalid entry "${p}" (want name=url)`);
    out.push({ name: p.slice(0, eq), url: p.slice(eq + 1) });
  }
  return out;
}
