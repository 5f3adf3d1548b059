// A table-driven protobuf codec for the etcd API, used by the CLI's HTTP/2 transport instead of
// protobufjs: the schema (built from proto/ at build time, see scripts/build.mjs) lists each
// message's fields; encode and decode walk it. Objects look exactly as proto-loader returns them
// with LOADER_OPTIONS: proto field names, int64/uint64 as decimal strings, enums as names, every
// field present with its default (messages null), bytes as Buffers, and the oneof's name set to
// the member that is present.

/** [field number, name, type, message/enum type name or '', repeated, oneof name or ''] */
export type FieldSpec = [number, string, string, string, boolean, string];

export interface Schema {
  messages: Record<string, FieldSpec[]>;
  enums: Record<string, Record<string, number>>;
  /** service -> method -> [request type, response type, client streams, server streams] */
  services: Record<string, Record<string, [string, string, boolean, boolean]>>;
}

const VARINT = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool', 'enum']);
const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const TWO64 = 1n << 64n;

class Writer {
  private parts: Buffer[] = [];
  private cur: number[] = [];
  private flushCur(): void {
    if (this.cur.length) {
      this.parts.push(Buffer.from(this.cur));
      this.cur = [];
    }
  }
  varint(v: bigint): void {
    if (v < 0n) v += TWO64;
    while (v > 0x7fn) {
      this.cur.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.cur.push(Number(v));
  }
  small(v: number): void {
    while (v > 0x7f) {
      this.cur.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.cur.push(v);
  }
  bytes(b: Buffer): void {
    this.small(b.length);
    this.flushCur();
    this.parts.push(b);
  }
  raw(b: Buffer): void {
    this.flushCur();
    this.parts.push(b);
  }
  finish(): Buffer {
    this.flushCur();
    return Buffer.concat(this.parts);
  }
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v === '' ? '0' : v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    const n = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
    return l.unsigned ? n : BigInt.asIntN(64, n);
  }
  return 0n;
}

function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') return Buffer.from(v);
  return Buffer.alloc(0);
}

function isZero(type: string, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (type === 'bool') return v === false;
  if (type === 'string') return v === '';
  if (type === 'bytes') return toBuffer(v).length === 0;
  if (type === 'message') return false;
  return toBigInt(v) === 0n;
}

export class Codec {
  constructor(private readonly schema: Schema) {
    // Encode in field-number order, as Go's marshallers do (a byte-identical `-w protobuf`).
    for (const fields of Object.values(schema.messages)) fields.sort((a, b) => a[0] - b[0]);
  }

  method(service: string, method: string): [string, string, boolean, boolean] {
    const m = this.schema.services[service]?.[method];
    if (!m) throw new Error(`unknown method ${service}/${method}`);
    return m;
  }

  encode(type: string, obj: Record<string, unknown>): Buffer {
    const w = new Writer();
    this.encodeInto(w, type, obj);
    return w.finish();
  }

  private enumValue(type: string, v: unknown): number {
    if (typeof v === 'number') return v;
    const n = this.schema.enums[type]?.[String(v)];
    if (n === undefined) throw new Error(`bad value ${String(v)} for enum ${type}`);
    return n;
  }

  private encodeInto(w: Writer, type: string, obj: Record<string, unknown>): void {
    const fields = this.schema.messages[type];
    if (!fields) throw new Error(`unknown message ${type}`);
    for (const [no, name, ftype, ref, repeated, oneof] of fields) {
      const v = obj[name];
      if (v === undefined || v === null) continue;
      if (repeated) {
        for (const item of v as unknown[]) this.encodeField(w, no, ftype, ref, item);
        continue;
      }
      // proto3 leaves zero values off the wire, except a oneof member, whose presence is the point.
      if (!oneof && (ftype === 'enum' ? this.enumValue(ref, v) === 0 : isZero(ftype, v))) continue;
      this.encodeField(w, no, ftype, ref, v);
    }
  }

  private encodeField(w: Writer, no: number, type: string, ref: string, v: unknown): void {
    if (VARINT.has(type)) {
      w.small((no << 3) | 0);
      if (type === 'bool') w.small(v ? 1 : 0);
      else if (type === 'enum') w.varint(BigInt(this.enumValue(ref, v)));
      else if (type === 'sint32' || type === 'sint64') {
        const n = toBigInt(v);
        w.varint(n >= 0n ? n * 2n : -n * 2n - 1n);
      } else w.varint(toBigInt(v));
    } else if (type === 'string' || type === 'bytes') {
      w.small((no << 3) | 2);
      w.bytes(toBuffer(v));
    } else if (type === 'message') {
      w.small((no << 3) | 2);
      w.bytes(this.encode(ref, v as Record<string, unknown>));
    } else if (type === 'fixed64' || type === 'sfixed64' || type === 'double') {
      w.small((no << 3) | 1);
      const b = Buffer.alloc(8);
      if (type === 'double') b.writeDoubleLE(Number(v));
      else b.writeBigUInt64LE(BigInt.asUintN(64, toBigInt(v)));
      w.raw(b);
    } else {
      w.small((no << 3) | 5);
      const b = Buffer.alloc(4);
      if (type === 'float') b.writeFloatLE(Number(v));
      else b.writeUInt32LE(Number(BigInt.asUintN(32, toBigInt(v))));
      w.raw(b);
    }
  }

