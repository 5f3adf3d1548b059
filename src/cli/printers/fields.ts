// -w fields: etcdctl's `"Name" : value` lines (Go %q for strings and bytes, decimal numbers).
import type { KeyValue__Output } from '../../api/gen/mvccpb/KeyValue.js';
import type { ResponseHeader__Output } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import type { Printer, PrinterOptions, EndpointStatus, EndpointHealth, EndpointHashKV, SnapshotStatus } from './printer.js';
import { nilHeaderPanic } from './printer.js';
import { goQuote } from './go-format.js';
import type { RangeResponse__Output, PutResponse__Output, DeleteRangeResponse__Output, TxnResponse__Output, MemberListResponse__Output, AlarmResponse__Output } from '../../client/client.js';
import type { WatchResponse } from '../../client/watch.js';

export class FieldsPrinter implements Printer {
  constructor(private readonly o: PrinterOptions) {}

  private f(name: string, value: string | boolean): void {
    this.o.out(`"${name}" : ${value}\n`);
  }

  private hdr(h: ResponseHeader__Output | null): void {
    this.f('ClusterID', h?.cluster_id ?? '0');
    this.f('MemberID', h?.member_id ?? '0');
    this.f('Revision', h?.revision ?? '0');
    this.f('RaftTerm', h?.raft_term ?? '0');
  }

  private kv(pfx: string, kv: KeyValue__Output): void {
    this.f(`${pfx}Key`, goQuote(kv.key));
    this.f(`${pfx}CreateRevision`, kv.create_revision);
    this.f(`${pfx}ModRevision`, kv.mod_revision);
    this.f(`${pfx}Version`, kv.version);
    this.f(`${pfx}Value`, goQuote(kv.value));
    this.f(`${pfx}Lease`, kv.lease);
  }

  get(r: RangeResponse__Output): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv('', kv);
    this.f('More', r.more);
    this.f('Count', r.count);
  }

  put(r: PutResponse__Output): void {
    this.hdr(r.header);
    if (r.prev_kv) this.kv('Prev', r.prev_kv);
  }

  del(r: DeleteRangeResponse__Output): void {
    this.hdr(r.header);
    this.f('Deleted', r.deleted);
    for (const kv of r.prev_kvs) this.kv('Prev', kv);
  }

  txn(r: TxnResponse__Output): void {
    this.hdr(r.header);
    this.f('Succeeded', r.succeeded);
    for (const op of r.responses) {
      if (op.response_range) this.get(op.response_range);
      else if (op.response_put) this.put(op.response_put);
      else if (op.response_delete_range) this.del(op.response_delete_range);
    }
  }

  watch(r: WatchResponse): void {
    this.hdr(r.header);
    for (const e of r.events) {
      this.f('Type', e.type);
      if (e.prev_kv) this.kv('Prev', e.prev_kv);
      if (e.kv) this.kv('', e.kv);
    }
  }

  memberList(r: MemberListResponse__Output): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.f('ID', m.ID);
      this.f('Name', goQuote(m.name));
      for (const u of m.peerURLs) this.f('PeerURL', goQuote(u));
      for (const u of m.clientURLs) this.f('ClientURL', goQuote(u));
      this.f('IsLearner', m.isLearner);
      this.o.out('\n');
    }
  }

  endpointStatus(list: EndpointStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.f('Version', goQuote(resp.version));
      this.f('DBSize', resp.dbSize);
      this.f('Leader', resp.leader);
      this.f('IsLearner', resp.isLearner);
      this.f('RaftIndex', resp.raftIndex);
      this.f('RaftTerm', resp.raftTerm);
      this.f('RaftAppliedIndex', resp.raftAppliedIndex);
      this.f('Errors', `[${resp.errors.join(' ')}]`);
      this.f('Endpoint', goQuote(ep));
      this.o.out('\n');
    }
  }

  alarm(r: AlarmResponse__Output): void {
    if (!r.header) nilHeaderPanic();
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.f('MemberID', a.memberID);
      this.f('AlarmType', a.alarm);
      this.o.out('\n');
    }
  }

  dbStatus(s: SnapshotStatus): void {
    this.f('Hash', String(s.hash >>> 0));
    this.f('Revision', s.revision);
    this.f('Keys', String(s.totalKey));
    this.f('Size', String(s.totalSize));
  }

  endpointHashKV(list: EndpointHashKV[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.f('Endpoint', goQuote(ep));
      this.f('Hash', String(resp.hash));
      this.o.out('\n');
    }
  }

  endpointHealth(list: EndpointHealth[]): void {
    for (const h of list) {
      this.f('Endpoint', goQuote(h.ep));
      this.f('Health', h.health);
      this.f('Took', h.took);
      this.f('Error', h.error);
      this.o.out('\n');
    }
  }
}
