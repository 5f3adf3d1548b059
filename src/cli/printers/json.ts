// -w json: what Go's encoding/json makes of etcdctl's response structs. Field names are the proto
// names, every field is omitempty, int64/uint64 print as bare digits (copied from the decimal strings,
// never through a JS number), bytes as base64. Watch responses use clientv3's capitalised struct
// fields, txn responses Go's oneof wrappers ("Response":{"ResponsePut":...}).
import type { KeyValue__Output } from '../../api/gen/mvccpb/KeyValue.js';
import type { ResponseHeader__Output } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import type { Printer, PrinterOptions, EndpointStatus, EndpointHealth, EndpointHashKV, SnapshotStatus } from './printer.js';
import type { RangeResponse__Output, PutResponse__Output, DeleteRangeResponse__Output, TxnResponse__Output, MemberListResponse__Output, AlarmResponse__Output } from '../../client/client.js';
import type { WatchResponse } from '../../client/watch.js';

/** Builds one Go-style JSON object, skipping zero values as omitempty does. */
class Obj {
  private parts: string[] = [];
  /** Integer given as a decimal string. */
  int(name: string, v: string | undefined, omitEmpty = true): this {
    if (v !== undefined && (!omitEmpty || v !== '0')) this.parts.push(`"${name}":${v}`);
    return this;
  }
  bool(name: string, v: boolean, omitEmpty = true): this {
    if (!omitEmpty || v) this.parts.push(`"${name}":${v}`);
    return this;
  }
  bytes(name: string, v: Buffer | undefined): this {
    if (v && v.length > 0) this.parts.push(`"${name}":"${v.toString('base64')}"`);
    return this;
  }
  str(name: string, v: string, omitEmpty = true): this {
    if (!omitEmpty || v !== '') this.parts.push(`"${name}":${goJsonString(v)}`);
    return this;
  }
  raw(name: string, json: string | undefined): this {
    if (json !== undefined) this.parts.push(`"${name}":${json}`);
    return this;
  }
  arr(name: string, items: string[], omitEmpty = true): this {
    if (!omitEmpty || items.length > 0) this.parts.push(`"${name}":[${items.join(',')}]`);
    return this;
  }
  toString(): string {
    return `{${this.parts.join(',')}}`;
  }
}

/** encoding/json string escaping: HTML-safe (<, >, & as \u003c...) and U+2028/2029 escaped. */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function header(h: ResponseHeader__Output | null): string | undefined {
  if (!h) return undefined;
  return new Obj().int('cluster_id', h.cluster_id).int('member_id', h.member_id).int('revision', h.revision).int('raft_term', h.raft_term).toString();
}

export function keyValue(kv: KeyValue__Output): string {
  return new Obj()
    .bytes('key', kv.key)
    .int('create_revision', kv.create_revision)
    .int('mod_revision', kv.mod_revision)
    .int('version', kv.version)
    .bytes('value', kv.value)
    .int('lease', kv.lease)
    .toString();
}

export function rangeJson(r: RangeResponse__Output): string {
  return new Obj().raw('header', header(r.header)).arr('kvs', r.kvs.map(keyValue)).bool('more', r.more).int('count', r.count).toString();
}

export function putJson(r: PutResponse__Output): string {
  return new Obj().raw('header', header(r.header)).raw('prev_kv', r.prev_kv ? keyValue(r.prev_kv) : undefined).toString();
}

export function delJson(r: DeleteRangeResponse__Output): string {
  return new Obj().raw('header', header(r.header)).int('deleted', r.deleted).arr('prev_kvs', r.prev_kvs.map(keyValue)).toString();
}

export function txnJson(r: TxnResponse__Output): string {
  const ops = r.responses.map((op) => {
    let inner: string;
    if (op.response_range) inner = `{"ResponseRange":${rangeJson(op.response_range)}}`;
    else if (op.response_put) inner = `{"ResponsePut":${putJson(op.response_put)}}`;
    else if (op.response_delete_range) inner = `{"ResponseDeleteRange":${delJson(op.response_delete_range)}}`;
    else if (op.response_txn) inner = `{"ResponseTxn":${txnJson(op.response_txn)}}`;
    else return '{}';
    return `{"Response":${inner}}`;
  });
  return new Obj().raw('header', header(r.header)).bool('succeeded', r.succeeded).arr('responses', ops).toString();
}

