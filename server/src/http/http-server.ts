/**
 * The node:http adapter of the HTTP API: reads the body with the size limit enforced while it
 * streams (413 before a huge body is buffered), calls `Api.handle`, writes the answer.
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

/** Answers 413 and stops reading: the rest of the body is discarded, then the connection closes. */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  send(res, TOO_LARGE);
  req.removeAllListeners('data');
  req.resume();
  res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
}

/** A `request` listener for node:http serving `api`. */
export function requestListener(api: Api, maxBodyBytes: number, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      refuseTooLarge(req, res);
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
        refuseTooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (refused) return;
      const url = new URL(req.url ?? '/', 'http://river.invalid');
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      api
        .handle({
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
        })
        .then(
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
