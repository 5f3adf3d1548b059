// A watch that survives its connection: when the stream breaks (server restart, endpoint down) it
// reconnects through the connection's failover and re-creates itself from the revision after the last
// event it delivered, so no event is lost or repeated. Responses reach the caller as etcd's Go client
// delivers them: created and fragment-merging are handled here, events, progress and cancel go out.
import { toError, type Connection } from './connection.js';
import { Status } from './status.js';
import type { DuplexStream } from './transport.js';
import type { WatchRequest } from '../api/gen/etcdserverpb/WatchRequest.js';
import type { WatchResponse__Output } from '../api/gen/etcdserverpb/WatchResponse.js';

export interface WatchOptions {
  key: Buffer;
  /** Empty: the single key; "\0": every key >= key; otherwise [key, rangeEnd). */
  rangeEnd?: Buffer;
  /** First revision to deliver (decimal string); "0" or absent: from the next change. */
  startRevision?: string;
  prevKv?: boolean;
  progressNotify?: boolean;
  filters?: ('NOPUT' | 'NODELETE')[];
}

export type WatchResponse = WatchResponse__Output & {
  /** A watch the server refused at creation: clientv3 then delivers no header and nil events. */
  refused?: boolean;
};

/** True for a progress notification: no events, not created, not canceled, a header revision. */
export function isProgressNotify(r: WatchResponse): boolean {
  return r.events.length === 0 && !r.canceled && !r.created && r.compact_revision === '0' && (r.header?.revision ?? '0') !== '0';
}

export class Watch {
  private stream: DuplexStream<WatchRequest, WatchResponse__Output> | undefined;
  private nextRev: bigint | undefined;
  private stopped = false;
  private resolveDone!: () => void;
  private rejectDone!: (e: Error) => void;
  private pending: WatchResponse | undefined; // fragments being merged
  private everConnected = false;
  /** Settles when the watch ends: canceled by the server (resolves), or a fatal error (rejects). */
  readonly done: Promise<void>;

  constructor(
    private readonly conn: Connection,
    private readonly opts: WatchOptions,
    private readonly onResponse: (r: WatchResponse) => void,
  ) {
    this.done = new Promise<void>((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    if (opts.startRevision && opts.startRevision !== '0') this.nextRev = BigInt(opts.startRevision);
    void this.open();
  }

  private async open(): Promise<void> {
    let stream: DuplexStream<WatchRequest, WatchResponse__Output>;
    try {
      stream = await this.conn.duplex<WatchRequest, WatchResponse__Output>('Watch', 'Watch', { hasleader: 'true' });
    } catch (e) {
      if (this.stopped) return;
      if (!this.everConnected) {
        // The first connection fails after the dial timeout, like any other call.
        this.stopped = true;
        this.rejectDone(e as Error);
        return;
      }
      // Connected before: keep trying, as a long-running watch should.
      setTimeout(() => void this.open(), 500);
      return;
    }
    if (this.stopped) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.everConnected = true;
    // Each stream hands over to a new one at most once, whichever of error or end comes first.
    const reopen = (): void => {
      if (this.stopped || this.stream !== stream) return;
      this.stream = undefined;
      this.pending = undefined;
      this.conn.rotate();
      setTimeout(() => void this.open(), 200);
    };
    stream.on('data', (r: WatchResponse__Output) => {
      if (this.stream === stream) this.receive(r);
    });
    stream.on('error', (err) => {
      if (this.stopped || this.stream !== stream) return;
      if (err.code === Status.UNAVAILABLE || err.code === Status.INTERNAL || err.code === Status.UNKNOWN || this.conn.expiredToken(toError(err))) {
        reopen();
      } else {
        this.stopped = true;
        this.rejectDone(toError(err));
      }
    });
    stream.on('end', reopen);
    const o = this.opts;
    stream.write({
      create_request: {
        key: o.key,
        range_end: o.rangeEnd ?? Buffer.alloc(0),
        start_revision: this.nextRev !== undefined ? this.nextRev.toString() : '0',
        prev_kv: !!o.prevKv,
        progress_notify: !!o.progressNotify,
        filters: o.filters ?? [],
      },
    });
  }

  private receive(r: WatchResponse): void {
    if (this.stopped) return;
    if (r.created && r.canceled && r.cancel_reason !== '') {
      // clientv3 (addSubstream) closes such a watch with a response of its own: Canceled and the reason.
      r = { ...r, header: null, events: [], compact_revision: '0', created: false, refused: true };
    } else if (r.created && !r.canceled) {
      // From here on, a reconnect resumes after the revision the watch was created at.
      if (this.nextRev === undefined && r.header) this.nextRev = BigInt(r.header.revision) + 1n;
      return;
    }
    if (r.fragment) {
      if (this.pending) this.pending.events.push(...r.events);
      else this.pending = r;
      return;
    }
    if (this.pending) {
      this.pending.events.push(...r.events);
      r = { ...this.pending, fragment: false };
      this.pending = undefined;
    }
    const last = r.events[r.events.length - 1];
    if (last?.kv) this.nextRev = BigInt(last.kv.mod_revision) + 1n;
    this.onResponse(r);
    if (r.canceled) {
      this.stopped = true;
      this.stream?.cancel();
      this.resolveDone();
    }
  }

  /** Asks the server for a progress notification on this stream. */
  requestProgress(): void {
    this.stream?.write({ progress_request: {} });
  }

  /** Ends the watch from this side. */
  cancel(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stream?.cancel();
    this.resolveDone();
  }
}
