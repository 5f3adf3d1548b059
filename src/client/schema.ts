// Builds the codec's Schema (src/client/codec.ts) from proto/ with protobufjs. Used at build time,
// where scripts/build.mjs embeds the result in the CLI bundle, and by tests; never at CLI start-up.
import * as path from 'node:path';
import protobuf from 'protobufjs';
import type { FieldSpec, Schema } from './codec.js';

export function buildSchema(protoDir: string): Schema {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(protoDir, target);
  root.loadSync(['etcdserverpb/rpc.proto'], { keepCase: true });
  root.resolveAll();
  const schema: Schema = { messages: {}, enums: {}, services: {} };
  const nameOf = (t: protobuf.ReflectionObject) => t.fullName.replace(/^\./, '');
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        schema.messages[nameOf(o)] = o.fieldsArray.map((f): FieldSpec => {
          const rt = f.resolvedType;
          const type = rt instanceof protobuf.Type ? 'message' : rt instanceof protobuf.Enum ? 'enum' : f.type;
          return [f.id, f.name, type, rt ? nameOf(rt) : '', !!f.repeated, f.partOf ? f.partOf.name : ''];
        });
        visit(o);
      } else if (o instanceof protobuf.Enum) {
        schema.enums[nameOf(o)] = o.values;
      } else if (o instanceof protobuf.Service) {
        if (!nameOf(o).startsWith('etcdserverpb.')) continue;
        schema.services[o.name] = Object.fromEntries(
          o.methodsArray.map((m) => [m.name, [nameOf(m.resolvedRequestType!), nameOf(m.resolvedResponseType!), !!m.requestStream, !!m.responseStream]]),
        );
      } else if (o instanceof protobuf.Namespace) {
        visit(o);
      }
    }
  };
  visit(root);
  return schema;
}
