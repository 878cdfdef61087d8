/**
 * A loopback HTTP peer in front of a real registry that demands auth the way Docker Hub (Bearer via
 * a token realm) or ECR (Basic) do, then forwards the request unchanged. Records what it saw. Not
 * part of the build.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AuthProxy {
  host: string;
  /** Scopes asked of the token realm, and the Authorization schemes seen on registry requests. */
  scopes: string[];
  schemes: string[];
  /** With `redirectBlobs`: the Authorization header (or 'none') of each request the "CDN" got. */
  cdn: string[];
  close(): Promise<void>;
}

/**
 * `anonymousTokens`: the token realm also gives tokens to a request without credentials (Docker Hub).
 * `redirectBlobs`: blob GETs are answered 307 to another origin (localhost instead of 127.0.0.1, a
 * "CDN" path of this server that needs no auth), as Docker Hub and ECR send blob downloads to a CDN or S3.
 */
export async function startAuthProxy(
  upstream: string,
  mode: 'bearer' | 'basic',
  creds = { username: 'AWS', password: 'secret-password' },
  opts: { redirectBlobs?: boolean; anonymousTokens?: boolean } = {},
): Promise<AuthProxy> {
  const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const token = 'tok-123';
  const scopes: string[] = [];
  const schemes: string[] = [];
  const cdn: string[] = [];
  let host = '';
  let port = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token') {
      scopes.push(url.searchParams.get('scope') ?? '');
      if (req.headers.authorization !== basic && !(opts.anonymousTokens && req.headers.authorization === undefined)) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (url.pathname.startsWith('/cdn/')) {
      cdn.push(req.headers.authorization ?? 'none');
      forward(req, res, url.pathname.slice(4));
      return;
    }
    const auth = req.headers.authorization ?? '';
    schemes.push(auth.split(' ')[0] || 'none');
    const ok = mode === 'bearer' ? auth === `Bearer ${token}` : auth === basic;
    if (!ok) {
      const challenge =
        mode === 'bearer'
          ? `Bearer realm="http://${host}/token",service="test-registry",scope="repository:x:pull"`
          : 'Basic realm="https://ecr.example"';
      req.resume();
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (opts.redirectBlobs && req.method === 'GET' && /\/blobs\/sha256:/.test(url.pathname)) {
      req.resume();
      res.writeHead(307, { location: `http://localhost:${port}/cdn${url.pathname}` }).end();
      return;
    }
    forward(req, res, req.url ?? '/');
  });
  function forward(req: IncomingMessage, res: ServerResponse, path: string): void {
    const up = new URL(upstream);
    const headers = { ...req.headers };
    delete headers.authorization;
    const fwd = request({ host: up.hostname, port: up.port, method: req.method, path, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    fwd.on('error', () => res.writeHead(502).end());
    req.pipe(fwd);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  host = `127.0.0.1:${port}`;
  return {
    host,
    scopes,
    schemes,
    cdn,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
