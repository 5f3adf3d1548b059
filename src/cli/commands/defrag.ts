// defrag [--cluster] [--data-dir dir]: defragments each endpoint's backend, one request per
// endpoint, and reports each (defrag_command.go). Any failure makes the exit code 1 after all
// endpoints were tried. --data-dir defragments a stopped member's bbolt database offline (see
// ../offline-defrag.ts).
import { Command } from 'commander';
import { contextOf, clientOptions } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { EtcdClient } from '../../client/client.js';
import { endpointsOf } from './endpoint.js';

export function newDefragCommand(): Command {
  return new Command('defrag')
    .description('Defragments the storage of the etcd members with given endpoints')
    .option('--cluster', 'use all endpoints from the cluster member list')
    .option('--data-dir <dir>', 'Optional. If present, defragments a data directory not in use by etcd.')
    .allowExcessArguments(true)
    .action(async (flags: { cluster?: boolean; dataDir?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (flags.dataDir) {
        const { defragDataDir } = await import('../offline-defrag.js');
        await defragDataDir(flags.dataDir, ctx.io);
        return;
      }
      await ctx.printer(); // etcdctl's client setup refuses an unknown -w, though nothing is printed with it
      let failures = 0;
      for (const ep of await endpointsOf(ctx, !!flags.cluster)) {
        const c = new EtcdClient({ ...clientOptions(ctx.globals), endpoints: [ep] });
        try {
          await c.defragment();
          ctx.io.out(`Finished defragmenting etcd member[${ep}]\n`);
        } catch (e) {
          failures++;
          ctx.io.err(`Failed to defragment etcd member[${ep}] (${(e as Error).message})\n`);
        } finally {
          c.close();
        }
      }
      // the failures were reported above; etcdctl exits without another message
      if (failures > 0) throw new CliError(ExitCode.Error, '');
    });
}
