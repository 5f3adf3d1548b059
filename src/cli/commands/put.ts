// put <key> [value]: writes a key; the value comes from stdin when not given (put_command.go).
import { Command } from 'commander';
import { contextOf, getIo } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { longHelp, parseInt64 } from '../flags.js';
import type { PutRequest } from '../../api/gen/etcdserverpb/PutRequest.js';

export interface PutFlags {
  lease: string;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

/** Declares put's usage and flags on `cmd` (shared with txn's request parser). */
export function putFlags(cmd: Command): Command {
  return cmd
    .usage('[options] <key> <value> (<value> can also be given from stdin)')
    .description('Puts the given key into the store')
    .option('--lease <id>', 'lease ID (in hexadecimal) to attach to the key', '0')
    .option('--prev-kv', 'return the previous key-value pair before modification')
    .option('--ignore-value', 'updates the key using its current value')
    .option('--ignore-lease', 'updates the key using its current lease');
}

/** Reads all of stdin (the value of `put <key>` without a value argument). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** Builds the PutRequest etcdctl builds; `stdinValue` is called only when the value must come from stdin. */
export async function putOp(args: string[], f: PutFlags, stdinValue: () => Promise<Buffer>): Promise<PutRequest> {
  const needs = 'put command needs 1 argument and input from stdin or 2 arguments';
  if (args.length === 0) throw new CliError(ExitCode.BadArgs, needs);
  if (f.ignoreValue && args.length > 1) throw new CliError(ExitCode.BadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  let value: Buffer = Buffer.alloc(0);
  if (!f.ignoreValue) {
    if (args.length > 1) value = Buffer.from(args[1]!);
    else {
      value = await stdinValue();
      if (value.length === 0) throw new CliError(ExitCode.BadArgs, needs);
    }
  }
  const id = parseInt64(f.lease, 16);
  if (id.error) throw new CliError(ExitCode.BadArgs, `bad lease ID (${id.error}), expecting ID in Hex`);
  const req: PutRequest = { key: Buffer.from(args[0]!), value };
  if (id.value !== '0') req.lease = id.value;
  if (f.prevKv) req.prev_kv = true;
  if (f.ignoreValue) req.ignore_value = true;
  if (f.ignoreLease) req.ignore_lease = true;
  return req;
}

const PUT_LONG = `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`;

export function newPutCommand(): Command {
  return longHelp(putFlags(new Command('put')), PUT_LONG)
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], flags: PutFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      ctx.commandCtx(); // before the client, as etcdctl's commandCtx
      const req = await putOp(args, flags, () => readAll(getIo().stdin));
      const printer = await ctx.printer();
      printer.put(await ctx.client().put(req));
    });
}
