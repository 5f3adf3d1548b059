// How etcdctl reads its command line: cobra finds the command (unique prefixes of command names
// too), then pflag parses the flags of that command and of its ancestors. Commander, which runs our
// commands, parses differently (negative numbers as arguments, no -f=value, no --flag=false, ...),
// so this module does cobra's and pflag's part, with their error texts, and hands commander the
// result in a form it cannot read otherwise: each level's flags as --name=value, then `--` and the
// arguments.
import type { Command, Option } from 'commander';
import { goFlagMeta, goTypeOf, parseBool, parseInt64, type GoFlagType } from './flags.js';
import { goDuration } from '../util/go-strconv.js';
import { goQuote } from './printers/go-format.js';

/** A flag as pflag sees it. */
export interface FlagDef {
  name: string;
  short?: string;
  type: GoFlagType;
  /** The default as pflag prints it. */
  def: string;
  usage: string;
  /** Ours only (extensions): parsed, but not in etcdctl's usage texts. */
  hidden: boolean;
  persistent: boolean;
  /** The command it belongs to; undefined for cobra's help flag. */
  owner?: Command;
}

/**
 * etcdctl 3.4's commands by parent, in the order it registers them (its suggestions come in this
 * order), including those ours does not have: a prefix names a command only if it is unique among these.
 */
const ETCDCTL_COMMANDS: Record<string, string[]> = {
  etcdctl: ['get', 'put', 'del', 'txn', 'compaction', 'alarm', 'defrag', 'endpoint', 'move-leader', 'watch', 'version', 'lease', 'member', 'snapshot', 'make-mirror', 'migrate', 'lock', 'elect', 'auth', 'user', 'role', 'check', 'help', 'completion'],
  member: ['add', 'remove', 'update', 'list', 'promote'],
};

/** Commands of ours that etcdctl does not have (not suggested, not in etcdctl's lists). */
export const OURS_ONLY = new Set(['serve']);

function defOf(opt: Option, owner: Command): FlagDef | undefined {
  if (opt.negate || !opt.long) return undefined;
  const meta = goFlagMeta(opt);
  const type = meta.type ?? (opt.isBoolean() ? 'bool' : (goTypeOf(opt.parseArg) ?? 'string'));
  let def = meta.def ?? opt.defaultValueDescription;
  if (def === undefined) {
    const dv = opt.defaultValue as unknown;
    def = dv === undefined ? ({ bool: 'false', string: '', stringSlice: '[]' } as Record<string, string>)[type] ?? '0' : String(dv);
  }
  return {
    name: opt.long.slice(2),
    short: opt.short?.slice(1),
    type,
    def,
    usage: opt.description,
    hidden: opt.hidden,
    persistent: owner.parent === null || !!meta.persistent,
    owner,
  };
}

/** cobra's -h/--help, which every command has. */
export function helpFlag(cmd: Command): FlagDef {
  return { name: 'help', short: 'h', type: 'bool', def: 'false', usage: `help for ${cmd.name()}`, hidden: false, persistent: false };
}

/** The flags a command declares itself (a bare pflag FlagSet of them: no help flag). */
export function ownFlags(c: Command): FlagDef[] {
  return c.options.map((o) => defOf(o, c)).filter((d): d is FlagDef => d !== undefined);
}

/** A command's flags: its own (with help), and those it inherits (its ancestors' persistent flags). */
export function flagsOf(cmd: Command): { local: FlagDef[]; inherited: FlagDef[] } {
  const own = ownFlags;
  const local = [...own(cmd), helpFlag(cmd)];
  const inherited: FlagDef[] = [];
  for (let p = cmd.parent; p; p = p.parent) for (const d of own(p)) if (d.persistent && !local.some((l) => l.name === d.name)) inherited.push(d);
  return { local, inherited };
}

function allFlags(cmd: Command): FlagDef[] {
  const { local, inherited } = flagsOf(cmd);
  return [...local, ...inherited];
}

/** A pflag parse error: cobra prints it and the usage of the command (set by resolve()). */
export class FlagParseError extends Error {
  cmd?: Command;
}

