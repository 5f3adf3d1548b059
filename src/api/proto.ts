// Loads the etcd v3 API from proto/ with @grpc/proto-loader and hands out typed gRPC definitions.
// Both the client and the server use this module, so the two always agree on the wire format.
// The loader options must match scripts/gen-types.sh, which generates the types in ./gen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as RpcGrpcType } from './gen/rpc.js';
import type { ProtoGrpcType as LockGrpcType } from './gen/v3lock.js';
import type { ProtoGrpcType as ElectionGrpcType } from './gen/v3election.js';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String, // int64 never becomes a JS number on the wire boundary
  enums: String,
  defaults: true,
  oneofs: true,
};

const PROTO_FILES = [
  'etcdserverpb/rpc.proto',
  'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto',
];

/** Finds the proto/ directory: next to the package root, from wherever this module was bundled. */
export function protoDir(): string {
  const env = process.env.ETCD_TS_PROTO_DIR;
  if (env) return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'etcdserverpb', 'rpc.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('etcd-ts: cannot find the proto/ directory');
}

export type EtcdApi = RpcGrpcType & LockGrpcType & ElectionGrpcType;

let cached: EtcdApi | undefined;

/** The typed gRPC API: services with their method definitions, and message constructors. */
export function loadApi(): EtcdApi {
  if (cached) return cached;
  const def = protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  cached = grpc.loadPackageDefinition(def) as unknown as EtcdApi;
  return cached;
}
