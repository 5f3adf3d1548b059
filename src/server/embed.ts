// startServer(): the embedded etcd server. Wires the core (EtcdServer) to a listener on every
// --listen-client-urls entry, plain or TLS, serving gRPC and etcd's HTTP endpoints (listener.ts).
// The one server module the CLI and library users import.
import * as fs from 'node:fs';
import type * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { loadApi } from '../api/proto.js';
import { clusterHandlers } from './api/cluster.js';
import { kvHandlers, kvServiceDefinition } from './api/kv.js';
import { electionHandlers } from './api/election.js';
import { leaseHandlers } from './api/lease.js';
import { lockHandlers } from './api/lock.js';
import { maintenanceHandlers } from './api/maintenance.js';
import { watchHandlers } from './api/watch.js';
import { defaultConfig, type ServerConfig } from './config.js';
import { startCompactor } from './compactor.js';
import { Lessor, type LeasePersistence } from './lease/lessor.js';
import type { Backend } from './storage/backend.js';
import { gatewayHandler, type GatewayService } from './gateway.js';
import { createHttpServer } from './http.js';
import { listenClient, type ClientListener } from './listener.js';
import { installFastUnary, unaryMethods } from './h2/unary.js';
import { EtcdServer, type Logger } from './server.js';

export type { ServerConfig } from './config.js';

export interface StartServerOptions extends Partial<ServerConfig> {
  /** Where log lines go; default: JSON lines on stderr at cfg.logLevel. */
  logger?: Logger;
  /**
   * Called if the server stops on a storage failure (a failed log write or sync): it then answers
   * writes with "etcdserver: server stopped" and /health with false. The etcd executable exits 1.
   */
  onFatal?: (err: Error) => void;
}

export interface RunningServer {
  /** Client endpoints as clients dial them, e.g. 127.0.0.1:2379 (host:port of each listen URL). */
  endpoints: string[];
  /** The listen URLs with the ports actually bound (port 0 picks a free one). */
  clientURLs: string[];
  memberId: bigint;
  clusterId: bigint;
  config: ServerConfig;
  /** The core, for tests and tools in this process. */
  server: EtcdServer;
  close(): Promise<void>;
}

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 } as const;

export function jsonLogger(level: ServerConfig['logLevel']): Logger {
  const min = LEVELS[level] ?? 1;
  return (lvl, msg, fields) => {
    if (LEVELS[lvl] < min) return;
    process.stderr.write(JSON.stringify({ level: lvl, ts: new Date().toISOString(), msg, ...fields }) + '\n');
  };
}

/** TLS server options for an https:// or unixs:// listen URL; undefined for plain ones. */
function tlsOptionsFor(url: URL, cfg: ServerConfig): tls.TlsOptions | undefined {
  if (url.protocol === 'http:' || url.protocol === 'unix:') return undefined;
  const tls = cfg.clientTLS;
  if (!tls) throw new Error(`listen URL ${url.href} is https but no --cert-file/--key-file were given`);
  const read = (f: string, what: string): Buffer => {
    try {
      return fs.readFileSync(f);
    } catch (e) {
      throw new Error(`cannot read ${what} ${f}: ${(e as Error).message}`);
    }
  };
  const cert = read(tls.certFile, '--cert-file');
  const key = read(tls.keyFile, '--key-file');
  const ca = tls.trustedCAFile ? read(tls.trustedCAFile, '--trusted-ca-file') : null;
  if (tls.clientCertAuth && !ca) throw new Error('--client-cert-auth needs --trusted-ca-file');
  return {
    cert,
    key,
    ...(ca ? { ca } : {}),
    requestCert: tls.clientCertAuth,
    rejectUnauthorized: tls.clientCertAuth,
  };
}

/** The KV methods served by the fast unary path: their handlers use only the request. */
const KV_FAST_METHODS = ['Range', 'Put', 'DeleteRange', 'Txn', 'Compact'] as const;

/** etcd's default election timeout: a promoted lessor adds it to every lease's TTL. */
const ELECTION_TIMEOUT_MS = 1000;

/** The backend's lease database as the lessor sees it: lease ID (decimal) -> {ttl}. */
function backendLeases(backend: Backend): LeasePersistence {
  return {
    *load() {
      for (const { key, value } of backend.leases.getRange({})) {
        const ttl = Number((value as { ttl?: unknown } | undefined)?.ttl);
        if (Number.isFinite(ttl)) yield { id: String(key), ttl };
      }
    },
    put: (id, ttl) => backend.putLease(id, { ttl }),
    remove: (id) => backend.removeLease(id),
  };
}

