// -w protobuf: the response's protobuf encoding, written raw with no newline (printer_protobuf.go).
// Watch responses are re-encoded as etcdserverpb.WatchResponse with clientv3's fields only.
import type { Printer, PrinterOptions } from './printer.js';
import { unsupported } from './printer.js';
import type { Codec } from '../../client/codec.js';
import type { RangeResponse__Output, PutResponse__Output, DeleteRangeResponse__Output, TxnResponse__Output, MemberListResponse__Output, AlarmResponse__Output } from '../../client/client.js';
import type { WatchResponse } from '../../client/watch.js';

export class ProtobufPrinter implements Printer {
  constructor(
    private readonly o: PrinterOptions,
    private readonly codec: Codec,
  ) {}
  private pb(type: string, msg: object): void {
    this.o.out(this.codec.encode(`etcdserverpb.${type}`, msg as Record<string, unknown>));
  }
  get(r: RangeResponse__Output): void {
    this.pb('RangeResponse', r);
  }
  put(r: PutResponse__Output): void {
    this.pb('PutResponse', r);
  }
  del(r: DeleteRangeResponse__Output): void {
    this.pb('DeleteRangeResponse', r);
  }
  txn(r: TxnResponse__Output): void {
    this.pb('TxnResponse', r);
  }
  watch(r: WatchResponse): void {
    this.pb('WatchResponse', { header: r.header ?? {}, events: r.events, compact_revision: r.compact_revision, canceled: r.canceled, created: r.created });
  }
  memberList(r: MemberListResponse__Output): void {
    this.pb('MemberListResponse', r);
  }
  alarm(r: AlarmResponse__Output): void {
    this.pb('AlarmResponse', r);
  }
  dbStatus(): void {
    unsupported('protobuf');
  }
  endpointStatus(): void {
    unsupported('protobuf');
  }
  endpointHealth(): void {
    unsupported('protobuf');
  }
  endpointHashKV(): void {
    unsupported('protobuf');
  }
}
