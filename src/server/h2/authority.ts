// A filter for the client-to-server bytes of an HTTP/2 connection that makes a URL-shaped
// :authority acceptable to node's HTTP/2 server.
//
// Why: etcdctl 3.4 (grpc-go) dials some connections per endpoint (endpoint status, defrag,
// endpoint hashkv) with the endpoint URL as its target, so its requests carry
// `:authority: http://127.0.0.1:2379`. grpc-go's server ignores that; nghttp2, under node's http2,
// checks :authority character by character (nghttp2_check_authority: RFC 3986 unreserved,
// sub-delims, ':', '@', '[', ']', '%') and resets the stream with PROTOCOL_ERROR because of the '/'.
// Node has no switch for that check, so the bytes are fixed before nghttp2 reads them.
//
// How: frames pass through unchanged except header blocks (HEADERS plus its CONTINUATIONs). Each
// block is decoded with one HPACK decoder per connection (it mirrors the client's encoder, dynamic
// table included), :authority is normalized, and the block is encoded again without the dynamic
// table (indexed static entries, or literals "without indexing"), so the server's decoder never
// holds an entry and stays in step whatever the client's encoder does. Everything else (SETTINGS,
// DATA, WINDOW_UPDATE, ...) is untouched; the filter does not need to know the server's side.
//
// Header names and values are handled as latin1 strings: one character per octet, so any octet
// survives the decode and re-encode unchanged.

/** The client connection preface (RFC 7540 §3.5). */
export const H2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// Frame types and flags (RFC 7540 §6).
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const FRAME_HEADER_LEN = 9;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** Offset of the frame's first header byte in the parsed buffer. */
  start: number;
  /** Offset just past the frame's payload. */
  end: number;
}

/**
 * Parses the complete frames in buf from offset `from`; an incomplete frame at the end is left
 * alone. `consumed` is the offset just past the last complete frame (`from` when there is none).
 */
export function parseFrames(buf: Buffer, from: number): { frames: Frame[]; consumed: number } {
  const frames: Frame[] = [];
  let off = from;
  while (buf.length - off >= FRAME_HEADER_LEN) {
    const len = buf.readUIntBE(off, 3);
    const end = off + FRAME_HEADER_LEN + len;
    if (end > buf.length) break;
    frames.push({
      type: buf[off + 3],
      flags: buf[off + 4],
      streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
      payload: buf.subarray(off + FRAME_HEADER_LEN, end),
      start: off,
      end,
    });
    off = end;
  }
  return { frames, consumed: off };
}

function frameHeader(len: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_LEN);
  h.writeUIntBE(len, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return h;
}

// ---------------------------------------------------------------------------------------------
// HPACK (RFC 7541)

/** The static table (RFC 7541 Appendix A); entry i is index i + 1. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Per-entry overhead counted in the dynamic table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * The Huffman code (RFC 7541 Appendix B): for symbol s (0..255, 256 = EOS), HUFFMAN_CODES[s] is
 * the code's value right-aligned and HUFFMAN_LENGTHS[s] its length in bits. The code is canonical
 * (codes of one length are consecutive, in symbol order), which the unit tests check.
 */
export const HUFFMAN_CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, // ' ' ! " # $ % & '
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18, // ( ) * + , - . /
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, // 0-7
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc, // 8 9 : ; < = > ?
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, // @ A-G
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, // H-O
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, // P-W
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22, // X Y Z [ \ ] ^ _
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, // ` a-g
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7, // h-o
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, // p-w
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, // x y z { | } ~ DEL
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff, // EOS
];

export const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30, // EOS
];

const EOS = 256;

