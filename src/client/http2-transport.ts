// gRPC over node:http2 with the table-driven codec: what the CLI uses to reach etcd. A gRPC call is
// an HTTP/2 POST to /<package>.<Service>/<Method> whose body is a sequence of messages, each framed
// as [compressed flag (1 byte), length (4 bytes, big-endian), protobuf bytes]; the outcome arrives
// in the `grpc-status` and `grpc-message` trailers (or in the headers, for a trailers-only reply).
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { EventEmitter } from 'node:events';
import type { Codec } from './codec.js';
import type { EndpointTarget, Transport, TransportFactory, DuplexStream } from './transport.js';
import { Status, callError, type CallError } from './status.js';

export function http2Transport(codec: () => Codec): TransportFactory {
  return (target) => new Http2Transport(codec(), target);
}

function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Splits the data of a response into messages as frames complete. */
class Deframer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer, onMessage: (m: Buffer) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) return;
      if (this.buf[0] !== 0) throw callError(Status.INTERNAL, 'compressed messages are not supported');
      onMessage(this.buf.subarray(5, 5 + len));
      this.buf = this.buf.subarray(5 + len);
    }
  }
}

function grpcMessage(v: unknown): string {
  const s = Array.isArray(v) ? String(v[0]) : String(v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Reads grpc-status/grpc-message from headers or trailers; undefined when absent. */
function statusOf(h: http2.IncomingHttpHeaders): CallError | null | undefined {
  const st = h['grpc-status'];
  if (st === undefined) return undefined;
  const code = Number(Array.isArray(st) ? st[0] : st);
  return code === 0 ? null : callError(code, grpcMessage(h['grpc-message']));
}

class Http2Transport implements Transport {
  private session: http2.ClientHttp2Session | undefined;
  private connecting: Promise<void> | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private openStreams = 0;
  private readonly maxSend: number;

  constructor(
    private readonly codec: Codec,
    private readonly target: EndpointTarget,
  ) {
    this.maxSend = target.options.maxSendBytes ?? 2 * 1024 * 1024;
  }

  private connect(): Promise<void> {
    const { address, secure, options, unix } = this.target;
    // a unix socket's connection carries authority "localhost", as Go's gRPC sends for one
    const [host, port] = unix ? ['localhost', ''] : splitHostPort(address);
    const authority = `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}${port ? `:${port}` : ''}`;
    const tls = options.tls ?? {};
    const read = (f?: string) => (f ? fs.readFileSync(f) : undefined);
    const session = http2.connect(authority, {
      ...(unix ? { path: address } : {}),
      ...(secure
        ? {
            ca: read(tls.caFile),
            cert: read(tls.certFile),
            key: read(tls.keyFile),
            rejectUnauthorized: !tls.insecureSkipVerify,
            // No SNI for an IP address (RFC 6066); the certificate is still checked against it.
            servername: net.isIP(host) ? '' : host,
            ALPNProtocols: ['h2'],
          }
        : {}),
      settings: { enablePush: false },
      maxSessionMemory: 64,
    });
    return new Promise<void>((resolve, reject) => {
      const fail = (e?: Error) => {
        if (this.session === session) this.dropSession();
        reject(callError(Status.UNAVAILABLE, e?.message ?? 'connection closed'));
      };
      session.once('connect', () => {
        session.off('error', fail);
        session.on('error', () => this.session === session && this.dropSession());
        session.once('close', () => this.session === session && this.dropSession());
        session.once('goaway', () => this.session === session && this.dropSession());
        this.startKeepalive(session);
        resolve();
      });
      session.once('error', fail);
      this.session = session;
    });
  }

  /**
   * Pings while streams are open; a missing answer drops the connection so streams fail over.
   * etcd's server allows a ping every 5 s at most, and only with a stream open (more is answered
   * with GOAWAY "too many pings"), so, as grpc-go does, the interval is at least 10 s.
   */
  private startKeepalive(session: http2.ClientHttp2Session): void {
    const every = Math.max(10000, this.target.options.keepaliveTimeMs ?? 2000);
    const timeout = this.target.options.keepaliveTimeoutMs ?? 6000;
    if ((this.target.options.keepaliveTimeMs ?? 2000) <= 0) return;
    this.pinger = setInterval(() => {
      if (session.closed || session.destroyed || this.openStreams === 0) return;
      const timer = setTimeout(() => session.destroy(new Error('keepalive timeout')), timeout);
      timer.unref();
      try {
        session.ping((err) => {
          clearTimeout(timer);
          if (err) session.destroy(err);
        });
      } catch {
        clearTimeout(timer);
      }
    }, every);
    this.pinger.unref();
  }

  private dropSession(): void {
    const s = this.session;
    this.session = undefined;
    this.connecting = undefined;
    if (this.pinger) clearInterval(this.pinger);
    if (s && !s.destroyed) s.destroy();
  }

  waitReady(deadline: number): Promise<void> {
    if (this.session && !this.session.connecting && !this.session.destroyed && !this.session.closed) return Promise.resolve();
    this.connecting ??= this.connect();
    const attempt = this.connecting;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(callError(Status.DEADLINE_EXCEEDED, 'dial timeout')), Math.max(0, deadline - Date.now()));
      attempt.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private open(service: string, method: string, metadata: Record<string, string>, deadline?: number): http2.ClientHttp2Stream {
    const s = this.session;
    if (!s || s.destroyed) throw callError(Status.UNAVAILABLE, 'not connected');
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/etcdserverpb.${service}/${method}`,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      ...metadata,
    };
    if (deadline) headers['grpc-timeout'] = `${Math.max(1, deadline - Date.now())}m`;
    const req = s.request(headers);
    this.openStreams++;
    req.once('close', () => this.openStreams--);
    return req;
  }

  private encode(type: string, msg: unknown): Buffer {
    const body = this.codec.encode(type, msg as Record<string, unknown>);
    if (body.length > this.maxSend) {
      throw callError(Status.RESOURCE_EXHAUSTED, `trying to send message larger than max (${body.length} vs. ${this.maxSend})`);
    }
    return frame(body);
  }

  unary(service: string, method: string, request: unknown, metadata: Record<string, string>, deadline?: number): Promise<unknown> {
    const [reqType, resType] = this.codec.method(service, method);
    return new Promise((resolve, reject) => {
      let body: Buffer;
      let req: http2.ClientHttp2Stream;
      try {
        body = this.encode(reqType, request);
        req = this.open(service, method, metadata, deadline);
      } catch (e) {
        return reject(e);
      }
      let settled = false;
      let result: unknown;
      let status: CallError | null | undefined;
      const done = (err: CallError | null, value?: unknown) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      const timer = deadline
        ? setTimeout(() => {
            req.close(http2.constants.NGHTTP2_CANCEL);
            done(callError(Status.DEADLINE_EXCEEDED, 'context deadline exceeded'));
          }, Math.max(0, deadline - Date.now()))
        : undefined;
      const deframer = new Deframer();
      req.on('response', (h) => {
        const st = statusOf(h);
        if (st !== undefined) status = st;
        const http = Number(h[':status']);
        if (http !== 200 && status === undefined) status = callError(Status.UNKNOWN, `unexpected HTTP status ${http}`);
      });
      req.on('data', (chunk: Buffer) => {
        try {
          deframer.push(chunk, (m) => (result = this.codec.decode(resType, m)));
        } catch (e) {
          req.close(http2.constants.NGHTTP2_CANCEL);
          done(e as CallError);
        }
      });
      req.on('trailers', (h) => {
        const st = statusOf(h);
        if (st !== undefined) status = st;
      });
      req.on('error', (e) => done(callError(Status.UNAVAILABLE, e.message)));
      req.on('close', () => {
        if (status) done(status);
        else if (status === null && result !== undefined) done(null, result);
        else done(callError(Status.UNAVAILABLE, 'stream closed without a status'));
      });
      req.end(body);
    });
  }

  duplex<Req, Res>(service: string, method: string, metadata: Record<string, string>): DuplexStream<Req, Res> {
    const [reqType, resType] = this.codec.method(service, method);
    const emitter = new EventEmitter() as DuplexStream<Req, Res>;
    let req: http2.ClientHttp2Stream;
    try {
      req = this.open(service, method, metadata);
    } catch (e) {
      queueMicrotask(() => emitter.emit('error', e));
      Object.assign(emitter, { write: () => false, end: () => {}, cancel: () => {} });
      return emitter;
    }
    let status: CallError | null | undefined;
    let finished = false;
    const finish = (err: CallError | null) => {
      if (finished) return;
      finished = true;
      if (err) emitter.emit('error', err);
      else emitter.emit('end');
    };
    const deframer = new Deframer();
    req.on('response', (h) => {
      const st = statusOf(h);
      if (st !== undefined) status = st;
    });
    req.on('data', (chunk: Buffer) => {
      try {
        deframer.push(chunk, (m) => emitter.emit('data', this.codec.decode(resType, m) as Res));
      } catch (e) {
        req.close(http2.constants.NGHTTP2_CANCEL);
        finish(e as CallError);
      }
    });
    req.on('trailers', (h) => {
      const st = statusOf(h);
      if (st !== undefined) status = st;
    });
    req.on('error', (e) => finish(callError(Status.UNAVAILABLE, e.message)));
    req.on('close', () => {
      if (status === undefined) finish(callError(Status.UNAVAILABLE, 'stream closed without a status'));
      else finish(status);
    });
    Object.assign(emitter, {
      write: (m: Req) => (req.writable ? req.write(this.encode(reqType, m)) : false),
      end: () => req.end(),
      cancel: () => {
        finished = true;
        req.close(http2.constants.NGHTTP2_CANCEL);
      },
    });
    return emitter;
  }

  close(): void {
    this.dropSession();
  }
}

function splitHostPort(address: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m) return [m[1]!, m[2]!];
  return [address.replace(/^\[|\]$/g, ''), '2379'];
}
