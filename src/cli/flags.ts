// Go-compatible parsing of flag values (pflag's int64, uint and duration flags), with pflag's
// error texts so a bad value reads exactly as in etcdctl.
import { CliError, ExitCode } from './errors.js';

/** pflag's error for a flag value it cannot parse; etcdctl prints it before and after the usage. */
export function badFlagValue(flag: string, value: string, cause: string): CliError {
  const msg = `invalid argument "${value}" for "${flag}" flag: ${cause}`;
  return new CliError(ExitCode.Error, msg, `Error: ${msg}\n\n`);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strconv.ParseInt(s, base, 64) returning a decimal string, or the Go error text. */
export function parseInt64(s: string, base = 10): { value?: string; error?: string } {
  const re = base === 16 ? /^[+-]?[0-9a-fA-F]+$/ : /^[+-]?[0-9]+$/;
  if (!re.test(s)) return { error: `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax` };
  const neg = s.startsWith('-');
  const digits = s.replace(/^[+-]/, '');
  let v = base === 16 ? BigInt('0x' + digits) : BigInt(digits);
  if (neg) v = -v;
  if (v < INT64_MIN || v > INT64_MAX) return { error: `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range` };
  return { value: v.toString() };
}

/** A commander argument parser for an int64 flag (keeps the value as a decimal string). */
export function int64Flag(flag: string) {
  return (s: string): string => {
    const r = parseInt64(s);
    if (r.error) throw badFlagValue(flag, s, r.error);
    return r.value!;
  };
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

/** time.ParseDuration, in milliseconds. */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) return undefined;
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += parseFloat(part[1]!) * UNITS[part[2]!]!;
  }
  return m[1] === '-' ? -total : total;
}

export function durationFlag(flag: string) {
  return (s: string): number => {
    const v = parseDuration(s);
    if (v === undefined) throw badFlagValue(flag, s, `time: invalid duration ${JSON.stringify(s)}`);
    return v;
  };
}

/** pflag's bool parsing for --flag=value and env values. */
export function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false;
  return undefined;
}
