// The commander program: etcdctl's global flags (names, defaults, ETCDCTL_* environment variables,
// a flag on the command line beats its variable) and the one registration list of commands.
import { Command, Option } from 'commander';
import { durationFlag, goFlag, longHelp, parseBool } from './flags.js';
import { CliError, ExitCode } from './errors.js';
import { newGetCommand } from './commands/get.js';
import { newPutCommand } from './commands/put.js';
import { newDelCommand } from './commands/del.js';
import { newTxnCommand } from './commands/txn.js';
import { newCompactionCommand } from './commands/compaction.js';
import { newAlarmCommand } from './commands/alarm.js';
import { newDefragCommand } from './commands/defrag.js';
import { newWatchCommand } from './commands/watch.js';
import { newMemberCommand } from './commands/member.js';
import { newSnapshotCommand } from './commands/snapshot.js';
import { newEndpointCommand } from './commands/endpoint.js';
import { newVersionCommand } from './commands/version.js';
import { newServeCommand } from './commands/serve.js';
import { newLeaseCommand } from './commands/lease.js';
import { newLockCommand } from './commands/lock.js';
import { newElectCommand } from './commands/elect.js';
import { contextOf, type Io } from './context.js';
import { findCommand } from './cobra.js';
import { etcdctlUsage } from './usage.js';
import { capnslogTime, goQuote } from './printers/go-format.js';

interface GlobalFlag {
  flags: string;
  description: string;
  defaultValue?: unknown;
  bool?: boolean;
  parse?: (s: string) => unknown;
  /** The default as help shows it (etcdctl's Go duration form). */
  shown?: string;
  /** A list (pflag's stringSlice): given twice, the values add up. */
  slice?: boolean;
}

/** etcdctl's global flags; each also reads ETCDCTL_<NAME_IN_UPPER_SNAKE>. */
export const GLOBAL_FLAGS: GlobalFlag[] = [
  { flags: '--endpoints <endpoints>', description: 'gRPC endpoints', defaultValue: '127.0.0.1:2379', slice: true },
  { flags: '--debug', description: 'enable client-side debug logging', bool: true, defaultValue: false },
  { flags: '-w, --write-out <format>', description: 'set the output format (fields, json, protobuf, simple, table)', defaultValue: 'simple' },
  { flags: '--hex', description: 'print byte strings as hex encoded strings', bool: true, defaultValue: false },
  { flags: '--dial-timeout <duration>', description: 'dial timeout for client connections', defaultValue: 2000, parse: durationFlag('--dial-timeout'), shown: '2s' },
  { flags: '--command-timeout <duration>', description: 'timeout for short running command (excluding dial timeout)', defaultValue: 5000, parse: durationFlag('--command-timeout'), shown: '5s' },
  { flags: '--keepalive-time <duration>', description: 'keepalive time for client connections', defaultValue: 2000, parse: durationFlag('--keepalive-time'), shown: '2s' },
  { flags: '--keepalive-timeout <duration>', description: 'keepalive timeout for client connections', defaultValue: 6000, parse: durationFlag('--keepalive-timeout'), shown: '6s' },
  { flags: '--insecure-transport', description: 'disable transport security for client connections', bool: true, defaultValue: true },
  { flags: '--insecure-discovery', description: 'accept insecure SRV records describing cluster endpoints', bool: true, defaultValue: true },
  { flags: '--insecure-skip-tls-verify', description: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)', bool: true, defaultValue: false },
  { flags: '--cert <file>', description: 'identify secure client using this TLS certificate file' },
  { flags: '--key <file>', description: 'identify secure client using this TLS key file' },
  { flags: '--cacert <file>', description: 'verify certificates of TLS-enabled secure servers using this CA bundle' },
  { flags: '--user <user>', description: 'username[:password] for authentication (prompt if password is not supplied)' },
  { flags: '--password <password>', description: "password for authentication (if this option is used, --user option shouldn't include password)" },
  { flags: '-d, --discovery-srv <domain>', description: 'domain name to query for SRV records describing cluster endpoints' },
  { flags: '--discovery-srv-name <name>', description: 'service name to query when using DNS discovery' },
];

const longName = (f: GlobalFlag) => /--([a-z-]+)/.exec(f.flags)![1]!;
const envName = (long: string) => 'ETCDCTL_' + long.toUpperCase().replace(/-/g, '_');
const attrName = (long: string) => long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The command list, in etcdctl's order. */
const COMMANDS: (() => Command)[] = [
  newGetCommand,
  newPutCommand,
  newDelCommand,
  newTxnCommand,
  newCompactionCommand,
  newAlarmCommand,
  newDefragCommand,
  newEndpointCommand,
  newWatchCommand,
  newVersionCommand,
  newLeaseCommand,
  newMemberCommand,
  newSnapshotCommand,
  newLockCommand,
  newElectCommand,
  newServeCommand,
];

/**
 * The program. Commander runs the commands; which command and which flags a command line means is
 * cobra's and pflag's reading of it (cobra.ts), which hands commander an argv of its own.
 */