export function watchJson(r: WatchResponse): string {
  const events = r.events.map((e) =>
    new Obj()
      .int('type', e.type === 'DELETE' ? '1' : '0')
      .raw('kv', e.kv ? keyValue(e.kv) : undefined)
      .raw('prev_kv', e.prev_kv ? keyValue(e.prev_kv) : undefined)
      .toString(),
  );
  return new Obj()
    .raw('Header', header(r.header) ?? '{}')
    .raw('Events', r.refused ? 'null' : `[${events.join(',')}]`)
    .int('CompactRevision', r.compact_revision, false)
    .bool('Canceled', r.canceled, false)
    .bool('Created', r.created, false)
    .toString();
}

export function memberListJson(r: MemberListResponse__Output): string {
  const members = r.members.map((m) =>
    new Obj()
      .int('ID', m.ID)
      .str('name', m.name)
      .arr('peerURLs', m.peerURLs.map(goJsonString))
      .arr('clientURLs', m.clientURLs.map(goJsonString))
      .bool('isLearner', m.isLearner)
      .toString(),
  );
  return new Obj().raw('header', header(r.header)).arr('members', members).toString();
}

/** etcd's AlarmType as encoding/json writes a Go enum: its number. */
const ALARM_TYPE: Record<string, string> = { NONE: '0', NOSPACE: '1', CORRUPT: '2' };

export function alarmJson(r: AlarmResponse__Output): string {
  const alarms = r.alarms.map((a) => new Obj().int('memberID', a.memberID).int('alarm', ALARM_TYPE[a.alarm] ?? String(a.alarm)).toString());
  return new Obj().raw('header', header(r.header)).arr('alarms', alarms).toString();
}

export class JsonPrinter implements Printer {
  constructor(private readonly o: PrinterOptions) {}
  private line(s: string): void {
    this.o.out(s + '\n');
  }
  get(r: RangeResponse__Output): void {
    this.line(rangeJson(r));
  }
  put(r: PutResponse__Output): void {
    this.line(putJson(r));
  }
  del(r: DeleteRangeResponse__Output): void {
    this.line(delJson(r));
  }
  txn(r: TxnResponse__Output): void {
    this.line(txnJson(r));
  }
  watch(r: WatchResponse): void {
    this.line(watchJson(r));
  }
  memberList(r: MemberListResponse__Output): void {
    this.line(memberListJson(r));
  }
  endpointStatus(list: EndpointStatus[]): void {
    const items = list.map(({ ep, resp }) => {
      const status = new Obj()
        .raw('header', header(resp.header))
        .str('version', resp.version)
        .int('dbSize', resp.dbSize)
        .int('leader', resp.leader)
        .int('raftIndex', resp.raftIndex)
        .int('raftTerm', resp.raftTerm)
        .int('raftAppliedIndex', resp.raftAppliedIndex)
        .arr('errors', resp.errors.map(goJsonString))
        .int('dbSizeInUse', resp.dbSizeInUse)
        .bool('isLearner', resp.isLearner)
        .toString();
      return new Obj().str('Endpoint', ep, false).raw('Status', status).toString();
    });
    this.line(`[${items.join(',')}]`);
  }
  endpointHashKV(list: EndpointHashKV[]): void {
    const items = list.map(({ ep, resp }) => {
      const hash = new Obj().raw('header', header(resp.header)).int('hash', String(resp.hash)).int('compact_revision', resp.compact_revision).toString();
      return new Obj().str('Endpoint', ep, false).raw('HashKV', hash).toString();
    });
    this.line(`[${items.join(',')}]`);
  }
  alarm(r: AlarmResponse__Output): void {
    this.line(alarmJson(r));
  }
  dbStatus(s: SnapshotStatus): void {
    // clientv3/snapshot.Status has no omitempty tags: every field is written
    this.line(
      new Obj().int('hash', String(s.hash >>> 0), false).int('revision', s.revision, false).int('totalKey', String(s.totalKey), false).int('totalSize', String(s.totalSize), false).toString(),
    );
  }
  endpointHealth(list: EndpointHealth[]): void {
    const items = list.map((h) =>
      new Obj().str('endpoint', h.ep, false).bool('health', h.health, false).str('took', h.took, false).str('error', h.error).toString(),
    );
    this.line(`[${items.join(',')}]`);
  }
}