// The decoding trie, built once: node 0 is the root; HUFF_NEXT[2 * node + bit] is the child
// (> 0) or, for a leaf, -(symbol + 1). 256 internal nodes suffice for 257 leaves.
const HUFF_NEXT: Int32Array = (() => {
  const next = new Int32Array(2 * 256);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1; // codes reach 30 bits: avoid >>'s sign
      const slot = 2 * node + bit;
      if (i === 0) {
        if (next[slot] !== 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} collides`);
        next[slot] = -(sym + 1);
      } else {
        if (next[slot] < 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} collides`);
        if (next[slot] === 0) next[slot] = nodes++;
        node = next[slot];
      }
    }
  }
  return next;
})();

/** Decodes a Huffman-coded string (RFC 7541 §5.2) to latin1. */
export function huffmanDecode(data: Buffer): string {
  const out: number[] = [];
  let node = 0;
  let pendingBits = 0; // bits read since the last complete symbol
  let pendingAllOnes = true;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = HUFF_NEXT[2 * node + bit];
      pendingBits++;
      if (bit === 0) pendingAllOnes = false;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new Error('HPACK: Huffman-coded string contains EOS');
        out.push(sym);
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else {
        node = next;
      }
    }
  }
  // Padding: the most significant bits of EOS (all ones), shorter than 8 bits.
  if (pendingBits > 7) throw new Error('HPACK: Huffman padding longer than 7 bits');
  if (!pendingAllOnes) throw new Error('HPACK: Huffman padding is not a prefix of EOS');
  return Buffer.from(out).toString('latin1');
}

export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "literal header field never indexed" (a value intermediaries must not index). */
  neverIndexed: boolean;
}

export interface HpackDecoderOptions {
  /**
   * SETTINGS_HEADER_TABLE_SIZE advertised by the decoding side (the server): the largest dynamic
   * table size the encoder may set. Default 4096, the protocol default and node's.
   */
  maxTableSize?: number;
}

/** An HPACK decoder (RFC 7541) with its dynamic table; one per direction of one connection. */
export class HpackDecoder {
  private readonly limit: number;
  private maxSize: number;
  private size = 0;
  /** Dynamic table, newest first: index 62 is entries[0]. */
  private entries: Array<[string, string]> = [];

  constructor(opts: HpackDecoderOptions = {}) {
    this.limit = opts.maxTableSize ?? 4096;
    this.maxSize = this.limit;
  }

  /** The dynamic table's size in the RFC's accounting (sum of name + value + 32). */
  get tableSize(): number {
    return this.size;
  }

  /** The current maximum the encoder set (at most the advertised limit). */
  get maxTableSize(): number {
    return this.maxSize;
  }

  /** A copy of the dynamic table, newest entry first. */
  dynamicTable(): Array<[string, string]> {
    return this.entries.map(([n, v]) => [n, v]);
  }

  decode(block: Buffer): [name: string, value: string][] {
    return this.decodeFields(block).map((f) => [f.name, f.value]);
  }

  /** Like decode, and tells which fields were sent "never indexed". */
  decodeFields(block: Buffer): HeaderField[] {
    const out: HeaderField[] = [];
    const r = { buf: block, off: 0 };
    let sawField = false;
    while (r.off < block.length) {
      const b = block[r.off];
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const idx = readInt(r, 7);
        if (idx === 0) throw new Error('HPACK: indexed header field with index 0');
        const [name, value] = this.lookup(idx);
        out.push({ name, value, neverIndexed: false });
        sawField = true;
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const [name, value] = this.readLiteral(r, 6);
        this.add(name, value);
        out.push({ name, value, neverIndexed: false });
        sawField = true;
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3); only at the start of a block (§4.2).
        if (sawField) throw new Error('HPACK: dynamic table size update after a header field');
        const size = readInt(r, 5);
        if (size > this.limit) {
          throw new Error(`HPACK: dynamic table size update to ${size} exceeds the limit ${this.limit}`);
        }
        this.maxSize = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        const neverIndexed = (b & 0x10) !== 0;
        const [name, value] = this.readLiteral(r, 4);
        out.push({ name, value, neverIndexed });
        sawField = true;
      }
    }
    return out;
  }

  private readLiteral(r: Reader, prefix: number): [string, string] {
    const idx = readInt(r, prefix);
    const name = idx === 0 ? readString(r) : this.lookup(idx)[0];
    const value = readString(r);
    return [name, value];
  }

  private lookup(idx: number): [string, string] {
    if (idx >= 1 && idx <= STATIC_TABLE.length) {
      const [n, v] = STATIC_TABLE[idx - 1];
      return [n, v];
    }
    const d = idx - STATIC_TABLE.length - 1;
    if (d < this.entries.length) return this.entries[d];
    throw new Error(
      `HPACK: index ${idx} is past the tables (${STATIC_TABLE.length} static, ${this.entries.length} dynamic)`,
    );
  }

  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it and is not added (§4.4).
      this.entries = [];
      this.size = 0;
      return;
    }
    this.evict(entrySize);
    this.entries.unshift([name, value]);
    this.size += entrySize;
  }

  /** Evicts the oldest entries until `room` more octets fit under the maximum (§4.3, §4.4). */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }
}

