#!/usr/bin/env node
// etcdctl: the etcd-ts CLI (and `etcdctl serve`, the server). Runs the one-file bundle
// dist/etcdctl.cjs, through a V8 code cache when one can be kept (see dist/etcdctl-launch.cjs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('../dist/etcdctl-launch.cjs');
