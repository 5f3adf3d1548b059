// etcd's command-line flags and ETCD_* environment variables -> ServerConfig. Flag names, defaults
// and error texts are etcd's (Go's flag package: "flag provided but not defined: -x", exit 2). A flag
// on the command line beats its variable; every variable is ETCD_ + the flag name in upper snake case.
import * as fs from 'node:fs';
import { ConfigFileError, parseConfigFile } from './config_file.js';
import { defaultConfig, type ServerConfig } from './config.js';
import { goDuration, goInteger } from '../util/go-strconv.js';

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/**
 * A flag that parsed but whose value etcd refuses when it checks the configuration: etcd reports
 * these as "error verifying flags, ..." and exits 1 (parse errors print the usage and exit 2).
 */
export class FlagVerifyError extends FlagError {
  constructor(message: string) {
    super(message);
    this.name = 'FlagVerifyError';
  }
}

/**
 * A configuration etcd refuses outright, before checking the flags' values: it logs these at
 * critical level and exits 1 (a variable shadowed by its flag, for one).
 */
export class FlagFatalError extends FlagError {
  constructor(message: string) {
    super(message);
    this.name = 'FlagFatalError';
  }
}

/** etcd's answer when --listen-client-urls is set and --advertise-client-urls is not. */
export const UNSET_ADVERTISE_CLIENT_URLS = '--advertise-client-urls is required when --listen-client-urls is set explicitly';

type Kind = 'string' | 'bool' | 'uint' | 'int' | 'urls' | 'duration';

interface FlagDef {
  kind: Kind;
  /** Sets the parsed value on the config; absent for flags accepted but without effect here. */
  apply?: (cfg: ServerConfig, v: string, all: Map<string, string>) => void;
  help: string;
}

function parseUint(name: string, v: string): number {
  const n = goInteger(v);
  if (n === undefined || n < 0n || n >= 2n ** 64n) throw new FlagError(`invalid value "${v}" for flag -${name}: parse error`);
  return Number(n);
}

function parseInt64(name: string, v: string): number {
  const n = goInteger(v);
  if (n === undefined || n < -(2n ** 63n) || n >= 2n ** 63n) throw new FlagError(`invalid value "${v}" for flag -${name}: parse error`);
  return Number(n);
}

/** The URLs of a URL list flag, each once (etcd's UniqueURLs), in the order given. */
function parseUrls(name: string, v: string): string[] {
  const out: string[] = [];
  for (const raw of v.split(',')) {
    const s = raw.trim();
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      // Go's url.Parse names a port that is not a number
      const port = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@]*?(:[^/?#:\]]*)$/i.exec(s)?.[1];
      if (port !== undefined && !/^:\d*$/.test(port)) {
        throw new FlagError(`invalid value "${v}" for flag -${name}: parse "${s}": invalid port "${port}" after host`);
      }
      throw new FlagError(`invalid value "${v}" for flag -${name}: URL scheme must be http, https, unix, or unixs: ${s}`);
    }
    if (!['http:', 'https:', 'unix:', 'unixs:'].includes(u.protocol)) {
      throw new FlagError(`invalid value "${v}" for flag -${name}: URL scheme must be http, https, unix, or unixs: ${s}`);
    }
    if (u.pathname !== '' && u.pathname !== '/' && (u.protocol === 'http:' || u.protocol === 'https:')) {
      throw new FlagError(`invalid value "${v}" for flag -${name}: URL must not contain a path: ${s}`);
    }
    const url = s.replace(/\/$/, '');
    if (!out.includes(url)) out.push(url);
  }
  return out;
}

function parseBool(name: string, v: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)) return false;
  throw new FlagError(`invalid boolean value "${v}" for -${name}: parse error`);
}

/** A duration as Go's time.ParseDuration reads one ("1m30s", ".5s", "-2h", "0"), in milliseconds. */
export function parseGoDurationMs(v: string): number | undefined {
  return goDuration(v).ms;
}

function parseDurationMs(name: string, v: string): number {
  const ms = parseGoDurationMs(v);
  if (ms === undefined) throw new FlagError(`invalid value "${v}" for flag -${name}: parse error`);
  return ms;
}

const ignored = (help: string, kind: Kind = 'string'): FlagDef => ({ kind, help: `${help} (accepted; no effect in etcd-ts yet)` });

