/**
 * The debug console (docs/console.md): `GET /console` (one HTML page, console-page.ts, no CDN) and
 * its API under `/console/api/`:
 * - `GET /console/api/state`: every node's snapshot (`Bus.gather`, hub.ts `NodeSnapshot`) and the
 *   position of the channels they serve, so the page shows the service, not one node;
 * - `/console/api/v1/…`: the HTTP API itself (publish, history, presence, disconnect), reached
 *   through the console so the page works the same open or behind the key.
 *
 * Access (config.console): `off` → 404 for all of it; `on` → the API key in the request headers
 * (the page keeps it in sessionStorage and sends `Authorization: Bearer`; never in a URL);
 * `open` (`river dev` on a loopback host) → no key asked: the console adds the node's own key when
 * it forwards to the HTTP API. The page itself (`/console`) is served without a key in `on` mode:
 * it holds no data and asks for the key.
 *
 * Other web pages the developer visits must not drive an open console: every `/console/api/`
 * request needs the `x-river-console: 1` header (a cross-origin page cannot send it without a CORS
 * preflight, which River never grants), and in `open` mode the Host must be a loopback name (no DNS
 * rebinding onto 127.0.0.1).
 */
import type { Bus } from '../engines/bus.js';
import type { NodeSnapshot } from '../core/hub.js';
import { ApiKeys, type Api, type ApiRequest, type ApiResponse } from './http-api.js';
import { CONSOLE_HTML } from './console-page.js';

export interface ConsoleDeps {
  bus: Bus;
  apiKeys: readonly string[];
  mode: 'off' | 'on' | 'open';
  /** This node's own snapshot, for engines without `gather`. */
  localSnapshot: () => Promise<unknown>;
}

/** At most this many channels get their position read per state request. */
const POSITIONS_LIMIT = 200;

function json(status: number, value: unknown): ApiResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(value),
  };
}

function unauthorized(): ApiResponse {
  return json(401, { error: { code: 'unauthorized', message: 'the console needs the API key' } });
}

/** Whether a Host header names this machine's loopback (127.x.x.x, localhost, [::1]), with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/i.test(name);
}

/**
 * Whether a keyless tap may open on an open console (river dev): the Host is a loopback name, and
 * the upgrade came from no browser (no Origin) or from a page of that same host (the console).
 */
export function openTapAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (!isLoopbackHost(host)) return false;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host!.toLowerCase();
  } catch {
    return false;
  }
}

/** The HTTP API with the console's routes in front of it. */
export function withConsole(api: Api, deps: ConsoleDeps): Api {
  if (deps.mode === 'off') return api;
  const keys = new ApiKeys(deps.apiKeys);
  const ownKey = deps.apiKeys[0]!;
  const allowed = (req: Omit<ApiRequest, 'body'>) =>
    deps.mode === 'open' ? isLoopbackHost(req.headers.host) : keys.check(ApiKeys.fromHeaders(req.headers));

  async function state(): Promise<ApiResponse> {
    const answers = deps.bus.gather !== undefined ? await deps.bus.gather({ type: 'snapshot' }) : [await deps.localSnapshot()];
    const nodes = answers.filter((a): a is NodeSnapshot => typeof a === 'object' && a !== null && 'node' in a);
    const subscribers = new Map<string, number>();
    for (const n of nodes) for (const c of n.channels) subscribers.set(c.name, (subscribers.get(c.name) ?? 0) + c.subscribers);
    const names = [...subscribers.keys()].sort().slice(0, POSITIONS_LIMIT);
    const positions = await Promise.all(names.map((c) => deps.bus.position(c).catch(() => undefined)));
    const channels = names.map((name, i) => ({ name, subscribers: subscribers.get(name)!, offset: positions[i]?.offset ?? null }));
    return json(200, { mode: deps.mode, nodes, channels });
  }

  /** The console API's refusals, from the headers alone (before any body is read). */
  const refusal = (req: Omit<ApiRequest, 'body'>): ApiResponse | undefined => {
    if (req.headers['x-river-console'] !== '1') {
      return json(403, { error: { code: 'forbidden', message: 'console API requests carry "x-river-console: 1"' } });
    }
    if (!allowed(req)) return unauthorized();
    return undefined;
  };

  return {
    precheck(req) {
      const path = req.path;
      if (path === '/console' || path === '/console/') return undefined;
      if (!path.startsWith('/console/api/')) return api.precheck(req);
      return refusal(req);
    },
    async handle(req: ApiRequest): Promise<ApiResponse> {
      const path = req.path;
      if (path === '/console' || path === '/console/') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: { code: 'bad_request', message: 'use GET' } });
        return {
          status: 200,
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'cache-control': 'no-store',
            'content-security-policy':
              "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:",
            'x-frame-options': 'DENY',
            'referrer-policy': 'no-referrer',
          },
          body: CONSOLE_HTML,
        };
      }
      if (!path.startsWith('/console/api/')) return api.handle(req);
      const refused = refusal(req);
      if (refused !== undefined) return refused;
      if (path === '/console/api/state') {
        if (req.method !== 'GET') return json(405, { error: { code: 'bad_request', message: 'use GET' } });
        try {
          return await state();
        } catch {
          return json(503, { error: { code: 'unavailable', message: 'the bus is unavailable; retry later' } });
        }
      }
      if (path.startsWith('/console/api/v1/')) {
        const headers = deps.mode === 'open' ? { ...req.headers, authorization: `Bearer ${ownKey}` } : req.headers;
        return api.handle({ ...req, path: path.slice('/console/api'.length), headers });
      }
      return json(404, { error: { code: 'not_found', message: 'no such endpoint' } });
    },
  };
}
