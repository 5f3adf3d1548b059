// etcd 3.4's gRPC-JSON gateway on the client port: POST /v3/<service>/<method> with a JSON request,
// answered as grpc-gateway (v1, the marshaler etcd's embed/serve.go leaves at its defaults: JSONPb
// with OrigName, no EmitDefaults) answers it. Each request is handed to the same handler objects the
// gRPC server uses, through the same (de)serializers, so the two cannot drift: JSON -> protobufjs
// message -> wire bytes -> the method's requestDeserialize -> handler -> responseSerialize -> JSON.
// Streams (watch, lease keep-alive, snapshot, election observe) answer newline-delimited
// {"result":{...}} objects, and take a sequence of JSON requests in the body.
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { protoDir } from '../api/proto.js';
import { toServiceError } from './api/util.js';
import { CORS, goError } from './http.js';

/** A gRPC service: its definition (serializers) and the handler object the gRPC server runs. */
export interface GatewayService {
  definition: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation | object;
}

export interface GatewayOptions {
  /** The largest request body taken, as gRPC's receive limit. */
  maxRequestBytes: number;
}

/** The HTTP paths of rpc.proto, v3lock.proto and v3election.proto (their google.api.http options). */
const ROUTES: Record<string, string> = {
  '/v3/kv/range': '/etcdserverpb.KV/Range',
  '/v3/kv/put': '/etcdserverpb.KV/Put',
  '/v3/kv/deleterange': '/etcdserverpb.KV/DeleteRange',
  '/v3/kv/txn': '/etcdserverpb.KV/Txn',
  '/v3/kv/compaction': '/etcdserverpb.KV/Compact',
  '/v3/watch': '/etcdserverpb.Watch/Watch',
  '/v3/lease/grant': '/etcdserverpb.Lease/LeaseGrant',
  '/v3/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  '/v3/kv/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  '/v3/lease/keepalive': '/etcdserverpb.Lease/LeaseKeepAlive',
  '/v3/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  '/v3/kv/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  '/v3/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  '/v3/kv/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  '/v3/cluster/member/add': '/etcdserverpb.Cluster/MemberAdd',
  '/v3/cluster/member/remove': '/etcdserverpb.Cluster/MemberRemove',
  '/v3/cluster/member/update': '/etcdserverpb.Cluster/MemberUpdate',
  '/v3/cluster/member/list': '/etcdserverpb.Cluster/MemberList',
  '/v3/cluster/member/promote': '/etcdserverpb.Cluster/MemberPromote',
  '/v3/maintenance/alarm': '/etcdserverpb.Maintenance/Alarm',
  '/v3/maintenance/status': '/etcdserverpb.Maintenance/Status',
  '/v3/maintenance/defragment': '/etcdserverpb.Maintenance/Defragment',
  // Hash and HashKV share this path in rpc.proto; grpc-gateway matches the one registered first
  '/v3/maintenance/hash': '/etcdserverpb.Maintenance/Hash',
  '/v3/maintenance/snapshot': '/etcdserverpb.Maintenance/Snapshot',
  '/v3/maintenance/transfer-leadership': '/etcdserverpb.Maintenance/MoveLeader',
  '/v3/auth/enable': '/etcdserverpb.Auth/AuthEnable',
  '/v3/auth/disable': '/etcdserverpb.Auth/AuthDisable',
  '/v3/auth/authenticate': '/etcdserverpb.Auth/Authenticate',
  '/v3/auth/user/add': '/etcdserverpb.Auth/UserAdd',
  '/v3/auth/user/get': '/etcdserverpb.Auth/UserGet',
  '/v3/auth/user/list': '/etcdserverpb.Auth/UserList',
  '/v3/auth/user/delete': '/etcdserverpb.Auth/UserDelete',
  '/v3/auth/user/changepw': '/etcdserverpb.Auth/UserChangePassword',
  '/v3/auth/user/grant': '/etcdserverpb.Auth/UserGrantRole',
  '/v3/auth/user/revoke': '/etcdserverpb.Auth/UserRevokeRole',
  '/v3/auth/role/add': '/etcdserverpb.Auth/RoleAdd',
  '/v3/auth/role/get': '/etcdserverpb.Auth/RoleGet',
  '/v3/auth/role/list': '/etcdserverpb.Auth/RoleList',
  '/v3/auth/role/delete': '/etcdserverpb.Auth/RoleDelete',
  '/v3/auth/role/grant': '/etcdserverpb.Auth/RoleGrantPermission',
  '/v3/auth/role/revoke': '/etcdserverpb.Auth/RoleRevokePermission',
  '/v3/lock/lock': '/v3lockpb.Lock/Lock',
  '/v3/lock/unlock': '/v3lockpb.Lock/Unlock',
  '/v3/election/campaign': '/v3electionpb.Election/Campaign',
  '/v3/election/proclaim': '/v3electionpb.Election/Proclaim',
  '/v3/election/leader': '/v3electionpb.Election/Leader',
  '/v3/election/observe': '/v3electionpb.Election/Observe',
  '/v3/election/resign': '/v3electionpb.Election/Resign',
};

