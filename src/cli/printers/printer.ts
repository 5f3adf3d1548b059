// One Printer interface with a method per response type; the implementation is picked once from -w.
// Printers own all of the CLI's output. simple, fields and json reproduce etcdctl 3.4 byte for byte.
import type { RangeResponse__Output, PutResponse__Output, DeleteRangeResponse__Output, TxnResponse__Output, MemberListResponse__Output, StatusResponse__Output, HashKVResponse__Output, AlarmResponse__Output } from '../../client/client.js';
import type { WatchResponse } from '../../client/watch.js';
import { CliError, ExitCode, goPanic } from '../errors.js';
import type { Codec } from '../../client/codec.js';

export interface EndpointStatus {
  ep: string;
  resp: StatusResponse__Output;
}

export interface EndpointHashKV {
  ep: string;
  resp: HashKVResponse__Output;
}

export interface EndpointHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

/** What `snapshot status` reports of a snapshot file (clientv3/snapshot's Status). */
export interface SnapshotStatus {
  /** CRC-32C over every bucket name, key and value (uint32). */
  hash: number;
  /** The main revision of the last key in the key bucket (int64, decimal). */
  revision: string;
  /** Entries in all buckets. */
  totalKey: number;
  /** The database's size: high-water mark × page size. */
  totalSize: number;
}

export interface Printer {
  get(r: RangeResponse__Output): void;
  put(r: PutResponse__Output): void;
  del(r: DeleteRangeResponse__Output): void;
  txn(r: TxnResponse__Output): void;
  watch(r: WatchResponse): void;
  memberList(r: MemberListResponse__Output): void;
  endpointStatus(list: EndpointStatus[]): void;
  endpointHealth(list: EndpointHealth[]): void;
  endpointHashKV(list: EndpointHashKV[]): void;
  alarm(r: AlarmResponse__Output): void;
  dbStatus(s: SnapshotStatus): void;
}

export type Sink = (chunk: string | Buffer) => void;

export interface PrinterOptions {
  hex: boolean;
  /** --print-value-only (simple only) */
  valueOnly: boolean;
  out: Sink;
  /** Where the simple printer writes endpoint health (etcdctl 3.4: stderr). */
  err: Sink;
  /** The protobuf codec, for -w protobuf. */
  codec?: () => Promise<Codec>;
}

export const OUTPUT_FORMATS = ['simple', 'json', 'fields', 'table', 'protobuf'] as const;

/** The printer for a -w value; table is loaded lazily, it is the only one needing cli-table3. */
export async function createPrinter(format: string, o: PrinterOptions): Promise<Printer> {
  switch (format) {
    case 'simple':
      return new (await import('./simple.js')).SimplePrinter(o);
    case 'json':
      return new (await import('./json.js')).JsonPrinter(o);
    case 'fields':
      return new (await import('./fields.js')).FieldsPrinter(o);
    case 'table':
    {
      const p = new (await import('./table.js')).TablePrinter(o);
      await p.init();
      return p;
    }
    case 'protobuf':
      if (!o.codec) throw new CliError(ExitCode.BadFeature, 'protobuf not supported as output format');
      return new (await import('./protobuf.js')).ProtobufPrinter(o, await o.codec());
    default:
      throw new CliError(ExitCode.BadFeature, 'unsupported output format');
  }
}

/** The error etcdctl gives for a response type a format cannot print. */
export function unsupported(format: string): never {
  throw new CliError(ExitCode.BadFeature, `${format} not supported as output format`);
}

/**
 * etcdctl 3.4's fields printer dereferences the response header; etcd 3.4 sends alarm responses
 * without one, and clientv3 builds `alarm disarm`'s answer without one, so etcdctl panics there.
 * We print the panic's first lines and exit as it does.
 */
export function nilHeaderPanic(): never {
  goPanic('runtime error: invalid memory address or nil pointer dereference', 'SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x0');
}

/** etcdctl's snapshot status row: hash in %x, revision, keys, humanized size. */
export function dbStatusRow(s: SnapshotStatus, humanize: (n: number) => string): string[] {
  return [(s.hash >>> 0).toString(16), s.revision, String(s.totalKey), humanize(s.totalSize)];
}

/** etcdctl's member status: a member without a name has not started yet. */
export function memberRows(r: MemberListResponse__Output, hexId: (s: string) => string): string[][] {
  return r.members.map((m) => [
    hexId(m.ID),
    m.name.length === 0 ? 'unstarted' : 'started',
    m.name,
    m.peerURLs.join(','),
    m.clientURLs.join(','),
    String(m.isLearner),
  ]);
}
