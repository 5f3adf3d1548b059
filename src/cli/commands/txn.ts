// txn [-i]: one transaction read from stdin in etcdctl's grammar (txn_command.go):
//   compares, one per line ("mod(\"k\") > \"0\""), a blank line,
//   success requests ("put k v", "get k", "del k" with their flags), a blank line,
//   failure requests, a blank line.
// With -i the section prompts go to stdout. Malformed input exits 3.
import { Command } from 'commander';
import { contextOf, getIo } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { goQuote, goUnquote } from '../printers/go-format.js';
import { parseInt64 } from '../flags.js';
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

/** Splits a line into arguments as etcdctl's argify does ("double", 'single' and bare words). */
export function argify(s: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const out: string[] = [];
  for (const m of s.matchAll(re)) {
    const a = m[0];
    if (a.startsWith("'")) out.push(a.slice(1, -1));
    else if (a.startsWith('"')) {
      const u = goUnquote(a);
      if (!u) throw new CliError(ExitCode.InvalidInput, 'invalid syntax');
      out.push(u.toString('utf8'));
    } else out.push(a);
  }
  return out;
}

const RESULTS: Record<string, Compare['result']> = { '=': 'EQUAL', '==': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' };
const QUOTED = String.raw`("(?:[^"\\]|\\.)*"|\x60[^\x60]*\x60)`;
const CMP_RE = new RegExp(String.raw`^\s*${QUOTED}\)\s+(\S+)\s+${QUOTED}`);

function unq(s: string): Buffer | undefined {
  if (s.startsWith('`')) return Buffer.from(s.slice(1, -1));
  return goUnquote(s);
}

/** Parses one comparison line, e.g. `mod("key") > "5"` or `val("k") = "v"`. */
export function parseCompare(line: string): Compare {
  const paren = line.indexOf('(');
  if (paren < 0) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const m = CMP_RE.exec(line.slice(paren + 1));
  const key = m ? unq(m[1]!) : undefined;
  const val = m ? unq(m[3]!) : undefined;
  if (!m || !key || !val) {
    throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line}; got ${target}(${goQuote(key ?? '')}) ${m?.[2] ?? ''} ${goQuote(val ?? '')}`);
  }
  const result = RESULTS[m[2]!];
  if (!result) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line} (unknown op ${m[2]})`);
  const cmp: Compare = { key, result };
  const int = (): string => {
    const r = parseInt64(val.toString());
    if (r.error) throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
    return r.value!;
  };
  switch (target) {
    case 'ver':
    case 'version':
      return { ...cmp, target: 'VERSION', version: int() };
    case 'c':
    case 'create':
      return { ...cmp, target: 'CREATE', create_revision: int() };
    case 'm':
    case 'mod':
      return { ...cmp, target: 'MOD', mod_revision: int() };
    case 'val':
    case 'value':
      return { ...cmp, target: 'VALUE', value: val };
    case 'lease': {
      const r = parseInt64(val.toString(), 16);
      if (r.error) throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
      return { ...cmp, target: 'LEASE', lease: r.value! };
    }
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
  try {
    await root.parseAsync(args, { from: 'user' });
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
      printer.txn(await ctx.client().txn({ compare, success, failure }));
    });
}
