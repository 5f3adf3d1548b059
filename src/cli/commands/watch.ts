// watch [key] [range_end] [-- command args...]: prints events as they happen (watch_command.go).
// With `-- cmd` each event runs cmd with ETCD_WATCH_* variables; -i reads "watch ..." and
// "progress" lines from stdin. The watch resumes across reconnects (src/client/watch.ts); when the
// server cancels it etcdctl's "watch is canceled by the server" ends the command with exit 5.
import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { contextOf, getIo, getRawArgv, type CliContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { int64Flag } from '../flags.js';
import { canonicalArgv, FlagParseError, ownFlags, pflagParse, type ParsedFlags } from '../cobra.js';
import { prefixRangeEnd } from '../../client/client.js';
import { isProgressNotify, type Watch, type WatchResponse } from '../../client/watch.js';
import { goQuote } from '../printers/go-format.js';
import type { Printer } from '../printers/printer.js';
import { LineReader, argify } from './txn.js';

interface WatchFlags {
  interactive?: boolean;
  prefix?: boolean;
  rev: string;
  prevKv?: boolean;
  progressNotify?: boolean;
}

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';

function watchFlags(cmd: Command): Command {
  return cmd
    .option('-i, --interactive', 'Interactive mode')
    .option('--prefix', 'Watch on a prefix if prefix is set')
    .addOption(new Option('--rev <revision>', 'Revision to start watching').default('0').argParser(int64Flag('--rev')))
    .option('--prev-kv', 'get the previous key-value pair before the event happens')
    .addOption(new Option('--progress-notify', 'get periodic watch progress notification from server (not in etcdctl 3.4)').hideHelp());
}

/** The error text clientv3's WatchResponse.Err() gives for a canceled response. */
function cancelError(r: WatchResponse): string {
  if (r.compact_revision !== '0') return COMPACTED;
  if (r.cancel_reason) return r.cancel_reason;
  return 'etcdserver: mvcc: required revision is a future revision';
}

/** Splits a watch command line into the watch's own arguments and the command to exec. */
function splitArgs(raw: string[], operands: string[], envKey: string, envRange: string): { watchArgs: string[]; execArgs: string[] } {
  const w = raw.indexOf('watch');
  const rawArgs = w >= 0 ? raw.slice(w + 1) : raw;
  const sep = rawArgs.indexOf('--');
  if (sep >= 0 && sep === rawArgs.length - 1) throw new CliError(ExitCode.BadArgs, 'bad number of arguments (found separator --, but no commands)');
  if (sep < 0 && rawArgs.length < 1 && envKey === '') throw new CliError(ExitCode.BadArgs, 'bad number of arguments');
  const execArgs = sep >= 0 ? rawArgs.slice(sep + 1) : [];
  let watchArgs = operands.slice(0, operands.length - execArgs.length);
  if (envKey !== '') {
    if (watchArgs.length > 0) throw new CliError(ExitCode.BadArgs, 'bad number of arguments (found conflicting environment key)');
    watchArgs = envRange !== '' ? [envKey, envRange] : [envKey];
  }
  return { watchArgs, execArgs };
}

class WatchRunner {
  private queue: Promise<void> = Promise.resolve();
  private fatal: unknown;
  constructor(
    private readonly ctx: CliContext,
    private readonly printer: Printer,
  ) {}

  start(args: string[], f: WatchFlags, execArgs: string[], onFatal: (e: unknown) => void): Watch {
    if (args.length < 1) throw new CliError(ExitCode.BadArgs, 'bad number of arguments');
    let key = Buffer.from(args[0]!);
    let rangeEnd: Buffer | undefined;
    if (args.length === 2) {
      if (f.prefix) throw new CliError(ExitCode.BadArgs, '`range_end` and `--prefix` are mutually exclusive');
      rangeEnd = Buffer.from(args[1]!);
    }
    if (f.prefix) {
      if (key.length === 0) {
        key = Buffer.from([0]);
        rangeEnd = Buffer.from([0]);
      } else rangeEnd = prefixRangeEnd(key);
    }
    const { io } = this.ctx;
    return this.ctx.client().watch(
      { key, rangeEnd, startRevision: f.rev, prevKv: f.prevKv, progressNotify: f.progressNotify },
      (r) => {
        this.queue = this.queue.then(async () => {
          if (r.canceled) io.err(`watch was canceled (${cancelError(r)})\n`);
          if (isProgressNotify(r)) io.out(`progress notify: ${r.header!.revision}\n`);
          this.printer.watch(r);
          if (execArgs.length > 0) for (const ev of r.events) await runExec(execArgs, r, ev);
        }).catch((e: unknown) => {
          this.fatal ??= e;
          onFatal(e);
        });
      },
    );
  }

  /**
   * Resolves after every response received so far has been printed (and its commands run); rejects
   * if printing one failed (the last response of a canceled watch with -w table, say).
   */
  async drain(): Promise<void> {
    await this.queue;
    if (this.fatal !== undefined) throw this.fatal;
  }
}

async function runExec(execArgs: string[], r: WatchResponse, ev: WatchResponse['events'][number]): Promise<void> {
  const env = {
    ...process.env,
    ETCD_WATCH_REVISION: r.header?.revision ?? '0',
    ETCD_WATCH_EVENT_TYPE: `"${ev.type}"`,
    ETCD_WATCH_KEY: goQuote(ev.kv?.key ?? Buffer.alloc(0)),
    ETCD_WATCH_VALUE: goQuote(ev.kv?.value ?? Buffer.alloc(0)),
  };
  const quoted = `[${execArgs.map((a) => goQuote(a)).join(' ')}]`;
  // Loaded on first use (most commands never start a process), with require: the CLI bundle runs
  // under vm.Script, where a dynamic import() is not available on node 20.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(execArgs[0]!, execArgs.slice(1), { env, stdio: 'inherit' });
    child.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? `exec: ${goQuote(execArgs[0]!)}: executable file not found in $PATH` : e.message;
      reject(new CliError(ExitCode.Error, '', `command ${quoted} error (${why})\n`));
    });
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new CliError(ExitCode.Error, '', `command ${quoted} error (${signal ? `signal: ${signal}` : `exit status ${code}`})\n`));
    });
  });
}