interface Reader {
  buf: Buffer;
  off: number;
}

/** Reads an HPACK integer with an N-bit prefix (§5.1). */
function readInt(r: Reader, prefixBits: number): number {
  if (r.off >= r.buf.length) throw new Error('HPACK: truncated integer');
  const mask = (1 << prefixBits) - 1;
  let value = r.buf[r.off++] & mask;
  if (value < mask) return value;
  let shift = 0;
  for (;;) {
    if (r.off >= r.buf.length) throw new Error('HPACK: truncated integer');
    const b = r.buf[r.off++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (value > 0x7fffffff) throw new Error('HPACK: integer too large');
    if ((b & 0x80) === 0) return value;
  }
}

/** Reads an HPACK string literal (§5.2) as latin1. */
function readString(r: Reader): string {
  if (r.off >= r.buf.length) throw new Error('HPACK: truncated string');
  const huffman = (r.buf[r.off] & 0x80) !== 0;
  const len = readInt(r, 7);
  if (r.off + len > r.buf.length) throw new Error('HPACK: string runs past the end of the block');
  const data = r.buf.subarray(r.off, r.off + len);
  r.off += len;
  return huffman ? huffmanDecode(data) : data.toString('latin1');
}

// Encoding toward the server: never touches the dynamic table.

const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([n, v], i) => {
  const key = `${n}\0${v}`;
  if (!STATIC_EXACT.has(key)) STATIC_EXACT.set(key, i + 1);
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
});

function writeInt(out: number[], first: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(first | value);
    return;
  }
  out.push(first | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function writeRawString(out: number[], s: string): void {
  writeInt(out, 0x00, 7, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
}

/**
 * Encodes fields without the dynamic table: an exact static match as an indexed field, anything
 * else as a literal without indexing (never indexed where the client said so), the name indexed
 * from the static table when it is there, strings raw (no Huffman).
 */
export function encodeWithoutIndexing(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const f of fields) {
    const exact = f.neverIndexed ? undefined : STATIC_EXACT.get(`${f.name}\0${f.value}`);
    if (exact !== undefined) {
      writeInt(out, 0x80, 7, exact);
      continue;
    }
    const first = f.neverIndexed ? 0x10 : 0x00;
    const nameIdx = STATIC_NAME.get(f.name);
    if (nameIdx !== undefined) {
      writeInt(out, first, 4, nameIdx);
    } else {
      out.push(first);
      writeRawString(out, f.name);
    }
    writeRawString(out, f.value);
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------------------------------------
// :authority

// The octets nghttp2_check_authority accepts: RFC 3986 unreserved, sub-delims, and ':' '@' '[' ']'
// '%'. Anything else (notably '/', ' ', '?', '#', non-ASCII) gets the stream reset.
const AUTHORITY_OK = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%") {
  AUTHORITY_OK[c.charCodeAt(0)] = 1;
}

/**
 * True if nghttp2 would refuse v as :authority (v as latin1, one character per octet): an octet
 * outside its set, or an empty value (nghttp2 resets the stream for that too).
 */
export function authorityNeedsRewrite(v: string): boolean {
  if (v.length === 0) return true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 0xff || !AUTHORITY_OK[c]) return true;
  }
  return false;
}

