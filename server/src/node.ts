/**
 * A River node: the HTTP API and the WebSocket endpoint on one port, over one bus and presence
 * engine. `startRiver` is what `main.ts`, the CLI (`river dev`) and the tests run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type ServerOptions } from 'ws';
import { DEFAULTS, matchAny } from '@river/protocol';
import { staticSecrets, TokenVerifier, type SecretSource } from './auth.js';
import type { Bus } from './engines/bus.js';
import type { Config } from './config.js';
import { createEngines } from './engines/engines.js';
import { ConfigError } from './errors.js';
import { ApiKeys, createApi, maxBodyBytes } from './http/http-api.js';
import { openTapAllowed, withConsole } from './http/console.js';
import { Tap, TAP_PATH } from './core/tap.js';
import { requestListener } from './http/http-server.js';
import { CLOSE_GRACE_MS, RiverWebSocket } from './core/connection.js';
import { Hub } from './core/hub.js';
import { Metrics } from './metrics.js';
import { startLogSummary } from './log-summary.js';
import type { Presence } from './engines/presence.js';

export interface RiverDeps {
  logger?: Logger;
  /** Engines to use instead of `createEngines(config)`. The node starts them and closes them when it stops. */
  bus?: Bus;
  presence?: Presence;
  /** JWT secrets; default: RIVER_JWT_SECRET and RIVER_JWT_PREVIOUS_SECRET from the config. */
  secrets?: SecretSource;
  /** How often the `info` summary line is logged (log-summary.ts); default 60 s. */
  summaryIntervalMs?: number;
}

export interface RiverNode {
  readonly port: number;
  readonly host: string;
  readonly urls: { http: string; ws: string };
  /** True while the node serves (bus connected, not draining). */
  readonly ready: boolean;
  /** WebSocket connections this node holds now (authenticating or open; what `river_connections` shows). */
  readonly connections: number;
  /** docs/protocol.md#9-draining-and-deploys: readyz 503 at once, refuse upgrades, 4000 closes spread over drainMs, stop. */
  drain(): Promise<void>;
  /** Stops at once: sockets are dropped. */
  close(): Promise<void>;
}

type NodeState = 'ready' | 'draining' | 'closed';