export function newWatchCommand(): Command {
  return watchFlags(new Command('watch'))
    .usage('[options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]')
    .description('Watches events stream on keys or prefixes')
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (operands: string[], flags: WatchFlags, cmd: Command) => {
      const envKey = process.env.ETCDCTL_WATCH_KEY ?? '';
      const envRange = process.env.ETCDCTL_WATCH_RANGE_END ?? '';
      if (envKey === '' && envRange !== '') {
        throw new CliError(ExitCode.BadArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${JSON.stringify(envRange)}`);
      }
      const ctx = contextOf(cmd);
      const printer = await ctx.printer();
      const runner = new WatchRunner(ctx, printer);
      let fail!: (e: unknown) => void;
      const failed = new Promise<never>((_, rej) => (fail = rej));
      if (flags.interactive) {
        await Promise.race([interactive(ctx, runner, envKey, envRange, fail), failed]);
        return;
      }
      const { watchArgs, execArgs } = splitArgs(getRawArgv(), operands, envKey, envRange);
      const w = runner.start(watchArgs, flags, execArgs, fail);
      await Promise.race([w.done, failed]);
      await runner.drain();
      throw new CliError(ExitCode.Interrupted, 'watch is canceled by the server');
    });
}

/** -i: each stdin line is `watch [flags] key [range_end] [-- cmd...]` or `progress`. */
async function interactive(ctx: CliContext, runner: WatchRunner, envKey: string, envRange: string, fail: (e: unknown) => void): Promise<void> {
  const io = getIo();
  const reader = new LineReader(io.stdin);
  const watches: Watch[] = [];
  for (;;) {
    let l: string;
    try {
      l = await reader.readLine();
    } catch {
      throw new CliError(ExitCode.InvalidInput, 'Error reading watch request line: EOF');
    }
    const args = argify(l);
    if (args.length < 1) {
      io.err(`Invalid command: ${l} (watch and progress supported)\n`);
      continue;
    }
    if (args[0] === 'progress') {
      for (const w of watches) w.requestProgress();
      continue;
    }
    if (args[0] !== 'watch') {
      io.err(`Invalid command ${l} (only support watch)\n`);
      continue;
    }
    if (args.length < 2 && envKey === '') {
      io.err(`Invalid command ${l} (command type or key is not provided)\n`);
      continue;
    }
    const rest = args.slice(1);
    const sep = rest.indexOf('--');
    if (sep >= 0 && sep === rest.length - 1) throw new CliError(ExitCode.BadArgs, 'bad number of arguments (found separator --, but no commands)');
    const execArgs = sep >= 0 ? rest.slice(sep + 1) : [];
    const parsed = watchFlags(new Command('watch')).argument('[args...]').allowExcessArguments(true).exitOverride()
      .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    let wargs: string[] = [];
    let wflags!: WatchFlags;
    parsed.action((a: string[], f: WatchFlags) => {
      wargs = a;
      wflags = f;
    });
    // pflag reads the line's flags, with watch's own flag set (no help flag), as in etcdctl.
    let flags: ParsedFlags;
    try {
      flags = pflagParse(ownFlags(parsed), sep >= 0 ? rest.slice(0, sep) : rest);
    } catch (e) {
      throw e instanceof FlagParseError ? new CliError(ExitCode.BadArgs, e.message) : e;
    }
    parsed.parse(canonicalArgv(parsed, flags), { from: 'user' });
    if (envKey !== '') {
      if (sep < 0 && wargs.length > 0) throw new CliError(ExitCode.BadArgs, 'bad number of arguments (found conflicting environment key)');
      wargs = envRange !== '' ? [envKey, envRange, ...wargs] : [envKey, ...wargs];
    }
    try {
      watches.push(runner.start(wargs, wflags, execArgs, fail));
    } catch (e) {
      io.err(`Invalid command ${l} (${(e as Error).message})\n`);
    }
  }
}