export function buildProgram(): Command {
  const program = new Command('etcdctl');
  program.description('A simple command line client for etcd3.').allowExcessArguments(true).helpCommand(false);
  for (const f of GLOBAL_FLAGS) {
    const opt = new Option(f.flags, f.description);
    if (f.defaultValue !== undefined) opt.default(f.defaultValue, f.shown);
    if (f.parse) opt.argParser(f.parse);
    if (f.slice) goFlag(opt, { type: 'stringSlice', def: `[${String(f.defaultValue)}]` });
    program.addOption(opt);
    // --flag=false on the command line reaches commander as --no-flag (a flag still beats its variable).
    if (f.bool) program.addOption(new Option(`--no-${longName(f)}`).hideHelp());
  }
  for (const make of COMMANDS) program.addCommand(make());
  program.addCommand(newHelpCommand(program));
  return program;
}

/** cobra's help command: the usage of the command its arguments name. */
function newHelpCommand(program: Command): Command {
  const long = 'Help provides help for any command in the application.\nSimply type etcdctl help [path to command] for full details.';
  return longHelp(new Command('help'), long)
    .usage('[command]')
    .description('Help about any command')
    .argument('[command...]')
    .action((words: string[], _o: unknown, cmd: Command) => {
      const io = contextOf(cmd).io;
      const found = findCommand(program, words);
      if (found.error) {
        io.err(`Unknown help topic [${words.map((w) => (w.includes('`') ? goQuote(w) : `\`${w}\``)).join(' ')}]\n`);
        io.out(etcdctlUsage(program));
      } else io.out(etcdctlUsage(found.cmd));
    });
}

/** --debug: every global flag's value in ETCDCTL_* form, sorted, on stderr (as etcdctl prints them). */
export function debugDump(program: Command, cmd: Command, io: Io): void {
  const o = program.opts() as Record<string, unknown>;
  const lines = GLOBAL_FLAGS.map((f) => {
    const long = longName(f);
    const v = o[attrName(long)];
    let shown: string;
    if (long === 'endpoints') shown = `[${String(v).split(',').map((s) => s.trim()).join(' ')}]`;
    else if (f.shown !== undefined) shown = goDurationMs(v as number);
    else shown = v === undefined ? '' : String(v);
    return `${envName(long)}=${shown}`;
  });
  // The other flags the command inherits, as etcdctl lists them.
  if (cmd.parent?.name() === 'endpoint') lines.push(`ETCDCTL_CLUSTER=${!!cmd.parent.opts().cluster}`);
  if (cmd.name() === 'watch') lines.push('ETCDCTL_WATCH_KEY=', 'ETCDCTL_WATCH_RANGE_END=');
  lines.sort();
  io.err(lines.join('\n') + '\n');
}

/** Go's Duration.String for whole milliseconds (2s, 1.5s, 500ms, 1m0s). */
function goDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const m = Math.floor(ms / 60000);
  const s = (ms % 60000) / 1000;
  return m > 0 ? `${m}m${s}s` : `${s}s`;
}

/**
 * etcdctl's flags.SetPflagsFromEnv, run where it builds its client config, over the flags `cmd`
 * inherits: a flag not given on the command line takes its ETCDCTL_* variable (a value that does not
 * parse leaves the flag at its type's zero value, as pflag's Set does, and no error); then a variable
 * whose flag was given on the command line is fatal, and an ETCDCTL_* variable no flag reads gets a
 * warning (capnslog lines).
 */
export function applyEnv(program: Command, cmd: Command, env: NodeJS.ProcessEnv, io: Io): void {
  const used = new Set<string>();
  const given = new Set<string>();
  const take = (owner: Command, long: string, parse: (v: string) => unknown) => {
    const key = envName(long);
    const attr = attrName(long);
    if (owner.getOptionValueSource(attr) === 'cli') return void given.add(key);
    const val = env[key];
    if (val === undefined || val === '') return;
    used.add(key);
    owner.setOptionValueWithSource(attr, parse(val), 'env');
  };
  for (const f of GLOBAL_FLAGS) {
    take(program, longName(f), (v) => {
      if (f.bool) return parseBool(v) ?? false;
      if (!f.parse) return v;
      try {
        return f.parse(v);
      } catch {
        return 0;
      }
    });
  }
  // endpoint's persistent --cluster; watch reads ETCDCTL_WATCH_KEY and _RANGE_END itself.
  if (cmd.parent?.name() === 'endpoint') take(cmd.parent, 'cluster', (v) => parseBool(v) ?? false);
  if (cmd.name() === 'watch') for (const k of ['ETCDCTL_WATCH_KEY', 'ETCDCTL_WATCH_RANGE_END']) if (env[k]) used.add(k);
  for (const [key, val] of Object.entries(env)) {
    // etcdctl's main reads ETCDCTL_API and unsets it.
    if (used.has(key) || key === 'ETCDCTL_API') continue;
    if (given.has(key)) {
      const msg = `conflicting environment variable ${goQuote(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`;
      throw new CliError(ExitCode.Error, '', `${capnslogTime()} C | pkg/flags: ${msg}\n`);
    }
    if (key.startsWith('ETCDCTL_')) io.err(`${capnslogTime()} W | pkg/flags: unrecognized environment variable ${key}=${val}\n`);
  }
}
