// Auto-compaction, as etcd's --auto-compaction-mode/--auto-compaction-retention:
//  periodic: keep `retention` of history, as etcd 3.4's periodic compactor does it. The revision is
//            sampled every min(retention, 1h)/10, and the samples of one retention are kept. Once a
//            retention has passed since the start, the oldest kept sample (the revision of one
//            retention ago) is compacted; after that, once every min(retention, 1h) after the last
//            success. So between one and two retentions of history are kept (with 10h: compactions
//            every hour, each to the revision of ten hours before).
//  revision: every checkInterval, compact to current revision - retention.
// Compactions go through the log like any client compaction.
import { EtcdError } from '../api/errors.js';
import { parseGoDurationMs } from './flags.js';
import type { EtcdServer, Logger } from './server.js';

/** Parses a periodic retention: a Go duration ('1h30m', '5m') or a bare number of hours. */
export function retentionMs(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 3600_000;
  const ms = parseGoDurationMs(s);
  if (ms === undefined) throw new Error(`invalid auto-compaction-retention "${s}"`);
  return ms;
}

export function startCompactor(server: EtcdServer, log: Logger, revisionCheckMs = 5 * 60_000): NodeJS.Timeout | undefined {
  const { autoCompactionMode: mode, autoCompactionRetention: retention } = server.cfg;
  if (!retention || retention === '0') return undefined;
  /** Compacts to rev; true when done or nothing to do (etcd counts ErrCompacted as done too). */
  const compact = async (rev: number): Promise<boolean> => {
    if (rev <= server.kv.compactRev() || rev <= 1) return true;
    try {
      await server.propose({ compaction: { revision: rev } });
      log('info', 'auto compaction done', { revision: rev, mode, retention });
      return true;
    } catch (e) {
      if (e instanceof EtcdError && e.is('Compacted')) return true;
      log('warn', `auto compaction failed: ${(e as Error).message}`);
      return false;
    }
  };
  if (mode === 'revision') {
    // etcd reads a number as a count of revisions, and anything else as a Go duration, whose
    // nanoseconds then count revisions ("1h": 3.6e12, in effect no compaction)
    const keep = /^\d+$/.test(retention) ? Number(retention) : retentionMs(retention) * 1e6;
    if (!Number.isFinite(keep) || keep < 0) throw new Error(`invalid auto-compaction-retention "${retention}" for revision mode`);
    const t = setInterval(() => void compact(server.kv.rev() - keep), revisionCheckMs);
    t.unref();
    return t;
  }
  const period = retentionMs(retention);
  if (period <= 0) return undefined;
  const interval = Math.min(period, 3600_000);
  const sampleEvery = interval / 10;
  const keep = Math.floor(period / sampleEvery) + 1;
  const revs: number[] = [server.kv.rev()];
  let lastSuccess = Date.now();
  let wait = period; // the first compaction waits one whole retention, later ones `interval`
  let running = false;
  const t = setInterval(() => {
    if (!running && Date.now() - lastSuccess >= wait) {
      wait = interval;
      running = true;
      const rev = revs[0];
      void compact(rev).then((ok) => {
        running = false;
        if (ok) lastSuccess = Date.now();
      });
    }
    revs.push(server.kv.rev());
    if (revs.length > keep) revs.shift(); // revs[0]: the revision of one retention ago
  }, sampleEvery);
  t.unref();
  return t;
}