/** Every flag the server knows, by name without dashes. */
export const FLAGS: Record<string, FlagDef> = {
  'config-file': {
    kind: 'string',
    help: 'Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.',
  },
  name: { kind: 'string', help: 'Human-readable name for this member.', apply: (c, v) => (c.name = v) },
  'data-dir': { kind: 'string', help: 'Path to the data directory (default "${name}.etcd").', apply: (c, v) => (c.dataDir = v) },
  'wal-dir': ignored('Path to the dedicated wal directory'),
  'listen-client-urls': {
    kind: 'urls',
    help: 'List of URLs to listen on for client traffic (default "http://127.0.0.1:2379").',
    apply: (c, v) => (c.listenClientUrls = parseUrls('listen-client-urls', v)),
  },
  'advertise-client-urls': {
    kind: 'urls',
    help: "List of this member's client URLs to advertise to the public (default \"http://127.0.0.1:2379\").",
    apply: (c, v) => (c.advertiseClientUrls = parseUrls('advertise-client-urls', v)),
  },
  'listen-peer-urls': {
    kind: 'urls',
    help: 'List of URLs to listen on for peer traffic (default "http://localhost:2380").',
    apply: (c, v) => (c.listenPeerUrls = parseUrls('listen-peer-urls', v)),
  },
  'initial-advertise-peer-urls': {
    kind: 'urls',
    help: "List of this member's peer URLs to advertise to the rest of the cluster (default \"http://localhost:2380\").",
    apply: (c, v) => (c.initialAdvertisePeerUrls = parseUrls('initial-advertise-peer-urls', v)),
  },
  'initial-cluster': {
    kind: 'string',
    help: 'Initial cluster configuration for bootstrapping (default "default=http://localhost:2380").',
    apply: (c, v) => (c.initialCluster = v),
  },
  'initial-cluster-state': {
    kind: 'string',
    help: "Initial cluster state ('new' or 'existing').",
    apply: (c, v) => {
      if (v !== 'new' && v !== 'existing') {
        throw new FlagError(`invalid value "${v}" for flag -initial-cluster-state: valid values are "new" or "existing"`);
      }
      c.initialClusterState = v;
    },
  },
  'initial-cluster-token': {
    kind: 'string',
    help: 'Initial cluster token for the etcd cluster during bootstrap (default "etcd-cluster").',
    apply: (c, v) => (c.initialClusterToken = v),
  },
  'max-request-bytes': {
    kind: 'uint',
    help: 'Maximum client request size in bytes the server will accept (default 1572864).',
    apply: (c, v) => (c.maxRequestBytes = parseUint('max-request-bytes', v)),
  },
  'max-txn-ops': {
    kind: 'uint',
    help: 'Maximum number of operations permitted in a transaction (default 128).',
    apply: (c, v) => (c.maxTxnOps = parseUint('max-txn-ops', v)),
  },
  'quota-backend-bytes': {
    kind: 'int',
    help: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota; a negative value disables it).',
    apply: (c, v) => (c.quotaBackendBytes = parseInt64('quota-backend-bytes', v)),
  },
  'auto-compaction-mode': {
    kind: 'string',
    help: "Interpret 'auto-compaction-retention' one of: periodic|revision (default \"periodic\").",
    apply: (c, v) => {
      if (v !== 'periodic' && v !== 'revision') {
        throw new FlagVerifyError(`unknown auto-compaction-mode "${v}"`);
      }
      c.autoCompactionMode = v;
    },
  },
  'auto-compaction-retention': {
    kind: 'string',
    help: "Auto compaction retention for mvcc key value store. 0 means disable auto compaction (default \"0\").",
    apply: (c, v) => (c.autoCompactionRetention = v),
  },
  'log-level': {
    kind: 'string',
    help: "Configures log level. Only supports debug, info, warn, error, panic, or fatal (default \"info\").",
    apply: (c, v) => {
      if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(v)) {
        throw new FlagVerifyError(`unknown log-level "${v}" (want debug, info, warn, error, panic or fatal)`);
      }
      c.logLevel = v as ServerConfig['logLevel'];
    },
  },
  'cert-file': { kind: 'string', help: 'Path to the client server TLS cert file.', apply: (c, v) => (tls(c).certFile = v) },
  'key-file': { kind: 'string', help: 'Path to the client server TLS key file.', apply: (c, v) => (tls(c).keyFile = v) },
  'trusted-ca-file': { kind: 'string', help: 'Path to the client server TLS trusted CA cert file.', apply: (c, v) => (tls(c).trustedCAFile = v) },
  'client-cert-auth': {
    kind: 'bool',
    help: 'Enable client cert authentication.',
    apply: (c, v) => (tls(c).clientCertAuth = parseBool('client-cert-auth', v)),
  },
  'heartbeat-interval': ignored('Time (in milliseconds) of a heartbeat interval', 'uint'),
  'election-timeout': {
    kind: 'uint',
    help: 'Time (in milliseconds) for an election to timeout (default 1000).',
    apply: (c, v) => (c.minLeaseTTL = Math.ceil((3 * parseUint('election-timeout', v)) / 2 / 1000)),
  },
  'snapshot-count': ignored('Number of committed transactions to trigger a snapshot to disk', 'uint'),
  'experimental-watch-progress-notify-interval': {
    kind: 'duration',
    help: 'Duration of periodic watch progress notifications (default 10m0s).',
    apply: (c, v) => (c.watchProgressNotifyIntervalMs = parseDurationMs('experimental-watch-progress-notify-interval', v)),
  },
  'auto-tls': ignored('Client TLS using generated certificates', 'bool'),
  'client-crl-file': ignored('Path to the client certificate revocation list file'),
  'peer-cert-file': ignored('Path to the peer server TLS cert file'),
  'peer-key-file': ignored('Path to the peer server TLS key file'),
  'peer-trusted-ca-file': ignored('Path to the peer server TLS trusted CA file'),
  'peer-client-cert-auth': ignored('Enable peer client cert authentication', 'bool'),
  'peer-auto-tls': ignored('Peer TLS using self-generated certificates', 'bool'),
  'strict-reconfig-check': ignored('Reject reconfiguration requests that would cause quorum loss', 'bool'),
  'enable-v2': ignored('Accept etcd V2 client requests', 'bool'),
  'enable-pprof': ignored('Enable runtime profiling data via HTTP server', 'bool'),
  'metrics': ignored('Set level of detail for exported metrics'),
  'logger': ignored("Specify 'zap' for structured logging or 'capnslog'"),
  'log-outputs': ignored('Specify stdout, stderr, or a file path for logs'),
  'debug': ignored('Enable debug-level logging', 'bool'),
  'max-snapshots': ignored('Maximum number of snapshot files to retain', 'uint'),
  'max-wals': ignored('Maximum number of wal files to retain', 'uint'),
  'grpc-keepalive-min-time': ignored('Minimum interval duration that a client should wait before pinging server'),
  'grpc-keepalive-interval': ignored('Frequency duration of server-to-client ping to check if a connection is alive'),
  'grpc-keepalive-timeout': ignored('Additional duration of wait before closing a non-responsive connection'),
  'discovery': ignored('Discovery URL used to bootstrap the cluster'),
  'force-new-cluster': ignored('Force to create a new one member cluster', 'bool'),
  'cors': ignored('Comma-separated white list of origins for CORS'),
  'host-whitelist': ignored('Comma-separated acceptable hostnames from HTTP client requests'),
  'listen-metrics-urls': ignored('List of URLs to listen on for the metrics and health endpoints'),
  'auth-token': ignored('Specify auth token type'),
  'cipher-suites': ignored('Comma-separated list of supported TLS cipher suites'),
  // the rest of etcd 3.4's flags: taken, so a command line written for etcd starts, but without effect
  'auth-token-ttl': ignored('The lifetime in seconds of the auth token', 'uint'),
  'bcrypt-cost': ignored('Specify bcrypt algorithm cost factor for auth password hashing', 'uint'),
  'backend-batch-interval': ignored('BackendBatchInterval is the maximum time before commit the backend transaction', 'duration'),
  'backend-batch-limit': ignored('BackendBatchLimit is the maximum operations before commit the backend transaction', 'int'),
  'max-concurrent-streams': ignored('Maximum concurrent streams that each client can open at a time', 'uint'),
  'pre-vote': ignored('Enable to run an additional Raft election phase', 'bool'),
  'initial-election-tick-advance': ignored('Whether to fast-forward initial election ticks on boot for faster election', 'bool'),
  'unsafe-no-fsync': ignored('Disables fsync, unsafe, will cause data loss (etcd-ts always syncs)', 'bool'),
  'enable-grpc-gateway': ignored('Enable GRPC gateway (the gateway is always on)', 'bool'),
  'log-package-levels': ignored('Specify a particular log level for each etcd package'),
  'log-output': ignored('[TO BE DEPRECATED IN 3.5] use --log-outputs instead'),
  'client-cert-allowed-hostname': ignored('Allowed TLS hostname for client cert authentication'),
  'peer-crl-file': ignored('Path to the peer certificate revocation list file'),
  'peer-cert-allowed-cn': ignored('Allowed CN for inter peer authentication'),
  'peer-cert-allowed-hostname': ignored('Allowed TLS hostname for inter peer authentication'),
  'discovery-fallback': ignored("Expected behavior ('exit' or 'proxy') when discovery services fails"),
  'discovery-proxy': ignored('HTTP proxy to use for traffic to discovery service'),
  'discovery-srv': ignored('DNS domain used to bootstrap initial cluster'),
  'discovery-srv-name': ignored('Service name to query when using DNS discovery'),
  proxy: {
    kind: 'string',
    help: "Valid values include 'off', 'readonly' or 'on' (etcd-ts has no v2 proxy: only 'off').",
    apply: (_c, v) => {
      if (!['off', 'readonly', 'on'].includes(v)) throw new FlagVerifyError(`invalid value "${v}" for flag -proxy: valid values are "off", "readonly" or "on"`);
      // a proxy forwards to a cluster and stores nothing: starting a server instead would mislead
      if (v !== 'off') throw new FlagVerifyError(`--proxy ${v}: etcd-ts does not run as a v2 proxy`);
    },
  },
  'proxy-failure-wait': ignored('Time (in milliseconds) an endpoint will be held in a failed state', 'uint'),
  'proxy-refresh-interval': ignored('Time (in milliseconds) of the endpoints refresh interval', 'uint'),
  'proxy-dial-timeout': ignored('Time (in milliseconds) for a dial to timeout', 'uint'),
  'proxy-write-timeout': ignored('Time (in milliseconds) for a write to timeout', 'uint'),
  'proxy-read-timeout': ignored('Time (in milliseconds) for a read to timeout', 'uint'),
  'experimental-initial-corrupt-check': ignored('Enable to check data corruption before serving any client/peer traffic', 'bool'),
  'experimental-corrupt-check-time': ignored('Duration of time between cluster corruption check passes', 'duration'),
  'experimental-enable-v2v3': ignored('v3 prefix for serving emulated v2 state'),
  'experimental-enable-lease-checkpoint': ignored('Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases', 'bool'),
  'experimental-enable-lease-checkpoint-persist': ignored('Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases', 'bool'),
  'experimental-compaction-batch-limit': ignored('Sets the maximum revisions deleted in each compaction batch', 'int'),
  'experimental-peer-skip-client-san-verification': ignored('Skip verification of SAN field in client certificate for peer connections', 'bool'),
  'experimental-backend-bbolt-freelist-type': ignored("BackendFreelistType specifies the type of freelist that boltdb backend uses(array and map are supported types)"),
  'experimental-warning-apply-duration': ignored('Time duration after which a warning is generated if request takes more time', 'duration'),
};

