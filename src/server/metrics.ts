// Prometheus metrics under etcd's names, for the /metrics endpoint of the client port: the ones
// dashboards and alerts for etcd read most (leader, proposals, database size, request counts, WAL
// fsync latency). Counters are plain numbers bumped on the request path; gauges are read when scraped.

/** A Prometheus histogram with fixed upper bounds (seconds). */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (v <= this.bounds[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  /** The exposition lines of this histogram under name (cumulative buckets, +Inf, sum, count). */
  lines(name: string): string[] {
    const out: string[] = [];
    let cum = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cum += this.counts[i];
      out.push(`${name}_bucket{le="${formatValue(this.bounds[i])}"} ${cum}`);
    }
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${formatValue(this.sum)}`, `${name}_count ${this.count}`);
    return out;
  }
}

/** etcd's WAL fsync buckets: 1 ms doubling to about 8 s. */
const FSYNC_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** Counters kept by the server as requests go by. */
export class Metrics {
  puts = 0;
  deletes = 0;
  ranges = 0;
  txns = 0;
  proposalsFailed = 0;
  readonly walFsync = new Histogram(FSYNC_BUCKETS);
  walWriteBytes = 0;
}

/** What a scrape reads from the server at that moment. */
export interface MetricsSnapshot {
  metrics: Metrics;
  memberIdHex: string;
  serverVersion: string;
  clusterVersion: string;
  appliedIndex: number;
  pendingProposals: number;
  quotaBytes: number;
  dbSize: number;
  dbSizeInUse: number;
  currentRevision: number;
  compactRevision: number;
  keys: number;
}

/** A value as Prometheus's Go client prints it. */
export function formatValue(v: number): string {
  // Go's strconv 'g' with shortest precision: exponent form below 1e-4 and from 1e6 up
  if (v === 0 || (Math.abs(v) >= 1e-4 && Math.abs(v) < 1e6)) return String(v);
  const [mantissa, exp] = v.toExponential().split('e');
  const n = Number(exp);
  return `${mantissa}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  lines: string[];
}

/** The text exposition format (version 0.0.4), families sorted by name as Prometheus clients do. */
export function renderMetrics(s: MetricsSnapshot): string {
  const m = s.metrics;
  const g = (name: string, help: string, v: number | string, labels = ''): Family => ({
    name,
    help,
    type: 'gauge',
    lines: [`${name}${labels} ${typeof v === 'number' ? formatValue(v) : v}`],
  });
  const c = (name: string, help: string, v: number): Family => ({ ...g(name, help, v), type: 'counter' });
  const families: Family[] = [
    g('etcd_cluster_version', "Which version is running. 1 for 'cluster_version' label with current cluster version", 1, `{cluster_version="${s.clusterVersion}"}`),
    g('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', s.compactRevision),
    g('etcd_debugging_mvcc_current_revision', 'The current revision of store.', s.currentRevision),
    g('etcd_debugging_mvcc_keys_total', 'Total number of keys.', s.keys),
    {
      name: 'etcd_disk_wal_fsync_duration_seconds',
      help: 'The latency distributions of fsync called by WAL.',
      type: 'histogram',
      lines: m.walFsync.lines('etcd_disk_wal_fsync_duration_seconds'),
    },
    c('etcd_disk_wal_write_bytes_total', 'Total number of bytes written in WAL.', m.walWriteBytes),
    g('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', s.dbSize),
    g('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', s.dbSizeInUse),
    c('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.', m.deletes),
    c('etcd_mvcc_put_total', 'Total number of puts seen by this member.', m.puts),
    c('etcd_mvcc_range_total', 'Total number of ranges seen by this member.', m.ranges),
    c('etcd_mvcc_txn_total', 'Total number of txns seen by this member.', m.txns),
    g('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', 1),
    g('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", 1, `{server_id="${s.memberIdHex}"}`),
    g('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', 1),
    g('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', 0),
    c('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', 1),
    g('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', s.appliedIndex),
    g('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', s.appliedIndex),
    c('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', m.proposalsFailed),
    g('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', s.pendingProposals),
    g('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', s.quotaBytes),
    g('etcd_server_version', "Which version is running. 1 for 'server_version' label with current version.", 1, `{server_version="${s.serverVersion}"}`),
  ];
  families.sort((a, b) => (a.name < b.name ? -1 : 1));
  return families.map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.lines].join('\n') + '\n').join('');
}
