// -w table: cli-table3 drawn the way etcdctl's tablewriter draws it (upper-case centered headers,
// right-aligned cells, +---+ borders, no lines between rows). etcdctl has tables for member list
// and endpoint status/health; ours also has one for get. Headers are bold on a TTY (chalk).
import Table from 'cli-table3';
import type { Printer, PrinterOptions, EndpointStatus, EndpointHealth, EndpointHashKV, SnapshotStatus } from './printer.js';
import { dbStatusRow, memberRows, unsupported } from './printer.js';
import { hexId, humanizeBytes } from './go-format.js';
import type { RangeResponse__Output, MemberListResponse__Output } from '../../client/client.js';
import { useColor } from '../color.js';

const CHARS = {
  top: '-', 'top-mid': '+', 'top-left': '+', 'top-right': '+',
  bottom: '-', 'bottom-mid': '+', 'bottom-left': '+', 'bottom-right': '+',
  left: '|', 'left-mid': '', mid: '', 'mid-mid': '', right: '|', 'right-mid': '', middle: '|',
};

export function renderTable(hdr: string[], rows: string[][], bold?: (s: string) => string): string {
  const table = new Table({
    chars: CHARS,
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
  });
  const head = hdr.map((h) => ({ content: bold ? bold(h.toUpperCase()) : h.toUpperCase(), hAlign: 'center' as const }));
  table.push(head);
  table.push(...rows.map((r) => r.map((c) => ({ content: c, hAlign: 'right' as const }))));
  // With the header pushed as a row, cli-table3 draws no rule under it: add tablewriter's (the
  // same as the top border) ourselves.
  const lines = table.toString().split('\n');
  return [lines[0], lines[1], lines[0], ...lines.slice(2)].join('\n') + '\n';
}

export class TablePrinter implements Printer {
  private bold: ((s: string) => string) | undefined;
  constructor(private readonly o: PrinterOptions) {}

  /** Loads chalk only for a colour terminal. */
  async init(): Promise<void> {
    if (useColor()) {
      const chalk = (await import('chalk')).default;
      this.bold = (s) => chalk.bold(s);
    }
  }

  private table(hdr: string[], rows: string[][]): void {
    this.o.out(renderTable(hdr, rows, this.bold));
  }

  get(r: RangeResponse__Output): void {
    this.table(
      ['key', 'value', 'create rev', 'mod rev', 'version', 'lease'],
      r.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.create_revision, kv.mod_revision, kv.version, kv.lease]),
    );
  }
  put(): void {
    unsupported('table');
  }
  del(): void {
    unsupported('table');
  }
  txn(): void {
    unsupported('table');
  }
  watch(): void {
    unsupported('table');
  }
  memberList(r: MemberListResponse__Output): void {
    this.table(['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'], memberRows(r, hexId));
  }
  endpointStatus(list: EndpointStatus[]): void {
    this.table(
      ['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'],
      list.map(({ ep, resp }) => [
        ep, hexId(resp.header!.member_id), resp.version, humanizeBytes(Number(resp.dbSize)), String(resp.leader === resp.header!.member_id),
        String(resp.isLearner), resp.raftTerm, resp.raftIndex, resp.raftAppliedIndex, resp.errors.join(', '),
      ]),
    );
  }
  alarm(): void {
    unsupported('table');
  }
  dbStatus(s: SnapshotStatus): void {
    this.table(['hash', 'revision', 'total keys', 'total size'], [dbStatusRow(s, humanizeBytes)]);
  }
  endpointHashKV(list: EndpointHashKV[]): void {
    this.table(['endpoint', 'hash'], list.map(({ ep, resp }) => [ep, String(resp.hash)]));
  }
  endpointHealth(list: EndpointHealth[]): void {
    this.table(['endpoint', 'health', 'took', 'error'], list.map((h) => [h.ep, String(h.health), h.took, h.error]));
  }
}
