// The lease commands' output, in etcdctl 3.4's simple, fields and json forms (printer_simple.go,
// printer_fields.go, and encoding/json of clientv3's lease structs, which embed the header, so its
// fields sit at the top level). Table is not supported for leases, as in etcdctl. With -w protobuf,
// etcdctl marshals what the embedded *pb.ResponseHeader lends the structs: the header alone.
import type {
  LeaseGrantResponse__Output,
  LeaseKeepAliveResponse__Output,
  LeaseLeasesResponse__Output,
  LeaseRevokeResponse__Output,
  LeaseTimeToLiveResponse__Output,
} from '../../client/client.js';
import type { ResponseHeader__Output } from '../../api/gen/etcdserverpb/ResponseHeader.js';
import { goQuote, hexId16 } from './go-format.js';
import { header } from './json.js';
import { unsupported, type Sink } from './printer.js';
import { CliError, ExitCode } from '../errors.js';
import type { Codec } from '../../client/codec.js';

export interface LeasePrinter {
  grant(r: LeaseGrantResponse__Output): void;
  revoke(id: string, r: LeaseRevokeResponse__Output): void;
  keepAlive(r: LeaseKeepAliveResponse__Output): void;
  timeToLive(r: LeaseTimeToLiveResponse__Output, keys: boolean): void;
  leases(r: LeaseLeasesResponse__Output): void;
}

/** The header's fields without braces, for structs that embed *pb.ResponseHeader. */
function flatHeader(h: ResponseHeader__Output | null): string[] {
  const j = header(h);
  return j && j !== '{}' ? [j.slice(1, -1)] : [];
}

const obj = (parts: string[]): string => `{${parts.join(',')}}\n`;

/** Go's %v of a *pb.ResponseHeader: its compact text form (zero fields left out, a space after each). */
function headerText(h: ResponseHeader__Output | null): string {
  if (!h) return '<nil>';
  return (['cluster_id', 'member_id', 'revision', 'raft_term'] as const).map((f) => (h[f] === '0' ? '' : `${f}:${h[f]} `)).join('');
}

export function createLeasePrinter(format: string, out: Sink, codec?: Codec): LeasePrinter {
  const line = (s: string): void => out(s + '\n');
  switch (format) {
    case 'simple':
      return {
        grant: (r) => line(`lease ${hexId16(r.ID)} granted with TTL(${r.TTL}s)`),
        revoke: (id) => line(`lease ${hexId16(id)} revoked`),
        keepAlive: (r) => line(`lease ${hexId16(r.ID)} keepalived with TTL(${r.TTL})`),
        timeToLive(r, keys) {
          if (r.grantedTTL === '0' && r.TTL === '-1') return line(`lease ${hexId16(r.ID)} already expired`);
          const txt = `lease ${hexId16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
          if (!keys) return line(txt);
          // The keys' bytes as they are (Go's %v of []string).
          const list = r.keys.flatMap((k, i) => (i > 0 ? [Buffer.from(' '), k] : [k]));
          out(Buffer.concat([Buffer.from(`${txt}, attached keys([`), ...list, Buffer.from('])\n')]));
        },
        leases(r) {
          line(`found ${r.leases.length} leases`);
          for (const l of r.leases) line(hexId16(l.ID));
        },
      };
    case 'fields': {
      const hdr = (h: ResponseHeader__Output | null): void => {
        line(`"ClusterID" : ${h?.cluster_id ?? 0}`);
        line(`"MemberID" : ${h?.member_id ?? 0}`);
        line(`"Revision" : ${h?.revision ?? 0}`);
        line(`"RaftTerm" : ${h?.raft_term ?? 0}`);
      };
      return {
        grant(r) {
          hdr(r.header);
          line(`"ID" : ${r.ID}`);
          line(`"TTL" : ${r.TTL}`);
        },
        revoke: (_id, r) => hdr(r.header),
        keepAlive(r) {
          hdr(r.header);
          line(`"ID" : ${r.ID}`);
          line(`"TTL" : ${r.TTL}`);
        },
        timeToLive(r) {
          hdr(r.header);
          line(`"ID" : ${r.ID}`);
          line(`"TTL" : ${r.TTL}`);
          line(`"GrantedTTL" : ${r.grantedTTL}`);
          for (const k of r.keys) line(`"Key" : ${goQuote(k)}`);
        },
        leases(r) {
          hdr(r.header);
          for (const l of r.leases) line(`"ID" : ${l.ID}`);
        },
      };
    }
    case 'json':
      return {
        grant: (r) => out(obj([...flatHeader(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`, `"Error":${JSON.stringify(r.error)}`])),
        revoke: (_id, r) => out(obj(r.header ? [`"header":${header(r.header)}`] : [])),
        keepAlive: (r) => out(obj([...flatHeader(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`])),
        timeToLive: (r) =>
          out(
            obj([
              ...flatHeader(r.header),
              `"id":${r.ID}`,
              `"ttl":${r.TTL}`,
              `"granted-ttl":${r.grantedTTL}`,
              `"keys":${r.keys.length > 0 ? `[${r.keys.map((k) => `"${k.toString('base64')}"`).join(',')}]` : 'null'}`,
            ]),
          ),
        leases: (r) => out(obj([...flatHeader(r.header), `"leases":[${r.leases.map((l) => `{"id":${l.ID}}`).join(',')}]`])),
      };
    case 'protobuf': {
      const hdr = (h: ResponseHeader__Output | null) => out(codec!.encode('etcdserverpb.ResponseHeader', { ...h }));
      return {
        grant: (r) => hdr(r.header),
        // LeaseRevokeResponse is a type of its own, without the header's methods.
        revoke(_id, r) {
          throw new CliError(ExitCode.BadFeature, `marshal unsupported for type clientv3.LeaseRevokeResponse ({${headerText(r.header)}})`);
        },
        keepAlive: (r) => hdr(r.header),
        timeToLive: (r) => hdr(r.header),
        leases: (r) => hdr(r.header),
      };
    }
    default:
      // table: etcdctl's "table not supported as output format" (exit 4)
      return unsupported(format);
  }
}
