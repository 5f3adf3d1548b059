// The client port, as etcd serves it: one listener per --listen-client-urls entry carrying two
// protocols. HTTP/2 connections are gRPC and go to the grpc-js server, handed over whole through its
// connection injector (nghttp2 then reads the socket itself: no copy in JS on the hot path). Anything
// else is HTTP/1.1 for /health, /version and /metrics, what probes, load balancers and Prometheus use.
//
// A plain connection is told apart by its first bytes (every HTTP/2 client starts with the 24-byte
// preface); a TLS one by the protocol the client picked with ALPN, and by its first bytes when it
// picked none.
//
// One more step before an HTTP/2 connection is handed over, for real etcdctl: when it dials an
// endpoint given as a URL (`--endpoints http://host:port`, for endpoint status, defrag, hashkv), Go's
// gRPC sends the whole URL as :authority, which nghttp2 refuses (a stream reset, PROTOCOL_ERROR)
// while etcd's Go server takes it. So the listener answers the client's preface with its own
// SETTINGS frame and reads on until the first request's headers: if their :authority is valid the
// socket goes to nghttp2 as it is (with the client's ACK of that SETTINGS frame taken out); if not,
// the connection runs through a filter (h2/authority.ts) that rewrites :authority in every header
// block, in JS. Only such connections pay for the filter.
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Duplex } from 'node:stream';
import {
  authorityNeedsRewrite,
  ClientStreamRewriter,
  H2_PREFACE,
  HpackDecoder,
  parseFrames,
  stripFirstSettingsAck,
} from './h2/authority.js';

export interface ClientListenerOptions {
  /** host and port to listen on, or a unix socket path */
  address: { host: string; port: number } | { path: string };
  /** TLS server options (certificate, key, CA, client certificates) for https:// and unixs:// URLs */
  tls?: tls.TlsOptions;
  /** Takes an HTTP/2 connection (its first bytes put back unread). */
  http2: (socket: Duplex) => void;
  /** Serves HTTP/1.1 requests. */
  http1: http.Server;
}

export interface ClientListener {
  /** The bound port (0 for a unix socket). */
  port: number;
  close(): Promise<void>;
}

/** How long a connection may take to show its first bytes before it is dropped. */
const SNIFF_TIMEOUT_MS = 10_000;
/** How long an HTTP/2 connection is held for its first request before it goes to nghttp2 as it is. */
const FIRST_REQUEST_WAIT_MS = 500;
/**
 * The most a connection may send before its SETTINGS ACK and first request's headers are in: room
 * for a client that sends its first request without waiting for our SETTINGS (up to the 64 KiB
 * initial flow-control window of DATA, plus headers), and no more.
 */
const PREAMBLE_MAX_BYTES = 256 * 1024;

/** Starts listening; rejects with the listen error (address in use, permission). */
export function listenClient(opts: ClientListenerOptions): Promise<ClientListener> {
  const sniffing = new Set<net.Socket>();
  // HTTP/1.1 connections handed to opts.http1: that server never listens itself, so node does not
  // track its connections and its closeAllConnections() finds none; an idle keep-alive connection
  // would then hold a shutdown open until the client let go
  const http1Sockets = new Set<net.Socket>();
  const route = (socket: net.Socket): void => {
    socket.on('error', () => socket.destroy());
    const alpn = (socket as tls.TLSSocket).alpnProtocol;
    if (alpn === 'h2') {
      sniffing.add(socket);
      return preamble(socket, Buffer.alloc(0), opts, () => sniffing.delete(socket));
    }
    if (alpn === 'http/1.1') return http1(opts.http1, socket, Buffer.alloc(0), http1Sockets);
    sniffing.add(socket);
    sniff(socket, opts, () => sniffing.delete(socket), http1Sockets);
  };
  const server = opts.tls
    ? // (no Nagle on TLS connections either: small answers go out at once, as Go's do)
      tls.createServer({ ...opts.tls, ALPNProtocols: ['h2', 'http/1.1'], noDelay: true }, route)
    : net.createServer({ noDelay: true }, route);
  if (opts.tls) {
    // a failed handshake (a client without the right certificate, say) ends that connection only
    server.on('tlsClientError', (_err, socket) => socket.destroy());
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = (): void => {
      server.off('error', reject);
      server.on('error', () => {});
      const a = server.address();
      resolve({
        port: typeof a === 'object' && a ? a.port : 0,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // gRPC sessions are closed by grpc-js; the rest here
            for (const s of http1Sockets) s.destroy();
            for (const s of sniffing) s.destroy();
          }),
      });
    };
    if ('path' in opts.address) server.listen(opts.address.path, onListening);
    else server.listen(opts.address.port, opts.address.host, onListening);
  });
}

