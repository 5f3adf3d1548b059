// -w simple: etcdctl's default, line-oriented output (raw bytes for keys and values).
import type { KeyValue__Output } from '../../api/gen/mvccpb/KeyValue.js';
import type { Printer, PrinterOptions, EndpointStatus, EndpointHealth, EndpointHashKV, SnapshotStatus } from './printer.js';
import { dbStatusRow, memberRows } from './printer.js';
import { hexEscape, hexId, humanizeBytes } from './go-format.js';
import type { RangeResponse__Output, PutResponse__Output, DeleteRangeResponse__Output, TxnResponse__Output, MemberListResponse__Output, AlarmResponse__Output } from '../../client/client.js';
import type { WatchResponse } from '../../client/watch.js';

const NL = Buffer.from('\n');

export class SimplePrinter implements Printer {
  constructor(private readonly o: PrinterOptions) {}

  private line(s: string): void {
    this.o.out(s + '\n');
  }

  private kv(kv: KeyValue__Output): void {
    const { out, hex, valueOnly } = this.o;
    if (!valueOnly) out(Buffer.concat([hex ? Buffer.from(hexEscape(kv.key)) : kv.key, NL]));
    out(Buffer.concat([hex ? Buffer.from(hexEscape(kv.value)) : kv.value, NL]));
  }

  get(r: RangeResponse__Output): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: PutResponse__Output): void {
    this.line('OK');
    if (r.prev_kv) this.kv(r.prev_kv);
  }

  del(r: DeleteRangeResponse__Output): void {
    this.line(r.deleted);
    for (const kv of r.prev_kvs) this.kv(kv);
  }

  txn(r: TxnResponse__Output): void {
    this.line(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses) {
      this.line('');
      if (op.response_range) this.get(op.response_range);
      else if (op.response_put) this.put(op.response_put);
      else if (op.response_delete_range) this.del(op.response_delete_range);
    }
  }

  watch(r: WatchResponse): void {
    for (const e of r.events) {
      this.line(e.type);
      if (e.prev_kv) this.kv(e.prev_kv);
      if (e.kv) this.kv(e.kv);
    }
  }

  memberList(r: MemberListResponse__Output): void {
    for (const row of memberRows(r, hexId)) this.line(row.join(', '));
  }

  endpointStatus(list: EndpointStatus[]): void {
    for (const { ep, resp } of list) {
      const h = resp.header!;
      this.line(
        [ep, hexId(h.member_id), resp.version, humanizeBytes(Number(resp.dbSize)), String(resp.leader === h.member_id),
          String(resp.isLearner), resp.raftTerm, resp.raftIndex, resp.raftAppliedIndex, resp.errors.join(', ')].join(', '),
      );
    }
  }

  alarm(r: AlarmResponse__Output): void {
    // Go's %+v of *pb.AlarmMember is its compact text form, which ends in a space; a zero field
    // is left out.
    for (const a of r.alarms) {
      let s = '';
      if (a.memberID !== '0') s += `memberID:${a.memberID} `;
      if (a.alarm !== 'NONE') s += `alarm:${a.alarm} `;
      this.line(s);
    }
  }

  dbStatus(s: SnapshotStatus): void {
    this.line(dbStatusRow(s, humanizeBytes).join(', '));
  }

  endpointHashKV(list: EndpointHashKV[]): void {
    for (const { ep, resp } of list) this.line(`${ep}, ${resp.hash}`);
  }

  endpointHealth(list: EndpointHealth[]): void {
    for (const h of list) {
      if (h.error === '') this.o.err(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`);
      else this.o.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`);
    }
  }
}
