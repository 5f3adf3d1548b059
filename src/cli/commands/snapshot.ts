// snapshot save | status | restore (snapshot_command.go, clientv3/snapshot/v3_snapshot.go).
// status and restore work on the file alone (../snapshot-file.ts). save <filename> fetches the
// server's backend snapshot. The stream is written to <filename>.part, checked to end with
// a SHA-256 trailer (file size % 512 == 32), fsynced and renamed; the .part file is removed on any
// failure. Progress goes to stderr as the same JSON log lines etcdctl's zap loggers write; stdout
// gets "Snapshot saved at <filename>". With no --command-timeout given, the download has no deadline.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { contextOf, type CliContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { longHelp } from '../flags.js';
import { goPathError } from '../../bbolt/reader.js';

/** SHA-256 digest length: what etcd appends to the database file. */
const SHA256_SIZE = 32;

/** etcd's hasChecksum: a bbolt file is a whole number of 512-byte sectors, so a remainder of 32 is the digest. */
const hasChecksum = (n: number): boolean => n % 512 === SHA256_SIZE;

/** go-humanize's Bytes: SI units, one decimal below 10, Go's round-half-to-even for %.Nf. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  const digits = val < 10 ? 1 : 0;
  return `${roundHalfEven(val, digits)} ${units[e]}`;
}

function roundHalfEven(v: number, digits: number): string {
  const f = 10 ** digits;
  const x = v * f;
  const floor = Math.floor(x);
  const diff = x - floor;
  let r: number;
  if (Math.abs(diff - 0.5) < 1e-9) r = floor % 2 === 0 ? floor : floor + 1;
  else r = Math.round(x);
  return (r / f).toFixed(digits);
}

/** A zap JSON log line on stderr, in the two timestamp styles etcdctl's loggers use. */
function logLine(ctx: CliContext, caller: string, msg: string, fields: Record<string, unknown> = {}, isoTime = false): void {
  const ts = isoTime ? new Date().toISOString() : Date.now() / 1000;
  ctx.io.err(JSON.stringify({ level: 'info', ts, caller, msg, ...fields }) + '\n');
}

