#!/usr/bin/env bash
# Regenerates the TypeScript types of the protos in proto/ into src/api/gen (committed).
# The loader options here must match those in src/api/proto.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/api/gen
npx proto-loader-gen-types etcdserverpb/rpc.proto etcdserverpb/raft_internal.proto \
  v3lockpb/v3lock.proto v3electionpb/v3election.proto \
  --keepCase --longs=String --enums=String --defaults --oneofs \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js --outDir=src/api/gen -I proto