function tls(c: ServerConfig) {
  if (!c.clientTLS) c.clientTLS = { certFile: '', keyFile: '', clientCertAuth: false };
  return c.clientTLS;
}

export interface ParsedFlags {
  config: ServerConfig;
  version: boolean;
  help: boolean;
  warnings: string[];
}

export function envName(flag: string): string {
  return 'ETCD_' + flag.toUpperCase().replace(/-/g, '_');
}

/** Parses etcd's flags (Go style: -flag, --flag, --flag=value, --flag value) and ETCD_* variables. */
export function parseServerFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const given = new Map<string, string>();
  let version = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') {
      throw new FlagError(`'${arg}' is not a valid flag`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'version') {
      version = true;
      continue;
    }
    if (name === 'h' || name === 'help') {
      help = true;
      continue;
    }
    const def = FLAGS[name];
    if (!def) throw new FlagError(`flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (def.kind === 'bool') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    given.set(name, value);
  }

  const warnings: string[] = [];
  // as etcd: a config file, from the flag or ETCD_CONFIG_FILE, replaces the flags and variables
  const configFile = given.get('config-file') || env.ETCD_CONFIG_FILE || undefined;
  if (configFile !== undefined) {
    const fromFile = readConfigFile(configFile);
    warnings.push(`loaded server configuration from ${configFile}: other command line flags and environment variables are ignored`);
    const settings = new Map([...fromFile].filter(([k]) => k in FLAGS && k !== 'config-file'));
    // etcd reads the file with YAML 1.1, where a bool may also be yes/no, on/off, y/n
    for (const [k, v] of settings) {
      if (FLAGS[k].kind !== 'bool') continue;
      if (/^(y|Y|yes|Yes|YES|on|On|ON)$/.test(v)) settings.set(k, 'true');
      else if (/^(n|N|no|No|NO|off|Off|OFF)$/.test(v)) settings.set(k, 'false');
    }
    return finish(settings, new Set(), version, help, warnings, configFile);
  }
  const fromEnv = new Map<string, string>();
  const known = new Set(Object.keys(FLAGS).map(envName));
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('ETCD_') || v === undefined) continue;
    if (k.startsWith('ETCD_TS_') || k === 'ETCD_UNSUPPORTED_ARCH') continue;
    if (!known.has(k)) {
      warnings.push(`unrecognized environment variable ${k}=${v}`);
      continue;
    }
    const flag = Object.keys(FLAGS).find((f) => envName(f) === k)!;
    if (given.has(flag)) {
      throw new FlagFatalError(
        `conflicting environment variable "${k}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    // etcd takes a variable only when it is not empty
    if (v !== '') fromEnv.set(flag, v);
  }

  return finish(new Map([...fromEnv, ...given]), new Set(given.keys()), version, help, warnings);
}

