// endpoint status | health [--cluster]: asks each endpoint on its own (ep_command.go).
import { Command } from 'commander';
import { contextOf, clientOptions, type CliContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { EtcdClient } from '../../client/client.js';
import { EtcdError } from '../../api/errors.js';
import type { EndpointHealth, EndpointStatus } from '../printers/printer.js';

/** Go's time.Duration.String for a duration in nanoseconds. */
export function goDuration(ns: bigint): string {
  if (ns < 1000n) return `${ns}ns`;
  const fmt = (v: bigint, unitNs: bigint, unit: string) => {
    const whole = v / unitNs;
    const frac = (v % unitNs).toString().padStart(unitNs.toString().length - 1, '0').replace(/0+$/, '');
    return `${whole}${frac ? '.' + frac : ''}${unit}`;
  };
  if (ns < 1000000n) return fmt(ns, 1000n, 'µs');
  if (ns < 1000000000n) return fmt(ns, 1000000n, 'ms');
  const h = ns / 3600000000000n;
  const m = (ns / 60000000000n) % 60n;
  const s = fmt(ns % 60000000000n, 1000000000n, 's');
  return (h > 0n ? `${h}h${m}m` : m > 0n ? `${m}m` : '') + s;
}

/** The endpoints to ask: the given ones, or with --cluster every member's client URLs. */
async function endpointsOf(ctx: CliContext, cluster: boolean): Promise<string[]> {
  if (!cluster) return ctx.globals.endpoints;
  const r = await ctx.client().memberList();
  return r.members.flatMap((m) => m.clientURLs);
}

function clientFor(ctx: CliContext, ep: string): EtcdClient {
  return new EtcdClient({ ...clientOptions(ctx.globals), endpoints: [ep] });
}

export function newEndpointCommand(): Command {
  const endpoint = new Command('endpoint').description('Endpoint related commands');
  endpoint.addCommand(
    new Command('status')
      .description('Prints out the status of endpoints specified in `--endpoints` flag')
      .option('--cluster', 'use all endpoints from the cluster member list')
      .allowExcessArguments(true)
      .action(async (flags: { cluster?: boolean }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        const list: EndpointStatus[] = [];
        let failed = false;
        for (const ep of await endpointsOf(ctx, !!flags.cluster)) {
          const c = clientFor(ctx, ep);
          try {
            list.push({ ep, resp: await c.status() });
          } catch (e) {
            failed = true;
            ctx.io.err(`Failed to get the status of endpoint ${ep} (${(e as Error).message})\n`);
          } finally {
            c.close();
          }
        }
        printer.endpointStatus(list);
        if (failed) throw new CliError(ExitCode.Error, 'context deadline exceeded');
      }),
  );
  endpoint.addCommand(
    new Command('health')
      .description('Checks the healthiness of endpoints specified in `--endpoints` flag')
      .option('--cluster', 'use all endpoints from the cluster member list')
      .allowExcessArguments(true)
      .action(async (flags: { cluster?: boolean }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        const eps = await endpointsOf(ctx, !!flags.cluster);
        const list: EndpointHealth[] = await Promise.all(
          eps.map(async (ep) => {
            const c = clientFor(ctx, ep);
            const start = process.hrtime.bigint();
            try {
              await c.range({ key: Buffer.from('health') });
              return { ep, health: true, took: goDuration(process.hrtime.bigint() - start), error: '' };
            } catch (e) {
              const took = goDuration(process.hrtime.bigint() - start);
              // A permission error still proves the cluster commits proposals.
              if (e instanceof EtcdError && e.is('PermissionDenied')) return { ep, health: true, took, error: '' };
              return { ep, health: false, took, error: (e as Error).message };
            } finally {
              c.close();
            }
          }),
        );
        printer.endpointHealth(list);
        if (list.some((h) => !h.health)) throw new CliError(ExitCode.Error, 'unhealthy cluster');
      }),
  );
  // Without a known subcommand, etcdctl prints the command's help (exit 0).
  endpoint.argument('[args...]').allowExcessArguments(true).action(() => endpoint.outputHelp());
  return endpoint;
}
