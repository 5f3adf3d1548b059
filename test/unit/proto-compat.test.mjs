// Wire compatibility of proto/ with etcd's own .proto files (Debian golang-etcd-server-dev, etcd 3.4):
// every service, method, message, field name, number, type and label, and every enum value, must be
// etcd's. Our files are written separately; this test is what keeps them honest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { ROOT, tmpDir } from '../helpers.mjs';

const ETCD_SRC = '/usr/share/gocode/src/go.etcd.io/etcd';
const FILES = {
  'etcdserverpb/rpc.proto': 'etcdserver/etcdserverpb/rpc.proto',
  'mvccpb/kv.proto': 'mvcc/mvccpb/kv.proto',
  'authpb/auth.proto': 'auth/authpb/auth.proto',
  'v3lockpb/v3lock.proto': 'etcdserver/api/v3lock/v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto': 'etcdserver/api/v3election/v3electionpb/v3election.proto',
  'leasepb/lease.proto': 'lease/leasepb/lease.proto',
};

function skipReason() {
  if (fs.existsSync(path.join(ETCD_SRC, FILES['etcdserverpb/rpc.proto']))) return false;
  if (process.env.CI === 'true') throw new Error('CI=true but etcd sources (golang-etcd-server-dev) are missing');
  return "etcd's .proto files (Debian golang-etcd-server-dev) are not installed";
}

/** etcd's files without gogoproto and HTTP annotations, with imports rewritten to our layout. */
function strippedEtcdProtos() {
  const dir = tmpDir('etcd-protos-');
  for (const [ours, theirs] of Object.entries(FILES)) {
    let s = fs.readFileSync(path.join(ETCD_SRC, theirs), 'utf8');
    s = s
      .replace(/\[\(gogoproto[^\]]*\]/g, '')
      .replace(/^import "(gogoproto|google)[^"]*";$/gm, '')
      .replace(/^option \(gogoproto[^;]*;$/gm, '')
      .replace(/option \(google\.api\.http\) = \{[\s\S]*?\n\s*\};/g, '')
      .replace(/import "etcd\/mvcc\/mvccpb\/kv.proto"/g, 'import "mvccpb/kv.proto"')
      .replace(/import "etcd\/auth\/authpb\/auth.proto"/g, 'import "authpb/auth.proto"')
      .replace(/import "etcd\/etcdserver\/etcdserverpb\/rpc.proto"/g, 'import "etcdserverpb/rpc.proto"');
    fs.mkdirSync(path.dirname(path.join(dir, ours)), { recursive: true });
    fs.writeFileSync(path.join(dir, ours), s);
  }
  return dir;
}

function describe(dir) {
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => path.join(dir, t);
  root.loadSync(['etcdserverpb/rpc.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto', 'leasepb/lease.proto'], { keepCase: true });
  root.resolveAll();
  const out = {};
  const walk = (ns) => {
    for (const n of ns.nestedArray ?? []) {
      if (n instanceof protobuf.Type) {
        out[n.fullName] = n.fieldsArray
          .map((f) => `${f.name}=${f.id}:${f.type}:${f.repeated ? 'repeated' : ''}:${f.partOf?.name ?? ''}`)
          .sort();
      } else if (n instanceof protobuf.Enum) {
        out[n.fullName] = { ...n.values };
      } else if (n instanceof protobuf.Service) {
        out[n.fullName] = n.methodsArray.map(
          (m) => `${m.name}(${m.requestStream ? 'stream ' : ''}${m.resolvedRequestType.fullName}) -> ${m.responseStream ? 'stream ' : ''}${m.resolvedResponseType.fullName}`,
        );
      }
      if (n.nestedArray) walk(n);
    }
  };
  walk(root);
  return out;
}

const skip = skipReason();

test("proto/ matches etcd 3.4's protos on the wire", { skip }, () => {
  const etcd = describe(strippedEtcdProtos());
  const ours = describe(path.join(ROOT, 'proto'));
  assert.ok(Object.keys(etcd).length > 100, 'parsed etcd protos');
  for (const name of Object.keys(etcd)) {
    assert.deepEqual(ours[name], etcd[name], name);
  }
  const extra = Object.keys(ours).filter((n) => !(n in etcd));
  assert.deepEqual(extra, [], 'no services or messages etcd does not have');
});
