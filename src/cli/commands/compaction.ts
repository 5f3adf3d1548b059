// compaction <revision> [--physical]: compacts the key-value history (compaction_command.go).
import { Command } from 'commander';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { parseInt64 } from '../flags.js';

export function newCompactionCommand(): Command {
  return new Command('compaction')
    .usage('[options] <revision>')
    .description('Compacts the event history in etcd')
    .option('--physical', "'true' to wait for compaction to physically remove all old revisions")
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], flags: { physical?: boolean }, cmd: Command) => {
      if (args.length !== 1) throw new CliError(ExitCode.BadArgs, 'compaction command needs 1 argument');
      const rev = parseInt64(args[0]!);
      if (rev.error) throw new CliError(ExitCode.Error, rev.error);
      const ctx = contextOf(cmd);
      await ctx.printer(); // etcdctl's client setup refuses an unknown -w, though nothing is printed with it
      await ctx.client().compact(rev.value!, !!flags.physical);
      ctx.io.out(`compacted revision ${rev.value}\n`);
    });
}
