// etcd-ts as a library: start the same server in-process (as Go projects embed etcd).
export { startServer } from './server/embed.js';
export type { RunningServer, StartServerOptions, ServerConfig } from './server/embed.js';
export { EtcdError } from './api/errors.js';
