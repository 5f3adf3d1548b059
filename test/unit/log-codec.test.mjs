// The log entry codec: a put kept in its wire bytes is logged around them, and reads back the same
// as one encoded field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { decodeInternalRequest, encodeInternalRequest, withWireBytes } from '../../dist/server/storage/codec.js';

const protoDir = new URL('../../proto/', import.meta.url).pathname;
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => protoDir + target;
root.loadSync('etcdserverpb/rpc.proto', { keepCase: true });
const PutRequest = root.lookupType('etcdserverpb.PutRequest');

function decodedPut(fields) {
  const bytes = Buffer.from(PutRequest.encode(PutRequest.fromObject(fields)).finish());
  const obj = PutRequest.toObject(PutRequest.decode(bytes), { longs: String, enums: String, defaults: true, oneofs: true });
  return { obj, bytes };
}

test('a put in its wire bytes is logged around them and decodes like the field-by-field encoding', () => {
  for (const [id, fields] of [
    [1, { key: Buffer.from('k'), value: Buffer.from('v') }],
    [300, { key: Buffer.from('a/b'), value: Buffer.alloc(1000, 7), lease: '7587862071253014', prev_kv: true }],
    [2 ** 40 + 3, { key: Buffer.from('x'), ignore_value: true, ignore_lease: true }],
  ]) {
    const { obj, bytes } = decodedPut(fields);
    const fast = encodeInternalRequest({ put: withWireBytes(obj, bytes) }, id);
    const slow = encodeInternalRequest({ put: obj }, id);
    assert.ok(fast.subarray(fast.length - bytes.length).equals(bytes), 'the wire bytes are in the entry as they came');
    assert.deepEqual(decodeInternalRequest(fast), decodeInternalRequest(slow));
    const back = decodeInternalRequest(fast);
    assert.equal(back.ID, String(id));
    assert.deepEqual(back.put.key, fields.key);
  }
});

test('requests without wire bytes, or with another request beside the put, take the full encoder', () => {
  const { obj } = decodedPut({ key: Buffer.from('k'), value: Buffer.from('v') });
  const e = decodeInternalRequest(encodeInternalRequest({ put: obj }, 5));
  assert.equal(e.ID, '5');
  assert.equal(e.put.value.toString(), 'v');
  const d = decodeInternalRequest(encodeInternalRequest({ delete_range: { key: Buffer.from('k') } }, 6));
  assert.equal(d.delete_range.key.toString(), 'k');
  assert.equal(d.put, null);
});
