// lease grant|revoke|timetolive|list|keep-alive (lease_command.go): lease IDs are read and printed in
// hex, TTLs in seconds; errors are wrapped and exit codes chosen as etcdctl does.
import { Command } from 'commander';
import type { LeaseKeepAliveRequest } from '../../api/gen/etcdserverpb/LeaseKeepAliveRequest.js';
import type { LeaseKeepAliveResponse__Output } from '../../client/client.js';
import { contextOf, type CliContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { parseInt64 } from '../flags.js';
import { hexId16 } from '../printers/go-format.js';
import { createLeasePrinter, type LeasePrinter } from '../printers/lease.js';

/** A lease ID argument: hex, as etcdctl's leaseFromArgs. */
export function leaseFromArg(arg: string): string {
  const r = parseInt64(arg, 16);
  if (r.error) throw new CliError(ExitCode.BadArgs, `bad lease ID arg (${r.error}), expecting ID in Hex`);
  return r.value!;
}

/**
 * The lease printer. Unknown formats fail before the request, as etcdctl's; table fails only when
 * printing, after the request was made (etcdctl grants the lease, then says table is not supported).
 */
async function printerOf(ctx: CliContext): Promise<() => LeasePrinter> {
  await ctx.printer();
  const codec = ctx.globals.writeOut === 'protobuf' ? await ctx.codec() : undefined;
  return () => createLeasePrinter(ctx.globals.writeOut, ctx.io.out, codec);
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Re-throws a failed call as etcdctl reports it: `what (cause)` or the cause, with the given exit code. */
function failWith(code: ExitCode, what?: string) {
  return (e: unknown): never => {
    if (e instanceof CliError) throw e;
    throw new CliError(code, what ? `${what} (${message(e)})` : message(e));
  };
}

function argsOf(cmd: Command, n: number, usage: string): string[] {
  if (cmd.args.length !== n) throw new CliError(ExitCode.BadArgs, usage);
  return cmd.args;
}

function grant(): Command {
  return new Command('grant')
    .usage('<ttl>')
    .description('Creates leases')
    .allowExcessArguments(true)
    .action(async (_o: unknown, cmd: Command) => {
      const [arg] = argsOf(cmd, 1, 'lease grant command needs TTL argument');
      const ttl = parseInt64(arg!);
      if (ttl.error) throw new CliError(ExitCode.BadArgs, `bad TTL (${ttl.error})`);
      const ctx = contextOf(cmd);
      ctx.commandCtx(); // before the client, as etcdctl's commandCtx
      const p = await printerOf(ctx);
      const r = await ctx.client().leaseGrant(ttl.value!).catch(failWith(ExitCode.Error, 'failed to grant lease'));
      p().grant(r);
    });
}

function revoke(): Command {
  return new Command('revoke')
    .usage('<leaseID>')
    .description('Revokes leases')
    .allowExcessArguments(true)
    .action(async (_o: unknown, cmd: Command) => {
      const id = leaseFromArg(argsOf(cmd, 1, 'lease revoke command needs 1 argument')[0]!);
      const ctx = contextOf(cmd);
      ctx.commandCtx(); // before the client, as etcdctl's commandCtx
      const p = await printerOf(ctx);
      const r = await ctx.client().leaseRevoke(id).catch(failWith(ExitCode.Error, 'failed to revoke lease'));
      p().revoke(id, r);
    });
}

function timeToLive(): Command {
  return new Command('timetolive')
    .usage('<leaseID> [options]')
    .description('Get lease information')
    .option('--keys', 'Get keys attached to this lease')
    .allowExcessArguments(true)
    .action(async (o: { keys?: boolean }, cmd: Command) => {
      const [arg] = argsOf(cmd, 1, 'lease timetolive command needs lease ID as argument');
      // etcdctl builds its client (and printer) before it reads the lease ID here.
      const ctx = contextOf(cmd);
      const p = await printerOf(ctx);
      const id = leaseFromArg(arg!);
      // etcdctl asks under context.TODO(): no --command-timeout (here and for list).
      const r = await ctx.client().leaseTimeToLive(id, !!o.keys, 0).catch(failWith(ExitCode.BadConnection));
      p().timeToLive(r, !!o.keys);
    });
}

function list(): Command {
  return new Command('list')
    .description('List all active leases')
    .allowExcessArguments(true)
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const p = await printerOf(ctx);
      const r = await ctx.client().leaseLeases(0).catch(failWith(ExitCode.BadConnection));
      p().leases(r);
    });
}

/**
 * Keeps lease id alive as clientv3's KeepAlive does: a renewal at once, then every TTL/3 seconds,
 * each answer printed, until the lease is gone (TTL 0) or no answer came within a TTL.
 */
function keepAliveLoop(ctx: CliContext, id: string, p: () => LeasePrinter): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    ctx
      .client()
      .conn.duplex<LeaseKeepAliveRequest, LeaseKeepAliveResponse__Output>('Lease', 'LeaseKeepAlive')
      .then((stream) => {
        const finish = (): void => {
          clearTimeout(timer);
          clearTimeout(deadline);
          stream.cancel();
          resolve();
        };
        const send = (): void => void stream.write({ ID: id });
        stream.on('data', (r) => {
          if (Number(r.TTL) <= 0) return finish();
          try {
            p().keepAlive(r);
          } catch (e) {
            stream.cancel();
            return reject(e);
          }
          const ttlMs = Number(r.TTL) * 1000;
          clearTimeout(deadline);
          deadline = setTimeout(finish, ttlMs);
          timer = setTimeout(send, ttlMs / 3);
        });
        stream.on('error', (e) => {
          clearTimeout(timer);
          clearTimeout(deadline);
          reject(e);
        });
        send();
      }, reject);
  });
}

function keepAlive(): Command {
  return new Command('keep-alive')
    .usage('[options] <leaseID>')
    .description('Keeps leases alive (renew)')
    .option('--once', 'Resets the keep-alive time to its original value and exits immediately')
    .allowExcessArguments(true)
    .action(async (o: { once?: boolean }, cmd: Command) => {
      const id = leaseFromArg(argsOf(cmd, 1, 'lease keep-alive command needs lease ID as argument')[0]!);
      const ctx = contextOf(cmd);
      const p = await printerOf(ctx);
      if (o.once) {
        const r = await ctx.client().leaseKeepAliveOnce(id).catch(failWith(ExitCode.BadConnection));
        if (Number(r.TTL) <= 0) throw new CliError(ExitCode.BadConnection, 'etcdserver: requested lease not found');
        p().keepAlive(r);
        return;
      }
      await keepAliveLoop(ctx, id, p).catch(failWith(ExitCode.BadConnection));
      if (ctx.globals.writeOut === 'simple') ctx.io.out(`lease ${hexId16(id)} expired or revoked.\n`);
    });
}

export function newLeaseCommand(): Command {
  const lease = new Command('lease').usage('<subcommand>').description('Lease related commands');
  for (const make of [grant, revoke, timeToLive, list, keepAlive]) lease.addCommand(make());
  return lease;
}
