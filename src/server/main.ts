// The server's command line: `etcd [flags]` and `etcdctl serve [flags]`. Parses etcd's flags, starts
// the embedded server, and stops it cleanly on SIGINT/SIGTERM.
import { jsonLogger, startServer } from './embed.js';
import { FlagError, FlagFatalError, FlagVerifyError, UNSET_ADVERTISE_CLIENT_URLS, parseServerFlags, serverUsage } from './flags.js';
import { dataDirInitialized, parseInitialCluster } from './server.js';
import { SERVER_VERSION } from './api/maintenance.js';

export const ETCD_TS_VERSION = '0.1.0';

function fatal(msg: string): never {
  process.stderr.write(JSON.stringify({ level: 'fatal', ts: new Date().toISOString(), msg }) + '\n');
  process.exit(1);
}

export async function runServerMain(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseServerFlags(argv);
  } catch (e) {
    if (e instanceof FlagFatalError) fatal(e.message);
    if (e instanceof FlagVerifyError) {
      process.stderr.write(`error verifying flags, ${e.message}. See 'etcd --help'.\n`);
      if (e.message === UNSET_ADVERTISE_CLIENT_URLS) {
        process.stderr.write('When listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client.\n');
      }
      process.exit(1);
    }
    if (e instanceof FlagError) {
      process.stderr.write(`${e.message}\n${serverUsage()}`);
      process.exit(2);
    }
    throw e;
  }
  if (parsed.help) {
    process.stdout.write(serverUsage());
    return;
  }
  if (parsed.version) {
    process.stdout.write(
      `etcd Version: ${SERVER_VERSION}\netcd-ts Version: ${ETCD_TS_VERSION}\nNode Version: ${process.version}\nNode OS/Arch: ${process.platform}/${process.arch}\n`,
    );
    return;
  }
  const cfg = parsed.config;
  const log = jsonLogger(cfg.logLevel);
  for (const w of parsed.warnings) log('warn', w);
  let members;
  try {
    members = parseInitialCluster(cfg.initialCluster);
  } catch (e) {
    fatal((e as Error).message);
  }
  const names = [...new Set(members.map((m) => m.name))];
  // as etcd: once the data dir holds a log, the member and its cluster come from there, and the
  // bootstrap flags (--initial-cluster, --initial-cluster-state) are not read
  const initialized = dataDirInitialized(cfg.dataDir);
  if (names.length > 1 && !initialized) {
    fatal(
      `--initial-cluster lists ${names.length} members (${names.join(', ')}): etcd-ts runs a single member for now; ` +
        `cluster mode (Raft) is not built yet. Start one member with --initial-cluster ${cfg.name}=<its peer URL>.`,
    );
  }
  if (cfg.initialClusterState === 'existing' && !initialized) {
    fatal('--initial-cluster-state existing joins a running cluster, which needs cluster mode (not built yet)');
  }

  let running;
  try {
    // a storage failure ends the process, as a failed WAL sync ends etcd: nothing more is acknowledged
    running = await startServer({ ...cfg, onFatal: (err) => fatal(`storage failure, stopping: ${err.message}`) });
  } catch (e) {
    fatal(`failed to start: ${(e as Error).message}`);
  }
  let stopping = false;
  const stop = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log('info', `received ${sig}, shutting down`);
    running.close().then(
      () => {
        // as etcd: once stopped cleanly, die of the signal itself, so the caller sees it (exit
        // status 128 + signal number in a shell: 143 for SIGTERM, 130 for SIGINT)
        process.removeAllListeners(sig);
        process.kill(process.pid, sig);
      },
      (e) => fatal(`shutdown failed: ${(e as Error).message}`),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