/** Starts an etcd server in this process. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const { logger, onFatal, ...overrides } = options;
  const cfg = defaultConfig(overrides);
  const log = logger ?? jsonLogger(cfg.logLevel);
  let lessor: Lessor | undefined;
  const core = new EtcdServer(cfg, log, (backend, kv) => {
    lessor = new Lessor(backendLeases(backend), { minTTL: cfg.minLeaseTTL });
    lessor.recoverKeys(kv.range('\0', '').kvs);
    return lessor;
  });
  if (!lessor) throw new Error('lessor was not created');
  core.onFatal = onFatal;
  await core.ready();
  const leases = lessor;
  // a single member is its own leader from the start: leases count down from now, with etcd's extra
  // election timeout (1 s) so that none expires early across a restart
  leases.promote((id) => core.propose({ lease_revoke: { ID: id } }), ELECTION_TIMEOUT_MS);

  const api = loadApi();
  // etcd takes gRPC messages up to --max-request-bytes plus 512 KiB (its own check, with its own
  // error, applies at --max-request-bytes)
  const maxReceiveMessageLength = cfg.maxRequestBytes + 512 * 1024;
  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': maxReceiveMessageLength,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5000,
    'grpc.max_concurrent_streams': 2 ** 31 - 1,
    // channelz bookkeeping runs on every call; nothing here reads it
    'grpc.enable_channelz': 0,
  });
  // the same handler objects serve gRPC and the JSON gateway (gateway.ts)
  const services: GatewayService[] = [
    { definition: kvServiceDefinition(api.etcdserverpb.KV.service), handlers: kvHandlers(core) },
    { definition: api.etcdserverpb.Watch.service, handlers: watchHandlers(core) },
    { definition: api.etcdserverpb.Cluster.service, handlers: clusterHandlers(core) },
    { definition: api.etcdserverpb.Maintenance.service, handlers: maintenanceHandlers(core) },
    { definition: api.etcdserverpb.Lease.service, handlers: leaseHandlers(core, leases) },
    { definition: api.v3lockpb.Lock.service, handlers: lockHandlers(core) },
    { definition: api.v3electionpb.Election.service, handlers: electionHandlers(core) },
  ];
  for (const s of services) grpcServer.addService(s.definition, s.handlers as grpc.UntypedServiceImplementation);

  // TLS, where asked for, ends in the listener; grpc-js gets the connections in the clear
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  // KV's unary calls skip grpc-js's call machinery (h2/unary.ts); ETCD_TS_GRPC_FAST_UNARY=0 turns
  // that off, to compare
  const fastUnary =
    process.env.ETCD_TS_GRPC_FAST_UNARY !== '0' &&
    installFastUnary(
      grpcServer,
      unaryMethods(services[0].definition, services[0].handlers as Record<string, unknown>, KV_FAST_METHODS),
      services.map((s) => s.definition),
      { maxReceiveMessageLength, oneWrite: process.env.ETCD_TS_GRPC_ONE_WRITE !== '0' },
    );
  log('debug', 'gRPC KV fast unary path', { enabled: fastUnary });
  const httpServer = createHttpServer(core, gatewayHandler(services, { maxRequestBytes: cfg.maxRequestBytes }));
  const listeners: ClientListener[] = [];
  const endpoints: string[] = [];
  const clientURLs: string[] = [];
  try {
    for (const raw of cfg.listenClientUrls) {
      const url = new URL(raw);
      const tlsOptions = tlsOptionsFor(url, cfg);
      const unix = url.protocol === 'unix:' || url.protocol === 'unixs:';
      // etcd listens on unix://<name> at the socket file <name>
      const socketPath = unix ? url.host + (url.pathname === '/' ? '' : url.pathname) : '';
      const host = url.hostname;
      let listener: ClientListener;
      try {
        listener = await listenClient({
          address: unix ? { path: socketPath } : { host, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) },
          tls: tlsOptions,
          http2: (socket) => injector.injectConnection(socket),
          http1: httpServer,
        });
      } catch (e) {
        throw new Error(`cannot listen on ${raw}: ${(e as Error).message}`);
      }
      listeners.push(listener);
      if (unix) {
        endpoints.push(`unix:${socketPath}`);
        clientURLs.push(`${url.protocol}//${socketPath}`);
      } else {
        endpoints.push(`${host}:${listener.port}`);
        clientURLs.push(`${url.protocol}//${host}:${listener.port}`);
      }
    }
  } catch (e) {
    for (const l of listeners) await l.close();
    grpcServer.forceShutdown();
    leases.stop();
    await core.close();
    throw e;
  }
  if (overrides.advertiseClientUrls === undefined) core.member.clientURLs = clientURLs;
  const compactor = startCompactor(core, log);
  if (compactor) core.addTimer(compactor);
  log('info', 'serving client traffic', { endpoints: clientURLs, name: cfg.name, dataDir: cfg.dataDir });

  let closed = false;
  return {
    endpoints,
    clientURLs,
    memberId: core.memberId,
    clusterId: core.clusterId,
    config: cfg,
    server: core,
    async close() {
      if (closed) return;
      closed = true;
      // stop accepting; a listener's close completes once grpc-js has closed its sessions
      const listenersClosed = Promise.all(listeners.map((l) => l.close()));
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, 2000);
        grpcServer.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      await listenersClosed;
      httpServer.close();
      leases.stop();
      await core.close();
    },
  };
}
