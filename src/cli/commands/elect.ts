// elect <election-name> [proposal] and elect -l <election-name> (elect_command.go): campaigns with the
// proposal on a session lease, prints the leader key once elected and holds leadership until
// SIGINT/SIGTERM (then resigns); with -l, prints the leader and every change of leader until stopped.
import { Command } from 'commander';
import { Election, observeElection, Session } from '../../client/concurrency.js';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { aborted, interruptSignal } from './lock.js';

export function newElectCommand(): Command {
  return new Command('elect')
    .usage('<election-name> [proposal]')
    .description('Observes and participates in leader election')
    .option('-l, --listen', 'observation mode')
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], o: { listen?: boolean }, cmd: Command) => {
      if (args.length !== 1 && args.length !== 2) {
        throw new CliError(ExitCode.BadArgs, 'elect takes one election name argument and an optional proposal argument');
      }
      if (args.length === 1 && !o.listen) throw new CliError(ExitCode.BadArgs, 'no proposal argument but -l not set');
      if (args.length === 2 && o.listen) throw new CliError(ExitCode.BadArgs, 'proposal given but -l is set');
      const ctx = contextOf(cmd);
      const printer = await ctx.printer();
      const client = ctx.client();
      const { signal, release } = interruptSignal();
      try {
        if (o.listen) {
          await observeElection(client, args[0]!, signal, (r) => printer.get({ header: r.header, kvs: [r.kv], more: false, count: '1' })).catch(
            (e) => {
              if (!signal.aborted) throw e;
            },
          );
          if (!signal.aborted) throw new Error('elect: observer lost');
          return;
        }
        const session = await Session.create(client);
        const e = new Election(session, args[0]!);
        await e.campaign(Buffer.from(args[1]!), signal);
        printer.get(await client.range({ key: Buffer.from(e.key(), 'latin1') }));
        const lost = await Promise.race([aborted(signal).then(() => false), session.done.then(() => true)]);
        if (lost) throw new Error('elect: session expired');
        await e.resign();
      } finally {
        release();
      }
    });
}
