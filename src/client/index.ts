// etcd-ts's library client: a typed etcd v3 client (KV, Watch, Lease, Cluster, Maintenance) with
// endpoint failover, deadlines, TLS and auth. src/index.ts re-exports this module.
import { loadApi } from '../api/proto.js';
import { setDefaultTransport } from './connection.js';
import { grpcJsTransport } from './grpc-transport.js';

setDefaultTransport(grpcJsTransport(loadApi));

export { EtcdClient, prefixRangeEnd } from './client.js';
export type * from './client.js';
export { Connection, ClientError, DEADLINE_EXCEEDED, parseEndpoint, toError, setDefaultTransport } from './connection.js';
export { grpcJsTransport } from './grpc-transport.js';
export { http2Transport } from './http2-transport.js';
export { Codec, type Schema } from './codec.js';
export { buildSchema } from './schema.js';
export { Status } from './status.js';
export type { Transport, TransportFactory, DuplexStream } from './transport.js';
export type { ClientOptions, TlsOptions } from './connection.js';
export { Watch, isProgressNotify } from './watch.js';
export type { WatchOptions, WatchResponse } from './watch.js';
export { EtcdError } from '../api/errors.js';
