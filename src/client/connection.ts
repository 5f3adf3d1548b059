// The connection layer of the client: one gRPC channel per endpoint, failover from a dead endpoint
// to the next (as etcd's client balancer does), a dial timeout, a per-call deadline, TLS, auth tokens
// and keepalive pings. Every gRPC error leaves this module as an EtcdError or a ClientError.
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../api/errors.js';
import type { EtcdApi } from '../api/proto.js';

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
  /** Deadline of each unary call, in ms (etcdctl --command-timeout: 5 s); 0 means none. */
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
}

/** A failure of the client itself (no reachable endpoint, a deadline), as opposed to the server's answer. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly code: grpc.status,
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
  address: string; // host:port
  secure: boolean;
  channel?: grpc.Channel;
  clients: Map<string, grpc.Client>;
}

type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth';

/** Parses an endpoint the way etcdctl accepts it: host:port, http://host:port or https://host:port. */
export function parseEndpoint(ep: string, defaultSecure: boolean): { address: string; secure: boolean } {
  const m = /^(https?|unix|unixs):\/\/(.*)$/.exec(ep.trim());
  if (!m) return { address: ep.trim(), secure: defaultSecure };
  const rest = m[2]!.replace(/\/+$/, '');
  return { address: rest, secure: m[1] === 'https' || m[1] === 'unixs' };
}

export class Connection {
  private readonly endpoints: Endpoint[];
  private current = 0;
  private token: string | undefined;
  private authenticating: Promise<void> | undefined;
  private closed = false;
  readonly dialTimeoutMs: number;
  readonly commandTimeoutMs: number;

  constructor(
    private readonly api: EtcdApi,
    private readonly options: ClientOptions,
  ) {
    if (options.endpoints.length === 0) throw new ClientError('no endpoints given', grpc.status.INVALID_ARGUMENT);
    const tlsWanted = !!options.tls && (!!options.tls.caFile || !!options.tls.certFile || !!options.tls.keyFile);
    const defaultSecure = tlsWanted || options.insecureTransport === false;
    this.endpoints = options.endpoints.map((ep) => ({ ...parseEndpoint(ep, defaultSecure), clients: new Map() }));
    this.dialTimeoutMs = options.dialTimeoutMs ?? 2000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5000;
  }

  private credentials(secure: boolean): grpc.ChannelCredentials {
    if (!secure) return grpc.credentials.createInsecure();
    const t = this.options.tls ?? {};
    const read = (f?: string) => (f ? fs.readFileSync(f) : null);
    const verify: grpc.VerifyOptions = {};
    if (t.insecureSkipVerify) {
      verify.rejectUnauthorized = false;
      verify.checkServerIdentity = () => undefined;
    }
    return grpc.credentials.createSsl(read(t.caFile), read(t.keyFile), read(t.certFile), verify);
  }

  private channelOf(ep: Endpoint): grpc.Channel {
    if (!ep.channel) {
      const o = this.options;
      ep.channel = new grpc.Channel(ep.address, this.credentials(ep.secure), {
        'grpc.keepalive_time_ms': o.keepaliveTimeMs ?? 2000,
        'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 6000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_send_message_length': o.maxSendBytes ?? 2 * 1024 * 1024,
        'grpc.max_receive_message_length': o.maxRecvBytes ?? 0x7fffffff,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.enable_retries': 0,
      });
    }
    return ep.channel;
  }

  /** The service stub of `service` bound to an endpoint's channel. */
  private stub(ep: Endpoint, service: ServiceName): grpc.Client {
    let c = ep.clients.get(service);
    if (!c) {
      const Ctor = this.api.etcdserverpb[service] as unknown as grpc.ServiceClientConstructor;
      c = new Ctor(ep.address, this.credentials(ep.secure), { channelOverride: this.channelOf(ep) });
      ep.clients.set(service, c);
    }
    return c;
  }

