// Auto-compaction, as etcd's --auto-compaction-mode/--auto-compaction-retention:
//  periodic: keep `retention` of history. Every retention/10 the current revision is sampled; the
//            revision sampled one retention ago is compacted (etcd's periodic compactor, simplified).
//  revision: every checkInterval, compact to current revision - retention.
// Compactions go through the log like any client compaction. Time comes from injected timers.
import { EtcdError } from '../api/errors.js';
import type { EtcdServer, Logger } from './server.js';

/** Parses a periodic retention: a Go duration ('1h30m', '5m') or a bare number of hours. */
export function retentionMs(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 3600_000;
  let total = 0;
  let rest = s;
  const re = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  while (rest.length > 0) {
    const m = re.exec(rest);
    if (!m) throw new Error(`invalid auto-compaction-retention "${s}"`);
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    rest = rest.slice(m[0].length);
  }
  return total;
}

export function startCompactor(server: EtcdServer, log: Logger, revisionCheckMs = 5 * 60_000): NodeJS.Timeout | undefined {
  const { autoCompactionMode: mode, autoCompactionRetention: retention } = server.cfg;
  if (!retention || retention === '0') return undefined;
  const compact = async (rev: number): Promise<void> => {
    if (rev <= server.kv.compactRev() || rev <= 1) return;
    try {
      await server.propose({ compaction: { revision: rev } });
      log('info', 'auto compaction done', { revision: rev, mode, retention });
    } catch (e) {
      if (!(e instanceof EtcdError && e.is('Compacted'))) log('warn', `auto compaction failed: ${(e as Error).message}`);
    }
  };
  if (mode === 'revision') {
    const keep = Number(retention);
    if (!Number.isInteger(keep) || keep < 0) throw new Error(`invalid auto-compaction-retention "${retention}" for revision mode`);
    const t = setInterval(() => void compact(server.kv.rev() - keep), revisionCheckMs);
    t.unref();
    return t;
  }
  const period = retentionMs(retention);
  if (period <= 0) return undefined;
  const step = Math.max(1, Math.floor(period / 10));
  const samples: number[] = [];
  const t = setInterval(() => {
    samples.push(server.kv.rev());
    if (samples.length > 10) void compact(samples.shift()!);
  }, step);
  t.unref();
  return t;
}
