// txn [-i]: one transaction read from stdin in etcdctl's grammar (txn_command.go):
//   compares, one per line ("mod(\"k\") > \"0\""), a blank line,
//   success requests ("put k v", "get k", "del k" with their flags), a blank line,
//   failure requests, a blank line.
// With -i the section prompts go to stdout. Malformed input exits 3.
import { Command } from 'commander';
import { contextOf, getIo } from '../context.js';
import { CliError, ExitCode, goPanic } from '../errors.js';
import { goQuote, goUnquote } from '../printers/go-format.js';
import { parseInt64 } from '../flags.js';
import { FlagParseError, resolve } from '../cobra.js';
import { cobraUsage } from '../usage.js';
import { getFlags, getOp, type GetFlags } from './get.js';
import { putFlags, putOp, type PutFlags } from './put.js';
import { delFlags, delOp, type DelFlags } from './del.js';
import type { Compare } from '../../api/gen/etcdserverpb/Compare.js';
import type { RequestOp } from '../../api/gen/etcdserverpb/RequestOp.js';

/** Reads stdin line by line as Go's bufio.Reader.ReadString('\n') does: a missing final newline is EOF. */
export class LineReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiters: (() => void)[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer | string) => {
      this.buf = Buffer.concat([this.buf, typeof c === 'string' ? Buffer.from(c) : c]);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** The next line without its newline; throws EOF when input ends first. */
  async readLine(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf(10);
      if (i >= 0) {
        const line = this.buf.subarray(0, i).toString('utf8');
        this.buf = this.buf.subarray(i + 1);
        return line;
      }
      if (this.ended) throw new CliError(ExitCode.InvalidInput, 'EOF');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/**
 * Splits a line into arguments as etcdctl's argify does ("double", 'single' and bare words). Its
 * single-quoted case slices with the number of arguments instead of the word's length
 * (`args[i][1 : len(args)-1]`): `put 'a b' c` puts "a", and a slice past the word's end panics.
 */
export function argify(s: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const words = [...s.matchAll(re)].map((m) => m[0]);
  const out: string[] = [];
  for (const a of words) {
    if (a.startsWith("'")) {
      const b = Buffer.from(a);
      const hi = words.length - 1;
      if (hi > b.length) goPanic(`runtime error: slice bounds out of range [:${hi}] with length ${b.length}`);
      if (hi < 1) goPanic(`runtime error: slice bounds out of range [1:${hi}]`);
      out.push(b.subarray(1, hi).toString());
    }
    else if (a.startsWith('"')) {
      const u = goUnquote(a);
      if (!u) throw new CliError(ExitCode.InvalidInput, 'invalid syntax');
      out.push(u.toString('utf8'));
    } else out.push(a);
  }
  return out;
}

const RESULTS: Record<string, Compare['result']> = { '=': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' };

/**
 * fmt.Sscanf(s, "%q) %s %q", &key, &op, &val) as etcdctl reads a comparison: what it scanned
 * before the first failure, and how many of the three it got.
 */
function scanCompare(s: string): { n: number; key: Buffer; op: string; val: Buffer } {
  const out = { n: 0, key: Buffer.alloc(0), op: '', val: Buffer.alloc(0) };
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && /\s/u.test(s[i]!)) i++;
  };
  const quoted = (): Buffer | undefined => {
    skipSpace();
    if (s[i] === '`') {
      const j = s.indexOf('`', i + 1);
      if (j < 0) return undefined;
      const raw = Buffer.from(s.slice(i + 1, j));
      i = j + 1;
      return raw;
    }
    if (s[i] !== '"') return undefined;
    let j = i + 1;
    while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
    if (j >= s.length) return undefined;
    const v = goUnquote(s.slice(i, j + 1));
    i = j + 1;
    return v;
  };
  const key = quoted();
  if (!key) return out;
  Object.assign(out, { n: 1, key });
  // `) ` in the format: the parenthesis, then at least one space.
  if (s[i] !== ')' || !/\s/u.test(s[i + 1] ?? '')) return out;
  i++;
  skipSpace();
  const op = /^\S+/u.exec(s.slice(i))?.[0];
  if (!op) return out;
  i += op.length;
  Object.assign(out, { n: 2, op });
  const val = quoted();
  if (!val) return out;
  return Object.assign(out, { n: 3, val });
}

/** Parses one comparison line, e.g. `mod("key") > "5"` or `val("k") = "v"`, as etcdctl's parseCompare. */
export function parseCompare(line: string): Compare {
  const paren = line.indexOf('(');
  if (paren < 0) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { n, key, op, val } = scanCompare(line.slice(paren + 1));
  if (n !== 3) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(val)}`);
  // clientv3.Compare panics on an operator it does not know.
  const result = (): Compare['result'] => RESULTS[op] ?? goPanic('Unknown result op');
  const int = (): string => {
    const r = parseInt64(val.toString());
    if (r.error) throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
    return r.value!;
  };
  switch (target) {
    case 'ver':
    case 'version': {
      const version = int();
      return { key, result: result(), target: 'VERSION', version };
    }
    case 'c':
    case 'create': {
      const create_revision = int();
      return { key, result: result(), target: 'CREATE', create_revision };
    }
    case 'm':
    case 'mod': {
      const mod_revision = int();
      return { key, result: result(), target: 'MOD', mod_revision };
    }
    case 'val':
    case 'value':
      return { key, result: result(), target: 'VALUE', value: val };
    case 'lease':
      // etcdctl hands clientv3.Compare the value as a string, which a lease compare cannot take.
      result();
      return goPanic('bad value');
    default:
      throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line} (unknown target ${target})`);
  }
}

