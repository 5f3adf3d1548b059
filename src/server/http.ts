// HTTP/1.1 on the client port, as etcd answers it: /health, /version and /metrics, with etcd's
// bodies, status codes and headers (CORS headers on every answer, Go's 404 text otherwise).
import * as http from 'node:http';
import { SERVER_VERSION } from './api/maintenance.js';
import { renderMetrics } from './metrics.js';
import type { EtcdServer } from './server.js';

/** The cluster version a single 3.4 member reports. */
const CLUSTER_VERSION = '3.4.0';

export const CORS = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
};

/** Go's http.Error: the text and a newline, never sniffed. */
export function goError(res: http.ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...CORS,
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function send(res: http.ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { ...CORS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

/**
 * Healthy as etcd 3.4 counts it: no active alarm but those the query excludes (`?exclude=NOSPACE`,
 * repeatable), and the server can take writes (a member whose log failed has stopped). A single
 * member is always its own leader.
 */
function healthy(core: EtcdServer, query: string): boolean {
  const excluded = new URLSearchParams(query).getAll('exclude');
  return !core.alarmList().some((a) => !excluded.includes(String(a.alarm))) && !core.isStopped();
}

/** Answers a request it knows (the /v3/ JSON gateway) and returns true, or returns false. */
export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => boolean;

export function createHttpServer(core: EtcdServer, gateway?: HttpRoute): http.Server {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    // the path alone: a request line may hold any absolute URL, valid or not
    const target = req.url ?? '/';
    const pathOnly = target.startsWith('/') ? target : target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
    const pathname = pathOnly.split('?')[0] || '/';
    const head = req.method === 'HEAD';
    const get = req.method === 'GET' || head;
    switch (pathname) {
      case '/version':
        if (!get) return goError(res, 405, 'Method Not Allowed');
        return send(res, 200, 'application/json', JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }), head);
      case '/health':
        if (!get) return goError(res, 405, 'Method Not Allowed');
        if (!healthy(core, pathOnly.slice(pathname.length + 1))) return goError(res, 503, '{"health":"false"}');
        return send(res, 200, 'text/plain; charset=utf-8', '{"health":"true"}', head);
      case '/metrics':
        if (!get) return goError(res, 405, 'Method Not Allowed');
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(core.metricsSnapshot(SERVER_VERSION, CLUSTER_VERSION.slice(0, 3))), head);
      default:
        if (gateway?.(req, res, pathname)) return;
        return goError(res, 404, '404 page not found');
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}
