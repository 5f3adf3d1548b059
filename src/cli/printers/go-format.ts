// Go's formatting verbs that etcdctl's output depends on, so ours matches byte for byte:
// %q (strconv.Quote), %x and %016x of uint64 decimal strings, the \xNN form of --hex, and
// humanize.Bytes for database sizes.

/** Go's unicode.IsPrint for one code point (letters, marks, numbers, punctuation, symbols, ASCII space). */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's strconv.Quote of the bytes in `b` (invalid UTF-8 bytes become \xNN). */
export function goQuote(b: Buffer | string): string {
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  let out = '"';
  let i = 0;
  while (i < buf.length) {
    const [cp, size] = decodeRune(buf, i);
    if (cp < 0) {
      out += '\\x' + hex2(buf[i]!);
      i += 1;
      continue;
    }
    i += size;
    const ch = String.fromCodePoint(cp);
    if (cp === 0x22) out += '\\"';
    else if (cp === 0x5c) out += '\\\\';
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp === 7) out += '\\a';
    else if (cp === 8) out += '\\b';
    else if (cp === 12) out += '\\f';
    else if (cp === 10) out += '\\n';
    else if (cp === 13) out += '\\r';
    else if (cp === 9) out += '\\t';
    else if (cp === 11) out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex2(cp);
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Decodes one UTF-8 sequence at `i`: [code point, length], or [-1, 1] for an invalid byte. */
function decodeRune(b: Buffer, i: number): [number, number] {
  const c0 = b[i]!;
  if (c0 < 0x80) return [c0, 1];
  const need = c0 >= 0xf0 && c0 <= 0xf4 ? 3 : c0 >= 0xe0 ? (c0 <= 0xef ? 2 : -1) : c0 >= 0xc2 ? 1 : -1;
  if (need < 0 || i + need > b.length - 1) return [-1, 1];
  let cp = c0 & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
  for (let k = 1; k <= need; k++) {
    const c = b[i + k]!;
    if ((c & 0xc0) !== 0x80) return [-1, 1];
    cp = (cp << 6) | (c & 0x3f);
  }
  const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, need + 1];
}

/** Go's strconv.Unquote for a double-quoted literal (as fmt's %q scanning accepts); undefined if malformed. */
export function goUnquote(s: string): Buffer | undefined {
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return undefined;
  const body = s.slice(1, -1);
  const bytes: number[] = [];
  const pushStr = (t: string) => bytes.push(...Buffer.from(t, 'utf8'));
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '"') return undefined;
    if (c !== '\\') {
      pushStr(c);
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'a': bytes.push(7); break;
      case 'b': bytes.push(8); break;
      case 'f': bytes.push(12); break;
      case 'n': bytes.push(10); break;
      case 'r': bytes.push(13); break;
      case 't': bytes.push(9); break;
      case 'v': bytes.push(11); break;
      case '\\': bytes.push(0x5c); break;
      case '"': bytes.push(0x22); break;
      case "'": bytes.push(0x27); break;
      case 'x': {
        const h = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
        bytes.push(parseInt(h, 16));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const n = e === 'u' ? 4 : 8;
        const h = body.slice(i + 1, i + 1 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) return undefined;
        pushStr(String.fromCodePoint(parseInt(h, 16)));
        i += n;
        break;
      }
      default: {
        if (e !== undefined && /[0-7]/.test(e)) {
          const o = body.slice(i, i + 3);
          if (!/^[0-7]{3}$/.test(o)) return undefined;
          bytes.push(parseInt(o, 8));
          i += 2;
          break;
        }
        return undefined;
      }
    }
  }
  return Buffer.from(bytes);
}

/** etcdctl --hex: every byte as \xNN. */
export function hexEscape(b: Buffer): string {
  let s = '';
  for (const c of b) s += '\\x' + hex2(c);
  return s;
}

/** Go %x of a uint64 given as a decimal string. */
export function hexId(dec: string): string {
  return BigInt(dec).toString(16);
}

/** Go %016x of an int64/uint64 decimal string (negative values print as -hex, as Go does). */
export function hexId16(dec: string): string {
  const v = BigInt(dec);
  if (v < 0n) return '-' + (-v).toString(16).padStart(15, '0');
  return v.toString(16).padStart(16, '0');
}

/** go-humanize Bytes: SI units with one decimal below 10, as `20 kB`. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const suffix = sizes[e]!;
  const val = Math.floor((n / Math.pow(1000, e)) * 10 + 0.5) / 10;
  return val < 10 ? `${goFixed(val, 1)} ${suffix}` : `${goFixed(val, 0)} ${suffix}`;
}

/** Go's %.Nf: rounds half to even on the exact binary value (JS toFixed rounds half up). */
export function goFixed(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  const diff = scaled - floor;
  let r = diff > 0.5 ? floor + 1 : diff < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
  if (!Number.isFinite(r)) r = scaled;
  return (r / 10 ** digits).toFixed(digits);
}

/** capnslog's timestamp (etcd 3.4's log lines): 2006-01-02 15:04:05.000000, local time. */
export function capnslogTime(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
}
