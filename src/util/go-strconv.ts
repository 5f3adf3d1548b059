// Go's strconv integer syntax, shared by the server's flags (Go's flag package) and the CLI's
// (pflag): both read integers with strconv.ParseInt/ParseUint.

const DIGITS: Record<number, RegExp> = { 16: /^[0-9a-fA-F]+$/, 10: /^[0-9]+$/, 8: /^[0-7]+$/, 2: /^[01]+$/ };
const PREFIX: Record<number, string> = { 16: '0x', 8: '0o', 2: '0b', 10: '' };

/**
 * The integer in `s` as strconv.ParseInt reads it in `base`, without the range check; undefined
 * for a syntax error. Base 0 takes 0x hex, 0o or leading-0 octal, 0b binary and underscores
 * between digits (or right after a prefix); bases 10 and 16 take digits only, after a sign.
 */
export function goInteger(s: string, base: 0 | 10 | 16 = 0): bigint | undefined {
  const m = /^([+-]?)(.+)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  let b: number = base;
  let digits = body;
  if (base === 0) {
    b = 10;
    if (/^0[xX]/.test(body)) [b, digits] = [16, body.slice(2)];
    else if (/^0[oO]/.test(body)) [b, digits] = [8, body.slice(2)];
    else if (/^0[bB]/.test(body)) [b, digits] = [2, body.slice(2)];
    else if (body.length > 1 && body[0] === '0') [b, digits] = [8, body.slice(1)];
    if ((b === 10 && digits.startsWith('_')) || digits.includes('__') || digits.endsWith('_')) return undefined;
    digits = digits.replace(/_/g, '');
  }
  if (!DIGITS[b]!.test(digits)) return undefined;
  const n = BigInt(PREFIX[b]! + digits);
  return m[1] === '-' ? -n : n;
}

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

/** The time package's quote: ASCII as is (with \" and \\), anything else as \xNN per byte. */
function timeQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x80 || c < 0x20) for (const b of Buffer.from(ch)) out += '\\x' + b.toString(16).padStart(2, '0');
    else out += ch === '"' || ch === '\\' ? '\\' + ch : ch;
  }
  return out + '"';
}

/**
 * time.ParseDuration ("1m30s", ".5s", "-2h", "0"): milliseconds, or Go's error text ("time: invalid
 * duration", "time: missing unit in duration", "time: unknown unit ... in duration").
 */
export function goDuration(orig: string): { ms: number; error?: undefined } | { ms?: undefined; error: string } {
  const invalid = { error: `time: invalid duration ${timeQuote(orig)}` };
  let s = orig;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ms: 0 };
  if (s === '') return invalid;
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(\.(\d*))?/.exec(s)!;
    if (!/^[.0-9]/.test(s) || (num[1] === '' && (num[3] ?? '') === '')) return invalid;
    s = s.slice(num[0].length);
    const unit = /^[^.0-9]*/.exec(s)![0];
    if (unit === '') return { error: `time: missing unit in duration ${timeQuote(orig)}` };
    const perMs = DURATION_UNITS_MS[unit];
    if (perMs === undefined) return { error: `time: unknown unit ${timeQuote(unit)} in duration ${timeQuote(orig)}` };
    s = s.slice(unit.length);
    total += Number(`${num[1] || '0'}.${num[3] ?? ''}0`) * perMs;
    if (total > 9223372036854.775) return invalid; // past int64 nanoseconds
  }
  return { ms: neg ? -total : total };
}
