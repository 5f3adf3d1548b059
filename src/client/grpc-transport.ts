// The grpc-js transport: one channel per endpoint, service stubs from the proto-loader API.
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { EtcdApi } from '../api/proto.js';
import type { EndpointTarget, Transport, TransportFactory, DuplexStream } from './transport.js';
import { Status, callError } from './status.js';

export function grpcJsTransport(api: () => EtcdApi): TransportFactory {
  return (target) => new GrpcJsTransport(api(), target);
}

class GrpcJsTransport implements Transport {
  private channel: grpc.Channel;
  private readonly clients = new Map<string, grpc.Client>();
  private readonly creds: grpc.ChannelCredentials;

  constructor(
    private readonly api: EtcdApi,
    private readonly target: EndpointTarget,
  ) {
    this.creds = credentials(target);
    const o = target.options;
    this.channel = new grpc.Channel(grpcTarget(target), this.creds, {
      // etcd's server allows a ping every 5 s at most, and only during calls (else GOAWAY).
      'grpc.keepalive_time_ms': Math.max(10000, o.keepaliveTimeMs ?? 2000),
      'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 6000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_send_message_length': o.maxSendBytes ?? 2 * 1024 * 1024,
      'grpc.max_receive_message_length': o.maxRecvBytes ?? 0x7fffffff,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.enable_retries': 0,
    });
  }

  private stub(service: string): grpc.Client {
    let c = this.clients.get(service);
    if (!c) {
      const Ctor = (this.api.etcdserverpb as unknown as Record<string, grpc.ServiceClientConstructor>)[service]!;
      c = new Ctor(grpcTarget(this.target), this.creds, { channelOverride: this.channel });
      this.clients.set(service, c);
    }
    return c;
  }

  waitReady(deadline: number): Promise<void> {
    const ch = this.channel;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const st = ch.getConnectivityState(true);
        if (st === grpc.connectivityState.READY) return resolve();
        if (st === grpc.connectivityState.TRANSIENT_FAILURE || st === grpc.connectivityState.SHUTDOWN) {
          return reject(callError(Status.UNAVAILABLE, 'connection failed'));
        }
        if (Date.now() >= deadline) return reject(callError(Status.DEADLINE_EXCEEDED, 'dial timeout'));
        ch.watchConnectivityState(st, deadline, (err) => {
          if (err) return reject(callError(Status.DEADLINE_EXCEEDED, 'dial timeout'));
          check();
        });
      };
      check();
    });
  }

  unary(service: string, method: string, request: unknown, metadata: Record<string, string>, deadline?: number): Promise<unknown> {
    const stub = this.stub(service) as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>;
    return new Promise((resolve, reject) => {
      stub[method]!.call(stub, request, toMetadata(metadata), deadline ? { deadline } : {}, (err: grpc.ServiceError | null, res: unknown) => {
        if (err) reject(callError(err.code, err.details || err.message));
        else resolve(res);
      });
    });
  }

  duplex<Req, Res>(service: string, method: string, metadata: Record<string, string>): DuplexStream<Req, Res> {
    const stub = this.stub(service);
    type MethodFn = ((md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<Req, Res>) & grpc.MethodDefinition<Req, Res>;
    const fn = (stub as unknown as Record<string, MethodFn>)[method]!;
    // A server-streaming method (Snapshot) is called the same way on the wire: one request written,
    // then the request side closed; so it goes through a bidi call too.
    const s = fn.requestStream
      ? fn.call(stub, toMetadata(metadata), {})
      : stub.makeBidiStreamRequest(fn.path, fn.requestSerialize, fn.responseDeserialize, toMetadata(metadata), {});
    // grpc-js errors carry code and details already.
    return s as unknown as DuplexStream<Req, Res>;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.channel.close();
  }
}

function toMetadata(md: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) m.set(k, v);
  return m;
}

/** grpc-js's name for the endpoint: host:port, or unix:<path> for a socket. */
function grpcTarget(target: EndpointTarget): string {
  return target.unix ? `unix:${target.address}` : target.address;
}

function credentials(target: EndpointTarget): grpc.ChannelCredentials {
  if (!target.secure) return grpc.credentials.createInsecure();
  const t = target.options.tls ?? {};
  const read = (f?: string) => (f ? fs.readFileSync(f) : null);
  const verify: grpc.VerifyOptions = {};
  if (t.insecureSkipVerify) {
    verify.rejectUnauthorized = false;
    verify.checkServerIdentity = () => undefined;
  }
  return grpc.credentials.createSsl(read(t.caFile), read(t.keyFile), read(t.certFile), verify);
}
