// get <key> [range_end]: reads a key or a range (etcdctl get_command.go's flags and messages).
import { Command, Option } from 'commander';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { int64Flag } from '../flags.js';
import { prefixRangeEnd } from '../../client/client.js';
import type { RangeRequest } from '../../api/gen/etcdserverpb/RangeRequest.js';

export interface GetFlags {
  consistency: string;
  order: string;
  sortBy: string;
  limit: string;
  prefix?: boolean;
  fromKey?: boolean;
  rev: string;
  keysOnly?: boolean;
  countOnly?: boolean;
  printValueOnly?: boolean;
  minModRevision?: string;
  maxModRevision?: string;
  minCreateRevision?: string;
  maxCreateRevision?: string;
}

/** Declares get's usage and flags on `cmd` (shared with txn's request parser). */
export function getFlags(cmd: Command): Command {
  return cmd
    .usage('[options] <key> [range_end]')
    .description('Gets the key or a range of keys')
    .option('--consistency <l|s>', 'Linearizable(l) or Serializable(s)', 'l')
    .option('--order <order>', 'Order of results; ASCEND or DESCEND (ASCEND by default)', '')
    .option('--sort-by <target>', 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION', '')
    .addOption(new Option('--limit <n>', 'Maximum number of results').default('0').argParser(int64Flag('--limit')))
    .option('--prefix', 'Get keys with matching prefix')
    .option('--from-key', 'Get keys that are greater than or equal to the given key using byte compare')
    .addOption(new Option('--rev <revision>', 'Specify the kv revision').default('0').argParser(int64Flag('--rev')))
    .option('--keys-only', 'Get only the keys')
    .addOption(new Option('--count-only', 'Get only the count (not in etcdctl 3.4)').hideHelp())
    .option('--print-value-only', 'Only write values when using the "simple" output format')
    .addOption(new Option('--min-mod-revision <rev>', 'Filter out keys modified before this revision').argParser(int64Flag('--min-mod-revision')).hideHelp())
    .addOption(new Option('--max-mod-revision <rev>', 'Filter out keys modified after this revision').argParser(int64Flag('--max-mod-revision')).hideHelp())
    .addOption(new Option('--min-create-revision <rev>', 'Filter out keys created before this revision').argParser(int64Flag('--min-create-revision')).hideHelp())
    .addOption(new Option('--max-create-revision <rev>', 'Filter out keys created after this revision').argParser(int64Flag('--max-create-revision')).hideHelp());
}

const SORT_TARGETS: Record<string, RangeRequest['sort_target']> = {
  CREATE: 'CREATE', KEY: 'KEY', MODIFY: 'MOD', VALUE: 'VALUE', VERSION: 'VERSION', '': 'KEY',
};

/** Builds the RangeRequest etcdctl builds for these arguments, or throws its error. */
export function getOp(args: string[], f: GetFlags): RangeRequest {
  if (args.length === 0) throw new CliError(ExitCode.BadArgs, 'get command needs one argument as key and an optional argument as range_end');
  if (f.prefix && f.fromKey) throw new CliError(ExitCode.BadArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const req: RangeRequest = {};
  if (f.consistency === 's') req.serializable = true;
  else if (f.consistency !== 'l') throw new CliError(ExitCode.BadFeature, `unknown consistency flag ${JSON.stringify(f.consistency)}`);
  let key = Buffer.from(args[0]!);
  if (args.length > 1) {
    if (f.prefix || f.fromKey) throw new CliError(ExitCode.BadArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    req.range_end = Buffer.from(args[1]!);
  }
  req.limit = f.limit;
  if (BigInt(f.rev) > 0n) req.revision = f.rev;
  const order = f.order.toUpperCase();
  let sortOrder: RangeRequest['sort_order'] = 'NONE';
  if (order === 'ASCEND') sortOrder = 'ASCEND';
  else if (order === 'DESCEND') sortOrder = 'DESCEND';
  else if (order !== '') throw new CliError(ExitCode.BadFeature, `bad sort order ${f.order}`);
  const target = SORT_TARGETS[f.sortBy.toUpperCase()];
  if (!target) throw new CliError(ExitCode.BadFeature, `bad sort target ${f.sortBy}`);
  // clientv3: ascending by key is the server's natural order, sent as no sort at all.
  if (target === 'KEY' && sortOrder === 'ASCEND') sortOrder = 'NONE';
  req.sort_order = sortOrder;
  req.sort_target = target;
  if (f.prefix) {
    if (key.length === 0) {
      key = Buffer.from([0]);
      req.range_end = Buffer.from([0]);
    } else req.range_end = prefixRangeEnd(key);
  }
  if (f.fromKey) {
    if (key.length === 0) key = Buffer.from([0]);
    req.range_end = Buffer.from([0]);
  }
  req.key = key;
  if (f.keysOnly) req.keys_only = true;
  if (f.countOnly) req.count_only = true;
  if (f.minModRevision) req.min_mod_revision = f.minModRevision;
  if (f.maxModRevision) req.max_mod_revision = f.maxModRevision;
  if (f.minCreateRevision) req.min_create_revision = f.minCreateRevision;
  if (f.maxCreateRevision) req.max_create_revision = f.maxCreateRevision;
  return req;
}

export function newGetCommand(): Command {
  return getFlags(new Command('get'))
    .allowExcessArguments(true)
    .argument('[args...]')
    .action(async (args: string[], flags: GetFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      ctx.commandCtx(); // before the client, as etcdctl's commandCtx
      const req = getOp(args, flags);
      const printer = await ctx.printer({ valueOnly: flags.printValueOnly });
      const resp = await ctx.client().range(req);
      // etcdctl checks this after the request (whose error comes first).
      if (flags.printValueOnly && ctx.globals.writeOut !== 'simple') throw new CliError(ExitCode.BadArgs, 'print-value-only is only for `--write-out=simple`');
      // --count-only (etcdctl 3.5+): the simple form is just the number.
      if (flags.countOnly && ctx.globals.writeOut === 'simple') ctx.io.out(`${resp.count}\n`);
      else printer.get(resp);
    });
}
