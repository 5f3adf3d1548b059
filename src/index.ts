// etcd-ts as a library: start the same server in-process (as Go projects embed etcd), and a typed
// etcd v3 client that works against it or against real etcd.
export { startServer } from './server/embed.js';
export type { RunningServer, StartServerOptions, ServerConfig } from './server/embed.js';
export { EtcdClient, ClientError, Status, Watch, prefixRangeEnd } from './client/index.js';
export type { ClientOptions, TlsOptions, WatchOptions, WatchResponse } from './client/index.js';
export { EtcdError } from './api/errors.js';