/** Go's %q of one byte as pflag prints an unknown shorthand (a quoted rune). */
function quoteByte(b: number): string {
  const q = goQuote(String.fromCharCode(b));
  return `'${q.slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}

function flagName(d: FlagDef): string {
  return d.short ? `-${d.short}, --${d.name}` : `--${d.name}`;
}

/** pflag's Set: the value checked as the flag's type reads it; throws pflag's error. */
function checkValue(d: FlagDef, value: string): void {
  let cause: string | undefined;
  if (d.type === 'bool') {
    if (parseBool(value) === undefined) cause = `strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`;
  } else if (d.type === 'int64' || d.type === 'int') {
    cause = parseInt64(value, 0).error;
  } else if (d.type === 'duration') {
    cause = goDuration(value).error;
  }
  if (cause !== undefined) throw new FlagParseError(`invalid argument ${goQuote(value)} for "${flagName(d)}" flag: ${cause}`);
}

export interface ParsedFlags {
  /** Each flag given, with its values in order. */
  values: Map<FlagDef, string[]>;
  /** The arguments that are no flags (everything after `--` included). */
  args: string[];
}

/** pflag's answer to --help or -h in a flag set without a help flag. */
const HELP_REQUESTED = 'pflag: help requested';

/** pflag's FlagSet.Parse over `defs` (interspersed flags, `--` ends them). */
export function pflagParse(defs: FlagDef[], argv: string[]): ParsedFlags {
  const values = new Map<FlagDef, string[]>();
  const set = (d: FlagDef, v: string) => {
    checkValue(d, v);
    values.set(d, [...(values.get(d) ?? []), v]);
  };
  const args: string[] = [];
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  let rest = [...argv];
  while (rest.length > 0) {
    const s = rest.shift()!;
    if (s.length < 2 || s[0] !== '-') {
      args.push(s);
      continue;
    }
    if (s[1] === '-') {
      if (s.length === 2) {
        args.push(...rest);
        break;
      }
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw new FlagParseError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const d = defs.find((f) => f.name === name);
      if (!d) throw new FlagParseError(name === 'help' ? HELP_REQUESTED : `unknown flag: --${name}`);
      if (eq >= 0) set(d, body.slice(eq + 1));
      else if (d.type === 'bool') set(d, 'true');
      else if (rest.length > 0) set(d, rest.shift()!);
      else throw new FlagParseError(`flag needs an argument: ${s}`);
      continue;
    }
    // Shorthands, possibly several (-ih), the last one maybe with its value (-wjson, -w=json).
    let shorts = bytes(s.slice(1));
    while (shorts.length > 0) {
      const c = shorts[0]!;
      const d = defs.find((f) => f.short !== undefined && f.short.charCodeAt(0) === c && f.short.length === 1);
      if (!d) throw new FlagParseError(c === 0x68 ? HELP_REQUESTED : `unknown shorthand flag: ${quoteByte(c)} in -${shorts.toString('utf8')}`);
      if (shorts.length > 2 && shorts[1] === 0x3d) {
        set(d, shorts.subarray(2).toString('utf8'));
        shorts = Buffer.alloc(0);
      } else if (d.type === 'bool') {
        set(d, 'true');
        shorts = shorts.subarray(1);
      } else if (shorts.length > 1) {
        set(d, shorts.subarray(1).toString('utf8'));
        shorts = Buffer.alloc(0);
      } else if (rest.length > 0) {
        set(d, rest.shift()!);
        shorts = Buffer.alloc(0);
      } else throw new FlagParseError(`flag needs an argument: ${quoteByte(c)} in -${shorts.toString('utf8')}`);
    }
  }
  return { values, args };
}

/**
 * The words of argv that name commands, as cobra's stripFlags guesses them. cobra adds the help
 * flag only once it has found the command, so here --help and -h take the next word as their value
 * (`etcdctl --help get` shows the top usage).
 */
function stripFlags(args: string[], cmd: Command): string[] {
  const defs = allFlags(cmd).filter((d) => d.owner !== undefined);
  const boolLong = (n: string) => defs.some((d) => d.name === n && d.type === 'bool');
  const boolShort = (c: string) => defs.some((d) => d.short === c && d.type === 'bool');
  const words: string[] = [];
  const rest = [...args];
  while (rest.length > 0) {
    const s = rest.shift()!;
    if (s === '--') break;
    const valued = (s.startsWith('--') && !s.includes('=') && !boolLong(s.slice(2))) || (s.startsWith('-') && !s.includes('=') && s.length === 2 && !boolShort(s.slice(1)));
    if (valued) {
      if (rest.length <= 1) break;
      rest.shift();
      continue;
    }
    if (s !== '' && !s.startsWith('-')) words.push(s);
  }
  return words;
}

/** cobra's findNext: an exact name, or a prefix of exactly one name (counting etcdctl's commands ours lacks). */
function findNext(cmd: Command, word: string): Command | undefined {
  const exact = cmd.commands.find((c) => c.name() === word);
  if (exact) return exact;
  const names = new Set([...cmd.commands.map((c) => c.name()).filter((n) => !OURS_ONLY.has(n)), ...(ETCDCTL_COMMANDS[cmd.name()] ?? [])]);
  const matches = [...names].filter((n) => n.startsWith(word));
  return matches.length === 1 ? cmd.commands.find((c) => c.name() === matches[0]) : undefined;
}

/** cobra's Levenshtein distance (bytes, case folded). */
function ld(a: string, b: string): number {
  const s = bytesOf(a.toLowerCase());
  const t = bytesOf(b.toLowerCase());
  const d = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let j = 1; j <= t.length; j++) {
    for (let i = 1; i <= s.length; i++) {
      d[i]![j] = s[i - 1] === t[j - 1] ? d[i - 1]![j - 1]! : Math.min(d[i - 1]![j]!, d[i]![j - 1]!, d[i - 1]![j - 1]!) + 1;
    }
  }
  return d[s.length]![t.length]!;
}
const bytesOf = (s: string) => [...Buffer.from(s, 'utf8')];

/** cobra's "Did you mean this?" list for an unknown command at the top. */
function suggestions(root: Command, word: string): string {
  const names = (ETCDCTL_COMMANDS[root.name()] ?? root.commands.map((c) => c.name())).filter((n) => n !== 'help');
  const hits = names.filter((n) => ld(word, n) <= 2 || n.toLowerCase().startsWith(word.toLowerCase()));
  return hits.length === 0 ? '' : `\n\nDid you mean this?\n${hits.map((n) => `\t${n}\n`).join('')}`;
}

export interface Found {
  cmd: Command;
  /** The command line without the command words. */
  args: string[];
  /** cobra's error for an unknown command at the top. */
  error?: string;
}

/** cobra's Command.Find from `root`. */
export function findCommand(root: Command, argv: string[]): Found {
  let cmd = root;
  let args = [...argv];
  for (;;) {
    const words = stripFlags(args, cmd);
    if (words.length === 0) break;
    const next = findNext(cmd, words[0]!);
    if (!next) break;
    const i = args.indexOf(words[0]!);
    args = [...args.slice(0, i), ...args.slice(i + 1)];
    cmd = next;
  }
  if (cmd.commands.length > 0 && cmd.parent === null) {
    const words = stripFlags(args, cmd);
    if (words.length > 0) return { cmd, args, error: `unknown command ${goQuote(words[0]!)} for ${goQuote(root.name())}${suggestions(root, words[0]!)}` };
  }
  return { cmd, args };
}

/**
 * The command line for commander: from the root down to `cmd`, each level's name followed by the
 * flags it owns, then `--` and the arguments. Booleans become --name or --no-name.
 */
export function canonicalArgv(cmd: Command, parsed: ParsedFlags): string[] {
  const path: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c);
  const out: string[] = [];
  path.forEach((level, i) => {
    if (i > 0) out.push(level.name());
    for (const [d, vs] of parsed.values) {
      if (d.owner !== level) continue;
      if (d.type === 'bool') {
        const v = parseBool(vs[vs.length - 1]!)!;
        if (v) out.push(`--${d.name}`);
        else if (level.options.some((o) => o.long === `--no-${d.name}`)) out.push(`--no-${d.name}`);
      } else if (d.type === 'stringSlice') out.push(`--${d.name}=${vs.join(',')}`);
      else out.push(`--${d.name}=${vs[vs.length - 1]}`);
    }
  });
  return [...out, '--', ...parsed.args];
}

export interface Resolved {
  cmd: Command;
  /** What commander is to parse. */
  argv: string[];
  /** --help given, or a command that only groups others: show its usage. */
  help: boolean;
}

/** cobra's Find and pflag's Parse: the command to run and commander's argv, or throws cobra's errors. */
export function resolve(root: Command, argv: string[]): Resolved | Found {
  const found = findCommand(root, argv);
  if (found.error) return found;
  let parsed: ParsedFlags;
  try {
    parsed = pflagParse(allFlags(found.cmd), found.args);
  } catch (e) {
    if (e instanceof FlagParseError) e.cmd = found.cmd;
    throw e;
  }
  const helpGiven = [...parsed.values].some(([d, vs]) => d.owner === undefined && parseBool(vs[vs.length - 1]!));
  return { cmd: found.cmd, argv: canonicalArgv(found.cmd, parsed), help: helpGiven || found.cmd.commands.length > 0 };
}
