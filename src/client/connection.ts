// The connection layer of the client: one transport per endpoint, failover from a dead endpoint to
// the next (as etcd's client balancer does), a dial timeout, a per-call deadline, auth tokens. TLS
// and keepalive pings are the transport's. Every failure leaves this module as an EtcdError or a
// ClientError.
import { EtcdError } from '../api/errors.js';
import { Status, goStatusText } from './status.js';
import type { Transport, TransportFactory, DuplexStream } from './transport.js';

export interface TlsOptions {
  /** CA bundle (PEM) file that verifies the server; the system roots when absent. */
  caFile?: string;
  /** Client certificate and key (PEM) files, for servers that ask for one. */
  certFile?: string;
  keyFile?: string;
  /** Skips verification of the server's certificate (testing only). */
  insecureSkipVerify?: boolean;
}

export interface ClientOptions {
  /** host:port, http://host:port or https://host:port; tried in order when one is down. */
  endpoints: string[];
  /** How long to wait for a connection, in ms (etcdctl: 2 s). */
  dialTimeoutMs?: number;
  /** Deadline of each unary call, in ms (etcdctl --command-timeout: 5 s); 0 means none, a negative one has passed already. */
  commandTimeoutMs?: number;
  /** Keepalive ping interval and ping timeout, in ms (etcdctl: 2 s and 6 s). */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** TLS settings; set for https:// endpoints, or for bare host:port when insecureTransport is false. */
  tls?: TlsOptions;
  /** Bare host:port endpoints use plain text unless this is false (etcdctl --insecure-transport). */
  insecureTransport?: boolean;
  /** Authenticates with this user on connect and sends the token with every call. */
  auth?: { username: string; password: string };
  /** Client-side message limits (etcd's client: send 2 MiB, receive unlimited). */
  maxSendBytes?: number;
  maxRecvBytes?: number;
  /** How calls reach the wire; the library's default is grpc-js (see src/client/index.ts). */
  transport?: TransportFactory;
}

/** A failure of the client itself (no reachable endpoint, a deadline), as opposed to the server's answer. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly code: number,
    /** True when authentication failed while connecting (etcdctl exits 2 for it). */
    readonly duringAuth = false,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** etcd's Go client reports an expired deadline with Go's context error text. */
export const DEADLINE_EXCEEDED = 'context deadline exceeded';

interface Endpoint {
  address: string; // host:port, or a socket path
  secure: boolean;
  unix?: boolean;
  transport?: Transport;
}

type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth';

/**
 * Parses an endpoint the way etcdctl accepts it: host:port, http://host:port, https://host:port,
 * or unix://<socket> and unixs://<socket>.
 */
export function parseEndpoint(ep: string, defaultSecure: boolean): { address: string; secure: boolean; unix?: boolean } {
  const m = /^(https?|unix|unixs):\/\/(.*)$/.exec(ep.trim());
  if (!m) return { address: ep.trim(), secure: defaultSecure };
  const unix = m[1] === 'unix' || m[1] === 'unixs';
  const rest = unix ? m[2]! : m[2]!.replace(/\/+$/, '');
  return { address: rest, secure: m[1] === 'https' || m[1] === 'unixs', ...(unix ? { unix } : {}) };
}

let defaultTransport: TransportFactory | undefined;
/** The transport of clients whose options name none (src/client/index.ts sets grpc-js). */
export function setDefaultTransport(f: TransportFactory): void {
  defaultTransport = f;
}

