// The KV fast path's hook into grpc-js (src/server/h2/unary.ts): it finds the HTTP/2 server behind a
// connection injector, and reports false, leaving everything to grpc-js, where there is none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { installFastUnary, unaryMethods } from '../../dist/server/h2/unary.js';
import { loadApi } from '../../dist/api/proto.js';

const def = loadApi().etcdserverpb.KV.service;
const handlers = { Put: () => {}, Range: () => {} };

test('the hook goes in behind a connection injector, and nowhere else', () => {
  const methods = unaryMethods(def, handlers, ['Put', 'Range']);
  const plain = new grpc.Server();
  assert.equal(installFastUnary(plain, methods, [def], { maxReceiveMessageLength: 1024 }), false);
  const injected = new grpc.Server();
  const injector = injected.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  assert.equal(installFastUnary(injected, methods, [def], { maxReceiveMessageLength: 1024 }), true);
  injector.destroy();
  injected.forceShutdown();
  plain.forceShutdown();
});

test('only unary methods with a handler can take the fast path', () => {
  assert.throws(() => unaryMethods(def, handlers, ['Txn']), /Txn is not a unary method with a handler/);
  assert.throws(() => unaryMethods(loadApi().etcdserverpb.Watch.service, { Watch: () => {} }, ['Watch']), /Watch is not a unary method/);
  assert.deepEqual(unaryMethods(def, handlers, ['Put']).map((m) => m.path), ['/etcdserverpb.KV/Put']);
});