function reject(socket: Duplex, status: number, text: string): void {
  const code = status === 403 ? 'forbidden' : status === 404 ? 'not_found' : status === 503 ? 'unavailable' : 'bad_request';
  const body = JSON.stringify({ error: { code, message: text } });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startRiver(config: Config, deps: RiverDeps = {}): Promise<RiverNode> {
  const logger = deps.logger ?? pino({ level: 'silent' });
  let secrets = deps.secrets;
  let stopSecrets = () => {};
  if (secrets === undefined && config.jwtSecretId !== undefined) {
    // The one place it is loaded, and only when used: a node on a plain secret never loads the AWS SDK.
    // Throws SecretUnavailableError (code secret_unavailable) when the first read fails.
    const { AwsSecretSource } = await import('./aws/aws-secret-source.js');
    const source = await AwsSecretSource.start({ secretId: config.jwtSecretId, logger });
    stopSecrets = () => source.close();
    secrets = source;
  }
  if (secrets === undefined) {
    if (config.jwtSecret === undefined) throw new ConfigError('RIVER_JWT_SECRET is required when RIVER_JWT_SECRET_ID is not set.');
    secrets = staticSecrets(config);
  }
  const created = deps.bus !== undefined && deps.presence !== undefined ? undefined : await createEngines(config);
  const bus = deps.bus ?? created!.bus;
  const presence = deps.presence ?? created!.presence;
  const metrics = new Metrics();
  const hub = new Hub({ config, bus, presence, verifier: new TokenVerifier(secrets), metrics, logger });
  await bus.start(hub);
  await hub.presence.start();
  hub.start();

  let state: NodeState = 'ready';
  const api = withConsole(createApi({ bus, presence, config, metrics, isReady: () => state === 'ready', logger }), {
    bus,
    apiKeys: config.apiKeys,
    mode: config.console,
    localSnapshot: () => hub.query({ type: 'snapshot' }),
  });
  const tapKeys = new ApiKeys(config.apiKeys);
  const tap = new Tap({
    bus,
    logger,
    // Open (river dev) taps need no key, but only on a loopback Host, from no browser or the console's own page.
    authorize: (key, upgrade) => (config.console === 'open' && openTapAllowed(upgrade.origin, upgrade.host)) || tapKeys.check(key),
    maxBufferedBytes: config.maxBufferedBytes,
    authTimeoutMs: config.authTimeoutMs,
    setLocalTap: (handler) => {
      hub.channels.localTap = handler;
    },
  });
  // A request (headers and body) must arrive within httpRequestTimeoutMs, or it is answered 408 and
  // closed: slow bodies and slow headers hold nothing for long. Node checks every
  // connectionsCheckingInterval (30 s by default: 1 s here, so the cut comes close to the limit).
  // Since Node 18 headersTimeout only times a request's headers, not an idle keep-alive connection.
  const server: Server = createServer(
    {
      requestTimeout: config.httpRequestTimeoutMs,
      headersTimeout: config.httpRequestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.httpRequestTimeoutMs),
    },
    requestListener(api, maxBodyBytes(config), logger),
  );
  // Behind a load balancer, idle keep-alive connections must outlive the balancer's own idle
  // timeout, or it reuses one the node just closed (a 502).
  server.keepAliveTimeout = config.httpKeepAliveMs;
  const wss = new WebSocketServer<typeof RiverWebSocket>({
    noServer: true,
    // Its sockets hand ws's events straight to their connection (no listeners per socket).
    WebSocket: RiverWebSocket,
    perMessageDeflate: false,
    // Pings are answered by the connection, within its frame rate limit (connection.ts).
    autoPong: false,
    clientTracking: false,
    // docs/protocol.md#8-heartbeat-limits-and-slow-consumers: a frame larger than maxMessageBytes closes with 1009.
    maxPayload: config.maxMessageBytes,
    // ws >= 8.23 (not in @types/ws yet): how long a closed socket may wait for the client's close frame.
    closeTimeout: CLOSE_GRACE_MS,
  } as ServerOptions<typeof RiverWebSocket> & { closeTimeout: number });
  const anyOrigin = config.allowedOrigins.includes('*');
  server.on('upgrade', (req, socket, head) => {
    // node:http removes its own error listener before emitting 'upgrade': without one of ours, a
    // client resetting the connection during a refused or pending upgrade would crash the process.
    socket.on('error', destroyOnError);
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== DEFAULTS.wsPath && path !== TAP_PATH) return reject(socket, 404, 'Not Found');
    if (state !== 'ready') return reject(socket, 503, 'Service Unavailable');
    const origin = req.headers.origin;
    if (!anyOrigin && origin !== undefined && !matchAny(config.allowedOrigins, origin)) {
      logger.debug({ origin }, 'upgrade refused: origin not allowed');
      return reject(socket, 403, 'Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws has its own error listener on the socket from here on.
      socket.removeListener('error', destroyOnError);
      if (path === TAP_PATH) tap.accept(ws, origin, req.headers.host);
      else hub.accept(ws, socket as Socket);
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  try {
    await new Promise<void>((resolve, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(config.port, config.host, () => {
        server.off('error', rejectListen);
        resolve();
      });
    });
  } catch (err) {
    hub.stop();
    stopSecrets();
    await Promise.allSettled([presence.close(), bus.close()]);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(`RIVER_PORT ${config.port} is already in use on ${config.host}.`, { cause: err });
    }
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = config.host;
  const base = `${displayHost(host)}:${port}`;

  const stopServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  const stopSummary = startLogSummary(metrics, logger, deps.summaryIntervalMs);
  const stopEngines = async () => {
    stopSummary();
    tap.closeAll();
    hub.stop();
    stopSecrets();
    await Promise.allSettled([presence.close(), bus.close()]);
  };
  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  return {
    port,
    host,
    urls: { http: `http://${base}`, ws: `ws://${base}${DEFAULTS.wsPath}` },
    get ready() {
      return state === 'ready' && bus.ready;
    },
    get connections() {
      return hub.connectionCount;
    },
    drain() {
      if (closing !== undefined) return closing;
      draining ??= (async () => {
        state = 'draining';
        logger.info({ connections: hub.connectionCount, drainMs: config.drainMs }, 'draining');
        await hub.drain(config.drainMs);
        state = 'closed';
        await stopServer();
        await stopEngines();
      })();
      return draining;
    },
    close() {
      closing ??= (async () => {
        state = 'closed';
        hub.terminateAll();
        tap.closeAll();
        await stopServer();
        await stopEngines();
      })();
      return closing;
    },
  };
}

/** Shared (not a closure per socket): a socket error during or after an upgrade just ends it ('close' follows). */
function destroyOnError(this: import('node:stream').Duplex): void {
  this.destroy();
}
