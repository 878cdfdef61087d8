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
  close(): Promise<void>;
}

export async function startAuthProxy(upstream: string, mode: 'bearer' | 'basic', creds = { username: 'AWS', password: 'secret-password' }): Promise<AuthProxy> {
  const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const token = 'tok-123';
  const scopes: string[] = [];
  const schemes: string[] = [];
  let host = '';
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token') {
      scopes.push(url.searchParams.get('scope') ?? '');
      if (req.headers.authorization !== basic) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    schemes.push(auth.split(' ')[0] || 'none');
    const ok = mode === 'bearer' ? auth === `Bearer ${token}` : auth === basic;
    if (!ok) {
      const challenge = mode === 'bearer' ? `Bearer realm="http://${host}/token",service="test-registry",scope="repository:x:pull"` : 'Basic realm="https://ecr.example"';
      req.resume();
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const up = new URL(upstream);
    const headers = { ...req.headers };
    delete headers.authorization;
    const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    fwd.on('error', () => res.writeHead(502).end());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    scopes,
    schemes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
