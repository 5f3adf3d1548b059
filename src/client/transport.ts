// The seam between the client's logic (failover, auth, deadlines, watch resumption) and the wire.
// Two transports implement it: grpc-js (the library's default, src/client/grpc-transport.ts) and a
// small gRPC-over-HTTP/2 one on node:http2 (src/client/http2-transport.ts), which the CLI uses
// because it starts in a fraction of grpc-js's load time.
import type { EventEmitter } from 'node:events';
import type { ClientOptions } from './connection.js';

/** A bidirectional call: 'data' per response, 'error' with a CallError, 'end' when the server closes it. */
export interface DuplexStream<Req, Res> extends EventEmitter {
  write(message: Req): unknown;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (r: Res) => void): this;
  on(event: 'error', listener: (e: Error & { code?: number; details?: string }) => void): this;
  on(event: 'end', listener: () => void): this;
  once(event: 'data', listener: (r: Res) => void): this;
  once(event: 'error', listener: (e: Error & { code?: number; details?: string }) => void): this;
}

export interface Transport {
  /** Resolves once connected; rejects soon after a failed attempt, or at `deadline` (epoch ms). */
  waitReady(deadline: number): Promise<void>;
  /** One unary call; rejects with a CallError. */
  unary(service: string, method: string, request: unknown, metadata: Record<string, string>, deadline?: number): Promise<unknown>;
  duplex<Req, Res>(service: string, method: string, metadata: Record<string, string>): DuplexStream<Req, Res>;
  close(): void;
}

export interface EndpointTarget {
  /** host:port, or the socket's path for a unix:// endpoint */
  address: string;
  secure: boolean;
  /** a unix:// or unixs:// endpoint: address is a socket path (etcd's unix://<name> listens at <name>) */
  unix?: boolean;
  options: ClientOptions;
}

export type TransportFactory = (target: EndpointTarget) => Transport;
