// endpoint status | health | hashkv [--cluster]: asks each endpoint on its own (ep_command.go).
import { Command, Option } from 'commander';
import { contextOf, clientOptions, type CliContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { EtcdClient } from '../../client/client.js';
import { EtcdError } from '../../api/errors.js';
import type { EndpointHealth } from '../printers/printer.js';
import { goFlag, int64Flag, longHelp } from '../flags.js';

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
export async function endpointsOf(ctx: CliContext, cluster: boolean): Promise<string[]> {
  if (!cluster) return ctx.globals.endpoints;
  try {
    const r = await ctx.client().memberList();
    return r.members.flatMap((m) => m.clientURLs);
  } catch (e) {
    throw new CliError(ExitCode.Error, `failed to fetch endpoints from etcd cluster member list: ${(e as Error).message}`);
  }
}

function clientFor(ctx: CliContext, ep: string): EtcdClient {
  return new EtcdClient({ ...clientOptions(ctx.globals), endpoints: [ep] });
}

const STATUS_LONG = `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
`;

/**
 * Asks each endpoint in turn; a failure is reported (`Failed to get the <what> of endpoint ...`) and
 * the others are still asked. Returns what was answered, with each endpoint, and the last error.
 */
async function eachEndpoint<R>(ctx: CliContext, cluster: boolean, what: string, call: (c: EtcdClient) => Promise<R>): Promise<{ list: { ep: string; resp: R }[]; err: unknown }> {
  const list: { ep: string; resp: R }[] = [];
  let err: unknown;
  for (const ep of await endpointsOf(ctx, cluster)) {
    const c = clientFor(ctx, ep);
    try {
      list.push({ ep, resp: await call(c) });
    } catch (e) {
      err = e;
      ctx.io.err(`Failed to get the ${what} of endpoint ${ep} (${(e as Error).message})\n`);
    } finally {
      c.close();
    }
  }
  return { list, err };
}

export function newEndpointCommand(): Command {
  const endpoint = new Command('endpoint').usage('<subcommand>').description('Endpoint related commands');
  // --cluster is endpoint's persistent flag: `endpoint --cluster status` and `endpoint status --cluster`.
  endpoint.addOption(goFlag(new Option('--cluster', 'use all endpoints from the cluster member list'), { persistent: true }));
  const cluster = (cmd: Command) => !!(cmd.parent!.opts() as { cluster?: boolean }).cluster;
  endpoint.addCommand(
    longHelp(new Command('status'), STATUS_LONG)
      .description('Prints out the status of endpoints specified in `--endpoints` flag')
      .allowExcessArguments(true)
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        const { list, err } = await eachEndpoint(ctx, cluster(cmd), 'status', (c) => c.status());
        printer.endpointStatus(list);
        // etcdctl exits 1 here without an error line of its own.
        if (err) throw new CliError(ExitCode.Error, '');
      }),
  );
  endpoint.addCommand(
    new Command('health')
      .description('Checks the healthiness of endpoints specified in `--endpoints` flag')
      .allowExcessArguments(true)
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        const eps = await endpointsOf(ctx, cluster(cmd));
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
  endpoint.addCommand(
    new Command('hashkv')
      .description('Prints the KV history hash for each endpoint in --endpoints')
      .addOption(goFlag(new Option('--rev <revision>', 'maximum revision to hash (default: all revisions)').default('0').argParser(int64Flag('--rev')), { persistent: true }))
      .allowExcessArguments(true)
      .action(async (o: { rev: string }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        const { list, err } = await eachEndpoint(ctx, cluster(cmd), 'hash', (c) => c.hashKV(o.rev));
        printer.endpointHashKV(list);
        if (err) throw err;
      }),
  );
  return endpoint;
}