/** The status grpc-gateway answers for a gRPC code (runtime.HTTPStatusFromCode). */
const HTTP_STATUS: Record<number, number> = {
  0: 200, 1: 408, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
  9: 412, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};
const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout',
  409: 'Conflict', 412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

const httpStatusOf = (code: number): number => HTTP_STATUS[code] ?? 500;

interface Status {
  code: number;
  message: string;
}

/** A request the gateway refuses before any handler sees it (grpc-gateway's decode errors). */
class GatewayError extends Error {
  constructor(message: string, readonly code: number = grpc.status.INVALID_ARGUMENT) {
    super(message);
  }
}

let root: protobuf.Root | undefined;

function protoRoot(): protobuf.Root {
  if (root) return root;
  const dir = protoDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => path.join(dir, target);
  r.loadSync(['etcdserverpb/rpc.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto'], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

// ---- JSON -> message (jsonpb's Unmarshal: proto or lowerCamel names, int64 as number or string) ----

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Go's base64.StdEncoding, strict as it is: the offset of the first bad byte in its error. */
function decodeBase64(s: string): Buffer {
  const bad = s.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) throw new GatewayError(`illegal base64 data at input byte ${bad}`);
  const pad = s.indexOf('=');
  if (s.length % 4 !== 0 || (pad >= 0 && !/^=*$/.test(s.slice(pad))) || s.length - (pad < 0 ? s.length : pad) > 2) {
    throw new GatewayError(`illegal base64 data at input byte ${Math.max(0, pad >= 0 ? pad : s.length - (s.length % 4))}`);
  }
  return Buffer.from(s, 'base64');
}

function scalarFromJson(field: protobuf.Field, v: unknown): unknown {
  const t = field.type;
  const mismatch = (): GatewayError =>
    new GatewayError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${t}`);
  if (field.resolvedType instanceof protobuf.Enum) {
    const e = field.resolvedType;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && v in e.values) return e.values[v];
    throw new GatewayError(`unknown value ${JSON.stringify(v)} for enum ${e.fullName.slice(1)}`);
  }
  if (LONG_TYPES.has(t) || INT_TYPES.has(t)) {
    const s = typeof v === 'number' ? (Number.isInteger(v) ? BigInt(v).toString() : undefined) : typeof v === 'string' ? v : undefined;
    if (s === undefined || !/^-?\d+$/.test(s)) throw mismatch();
    return LONG_TYPES.has(t) ? s : Number(s);
  }
  switch (t) {
    case 'bool':
      if (typeof v !== 'boolean') throw mismatch();
      return v;
    case 'string':
      if (typeof v !== 'string') throw mismatch();
      return v;
    case 'bytes':
      if (typeof v !== 'string') throw mismatch();
      return decodeBase64(v);
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw mismatch();
      return v;
    default:
      throw mismatch();
  }
}

function valueFromJson(field: protobuf.Field, v: unknown): unknown {
  if (field.resolvedType instanceof protobuf.Type) {
    if (jsonKind(v) !== 'object') throw new GatewayError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${field.resolvedType.name}`);
    return messageFromJson(field.resolvedType, v as Record<string, unknown>);
  }
  return scalarFromJson(field, v);
}

