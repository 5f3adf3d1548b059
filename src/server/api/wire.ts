// Hand-written encoding of the few responses on the hottest path, a Put answered with its header
// only. protobufjs's generic path turns every int64 given as a decimal string into a Long object on
// each call; here the ids, which repeat on every response, are encoded once and cached. Anything
// else (a Put with prev_kv) goes through the generic serializer.
import type { ResponseHeader } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import { varintLength, writeVarint } from '../storage/codec.js';

const idBytes = new Map<string, Buffer>();

function varintOf(v: bigint): Buffer {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/** The varint of a uint64 given in decimal (or as a number), cached: cluster and member ids repeat. */
function cachedVarint(v: string | number): Buffer {
  const k = String(v);
  let b = idBytes.get(k);
  if (!b) {
    if (idBytes.size > 256) idBytes.clear();
    b = varintOf(BigInt.asUintN(64, BigInt(k)));
    idBytes.set(k, b);
  }
  return b;
}

/** A non-negative safe integer from an int64 field given as number or decimal string, or -1. */
function small(v: string | number | Long | undefined | null): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

interface Long {
  low: number;
  high: number;
}

/**
 * A message whose only field is a ResponseHeader at field 1 (PutResponse without prev_kv, and
 * others of the same shape), or undefined when the header has a value this encoder does not take.
 */
export function encodeHeaderOnlyResponse(h: ResponseHeader | null | undefined): Buffer | undefined {
  if (!h) return Buffer.alloc(0);
  const rev = small(h.revision as string | number);
  const term = small(h.raft_term as string | number);
  if (rev < 0 || term < 0) return undefined;
  const cid = h.cluster_id && h.cluster_id !== '0' ? cachedVarint(h.cluster_id as string) : undefined;
  const mid = h.member_id && h.member_id !== '0' ? cachedVarint(h.member_id as string) : undefined;
  const hlen =
    (cid ? 1 + cid.length : 0) +
    (mid ? 1 + mid.length : 0) +
    (rev ? 1 + varintLength(rev) : 0) +
    (term ? 1 + varintLength(term) : 0);
  const out = Buffer.allocUnsafe(1 + varintLength(hlen) + hlen);
  let off = 0;
  out[off++] = (1 << 3) | 2; // header: field 1, length-delimited
  off = writeVarint(out, off, hlen);
  if (cid) {
    out[off++] = 1 << 3; // cluster_id: field 1, varint
    off += cid.copy(out, off);
  }
  if (mid) {
    out[off++] = 2 << 3; // member_id
    off += mid.copy(out, off);
  }
  if (rev) {
    out[off++] = 3 << 3; // revision
    off = writeVarint(out, off, rev);
  }
  if (term) {
    out[off++] = 4 << 3; // raft_term
    off = writeVarint(out, off, term);
  }
  return out;
}