/** Parses one request line with the flags of get, put or del. */
export async function parseRequestOp(line: string): Promise<RequestOp> {
  const args = argify(line);
  if (args.length < 2) throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
  const invalid = () => new CliError(ExitCode.InvalidInput, `invalid txn request: ${line}`);
  let op: RequestOp | undefined;
  const root = new Command('txn-op').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  root.addCommand(getFlags(new Command('get')).argument('[args...]').allowExcessArguments(true).exitOverride().action((a: string[], f: GetFlags) => {
    op = { request_range: getOp(a, f) };
  }));
  root.addCommand(putFlags(new Command('put')).argument('[args...]').allowExcessArguments(true).exitOverride().action(async (a: string[], f: PutFlags) => {
    op = { request_put: await putOp(a, f, async () => Buffer.alloc(0)) };
  }));
  root.addCommand(delFlags(new Command('del')).argument('[args...]').allowExcessArguments(true).exitOverride().action((a: string[], f: DelFlags) => {
    op = { request_delete_range: delOp(a, f) };
  }));
  for (const c of root.commands) c.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  // cobra and pflag read the line; a bad flag shows cobra's default usage on stderr. (--help and a
  // line without a request make etcdctl wait forever: here they are invalid.)
  let r: ReturnType<typeof resolve>;
  try {
    r = resolve(root, args);
  } catch (e) {
    if (!(e instanceof FlagParseError)) throw e;
    getIo().err(cobraUsage(e.cmd!) + '\n');
    throw invalid();
  }
  if (!('argv' in r) || r.help) throw invalid();
  try {
    await root.parseAsync(r.argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw invalid();
  }
  if (!op) throw invalid();
  return op;
}

async function readSection<T>(r: LineReader, parse: (line: string) => T | Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const line = (await r.readLine()).trim();
    if (line.length === 0) return out;
    out.push(await parse(line));
  }
}

export function newTxnCommand(): Command {
  return new Command('txn')
    .usage('[options]')
    .description('Txn processes all the requests in one transaction')
    .option('-i, --interactive', 'Input transaction in interactive mode')
    .argument('[args...]')
    .allowExcessArguments(true)
    .action(async (args: string[], flags: { interactive?: boolean }, cmd: Command) => {
      if (args.length !== 0) throw new CliError(ExitCode.BadArgs, 'txn command does not accept argument');
      const ctx = contextOf(cmd);
      const io = getIo();
      const prompt = (s: string) => flags.interactive && io.out(s + '\n');
      const printer = await ctx.printer();
      const reader = new LineReader(io.stdin);
      prompt('compares:');
      const compare = await readSection(reader, parseCompare);
      prompt('success requests (get, put, del):');
      const success = await readSection(reader, parseRequestOp);
      prompt('failure requests (get, put, del):');
      const failure = await readSection(reader, parseRequestOp);
      (io.stdin as NodeJS.ReadStream).pause?.();
      // etcdctl commits a txn under context.Background(): no --command-timeout.
      printer.txn(await ctx.client().txn({ compare, success, failure }, 0));
    });
}
