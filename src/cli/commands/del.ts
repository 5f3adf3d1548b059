// del <key> [range_end]: deletes a key or a range (del_command.go).
import { Command } from 'commander';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { prefixRangeEnd } from '../../client/client.js';
import type { DeleteRangeRequest } from '../../api/gen/etcdserverpb/DeleteRangeRequest.js';

export interface DelFlags {
  prefix?: boolean;
  prevKv?: boolean;
  fromKey?: boolean;
}

/** Declares del's usage and flags on `cmd` (shared with txn's request parser). */
export function delFlags(cmd: Command): Command {
  return cmd
    .usage('[options] <key> [range_end]')
    .description('Removes the specified key or range of keys [key, range_end)')
    .option('--prefix', 'delete keys with matching prefix')
    .option('--prev-kv', 'return deleted key-value pairs')
    .option('--from-key', 'delete keys that are greater than or equal to the given key using byte compare');
}

export function delOp(args: string[], f: DelFlags): DeleteRangeRequest {
  if (args.length === 0 || args.length > 2) throw new CliError(ExitCode.BadArgs, 'del command needs one argument as key and an optional argument as range_end');
  if (f.prefix && f.fromKey) throw new CliError(ExitCode.BadArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  let key = Buffer.from(args[0]!);
  const req: DeleteRangeRequest = {};
  if (args.length > 1) {
    if (f.prefix || f.fromKey) throw new CliError(ExitCode.BadArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    req.range_end = Buffer.from(args[1]!);
  }
  if (f.prefix) {
    if (key.length === 0) {
      key = Buffer.from([0]);
      req.range_end = Buffer.from([0]);
    } else req.range_end = prefixRangeEnd(key);
  }
  if (f.prevKv) req.prev_kv = true;
  if (f.fromKey) {
    if (key.length === 0) key = Buffer.from([0]);
    req.range_end = Buffer.from([0]);
  }
  req.key = key;
  return req;
}

export function newDelCommand(): Command {
  return delFlags(new Command('del'))
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], flags: DelFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      ctx.commandCtx(); // before the client, as etcdctl's commandCtx
      const req = delOp(args, flags);
      const printer = await ctx.printer();
      printer.del(await ctx.client().deleteRange(req));
    });
}
