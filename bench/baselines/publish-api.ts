/**
 * The part of River's HTTP API every baseline serves, the same way: /healthz and /readyz, the Bearer
 * key, and the JSON body of `POST /v1/publish` or `/v1/batch` handed to `publish`. Answers
 * `{"ok":true}`, or 404 when `publish` returns false.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function publishApi<Body>(key: string, publish: (url: string | undefined, body: Body) => boolean | undefined) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === '/healthz' || req.url === '/readyz') return void res.end('ok');
    if (req.method !== 'POST' || req.headers.authorization !== `Bearer ${key}`) {
      res.statusCode = 401;
      return void res.end();
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (publish(req.url, JSON.parse(Buffer.concat(parts).toString('utf8')) as Body) === false) {
        res.statusCode = 404;
        return void res.end();
      }
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  };
}
