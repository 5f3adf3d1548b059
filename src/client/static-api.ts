// gRPC service constructors built straight from a protobufjs JSON descriptor, for the CLI bundle:
// no .proto parsing and no proto-loader descriptor work at start-up, and message code is generated
// per type on first use only. Messages convert as proto-loader's LOADER_OPTIONS do (keepCase,
// int64 as decimal strings, enums as names, defaults, oneof discriminators, bytes as Buffers), so
// the client sees identical objects either way.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import type { EtcdApi } from '../api/proto.js';

const CONVERSION: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

/** The subset of EtcdApi the client uses (etcdserverpb's service constructors), from a descriptor. */
export function apiFromDescriptor(json: protobuf.INamespace): EtcdApi {
  const root = protobuf.Root.fromJSON(json);
  const pkg: Record<string, grpc.ServiceClientConstructor> = {};
  const ns = root.lookup('etcdserverpb') as protobuf.Namespace;
  for (const obj of ns.nestedArray) {
    if (!(obj instanceof protobuf.Service)) continue;
    const def: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const m of obj.methodsArray) {
      m.resolve();
      const req = m.resolvedRequestType!;
      const res = m.resolvedResponseType!;
      def[m.name] = {
        path: `/etcdserverpb.${obj.name}/${m.name}`,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
        requestSerialize: (v: object) => Buffer.from(req.encode(req.fromObject(v)).finish()),
        requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), CONVERSION),
        responseSerialize: (v: object) => Buffer.from(res.encode(res.fromObject(v)).finish()),
        responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), CONVERSION),
        originalName: m.name[0]!.toLowerCase() + m.name.slice(1),
      };
    }
    pkg[obj.name] = grpc.makeGenericClientConstructor(def as grpc.ServiceDefinition, obj.name);
  }
  return { etcdserverpb: pkg } as unknown as EtcdApi;
}
