// Shared by the gRPC handlers: turning thrown errors into gRPC statuses with etcd's wire text, and
// wrapping async handlers.
import * as grpc from '@grpc/grpc-js';
import { EtcdError } from '../../api/errors.js';

export function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  if (e instanceof EtcdError) return { code: e.code, details: e.message, message: e.message };
  const msg = e instanceof Error ? e.message : String(e);
  return { code: grpc.status.INTERNAL, details: msg, message: msg };
}

/** A unary handler from an async function; thrown errors become gRPC statuses. */
export function unary<Req, Res>(
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let p: Promise<Res>;
    try {
      p = Promise.resolve(fn(call.request, call));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err) as grpc.ServiceError),
    );
  };
}

export function unimplemented(what: string): grpc.ServiceError {
  const msg = `etcd-ts: ${what} is not implemented yet`;
  return Object.assign(new Error(msg), { code: grpc.status.UNIMPLEMENTED, details: msg, metadata: new grpc.Metadata() });
}
