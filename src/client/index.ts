// etcd-ts's library client: a typed etcd v3 client (KV, Watch, Lease, Cluster, Maintenance) with
// endpoint failover, deadlines, TLS and auth. src/index.ts re-exports this module.
import { loadApi } from '../api/proto.js';
import { setApiProvider } from './client.js';

setApiProvider(loadApi);

export { EtcdClient, prefixRangeEnd, setApiProvider } from './client.js';
export type * from './client.js';
export { Connection, ClientError, DEADLINE_EXCEEDED, parseEndpoint, toError } from './connection.js';
export type { ClientOptions, TlsOptions } from './connection.js';
export { Watch, isProgressNotify } from './watch.js';
export type { WatchOptions, WatchResponse } from './watch.js';
export { EtcdError } from '../api/errors.js';
