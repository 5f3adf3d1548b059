// The process entry of the CLI bundle (dist/etcdctl.cjs): run, then exit with the command's code
// without waiting for gRPC channels to wind down.
import { run } from './main.js';
import { setCliTransport, setCliCodec } from './context.js';
import { http2Transport } from '../client/http2-transport.js';
import { Codec, type Schema } from '../client/codec.js';

// scripts/build.mjs embeds the etcd API's message and service tables, built from proto/: no
// .proto parsing, no protobufjs and no grpc-js on the CLI's start-up path.
declare const __ETCD_API_SCHEMA__: Schema;
// A CLI's users should not see node's deprecation notices (TLS to an IP address sends an IP as
// SNI server name, which node flags as DEP0123 although etcd endpoints are usually IPs).
process.noDeprecation = true;
let codec: Codec | undefined;
const getCodec = () => (codec ??= new Codec(__ETCD_API_SCHEMA__));
setCliTransport(http2Transport(getCodec));
setCliCodec(async () => getCodec());

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