/** A plain object protobufjs' fromObject takes, from a JSON object of type t. */
function messageFromJson(t: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    const field = t.fields[key] ?? t.fieldsArray.find((f) => camel(f.name) === key);
    if (!field || v === null) continue; // unknown fields are ignored, null is the default
    if (field.repeated) {
      if (!Array.isArray(v)) throw new GatewayError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []`);
      out[field.name] = v.map((x) => valueFromJson(field, x));
    } else {
      out[field.name] = valueFromJson(field, v);
    }
  }
  return out;
}

// ---- message -> JSON (jsonpb's Marshal with OrigName and without EmitDefaults) ----

function scalarToJson(field: protobuf.Field, v: unknown): unknown {
  if (field.resolvedType instanceof protobuf.Enum) return field.resolvedType.valuesById[v as number] ?? v;
  if (LONG_TYPES.has(field.type)) return String(v);
  if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  return v;
}

function isDefault(field: protobuf.Field, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (field.resolvedType instanceof protobuf.Type) return false;
  if (field.resolvedType instanceof protobuf.Enum) return v === 0;
  if (LONG_TYPES.has(field.type)) return String(v) === '0';
  if (field.type === 'bytes') return (v as Uint8Array).length === 0;
  return v === 0 || v === '' || v === false;
}

function messageToJson(t: protobuf.Type, msg: protobuf.Message): Record<string, unknown> {
  const m = msg as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of t.fieldsArray) {
    const v = m[field.name];
    const toJson = (x: unknown): unknown =>
      field.resolvedType instanceof protobuf.Type ? messageToJson(field.resolvedType, x as protobuf.Message) : scalarToJson(field, x);
    if (field.repeated) {
      if (Array.isArray(v) && v.length > 0) out[field.name] = v.map(toJson);
    } else if (field.partOf) {
      // a oneof member is there when it was sent, default value or not
      if (Object.prototype.hasOwnProperty.call(m, field.name) && v !== null && v !== undefined) out[field.name] = toJson(v);
    } else if (!isDefault(field, v)) {
      out[field.name] = toJson(v);
    }
  }
  return out;
}

// ---- JSON text: Go's encoding/json error texts for the common cases ----

/** The text of Go's json.SyntaxError for the same input, as far as it can be told. */
function syntaxErrorText(text: string, err: Error): string {
  const at = /position (\d+)/.exec(err.message);
  if (!at) return 'unexpected end of JSON input';
  const pos = Number(at[1]);
  if (pos >= text.length) return 'unexpected end of JSON input';
  const c = text[pos];
  const before = text.slice(0, pos).trimEnd();
  const prev = before[before.length - 1];
  const shown = c === "'" ? "\\'" : c === '"' ? '"' : c;
  if (prev === '{') return `invalid character '${shown}' looking for beginning of object key string`;
  if (prev === '"' && /[{,]\s*"(?:[^"\\]|\\.)*"$/.test(before)) return `invalid character '${shown}' after object key`;
  if (prev === ':' || prev === '[' || prev === ',' || prev === undefined) return `invalid character '${shown}' looking for beginning of value`;
  return `invalid character '${shown}' after object key:value pair`;
}

/** One request object from its JSON text; empty text and null are the empty request. */
function parseRequest(t: protobuf.Type, text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new GatewayError(syntaxErrorText(text, e as Error));
  }
  if (v === null) return {};
  if (jsonKind(v) !== 'object') {
    const kind = typeof v === 'boolean' ? 'bool' : jsonKind(v);
    throw new GatewayError(`json: cannot unmarshal ${kind} into Go value of type map[string]json.RawMessage`);
  }
  return messageFromJson(t, v as Record<string, unknown>);
}

/** Splits a body holding a sequence of JSON values into their texts; the rest is still incomplete. */
function splitValues(buf: string): { values: string[]; rest: string } {
  const values: string[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (start < 0) {
      if (/\s/.test(c)) continue;
      start = i;
      if (c !== '{' && c !== '[') {
        // a bare value (null, a number...): up to the next delimiter
        const m = /^[^\s{[]+/.exec(buf.slice(i));
        const end = i + (m ? m[0].length : 1);
        if (end >= buf.length) return { values, rest: buf.slice(start) };
        values.push(buf.slice(start, end));
        start = -1;
        i = end - 1;
        continue;
      }
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        values.push(buf.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return { values, rest: start < 0 ? '' : buf.slice(start) };
}

// ---- HTTP ----

function errorBody(s: Status): string {
  return JSON.stringify({ error: s.message, message: s.message, code: s.code });
}

/** A request refused by the gateway itself: no gRPC metadata, so no trailer. */
function gatewayErrorReply(res: http.ServerResponse, s: Status): void {
  const body = errorBody(s);
  res.writeHead(httpStatusOf(s.code), { ...CORS, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** An error status from a handler: grpc-gateway's body, and the gRPC trailer it forwards. */
function grpcErrorReply(res: http.ServerResponse, s: Status): void {
  res.writeHead(httpStatusOf(s.code), { ...CORS, 'Content-Type': 'application/json', Trailer: 'Grpc-Trailer-Content-Type' });
  res.write(errorBody(s));
  res.addTrailers({ 'Grpc-Trailer-Content-Type': 'application/grpc' });
  res.end();
}

function statusOf(err: unknown): Status {
  if (err instanceof GatewayError) return { code: err.code, message: err.message };
  const e = (err && typeof err === 'object' && 'code' in err ? err : toServiceError(err)) as Partial<grpc.ServiceError>;
  return { code: e.code ?? 2, message: e.details ?? e.message ?? 'unknown error' };
}

interface Route {
  method: grpc.MethodDefinition<unknown, unknown>;
  handler: (...args: unknown[]) => void;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
}

/**
 * The gateway as an HTTP handler: answers and returns true for a /v3/ (or /v3beta/) path, returns
 * false for any other so that the caller answers it.
 */
export function gatewayHandler(
  services: GatewayService[],
  opts: GatewayOptions,
): (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => boolean {
  const byGrpcPath = new Map<string, { method: grpc.MethodDefinition<unknown, unknown>; handler: unknown }>();
  for (const s of services) {
    for (const [name, method] of Object.entries(s.definition)) {
      byGrpcPath.set(method.path, { method, handler: (s.handlers as Record<string, unknown>)[name] });
    }
  }
  const routes = new Map<string, Route | undefined>();
  const routeOf = (grpcPath: string): Route | undefined => {
    if (routes.has(grpcPath)) return routes.get(grpcPath);
    const found = byGrpcPath.get(grpcPath);
    let route: Route | undefined;
    if (found && typeof found.handler === 'function') {
      const [service, methodName] = grpcPath.slice(1).split('/');
      const m = protoRoot().lookupService(service).methods[methodName];
      route = {
        method: found.method,
        handler: found.handler as Route['handler'],
        requestType: m.resolvedRequestType!,
        responseType: m.resolvedResponseType!,
      };
    }
    routes.set(grpcPath, route);
    return route;
  };
  const maxBytes = opts.maxRequestBytes + 512 * 1024;

  return (req, res, pathname) => {
    // etcd rewrites /v3beta/ to /v3/ before its mux (embed/serve.go); /v3alpha/ is gone in 3.4
    if (pathname.startsWith('/v3beta/')) pathname = `/v3/${pathname.slice('/v3beta/'.length)}`;
    if (!pathname.startsWith('/v3/')) return false;
    if (req.method === 'OPTIONS') {
      res.writeHead(200, { ...CORS, 'Content-Length': 0 });
      res.end();
      return true;
    }
    const grpcPath = ROUTES[pathname];
    if (!grpcPath) {
      goError(res, 404, 'Not Found');
      return true;
    }
    if (req.method !== 'POST') {
      goError(res, 405, 'Method Not Allowed');
      return true;
    }
    const route = routeOf(grpcPath);
    if (!route) {
      // a service this server does not run yet: what its gRPC port says
      gatewayErrorReply(res, { code: grpc.status.UNIMPLEMENTED, message: `etcd-ts: ${grpcPath} is not implemented yet` });
      return true;
    }
    if (route.method.requestStream || route.method.responseStream) serveStream(req, res, route, maxBytes);
    else readBody(req, res, maxBytes, (body) => serveUnary(req, res, route, body));
    return true;
  };
}

function readBody(req: http.IncomingMessage, res: http.ServerResponse, maxBytes: number, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (d: Buffer) => {
    if (refused) return;
    size += d.length;
    if (size > maxBytes) {
      refused = true;
      gatewayErrorReply(res, { code: grpc.status.RESOURCE_EXHAUSTED, message: `grpc: received message larger than max (${size} vs. ${maxBytes})` });
      return;
    }
    chunks.push(d);
  });
  req.on('end', () => {
    if (!refused) done(Buffer.concat(chunks).toString('utf8'));
  });
  req.on('error', () => res.destroy());
}

/** JSON request text -> the message the handler gets from gRPC, through the same deserializer. */
function toRequest(route: Route, text: string): unknown {
  const obj = parseRequest(route.requestType, text);
  const bytes = route.requestType.encode(route.requestType.fromObject(obj)).finish();
  return route.method.requestDeserialize(Buffer.from(bytes));
}

/** A handler's response -> grpc-gateway's JSON, through the same serializer. */
function toJson(route: Route, msg: unknown): Record<string, unknown> {
  const bytes = route.method.responseSerialize(msg);
  return messageToJson(route.responseType, route.responseType.decode(bytes));
}

/** The minimal call object a handler needs: request, metadata, peer, and events. */
function callObject(req: http.IncomingMessage, request?: unknown): EventEmitter & Record<string, unknown> {
  const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
  call.request = request;
  call.metadata = new grpc.Metadata();
  call.cancelled = false;
  call.getPeer = () => `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`;
  call.getDeadline = () => Infinity;
  call.getPath = () => req.url ?? '';
  call.sendMetadata = () => {};
  return call;
}

function serveUnary(req: http.IncomingMessage, res: http.ServerResponse, route: Route, body: string): void {
  let request: unknown;
  try {
    request = toRequest(route, body);
  } catch (e) {
    gatewayErrorReply(res, statusOf(e));
    return;
  }
  const call = callObject(req, request);
  res.on('close', () => {
    if (!res.writableFinished) {
      call.cancelled = true;
      call.emit('cancelled');
    }
  });
  const callback = (err: unknown, value?: unknown): void => {
    if (res.headersSent || res.destroyed) return;
    if (err) return grpcErrorReply(res, statusOf(err));
    let out: string;
    try {
      out = JSON.stringify(toJson(route, value));
    } catch (e) {
      return grpcErrorReply(res, statusOf(e));
    }
    res.writeHead(200, {
      ...CORS,
      'Content-Type': 'application/json',
      'Grpc-Metadata-Content-Type': 'application/grpc',
      'Content-Length': Buffer.byteLength(out),
    });
    res.end(out);
  };
  try {
    route.handler(call, callback);
  } catch (e) {
    callback(e);
  }
}

/**
 * A streaming call: each JSON value in the body is one request; each response one line
 * {"result":...}. A watch stream stays open when the body ends (etcd keeps sending events after
 * the client half-closes); every other request stream is told of the end.
 */
function serveStream(req: http.IncomingMessage, res: http.ServerResponse, route: Route, maxBytes: number): void {
  const clientStream = route.method.requestStream;
  const call = callObject(req);
  let started = false;
  let finished = false;
  const start = (): void => {
    if (started) return;
    started = true;
    res.writeHead(200, { ...CORS, 'Content-Type': 'application/json', 'Grpc-Metadata-Content-Type': 'application/grpc' });
  };
  const fail = (s: Status): void => {
    if (finished) return;
    finished = true;
    const httpCode = httpStatusOf(s.code);
    const chunk = JSON.stringify({ error: { grpc_code: s.code, http_code: httpCode, message: s.message, http_status: STATUS_TEXT[httpCode] ?? '' } });
    if (!started) {
      started = true;
      res.writeHead(httpCode, { ...CORS, 'Content-Type': 'application/json' });
    }
    res.end(chunk);
    stop();
  };
  const stop = (): void => {
    if (call.cancelled) return;
    call.cancelled = true;
    call.emit('cancelled');
    call.emit('close');
  };
  call.write = (msg: unknown): boolean => {
    if (finished) return false;
    start();
    return res.write(`${JSON.stringify({ result: toJson(route, msg) })}\n`);
  };
  call.end = (): void => {
    if (finished) return;
    finished = true;
    start();
    res.end();
  };
  call.on('error', (err: unknown) => fail(statusOf(err)));
  res.on('drain', () => call.emit('drain'));
  res.on('close', () => {
    finished = true;
    stop();
  });

  if (!clientStream) {
    readBody(req, res, maxBytes, (body) => {
      try {
        call.request = toRequest(route, body);
      } catch (e) {
        finished = true;
        gatewayErrorReply(res, { ...statusOf(e), code: grpc.status.UNKNOWN });
        return;
      }
      route.handler(call);
    });
    return;
  }

  route.handler(call);
  // grpc-gateway half-closes the gRPC stream when the body ends or a request in it does not decode
  const isWatch = route.method.path === '/etcdserverpb.Watch/Watch';
  let inputClosed = false;
  const closeInput = (): void => {
    if (inputClosed) return;
    inputClosed = true;
    if (!finished && !isWatch) call.emit('end');
  };
  /** Hands one request on; false when it did not decode (the input is closed then). */
  const deliver = (text: string): boolean => {
    let msg: unknown;
    try {
      msg = toRequest(route, text);
    } catch (e) {
      if (delivered === 0 && !started) {
        // the first request is decoded before the stream answers: 500 with code Unknown
        finished = true;
        gatewayErrorReply(res, { ...statusOf(e), code: grpc.status.UNKNOWN });
        stop();
      } else closeInput();
      return false;
    }
    delivered++;
    call.emit('data', msg);
    return true;
  };
  let pending = '';
  let delivered = 0;
  req.setEncoding('utf8');
  req.on('data', (d: string) => {
    if (finished || inputClosed) return;
    pending += d;
    if (Buffer.byteLength(pending) > maxBytes) return closeInput();
    const { values, rest } = splitValues(pending);
    pending = rest;
    for (const text of values) if (!deliver(text)) return;
  });
  req.on('end', () => {
    if (finished || inputClosed) return;
    if (pending.trim() !== '' && !deliver(pending)) return;
    closeInput();
  });
}
