// The process entry of the CLI bundle (dist/etcdctl.cjs): run, then exit with the command's code
// without waiting for gRPC channels to wind down.
import { run } from './main.js';
import { setCliApiProvider } from './context.js';
import { apiFromDescriptor } from '../client/static-api.js';

// scripts/build.mjs embeds the etcd API as a protobufjs JSON descriptor: no .proto parsing per run.
declare const __ETCD_API_DESCRIPTOR__: object;
// A CLI's users should not see node's deprecation notices (TLS to an IP address sends an IP as
// SNI server name, which node flags as DEP0123 although etcd endpoints are usually IPs).
process.noDeprecation = true;
setCliApiProvider(() => apiFromDescriptor(__ETCD_API_DESCRIPTOR__ as never));

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
