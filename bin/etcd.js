#!/usr/bin/env node
// etcd: starts the etcd-ts server with etcd's flags (same as `etcdctl serve`).
import { runServerMain } from '../dist/server/main.js';

runServerMain(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