async function save(ctx: CliContext, dbPath: string, timeoutMs: number): Promise<void> {
  const endpoints = ctx.globals.endpoints;
  if (endpoints.length !== 1) {
    throw new Error(`snapshot must be requested to one selected node, not multiple [${endpoints.join(' ')}]`);
  }
  const partPath = `${dbPath}.part`;
  let fd: number;
  try {
    fd = fs.openSync(partPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  } catch (e) {
    throw new Error(`could not open ${partPath} (${goPathError('open', partPath, e as NodeJS.ErrnoException)})`);
  }
  let closed = false;
  try {
    logLine(ctx, 'snapshot/v3_snapshot.go:119', 'created temporary db file', { path: partPath });
    const started = Date.now();
    let size = 0;
    let opened = false;
    const client = ctx.client();
    await client.snapshot(async (blob) => {
      if (!opened) {
        opened = true;
        logLine(ctx, 'clientv3/maintenance.go:200', 'opened snapshot stream; downloading', {}, true);
        logLine(ctx, 'snapshot/v3_snapshot.go:127', 'fetching snapshot', { endpoint: endpoints[0] });
      }
      let off = 0;
      while (off < blob.length) off += fs.writeSync(fd, blob, off, blob.length - off);
      size += blob.length;
    }, timeoutMs);
    logLine(ctx, 'clientv3/maintenance.go:208', 'completed snapshot read; closing', {}, true);
    if (!hasChecksum(size)) throw new Error(`sha256 checksum not found [bytes: ${size}]`);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    logLine(ctx, 'snapshot/v3_snapshot.go:142', 'fetched snapshot', {
      endpoint: endpoints[0],
      size: humanizeBytes(size),
      took: (Date.now() - started) / 1000,
    });
    try {
      fs.renameSync(partPath, dbPath);
    } catch (e) {
      throw new Error(`could not rename ${partPath} to ${dbPath} (${goPathError('rename', `${partPath} ${dbPath}`, e as NodeJS.ErrnoException)})`);
    }
    logLine(ctx, 'snapshot/v3_snapshot.go:152', 'saved', { path: dbPath });
  } finally {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(partPath, { force: true });
  }
}

interface RestoreFlags {
  dataDir: string;
  walDir: string;
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerUrls: string;
  name: string;
  skipHashCheck?: boolean;
}

const SNAPSHOT_STATUS_LONG = `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.
`;

export function newSnapshotCommand(): Command {
  const snapshot = new Command('snapshot').usage('<subcommand>').description('Manages etcd node snapshots');
  snapshot.addCommand(
    new Command('save')
      .usage('<filename>')
      .description('Stores an etcd node backend snapshot to a given file')
      .argument('[args...]')
      .allowExcessArguments(true)
      .action(async (args: string[], _o: unknown, cmd: Command) => {
        if (args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot save expects one argument');
        const ctx = contextOf(cmd);
        let root: Command = cmd;
        while (root.parent) root = root.parent;
        // etcdctl puts a deadline on the download only when --command-timeout is set
        const src = root.getOptionValueSource('commandTimeout');
        const timeoutMs = src === 'cli' || src === 'env' ? ctx.globals.commandTimeout : 0;
        try {
          await save(ctx, args[0]!, timeoutMs);
        } catch (e) {
          throw new CliError(ExitCode.Interrupted, (e as Error).message);
        }
        ctx.io.out(`Snapshot saved at ${args[0]}\n`);
      }),
  );
  snapshot.addCommand(
    new Command('restore')
      .usage('<filename> [options]')
      .description('Restores an etcd member snapshot to an etcd directory')
      .option('--data-dir <dir>', 'Path to the data directory', '')
      .option('--wal-dir <dir>', 'Path to the WAL directory (use --data-dir if none given)', '')
      .option('--initial-cluster <cluster>', 'Initial cluster configuration for restore bootstrap', 'default=http://localhost:2380')
      .option('--initial-cluster-token <token>', 'Initial cluster token for the etcd cluster during restore bootstrap', 'etcd-cluster')
      .option('--initial-advertise-peer-urls <urls>', "List of this member's peer URLs to advertise to the rest of the cluster", 'http://localhost:2380')
      .option('--name <name>', 'Human-readable name for this member', 'default')
      .option('--skip-hash-check', 'Ignore snapshot integrity hash value (required if copied from data directory)')
      .argument('[args...]')
      .allowExcessArguments(true)
      .action(async (args: string[], o: RestoreFlags, cmd: Command) => {
        if (args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot restore requires exactly one argument');
        const ctx = contextOf(cmd);
        const dataDir = o.dataDir || `${o.name}.etcd`;
        const { restoreSnapshot } = await import('../snapshot-file.js');
        await restoreSnapshot(
          {
            snapshotPath: args[0]!,
            name: o.name,
            dataDir,
            walDir: o.walDir || path.join(dataDir, 'member', 'wal'),
            peerURLs: o.initialAdvertisePeerUrls.split(','),
            // etcdctl's default is computed from the default name, whatever --name says
            initialCluster: o.initialCluster,
            initialClusterToken: o.initialClusterToken,
            skipHashCheck: !!o.skipHashCheck,
          },
          ctx.io,
        );
      }),
  );
  snapshot.addCommand(
    longHelp(new Command('status'), SNAPSHOT_STATUS_LONG)
      .usage('<filename>')
      .description('Gets backend snapshot status of a given file')
      .argument('[args...]')
      .allowExcessArguments(true)
      .action(async (args: string[], _o: unknown, cmd: Command) => {
        if (args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot status requires exactly one argument');
        const ctx = contextOf(cmd);
        // etcdctl: initDisplayFromCmd alone (no client config, no ETCDCTL_* variables)
        const printer = await ctx.printer({ displayOnly: true });
        const { snapshotStatus } = await import('../snapshot-file.js');
        printer.dbStatus(snapshotStatus(args[0]!));
      }),
  );
  return snapshot;
}