export class Connection {
  private readonly endpoints: Endpoint[];
  private readonly factory: TransportFactory;
  private current = 0;
  private token: string | undefined;
  private authenticating: Promise<void> | undefined;
  private closed = false;
  readonly dialTimeoutMs: number;
  readonly commandTimeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    if (options.endpoints.length === 0) throw new ClientError('no endpoints given', Status.INVALID_ARGUMENT);
    const factory = options.transport ?? defaultTransport;
    if (!factory) throw new ClientError('no transport configured', Status.INVALID_ARGUMENT);
    this.factory = factory;
    const tlsWanted = !!options.tls && (!!options.tls.caFile || !!options.tls.certFile || !!options.tls.keyFile);
    const defaultSecure = tlsWanted || options.insecureTransport === false;
    this.endpoints = options.endpoints.map((ep) => parseEndpoint(ep, defaultSecure));
    this.dialTimeoutMs = options.dialTimeoutMs ?? 2000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5000;
  }

  private transportOf(ep: Endpoint): Transport {
    ep.transport ??= this.factory({ address: ep.address, secure: ep.secure, unix: ep.unix, options: this.options });
    return ep.transport;
  }

  /**
   * Picks a connected endpoint, starting from the one in use: a failed endpoint hands over to the
   * next; when all have failed within the dial timeout the client gives up with etcd's deadline text.
   */
  async pick(): Promise<Transport> {
    if (this.closed) throw new ClientError('client is closed', Status.CANCELLED);
    // No dial timeout (0): clientv3 dials in the background and a call waits for a connection as long
    // as its own deadline allows.
    const wait = this.dialTimeoutMs > 0 ? this.dialTimeoutMs : this.commandTimeoutMs > 0 ? this.commandTimeoutMs : 2000;
    const deadline = Date.now() + wait;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const idx = (this.current + attempt) % this.endpoints.length;
      const t = this.transportOf(this.endpoints[idx]!);
      try {
        await t.waitReady(deadline);
        this.current = idx;
        return t;
      } catch {
        // After a full round of failures, back off briefly before retrying the list.
        if ((attempt + 1) % this.endpoints.length === 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
    throw new ClientError(DEADLINE_EXCEEDED, Status.DEADLINE_EXCEEDED);
  }

  /** Moves on to the next endpoint, for a stream that lost its connection. */
  rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  /** Call metadata: the auth token, and whatever the caller adds. */
  async metadata(extra?: Record<string, string>): Promise<Record<string, string>> {
    await this.ensureAuth();
    return this.token ? { token: this.token, ...extra } : { ...extra };
  }

  private ensureAuth(): Promise<void> {
    const auth = this.options.auth;
    if (!auth || this.token) return Promise.resolve();
    this.authenticating ??= (async () => {
      try {
        // clientv3 authenticates while it dials, under the dial timeout.
        const res = (await this.rawUnary('Auth', 'Authenticate', { name: auth.username, password: auth.password }, {}, this.options.dialTimeoutMs ?? 2000)) as { token: string };
        this.token = res.token;
      } catch (e) {
        // clientv3: a server without auth is asked without a token (the promise stays resolved).
        if (e instanceof EtcdError && e.is('AuthNotEnabled')) return;
        this.authenticating = undefined;
        const err = e as Error & { code?: number };
        throw new ClientError(err.message, err.code ?? Status.UNKNOWN, true);
      }
    })();
    return this.authenticating;
  }

  /** One unary call: an endpoint picked with failover, then the command deadline on the call. */
  async unary<Res>(service: ServiceName, method: string, req: unknown, opts: { timeoutMs?: number; metadata?: Record<string, string> } = {}): Promise<Res> {
    const md = await this.metadata(opts.metadata);
    try {
      return (await this.rawUnary(service, method, req, md, opts.timeoutMs)) as Res;
    } catch (e) {
      // Simple tokens expire (5 minutes by default): authenticate again once, as clientv3 does.
      if (!this.expiredToken(e)) throw e;
      return (await this.rawUnary(service, method, req, await this.metadata(opts.metadata), opts.timeoutMs)) as Res;
    }
  }

  /**
   * True (and the token dropped) when `e` says the auth token is no longer valid: etcd answers an
   * expired simple token with "user name is empty", a stale one with "invalid auth token" or "revision
   * of auth store is old" (the cases clientv3 re-authenticates on).
   */
  expiredToken(e: unknown): boolean {
    const expired = !!this.options.auth && e instanceof EtcdError && (e.is('InvalidAuthToken') || e.is('UserEmpty') || e.is('AuthOldRevision'));
    if (expired) {
      this.token = undefined;
      this.authenticating = undefined;
    }
    return expired;
  }

  private async rawUnary(service: ServiceName, method: string, req: unknown, md: Record<string, string>, timeoutMs?: number): Promise<unknown> {
    const timeout = timeoutMs ?? this.commandTimeoutMs;
    // A deadline that has passed: grpc-go fails such a call without sending it.
    if (timeout < 0) throw new ClientError(DEADLINE_EXCEEDED, Status.DEADLINE_EXCEEDED);
    const t = await this.pick();
    try {
      return await t.unary(service, method, req, md, timeout > 0 ? Date.now() + timeout : undefined);
    } catch (e) {
      throw toError(e as Error & { code?: number; details?: string });
    }
  }

  /** Opens a bidirectional stream on a connected endpoint. */
  async duplex<Req, Res>(service: ServiceName, method: string, metadata?: Record<string, string>): Promise<DuplexStream<Req, Res>> {
    const md = await this.metadata(metadata);
    const t = await this.pick();
    return t.duplex<Req, Res>(service, method, md);
  }

  /** The address (host:port) of the endpoint in use. */
  get endpoint(): string {
    return this.endpoints[this.current]!.address;
  }

  get endpointList(): string[] {
    return this.endpoints.map((e) => e.address);
  }

  close(): void {
    this.closed = true;
    for (const ep of this.endpoints) ep.transport?.close();
  }
}

/**
 * Maps a failed call to the client's error types: etcd's own errors (matched by message) become
 * EtcdError with etcd's text; others keep grpc-go's `rpc error: code = ... desc = ...` form, which
 * is what etcdctl prints for them.
 */
export function toError(err: Error & { code?: number; details?: string }): Error {
  if (err instanceof ClientError || err instanceof EtcdError) return err;
  const code = err.code ?? Status.UNKNOWN;
  const details = err.details ?? err.message;
  if (code === Status.DEADLINE_EXCEEDED) return new ClientError(DEADLINE_EXCEEDED, code);
  if (code === Status.CANCELLED && /cancell?ed on client/i.test(details)) return new ClientError('context canceled', code);
  const e = EtcdError.fromStatus(code as never, details);
  if (e.errorName !== 'Unknown') return e;
  return new EtcdError('Unknown', goStatusText(code, details), code as never);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
