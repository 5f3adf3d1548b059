// The server's configuration: etcd's flag names and defaults. Parsing flags and ETCD_* variables
// into this lives in flags.ts; startServer() takes this object directly.

export interface TLSConfig {
  certFile: string;
  keyFile: string;
  trustedCAFile?: string;
  clientCertAuth: boolean;
}

export interface ServerConfig {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  /** name=peerURL,... */
  initialCluster: string;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** 0: the default, 2 GiB. */
  quotaBackendBytes: number;
  autoCompactionMode: 'periodic' | 'revision';
  /** '' or '0': off. periodic: a duration ('1h', '30m') or hours as a number; revision: a count. */
  autoCompactionRetention: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  clientTLS?: TLSConfig;
  /** Log writes (tests shrink them). */
  walSegmentBytes: number;
  /** Interval of progress notifications to watchers that asked for them (etcd: 10 minutes). */
  watchProgressNotifyIntervalMs: number;
  /** Lease TTLs below this are raised to it (etcd: 1.5 x election timeout = 2 s by default... rounded up). */
  minLeaseTTL: number;
}

export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const name = overrides.name ?? 'default';
  const cfg: ServerConfig = {
    name,
    dataDir: `${name}.etcd`,
    listenClientUrls: ['http://127.0.0.1:2379'],
    advertiseClientUrls: ['http://127.0.0.1:2379'],
    listenPeerUrls: ['http://localhost:2380'],
    initialAdvertisePeerUrls: ['http://localhost:2380'],
    initialCluster: '',
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    maxRequestBytes: 1.5 * 1024 * 1024,
    maxTxnOps: 128,
    quotaBackendBytes: 0,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    logLevel: 'info',
    walSegmentBytes: 64 * 1024 * 1024,
    watchProgressNotifyIntervalMs: 10 * 60 * 1000,
    minLeaseTTL: 2,
    ...overrides,
  };
  if (overrides.dataDir === undefined) cfg.dataDir = `${cfg.name}.etcd`;
  if (!cfg.initialCluster) cfg.initialCluster = cfg.initialAdvertisePeerUrls.map((u) => `${cfg.name}=${u}`).join(',');
  return cfg;
}
