// Go-compatible parsing of flag values (pflag's int64, uint and duration flags), with pflag's
// error texts so a bad value reads exactly as in etcdctl.
import { CliError, ExitCode } from './errors.js';
import { goDuration, goInteger } from '../util/go-strconv.js';
import { goQuote } from './printers/go-format.js';

/** pflag's error for a flag value it cannot parse; etcdctl prints it before and after the usage. */
export function badFlagValue(flag: string, value: string, cause: string): CliError {
  const msg = `invalid argument ${goQuote(value)} for "${flag}" flag: ${cause}`;
  return new CliError(ExitCode.Error, msg, `Error: ${msg}\n\n`);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strconv.ParseInt(s, base, 64) returning a decimal string, or the Go error text (pflag's int flags use base 0). */
export function parseInt64(s: string, base: 0 | 10 | 16 = 10): { value?: string; error?: string } {
  const v = goInteger(s, base);
  if (v === undefined) return { error: `strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax` };
  if (v < INT64_MIN || v > INT64_MAX) return { error: `strconv.ParseInt: parsing ${goQuote(s)}: value out of range` };
  return { value: v.toString() };
}

/** The pflag type of a flag whose value a parser reads (for usage texts): int64, int, duration. */
export type GoFlagType = 'bool' | 'string' | 'int64' | 'int' | 'duration' | 'stringSlice';
const parserTypes = new WeakMap<object, GoFlagType>();
/** The pflag type of the values `parser` reads, if it was made by one of this module's makers. */
export function goTypeOf(parser: unknown): GoFlagType | undefined {
  return typeof parser === 'function' ? parserTypes.get(parser) : undefined;
}
function typed<F extends object>(type: GoFlagType, f: F): F {
  parserTypes.set(f, type);
  return f;
}

/** A commander argument parser for a pflag int64 (or int) flag: base 0; keeps the value as a decimal string. */
export function int64Flag(flag: string, type: 'int64' | 'int' = 'int64') {
  return typed(type, (s: string): string => {
    const r = parseInt64(s, 0);
    if (r.error) throw badFlagValue(flag, s, r.error);
    return r.value!;
  });
}

/** time.ParseDuration, in milliseconds (undefined if it is none). */
export function parseDuration(s: string): number | undefined {
  return goDuration(s).ms;
}

export function durationFlag(flag: string) {
  return typed('duration', (s: string): number => {
    const v = goDuration(s);
    if (v.error !== undefined) throw badFlagValue(flag, s, v.error);
    return v.ms;
  });
}

/** pflag's bool parsing for --flag=value and env values. */
export function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false;
  return undefined;
}

/** What pflag knows of a flag that commander's Option does not say: its type and default as shown, persistence. */
export interface GoFlagMeta {
  type?: GoFlagType;
  /** The default as pflag prints it (e.g. 2s, [127.0.0.1:2379]). */
  def?: string;
  /** A persistent flag: its subcommands take it too, and list it under GLOBAL OPTIONS. */
  persistent?: boolean;
}
const optionMeta = new WeakMap<object, GoFlagMeta>();
/** Records pflag's view of a commander Option (returns the option). */
export function goFlag<O extends object>(opt: O, meta: GoFlagMeta): O {
  optionMeta.set(opt, { ...optionMeta.get(opt), ...meta });
  return opt;
}
export function goFlagMeta(opt: object): GoFlagMeta {
  return optionMeta.get(opt) ?? {};
}

const longHelps = new WeakMap<object, string>();
/** A command's long description (cobra's Long), shown under DESCRIPTION in its usage; returns the command. */
export function longHelp<C extends object>(cmd: C, text: string): C {
  longHelps.set(cmd, text);
  return cmd;
}
export function longHelpOf(cmd: object): string {
  return longHelps.get(cmd) ?? '';
}