/** Reads until the bytes say HTTP/2 (the preface) or not, then puts them back and hands over. */
function sniff(socket: net.Socket, opts: ClientListenerOptions, done: () => void, http1Sockets: Set<net.Socket>): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  socket.once('close', done);
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const h2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (h2 && seen.length < H2_PREFACE.length) return; // could still be either: wait for more
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', done);
    if (h2) return preamble(socket, seen, opts, done);
    done();
    socket.pause();
    http1(opts.http1, socket, seen, http1Sockets);
  };
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
}

function http1(server: http.Server, socket: net.Socket, head: Buffer, tracked: Set<net.Socket>): void {
  tracked.add(socket);
  socket.once('close', () => tracked.delete(socket));
  if (head.length > 0) socket.unshift(head);
  server.emit('connection', socket);
  socket.resume();
}

/** An empty SETTINGS frame: the server's side of the connection preface. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/**
 * What the bytes so far say: whether the client acknowledged our SETTINGS, and the :authority of
 * its first request once that header block is complete (null: none in it; undefined: not complete
 * yet). `other` is set when a frame that is neither SETTINGS, WINDOW_UPDATE, PRIORITY nor part of
 * that header block comes first (a PING, say): such a connection is not held any longer.
 */
function readPreamble(buf: Buffer): { acked: boolean; authority: string | null | undefined; other: boolean } {
  const { frames } = parseFrames(buf, H2_PREFACE.length);
  let acked = false;
  let authority: string | null | undefined;
  let other = false;
  let block: Buffer[] | undefined;
  for (const f of frames) {
    if (f.type === FRAME_SETTINGS) {
      if (f.flags & FLAG_ACK) acked = true;
    } else if (authority !== undefined || other) {
      // decided already: only the ACK is still looked for
    } else if (f.type === FRAME_HEADERS && !block) {
      let p = f.payload;
      let pad = 0;
      if (f.flags & FLAG_PADDED) {
        pad = p[0] ?? 0;
        p = p.subarray(1);
      }
      if (f.flags & FLAG_PRIORITY) p = p.subarray(5);
      block = [p.subarray(0, Math.max(0, p.length - pad))];
      if (f.flags & FLAG_END_HEADERS) authority = authorityOf(Buffer.concat(block));
    } else if (f.type === FRAME_CONTINUATION && block) {
      block.push(f.payload);
      if (f.flags & FLAG_END_HEADERS) authority = authorityOf(Buffer.concat(block));
    } else if (f.type !== 0x8 /* WINDOW_UPDATE */ && f.type !== 0x2 /* PRIORITY */) {
      other = true;
    }
  }
  return { acked, authority, other };
}

function authorityOf(block: Buffer): string | null {
  try {
    for (const [name, value] of new HpackDecoder().decode(block)) if (name === ':authority') return value;
  } catch {
    // a block that does not decode is nghttp2's to refuse
  }
  return null;
}

/**
 * Answers the client's preface, reads up to its first request's headers and hands the connection
 * over: as it is, or through the :authority filter (see the top of this file).
 */
function preamble(socket: net.Socket, first: Buffer, opts: ClientListenerOptions, done: () => void): void {
  let buf = first;
  let settled = false;
  let acked = false;
  let timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const settle = (rewrite: boolean): void => {
    if (settled || socket.destroyed) return;
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', done);
    done();
    socket.pause();
    const clean = stripFirstSettingsAck(buf);
    if (!rewrite) {
      socket.unshift(clean);
      opts.http2(socket);
      return;
    }
    opts.http2(new RewritingSocket(socket, clean));
  };
  const check = (): void => {
    if (settled || buf.length < H2_PREFACE.length) return;
    const p = readPreamble(buf);
    // the client's ACK of our SETTINGS must not reach nghttp2, which never sent them
    if (!p.acked) return;
    if (!acked) {
      // a client may connect well before its first request: it is not held up for long
      acked = true;
      clearTimeout(timer);
      timer = setTimeout(() => settle(false), FIRST_REQUEST_WAIT_MS);
    }
    if (p.other) return settle(false);
    if (p.authority === undefined) return;
    settle(p.authority !== null && authorityNeedsRewrite(p.authority));
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    check();
    // what a well-behaved client sends before it can be handed over fits well within the limit
    if (!settled && buf.length > PREAMBLE_MAX_BYTES) {
      settled = true;
      clearTimeout(timer);
      socket.destroy();
    }
  };
  socket.once('close', () => clearTimeout(timer));
  socket.once('close', done);
  socket.on('data', onData);
  socket.write(EMPTY_SETTINGS);
  check();
}

/**
 * The client's side of a connection seen through ClientStreamRewriter; what the server writes goes
 * to the socket unchanged. nghttp2 reads it through JS, so only connections that need the
 * rewriting use it.
 */
class RewritingSocket extends Duplex {
  private readonly rewriter = new ClientStreamRewriter();

  constructor(
    private readonly socket: net.Socket,
    head: Buffer,
  ) {
    super();
    this.push(this.rewriter.push(head));
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(this.rewriter.push(chunk))) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
