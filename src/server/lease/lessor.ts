// The lessor: owns every lease (its granted TTL, its expiry, the keys attached to it), renews leases on
// keep-alive, and notices when they expire. It never deletes anything itself: an expired lease is
// handed to the revoker, which proposes a lease_revoke entry through the log, so expiry is durable and
// ordered with every other write; the applier then calls revoke() and deletes the keys.
//
// Granted TTLs are replicated state (persisted, and the same on every member); expiry times are local
// (read from the injected clock), as in etcd. A lease only starts counting down once the lessor is
// promoted (etcd's Promote on becoming leader): leases recovered at start-up get their full TTL plus
// the election timeout again, so a restart never expires a lease early.
import { EtcdError } from '../../api/errors.js';
import type { LeaseHooks } from '../apply/applier.js';

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;

/** Time as the lessor sees it; tests pass a fake one. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls fn every ms milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** Where granted leases are kept across restarts (the backend's lease database). */
export interface LeasePersistence {
  load(): Iterable<{ id: string; ttl: number }>;
  put(id: string, ttl: number): void;
  remove(id: string): void;
}

export interface LessorOptions {
  /** TTLs below this (seconds) are raised to it. */
  minTTL: number;
  clock?: Clock;
  /** How often expiry is checked (etcd: 500 ms). */
  checkIntervalMs?: number;
  /** An expired lease whose revoke did not go through is proposed again after this (etcd: 3 s). */
  revokeRetryMs?: number;
  /** At most this many revokes are proposed per second (etcd's leaseRevokeRate). */
  revokeRate?: number;
}

export interface LeaseInfo {
  id: string;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Remaining seconds, truncated as etcd does (int64 of the float seconds). */
  remaining: number;
  keys: string[];
}

class Lease {
  readonly keys = new Set<string>();
  /** Monotonic ms; Infinity until the lessor is promoted. */
  expiry = Infinity;
  /** When the last revoke for this lease was proposed, if any. */
  revokeProposedAt: number | undefined;
  private onRevoked: (() => void) | undefined;
  /** Resolves once the lease is revoked: a keep-alive of an expired lease waits for it. */
  readonly revoked: Promise<void>;
  constructor(
    readonly id: string,
    readonly ttl: number,
  ) {
    this.revoked = new Promise((resolve) => (this.onRevoked = resolve));
  }

  markRevoked(): void {
    this.onRevoked?.();
  }
}

export class Lessor implements LeaseHooks {
  private readonly leases = new Map<string, Lease>();
  private readonly clock: Clock;
  private readonly checkIntervalMs: number;
  private readonly revokeRetryMs: number;
  private readonly revokeRate: number;
  private promoted = false;
  private stopTimer: (() => void) | undefined;
  private revoker: ((id: string) => Promise<unknown>) | undefined;
  private onStop: () => void = () => {};
  /** Resolves when the lessor stops: keep-alives waiting on a revoke give up then. */
  private readonly stopped = new Promise<void>((resolve) => (this.onStop = resolve));

  constructor(
    private readonly persistence: LeasePersistence,
    private readonly opts: LessorOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.checkIntervalMs = opts.checkIntervalMs ?? 500;
    this.revokeRetryMs = opts.revokeRetryMs ?? 3000;
    this.revokeRate = opts.revokeRate ?? 1000;
    for (const { id, ttl } of persistence.load()) this.leases.set(id, new Lease(id, ttl));
  }

  /** Re-attaches keys to their leases after a restart (from the store's live keys). */
  recoverKeys(keys: Iterable<{ key: string; lease: string }>): void {
    for (const { key, lease } of keys) {
      if (lease !== '0') this.leases.get(lease)?.keys.add(key);
    }
  }

  // ---- LeaseHooks: called by the applier only ----

  exists(id: string): boolean {
    return this.leases.has(id);
  }

  attach(id: string, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: string, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  grant(id: string, ttl: number): number {
    if (id === '0') throw EtcdError.of('LeaseNotFound');
    if (ttl > MAX_LEASE_TTL) throw EtcdError.of('LeaseTTLTooLarge');
    if (this.leases.has(id)) throw EtcdError.of('LeaseExist');
    const granted = Math.max(ttl, this.opts.minTTL);
    const l = new Lease(id, granted);
    if (this.promoted) l.expiry = this.clock.now() + granted * 1000;
    this.leases.set(id, l);
    this.persistence.put(id, granted);
    return granted;
  }

  revoke(id: string): string[] {
    const l = this.leases.get(id);
    if (!l) throw EtcdError.of('LeaseNotFound');
    this.leases.delete(id);
    this.persistence.remove(id);
    l.markRevoked();
    return [...l.keys];
  }

  // ---- served to clients ----

  /**
   * Renews a lease: its expiry becomes now + TTL. Returns the TTL. An unknown lease, or one that has
   * already expired (once its revoke has gone through), throws LeaseNotFound.
   */
  async renew(id: string): Promise<number> {
    const l = this.leases.get(id);
    if (!l) throw EtcdError.of('LeaseNotFound');
    if (l.expiry <= this.clock.now()) {
      // expired: its revoke is on its way; the answer is "not found" once it has happened
      const stopped = await Promise.race([l.revoked.then(() => false), this.stopped.then(() => true)]);
      throw EtcdError.of(stopped ? 'Stopped' : 'LeaseNotFound');
    }
    l.expiry = this.promoted ? this.clock.now() + l.ttl * 1000 : Infinity;
    return l.ttl;
  }

  lookup(id: string): LeaseInfo | undefined {
    const l = this.leases.get(id);
    if (!l) return undefined;
    return { id, ttl: l.ttl, remaining: this.remainingOf(l), keys: [...l.keys].sort() };
  }

  /** Every lease, soonest expiry first (etcd's order). */
  list(): LeaseInfo[] {
    return [...this.leases.values()]
      .sort((a, b) => (a.expiry < b.expiry ? -1 : a.expiry > b.expiry ? 1 : 0))
      .map((l) => ({ id: l.id, ttl: l.ttl, remaining: this.remainingOf(l), keys: [] }));
  }

  size(): number {
    return this.leases.size;
  }

  private remainingOf(l: Lease): number {
    if (l.expiry === Infinity) return l.ttl;
    return Math.trunc((l.expiry - this.clock.now()) / 1000);
  }

  // ---- expiry ----

  /**
   * Starts counting down: every lease gets its full TTL plus extendMs from now, and expired leases
   * are handed to revoker from then on.
   */
  promote(revoker: (id: string) => Promise<unknown>, extendMs: number): void {
    this.revoker = revoker;
    this.promoted = true;
    const now = this.clock.now();
    for (const l of this.leases.values()) l.expiry = now + extendMs + l.ttl * 1000;
    this.stopTimer?.();
    this.stopTimer = this.clock.every(this.checkIntervalMs, () => this.revokeExpired());
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
    this.promoted = false;
    this.onStop();
  }

  /** One expiry check: proposes the revoke of expired leases, at most revokeRate per second. */
  revokeExpired(): void {
    const revoker = this.revoker;
    if (!revoker || !this.promoted) return;
    const now = this.clock.now();
    let budget = Math.max(1, Math.floor((this.revokeRate * this.checkIntervalMs) / 1000));
    for (const l of this.leases.values()) {
      if (budget === 0) break;
      if (l.expiry > now) continue;
      if (l.revokeProposedAt !== undefined && now - l.revokeProposedAt < this.revokeRetryMs) continue;
      l.revokeProposedAt = now;
      budget--;
      // a failed revoke (server stopping, say) is simply tried again after revokeRetryMs
      revoker(l.id).catch(() => {});
    }
  }
}