  decode(type: string, buf: Buffer): Record<string, unknown> {
    const fields = this.schema.messages[type];
    if (!fields) throw new Error(`unknown message ${type}`);
    const out: Record<string, unknown> = {};
    const byNo = new Map<number, FieldSpec>();
    for (const f of fields) {
      byNo.set(f[0], f);
      const [, name, ftype, ref, repeated, oneof] = f;
      if (repeated) out[name] = [];
      else if (!oneof) out[name] = this.defaultOf(ftype, ref);
    }
    let pos = 0;
    const readVarint = (): bigint => {
      let result = 0n;
      let shift = 0n;
      for (;;) {
        if (pos >= buf.length) throw new Error('truncated varint');
        const b = buf[pos++]!;
        result |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return result;
        shift += 7n;
      }
    };
    while (pos < buf.length) {
      const tag = Number(readVarint());
      const no = tag >>> 3;
      const wire = tag & 7;
      const f = byNo.get(no);
      let raw: bigint | Buffer;
      if (wire === 0) raw = readVarint();
      else if (wire === 2) {
        const len = Number(readVarint());
        raw = buf.subarray(pos, pos + len);
        pos += len;
      } else if (wire === 1) {
        raw = buf.subarray(pos, pos + 8);
        pos += 8;
      } else if (wire === 5) {
        raw = buf.subarray(pos, pos + 4);
        pos += 4;
      } else throw new Error(`unsupported wire type ${wire}`);
      if (!f) continue;
      const [, name, ftype, ref, repeated, oneof] = f;
      if (repeated && wire === 2 && ftype !== 'string' && ftype !== 'bytes' && ftype !== 'message') {
        // A packed run of scalars.
        const inner = raw as Buffer;
        const saveBuf = buf;
        const savePos = pos;
        buf = inner;
        pos = 0;
        const list = out[name] as unknown[];
        while (pos < buf.length) {
          if (ftype === 'fixed64' || ftype === 'sfixed64' || ftype === 'double') {
            list.push(this.scalar(ftype, ref, buf.subarray(pos, pos + 8)));
            pos += 8;
          } else if (ftype === 'fixed32' || ftype === 'sfixed32' || ftype === 'float') {
            list.push(this.scalar(ftype, ref, buf.subarray(pos, pos + 4)));
            pos += 4;
          } else list.push(this.scalar(ftype, ref, readVarint()));
        }
        buf = saveBuf;
        pos = savePos;
        continue;
      }
      const value = this.scalar(ftype, ref, raw);
      if (repeated) (out[name] as unknown[]).push(value);
      else out[name] = value;
      if (oneof) out[oneof] = name;
    }
    return out;
  }

  private scalar(type: string, ref: string, raw: bigint | Buffer): unknown {
    if (typeof raw === 'bigint') {
      switch (type) {
        case 'bool':
          return raw !== 0n;
        case 'enum': {
          const n = Number(BigInt.asIntN(32, raw));
          const names = this.schema.enums[ref] ?? {};
          for (const [k, v] of Object.entries(names)) if (v === n) return k;
          return n;
        }
        case 'int64':
          return BigInt.asIntN(64, raw).toString();
        case 'uint64':
          return BigInt.asUintN(64, raw).toString();
        case 'sint64':
        case 'sint32': {
          const v = raw & 1n ? -((raw + 1n) >> 1n) : raw >> 1n;
          return type === 'sint64' ? v.toString() : Number(v);
        }
        case 'int32':
          return Number(BigInt.asIntN(32, raw));
        default:
          return Number(BigInt.asUintN(32, raw));
      }
    }
    switch (type) {
      case 'string':
        return raw.toString('utf8');
      case 'bytes':
        return Buffer.from(raw);
      case 'message':
        return this.decode(ref, raw);
      case 'fixed64':
        return raw.readBigUInt64LE().toString();
      case 'sfixed64':
        return raw.readBigInt64LE().toString();
      case 'double':
        return raw.readDoubleLE();
      case 'fixed32':
        return raw.readUInt32LE();
      case 'sfixed32':
        return raw.readInt32LE();
      case 'float':
        return raw.readFloatLE();
      default:
        return undefined;
    }
  }

  private defaultOf(type: string, ref: string): unknown {
    if (type === 'message') return null;
    if (type === 'bool') return false;
    if (type === 'string') return '';
    if (type === 'bytes') return Buffer.alloc(0);
    if (type === 'enum') {
      const names = this.schema.enums[ref] ?? {};
      return Object.keys(names).find((k) => names[k] === 0) ?? 0;
    }
    if (LONG.has(type)) return '0';
    return 0;
  }
}
