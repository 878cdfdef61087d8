/**
 * The node:http adapter of the HTTP API: answers what it can from the headers first (`Api.precheck`:
 * the API key is checked before a byte of body is read), reads the body with the size limit
 * enforced while it streams (413 before a huge body is buffered), calls `Api.handle`, writes the
 * answer. The whole request is timed by the server's `requestTimeout` (node.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Api, ApiResponse } from './http-api.js';

const TOO_LARGE: ApiResponse = {
  status: 413,
  headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
  body: '{"error":{"code":"too_large","message":"the request body is too large"}}',
};

function send(res: ServerResponse, r: ApiResponse): void {
  if (res.headersSent) return;
  res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
  res.end(r.body);
}

/**
 * Answers without reading the body (a 413, or what `Api.precheck` answers: a 401 comes at once, not
 * after a slow body): whatever else arrives is discarded unbuffered, then the connection closes.
 */
function refuse(req: IncomingMessage, res: ServerResponse, r: ApiResponse): void {
  send(res, { ...r, headers: { ...r.headers, connection: 'close' } });
  req.removeAllListeners('data');
  req.resume();
  res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
}

/** A `request` listener for node:http serving `api`. Routing is on the raw path (see http-api.ts). */
export function requestListener(api: Api, maxBodyBytes: number, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const method = req.method ?? 'GET';
    const early = api.precheck({ method, path, query, headers });
    if (early !== undefined) {
      refuse(req, res, early);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      refuse(req, res, TOO_LARGE);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        refused = true;
        chunks.length = 0;
        refuse(req, res, TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (refused) return;
      api.handle({ method, path, query, headers, body: Buffer.concat(chunks).toString('utf8') }).then(
        (r) => send(res, r),
        (err: unknown) => {
          logger.error({ err }, 'HTTP handler failed');
          send(res, {
            status: 500,
            headers: { 'content-type': 'application/json' },
            body: '{"error":{"code":"internal","message":"internal error"}}',
          });
        },
      );
    });
  };
}
