// The hand-written Put response encoding decodes to the same message as protobufjs's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { encodeHeaderOnlyResponse } from '../../dist/server/api/wire.js';

const protoDir = new URL('../../proto/', import.meta.url).pathname;
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => protoDir + target;
root.loadSync('etcdserverpb/rpc.proto', { keepCase: true });
const PutResponse = root.lookupType('etcdserverpb.PutResponse');
const asObject = (bytes) => PutResponse.toObject(PutResponse.decode(bytes), { longs: String, defaults: true });

test('a header-only PutResponse encodes to what protobufjs decodes as the same message', () => {
  const headers = [
    { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: 1, raft_term: 2 },
    { cluster_id: '18446744073709551615', member_id: '1', revision: '9007199254740991', raft_term: 300 },
    { cluster_id: '0', member_id: '0', revision: 0, raft_term: 0 },
    { cluster_id: '123', member_id: '456', revision: '127', raft_term: '128' },
  ];
  for (const header of headers) {
    const mine = encodeHeaderOnlyResponse(header);
    const theirs = Buffer.from(PutResponse.encode(PutResponse.fromObject({ header })).finish());
    assert.deepEqual(asObject(mine), asObject(theirs), JSON.stringify(header));
    assert.equal(asObject(mine).header.cluster_id, String(header.cluster_id));
  }
  // a value it does not take is left to the generic encoder
  assert.equal(encodeHeaderOnlyResponse({ cluster_id: '1', member_id: '1', revision: '99999999999999999999', raft_term: 1 }), undefined);
  assert.equal(encodeHeaderOnlyResponse(null).length, 0);
});