/**
 * Makes an :authority nghttp2 accepts out of what a gRPC client put there:
 * - a valid value is returned unchanged;
 * - `scheme://host[:port][/path][?query][#fragment]` -> `host[:port]` (userinfo kept: '@' is valid);
 * - `unix://name` / `unixs://name` (etcd's unix endpoints, e.g. `unix://localhost:2379`): the name
 *   after the slashes when it is a single segment (`localhost:2379`); a socket path
 *   (`unix:///run/etcd.sock`) becomes `localhost`, as grpc-go uses for unix-socket targets;
 * - no scheme: the part before the first '/', '?' or '#';
 * - what is still not valid after that (spaces, non-ASCII) is percent-encoded octet by octet, and
 *   an empty value or result becomes `localhost`.
 * The result always passes authorityNeedsRewrite as false.
 */
export function normalizeAuthority(v: string): string {
  if (!authorityNeedsRewrite(v)) return v;
  let rest = v;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(v);
  if (m) {
    const scheme = m[1].toLowerCase();
    rest = m[2];
    if (scheme === 'unix' || scheme === 'unixs') {
      const name = rest.replace(/^\/+/, '').replace(/\/+$/, '');
      rest = name === '' || name.includes('/') ? 'localhost' : name;
    }
  }
  const cut = rest.search(/[/?#]/);
  if (cut >= 0) rest = rest.slice(0, cut);
  let out = '';
  for (const byte of Buffer.from(rest, 'latin1')) {
    out += AUTHORITY_OK[byte] ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out === '' ? 'localhost' : out;
}

// ---------------------------------------------------------------------------------------------
// The byte-stream filter

/**
 * Returns buf without the first SETTINGS frame with the ACK flag after the 24-byte preface (only
 * complete frames are looked at); buf itself when buf does not start with the preface or has no
 * such frame.
 */
export function stripFirstSettingsAck(buf: Buffer): Buffer {
  if (buf.length < H2_PREFACE.length || !buf.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) return buf;
  const { frames } = parseFrames(buf, H2_PREFACE.length);
  const ack = frames.find((f) => f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) !== 0);
  if (!ack) return buf;
  return Buffer.concat([buf.subarray(0, ack.start), buf.subarray(ack.end)]);
}

/** A header block whose END_HEADERS has not arrived yet. */
interface PendingBlock {
  streamId: number;
  /** The HEADERS frame's flags. */
  flags: number;
  /** The HEADERS frame's 5 priority octets, if it had the PRIORITY flag. */
  priority: Buffer | null;
  /** The frames as received, forwarded as they are if the filter gives up. */
  raw: Buffer[];
  /** The header block fragments, padding removed. */
  fragments: Buffer[];
  size: number;
}

export interface ClientStreamRewriterOptions {
  /** SETTINGS_MAX_FRAME_SIZE the server advertised (default 16384): rewritten blocks are split to it. */
  maxFrameSize?: number;
  /** SETTINGS_HEADER_TABLE_SIZE the server advertised (default 4096): bounds the client's table. */
  headerTableSize?: number;
  /** The most octets of one header block held while its CONTINUATIONs arrive (default 1 MiB). */
  maxHeaderBlockSize?: number;
}

/**
 * Filters the client-to-server bytes of one HTTP/2 connection: push() each chunk read from the
 * client and write what it returns to the server. The preface and all frames pass unchanged but
 * header blocks, which are decoded, get their :authority normalized and are encoded again without
 * the dynamic table (see the top of this file).
 *
 * Frames that break the framing rules (a CONTINUATION out of place, another frame inside a header
 * block, a malformed HEADERS payload, a block too large to hold) are not judged here: what was held
 * and everything after it goes to the server as received, and the server reports the error. A
 * header block the HPACK decoder refuses is forwarded as a block the server's decoder refuses too
 * (an indexed field with index 0), so the server ends the connection with COMPRESSION_ERROR as it
 * would have; `error` then tells what was wrong, and later bytes pass unchanged.
 */
export class ClientStreamRewriter {
  /** Why the filter stopped rewriting and passes bytes through, if it did. */
  error: Error | null = null;
  /** Header blocks whose :authority was changed. */
  rewritten = 0;

  private readonly decoder: HpackDecoder;
  private readonly maxFrameSize: number;
  private readonly maxBlock: number;
  private prefaceLeft = H2_PREFACE.length;
  private passthrough = false;
  /** Bytes received but not forwarded yet (the start of an incomplete frame). */
  private pending: Buffer = Buffer.alloc(0);
  /** Payload octets of the current non-header frame still to forward as they come. */
  private streamLeft = 0;
  /** The header block being collected. */
  private block: PendingBlock | null = null;

  constructor(opts: ClientStreamRewriterOptions = {}) {
    this.maxFrameSize = opts.maxFrameSize ?? 16384;
    if (!(this.maxFrameSize >= 16384 && this.maxFrameSize <= 16777215)) {
      throw new RangeError(`maxFrameSize ${this.maxFrameSize} is outside 16384..16777215`);
    }
    this.maxBlock = opts.maxHeaderBlockSize ?? 1 << 20;
    this.decoder = new HpackDecoder({ maxTableSize: opts.headerTableSize ?? 4096 });
  }

  push(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    const out: Buffer[] = [];
    let data = chunk;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, data.length);
      const at = H2_PREFACE.length - this.prefaceLeft;
      if (!data.subarray(0, n).equals(H2_PREFACE.subarray(at, at + n))) {
        // Not HTTP/2 with prior knowledge: nothing to rewrite, the server answers it.
        this.passthrough = true;
        this.error = new Error('the client did not send the HTTP/2 connection preface');
        return chunk;
      }
      out.push(data.subarray(0, n));
      this.prefaceLeft -= n;
      data = data.subarray(n);
    }
    if (this.streamLeft > 0) {
      const n = Math.min(this.streamLeft, data.length);
      out.push(data.subarray(0, n));
      this.streamLeft -= n;
      data = data.subarray(n);
    }
    if (data.length > 0) {
      const buf = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
      this.pending = Buffer.alloc(0);
      this.consume(buf, out);
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  private consume(buf: Buffer, out: Buffer[]): void {
    let off = 0;
    while (off < buf.length) {
      if (this.passthrough) {
        out.push(buf.subarray(off));
        return;
      }
      if (buf.length - off < FRAME_HEADER_LEN) break;
      const len = buf.readUIntBE(off, 3);
      const type = buf[off + 3];
      const isHeaderFrame = type === FRAME_HEADERS || type === FRAME_CONTINUATION;
      if (!isHeaderFrame && this.block === null) {
        // Not ours: forward the header and whatever payload is here, the rest as it arrives.
        const avail = Math.min(len, buf.length - off - FRAME_HEADER_LEN);
        out.push(buf.subarray(off, off + FRAME_HEADER_LEN + avail));
        this.streamLeft = len - avail;
        off += FRAME_HEADER_LEN + avail;
        continue;
      }
      if (!isHeaderFrame || len > this.maxFrameSize) {
        // Another frame inside a header block, or an oversized header frame: the server's call.
        this.giveUp(out, buf.subarray(off));
        return;
      }
      if (buf.length - off < FRAME_HEADER_LEN + len) break; // wait for the whole frame
      const frame: Frame = {
        type,
        flags: buf[off + 4],
        streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
        payload: buf.subarray(off + FRAME_HEADER_LEN, off + FRAME_HEADER_LEN + len),
        start: off,
        end: off + FRAME_HEADER_LEN + len,
      };
      if (!this.headerFrame(frame, buf.subarray(frame.start, frame.end), out)) {
        this.giveUp(out, buf.subarray(frame.start));
        return;
      }
      off = frame.end;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off)); // own the bytes held
  }

  /**
   * Takes one HEADERS or CONTINUATION frame. Returns false, having changed nothing, when the
   * framing is wrong or the block would grow too large: the caller then passes it on as received.
   */
  private headerFrame(f: Frame, raw: Buffer, out: Buffer[]): boolean {
    if (f.type === FRAME_HEADERS) {
      if (this.block !== null || f.streamId === 0) return false;
      let p = f.payload;
      let padLen = 0;
      if (f.flags & FLAG_PADDED) {
        if (p.length < 1) return false;
        padLen = p[0];
        p = p.subarray(1);
      }
      let priority: Buffer | null = null;
      if (f.flags & FLAG_PRIORITY) {
        if (p.length < 5) return false;
        priority = Buffer.from(p.subarray(0, 5));
        p = p.subarray(5);
      }
      if (padLen > p.length) return false;
      const fragment = p.subarray(0, p.length - padLen);
      if (fragment.length > this.maxBlock) return false;
      this.block = {
        streamId: f.streamId,
        flags: f.flags,
        priority,
        raw: [Buffer.from(raw)],
        fragments: [Buffer.from(fragment)],
        size: fragment.length,
      };
    } else {
      if (this.block === null || f.streamId !== this.block.streamId) return false;
      if (this.block.size + f.payload.length > this.maxBlock) return false;
      this.block.raw.push(Buffer.from(raw));
      this.block.fragments.push(Buffer.from(f.payload));
      this.block.size += f.payload.length;
    }
    if (f.flags & FLAG_END_HEADERS) this.finishBlock(out);
    return true;
  }

  /** Switches to passthrough: the held frames of a block and the rest go on as received. */
  private giveUp(out: Buffer[], rest: Buffer): void {
    if (this.block) out.push(...this.block.raw);
    this.block = null;
    if (rest.length > 0) out.push(rest);
    this.passthrough = true;
    this.error ??= new Error('HTTP/2 framing the filter does not rewrite; passing the bytes through');
  }

  private finishBlock(out: Buffer[]): void {
    const blk = this.block!;
    this.block = null;
    let encoded: Buffer;
    try {
      const fields = this.decoder.decodeFields(Buffer.concat(blk.fragments));
      for (const f of fields) {
        if (f.name === ':authority' && authorityNeedsRewrite(f.value)) {
          f.value = normalizeAuthority(f.value);
          this.rewritten++;
        }
      }
      encoded = encodeWithoutIndexing(fields);
    } catch (e) {
      // Make the server's decoder fail as well: index 0 is a COMPRESSION_ERROR everywhere.
      this.error = e instanceof Error ? e : new Error(String(e));
      encoded = Buffer.from([0x80]);
      this.passthrough = true;
    }
    this.emitBlock(blk.streamId, blk.flags, blk.priority, encoded, out);
  }

  private emitBlock(streamId: number, origFlags: number, priority: Buffer | null, block: Buffer, out: Buffer[]): void {
    const prioLen = priority ? priority.length : 0;
    const firstRoom = this.maxFrameSize - prioLen;
    const baseFlags = origFlags & (FLAG_END_STREAM | FLAG_PRIORITY);
    let first = block.subarray(0, firstRoom);
    let rest = block.subarray(first.length);
    out.push(frameHeader(prioLen + first.length, FRAME_HEADERS, baseFlags | (rest.length === 0 ? FLAG_END_HEADERS : 0), streamId));
    if (priority) out.push(priority);
    out.push(first);
    while (rest.length > 0) {
      first = rest.subarray(0, this.maxFrameSize);
      rest = rest.subarray(first.length);
      out.push(frameHeader(first.length, FRAME_CONTINUATION, rest.length === 0 ? FLAG_END_HEADERS : 0, streamId));
      out.push(first);
    }
  }
}