  /** Waits until `ep` is connected; rejects at `deadline` or when the connection attempt fails. */
  private waitReady(ep: Endpoint, deadline: number): Promise<void> {
    const ch = this.channelOf(ep);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const st = ch.getConnectivityState(true);
        if (st === grpc.connectivityState.READY) return resolve();
        if (st === grpc.connectivityState.TRANSIENT_FAILURE) return reject(new Error('transient failure'));
        if (st === grpc.connectivityState.SHUTDOWN) return reject(new Error('shutdown'));
        if (Date.now() >= deadline) return reject(new ClientError(DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED));
        ch.watchConnectivityState(st, deadline, (err) => {
          if (err) return reject(new ClientError(DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED));
          check();
        });
      };
      check();
    });
  }

  /**
   * Picks a connected endpoint, starting from the one in use: a failed endpoint hands over to the
   * next; when all have failed within the dial timeout the client gives up with etcd's deadline text.
   */
  async pick(): Promise<Endpoint> {
    if (this.closed) throw new ClientError('client is closed', grpc.status.CANCELLED);
    const deadline = Date.now() + this.dialTimeoutMs;
    let lastErr: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const idx = (this.current + attempt) % this.endpoints.length;
      const ep = this.endpoints[idx]!;
      try {
        await this.waitReady(ep, deadline);
        this.current = idx;
        return ep;
      } catch (e) {
        lastErr = e;
        // After a full round of failures, back off briefly before retrying the list.
        if ((attempt + 1) % this.endpoints.length === 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
    void lastErr;
    throw new ClientError(DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED);
  }

  /** The endpoint after `ep` becomes current, for a stream or call that lost its connection. */
  rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  /** Call metadata: the auth token, and whatever the caller adds. */
  async metadata(extra?: Record<string, string>): Promise<grpc.Metadata> {
    await this.ensureAuth();
    const md = new grpc.Metadata();
    if (this.token) md.set('token', this.token);
    for (const [k, v] of Object.entries(extra ?? {})) md.set(k, v);
    return md;
  }

  private ensureAuth(): Promise<void> {
    const auth = this.options.auth;
    if (!auth || this.token) return Promise.resolve();
    this.authenticating ??= (async () => {
      try {
        const res = await this.rawUnary<{ token: string }>('Auth', 'Authenticate', { name: auth.username, password: auth.password }, new grpc.Metadata());
        this.token = res.token;
      } catch (e) {
        this.authenticating = undefined;
        const err = e as Error & { code?: grpc.status };
        throw new ClientError(err.message, err.code ?? grpc.status.UNKNOWN, true);
      }
    })();
    return this.authenticating;
  }

  /** One unary call with failover before the call is sent and the command deadline on the call. */
  async unary<Res>(service: ServiceName, method: string, req: unknown, opts: { timeoutMs?: number; metadata?: Record<string, string> } = {}): Promise<Res> {
    const md = await this.metadata(opts.metadata);
    return this.rawUnary<Res>(service, method, req, md, opts.timeoutMs);
  }

  private async rawUnary<Res>(service: ServiceName, method: string, req: unknown, md: grpc.Metadata, timeoutMs?: number): Promise<Res> {
    const timeout = timeoutMs ?? this.commandTimeoutMs;
    const ep = await this.pick();
    const stub = this.stub(ep, service) as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>;
    const callOpts: grpc.CallOptions = timeout > 0 ? { deadline: Date.now() + timeout } : {};
    return new Promise<Res>((resolve, reject) => {
      stub[method]!.call(stub, req, md, callOpts, (err: grpc.ServiceError | null, res: Res) => {
        if (err) reject(toError(err));
        else resolve(res);
      });
    });
  }

  /** Opens a bidirectional stream on a connected endpoint. */
  async duplex<Req, Res>(service: ServiceName, method: string, metadata?: Record<string, string>): Promise<grpc.ClientDuplexStream<Req, Res>> {
    const md = await this.metadata(metadata);
    const ep = await this.pick();
    const stub = this.stub(ep, service) as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<Req, Res>>;
    return stub[method]!.call(stub, md, {});
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
    for (const ep of this.endpoints) {
      for (const c of ep.clients.values()) c.close();
      ep.channel?.close();
    }
  }
}

/** Maps a gRPC failure to the client's error types: etcd's own errors by message, the rest by code. */
export function toError(err: grpc.ServiceError): Error {
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return new ClientError(DEADLINE_EXCEEDED, err.code);
  if (err.code === grpc.status.CANCELLED && /cancell?ed on client/i.test(err.details)) return new ClientError('context canceled', err.code);
  return EtcdError.fromStatus(err.code, err.details || err.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