function readConfigFile(file: string): Map<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file or directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new FlagVerifyError(`open ${file}: ${why}`);
  }
  try {
    return parseConfigFile(file, text);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new FlagVerifyError(e.message);
    throw e;
  }
}

/**
 * The configuration from every setting (by flag name). `given`: the names set on the command line
 * (the others came from ETCD_* variables), or `file`: the config file they all came from.
 */
function finish(all: Map<string, string>, given: Set<string>, version: boolean, help: boolean, warnings: string[], file?: string): ParsedFlags {
  const cfg = defaultConfig({ name: all.get('name') ?? 'default' });
  const explicitDataDir = all.has('data-dir');
  // apply in a fixed order so derived defaults (data-dir from name, initial-cluster) come out right
  for (const [name, value] of all) {
    const def = FLAGS[name];
    try {
      if (def.kind === 'bool') parseBool(name, value);
      if (!def.apply) {
        // a flag without effect still takes only what etcd would parse
        if (def.kind === 'uint') parseUint(name, value);
        if (def.kind === 'int') parseInt64(name, value);
        if (def.kind === 'duration') parseDurationMs(name, value);
      }
      def.apply?.(cfg, value, all);
    } catch (e) {
      // a variable's (or the file's) value that does not parse: etcd names where it came from, and exits 1
      if (!(e instanceof FlagError) || e instanceof FlagVerifyError || given.has(name)) throw e;
      const reason = /^invalid (?:boolean )?value "[^"]*" for (?:flag )?-[\w-]+: (.*)$/s.exec(e.message)?.[1] ?? e.message;
      throw new FlagVerifyError(`invalid value "${value}" for ${file === undefined ? envName(name) : `${name} in ${file}`}: ${reason}`);
    }
  }
  // as etcd: listening on chosen addresses means saying which of them clients should use (a config
  // file that names no advertise URLs keeps the default ones)
  if (file === undefined && all.has('listen-client-urls') && !all.has('advertise-client-urls')) {
    throw new FlagVerifyError(UNSET_ADVERTISE_CLIENT_URLS);
  }
  if (!explicitDataDir) cfg.dataDir = `${cfg.name}.etcd`;
  if (!all.has('initial-cluster')) {
    cfg.initialCluster = cfg.initialAdvertisePeerUrls.map((u) => `${cfg.name}=${u}`).join(',');
  }
  if (cfg.clientTLS) {
    const usesHttps = cfg.listenClientUrls.some((u) => u.startsWith('https:') || u.startsWith('unixs:'));
    if (usesHttps && (!cfg.clientTLS.certFile || !cfg.clientTLS.keyFile)) {
      throw new FlagError('--cert-file and --key-file are both needed for https:// client URLs');
    }
  }
  return { config: cfg, version, help, warnings };
}

export function serverUsage(): string {
  const lines = ['Usage:', '', '  etcd [flags]', '    Start an etcd server.', '', '  etcd --version', '    Show the version of etcd.', '', '  etcd -h | --help', '    Show the help information about etcd.', '', 'Flags:'];
  for (const [name, def] of Object.entries(FLAGS)) {
    lines.push(`  --${name}${def.kind === 'bool' ? '' : " '<value>'"}`, `      ${def.help}`);
  }
  return lines.join('\n') + '\n';
}
