// lock <lockname> [exec-command arg1 arg2 ...] (lock_command.go): takes a distributed mutex on a session
// lease of --ttl seconds; prints the lock key and holds it until SIGINT/SIGTERM, or runs the command
// with ETCD_LOCK_KEY and ETCD_LOCK_REV while holding it, then releases it.
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { Mutex, Session } from '../../client/concurrency.js';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { int64Flag } from '../flags.js';

/** An AbortSignal fired by SIGINT or SIGTERM; `release` removes the handlers. */
export function interruptSignal(): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const on = (): void => ac.abort();
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    release: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** Resolves when signal fires. */
export const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

function run(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // child_process loads on first use: every etcdctl start would pay for it otherwise (~6 ms).
    const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    const child = spawn(args[0]!, args.slice(1), { env: { ...env, ...process.env }, stdio: 'inherit' });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'ENOENT' ? `exec: "${args[0]}": executable file not found in $PATH` : e.message)),
    );
    child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(sig ? `signal: ${sig}` : `exit status ${code}`))));
  });
}

export function newLockCommand(): Command {
  return new Command('lock')
    .usage('<lockname> [exec-command arg1 arg2 ...]')
    .description('Acquires a named lock')
    .addOption(new Option('--ttl <seconds>', 'timeout for session').default('10').argParser(int64Flag('--ttl', 'int')))
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], o: { ttl: string }, cmd: Command) => {
      if (args.length === 0) throw new CliError(ExitCode.BadArgs, 'lock takes a lock name argument and an optional command to execute');
      const ttl = Number(o.ttl);
      const ctx = contextOf(cmd);
      const printer = await ctx.printer();
      const client = ctx.client();
      const { signal, release } = interruptSignal();
      try {
        const session = await Session.create(client, ttl);
        const m = new Mutex(session, args[0]!);
        await m.lock(signal);
        const cmdArgs = args.slice(1);
        if (cmdArgs.length > 0) {
          const env = { ETCD_LOCK_KEY: m.key(), ETCD_LOCK_REV: m.header()?.revision ?? '0' };
          let err: unknown;
          await run(cmdArgs, env).catch((e) => (err = e));
          await m.unlock();
          if (err) throw err;
          return;
        }
        const k = await client.range({ key: Buffer.from(m.key(), 'latin1') });
        if (k.kvs.length === 0) throw new Error('lock lost on init');
        printer.get(k);
        const lost = await Promise.race([aborted(signal).then(() => false), session.done.then(() => true)]);
        if (lost) throw new Error('session expired');
        await m.unlock();
      } finally {
        release();
      }
    });
}
