/**
 * River's HTTP API (docs/protocol.md#6-http-api), independent of any HTTP server: the node's node:http
 * adapter and the AWS Lambda both call `handle` with a plain request and send back its response.
 *
 * Decisions where the protocol is silent:
 * - A batch is validated whole before anything is published: one invalid message refuses the batch
 *   with 400 (the message names the index) and nothing is published.
 * - A batch message may use `channels`; its result is then `{"results": [...]}` like /v1/publish.
 * - Routing is on the raw path, exact: a `.` or `..` segment (raw or `%2e`) is 400 `bad_request`;
 *   unknown path: 404 `not_found`; known path with another method: 405 `bad_request` with `Allow`.
 *   These and a missing or wrong API key are answered from the headers, before the body is read.
 * - `/v1/channels/{c}/history`: `since` defaults to 0, `limit` to 100; a `limit` outside 1..100 is 400.
 *   The answer also carries `complete` (true when history holds every message after `since`).
 * - `/v1/channels/{c}/presence` on a channel without the `presence-` prefix: 400 `bad_channel`.
 * - `/readyz` is 503 while the bus or the presence engine (Redis: its own connection) is down.
 * - `/v1/disconnect` counts the connections closed by the nodes that answered within about 1 s; a
 *   node cut off from the bus at that moment does not get the command (docs/self-host.md).
 */
import {
  BAD_CHANNEL_MESSAGE,
  DEFAULTS,
  isPresenceChannel,
  isValidChannel,
  type ChannelResponse,
  type DisconnectResponse,
  type ErrorCode,
  type HistoryResponse,
  type PresenceResponse,
} from '@river/protocol';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { BusUnavailableError, type Bus, type PublishRequest, type PublishResult } from '../engines/bus.js';
import { historyItem } from '../core/frames.js';
import { RequestError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Presence } from '../engines/presence.js';

// ---- API keys: constant time over SHA-256 digests, several keys for rotation (also the tap's and the console's) ----

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new RangeError('at least one API key is required');
    this.digests = keys.map(digest);
  }

  /** The key sent with `Authorization: Bearer <key>` or `x-api-key: <key>`, if any. */
  static fromHeaders(headers: Record<string, string | undefined>): string | undefined {
    const auth = headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (m !== null) return m[1]!.trim();
    }
    const key = headers['x-api-key'];
    return key === undefined || key === '' ? undefined : key.trim();
  }

  /** Whether `candidate` is one of the keys. Every key is compared, in constant time. */
  check(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    const d = digest(candidate);
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  }
}

export interface ApiConfig {
  apiKeys: readonly string[];
  maxMessageBytes: number;
  historySize?: number;
  metricsToken?: string;
}

export interface ApiRequest {
  method: string;
  /** Path without the query string, still percent-encoded. */
  path: string;
  query: URLSearchParams | Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ApiDeps {
  bus: Bus;
  /** `ready` (when the engine has it) is part of `/readyz`. */
  presence: Pick<Presence, 'members' | 'ready'>;
  config: ApiConfig;
  metrics?: Metrics;
  /** Readiness for /readyz (besides `bus.ready`). Default: always. */
  isReady?: () => boolean;
  logger?: Logger;
}

export interface Api {
  handle(req: ApiRequest): Promise<ApiResponse>;
  /**
   * What can be answered from the method, path and headers alone (404, 405, a dot segment's 400, a
   * missing or wrong API key's 401), before any body is read; undefined when the body is wanted.
   */
  precheck(req: Omit<ApiRequest, 'body'>): ApiResponse | undefined;
}

/** The most bytes a request body may have: maxMessageBytes + 4 KiB. */
export function maxBodyBytes(config: Pick<ApiConfig, 'maxMessageBytes'>): number {
  return config.maxMessageBytes + DEFAULTS.httpBodySlackBytes;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function json(status: number, value: unknown, extra?: Record<string, string>): ApiResponse {
  return { status, headers: { ...JSON_HEADERS, ...extra }, body: JSON.stringify(value) };
}

function errorResponse(code: ErrorCode, message: string, status: number, extra?: Record<string, string>): ApiResponse {
  return json(status, { error: { code, message } }, extra);
}

interface PublishSpec {
  channels: string[];
  multi: boolean;
  event: string;
  data: unknown;
  idempotencyKey?: string;
  excludeConnectionId?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePublish(raw: unknown, maxMessageBytes: number, where = ''): PublishSpec {
  const bad = (code: ErrorCode, msg: string) => new RequestError(code, `${where}${msg}`);
  if (!isObject(raw)) throw bad('bad_request', 'the body must be a JSON object');
  let channels: string[];
  const multi = raw.channels !== undefined;
  if (multi === (raw.channel !== undefined)) throw bad('bad_request', 'give exactly one of "channel" and "channels"');
  if (multi) {
    const list = raw.channels;
    if (!Array.isArray(list) || list.length === 0 || list.length > DEFAULTS.maxChannelsPerPublish) {
      throw bad('bad_request', `"channels" must be a list of 1 to ${DEFAULTS.maxChannelsPerPublish} channel names`);
    }
    channels = list as string[];
  } else {
    channels = [raw.channel as string];
  }
  for (const c of channels) {
    if (!isValidChannel(c)) throw bad('bad_channel', BAD_CHANNEL_MESSAGE);
  }
  const event = raw.event;
  if (typeof event !== 'string' || event === '' || event.length > 200)
    throw bad('bad_request', '"event" must be a string of 1 to 200 characters');
  const data = raw.data === undefined ? null : raw.data;
  let dataJson: string;
  try {
    dataJson = JSON.stringify(data);
  } catch {
    throw bad('bad_request', '"data" is nested too deeply');
  }
  if (Buffer.byteLength(dataJson) > maxMessageBytes) {
    throw bad('too_large', `"data" is over ${maxMessageBytes} bytes`);
  }
  const spec: PublishSpec = { channels, multi, event, data };
  if (raw.idempotencyKey !== undefined) {
    const k = raw.idempotencyKey;
    if (typeof k !== 'string' || k === '' || k.length > 200)
      throw bad('bad_request', '"idempotencyKey" must be a string of 1 to 200 characters');
    spec.idempotencyKey = k;
  }
  if (raw.excludeConnectionId !== undefined) {
    const x = raw.excludeConnectionId;
    if (typeof x !== 'string' || x.length > 200) throw bad('bad_request', '"excludeConnectionId" must be a string');
    spec.excludeConnectionId = x;
  }
  return spec;
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new RequestError('bad_request', 'the body is not valid JSON');
  }
}

function queryGet(q: ApiRequest['query'], name: string): string | undefined {
  const v = q instanceof URLSearchParams ? q.get(name) : q[name];
  return v === null || v === undefined || v === '' ? undefined : v;
}

function intParam(q: ApiRequest['query'], name: string, fallback: number, min: number, max: number): number {
  const v = queryGet(q, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new RequestError('bad_request', `"${name}" must be an integer from ${min} to ${max}`);
  }
  return n;
}

type Route = { name: string; methods: string[]; channel?: string };

/** Routes that need no API key (metrics has its own token). */
const PUBLIC_ROUTES = new Set(['healthz', 'readyz', 'metrics']);

/**
 * Whether a raw (still percent-encoded) path has a `.` or `..` segment, spelled raw or encoded
 * (`%2e`): routing never resolves them, so `/x/../metrics` cannot reach `/metrics` past a proxy's
 * exact-path rule; they are refused instead.
 */
export function hasDotSegment(path: string): boolean {
  for (const seg of path.split('/')) {
    if (seg === '' || seg.length > 6) continue;
    const plain = seg.replace(/%2e/gi, '.');
    if (plain === '.' || plain === '..') return true;
  }
  return false;
}

/** Routes a raw path: exact matches only (`//host/metrics` is a path, not a host, and no route). */
function route(path: string): Route | undefined {
  switch (path) {
    case '/healthz':
    case '/readyz':
    case '/metrics':
      return { name: path.slice(1), methods: ['GET'] };
    case '/v1/publish':
    case '/v1/batch':
    case '/v1/disconnect':
      return { name: path.slice(4), methods: ['POST'] };
  }
  const m = /^\/v1\/channels\/([^/]+)(\/history|\/presence)?$/.exec(path);
  if (m === null) return undefined;
  let channel: string;
  try {
    channel = decodeURIComponent(m[1]!);
  } catch {
    channel = '';
  }
  return { name: m[2] === undefined ? 'channel' : m[2].slice(1), methods: ['GET'], channel };
}

export function createApi(deps: ApiDeps): Api {
  const { bus, presence, config, metrics, logger } = deps;
  const keys = new ApiKeys(config.apiKeys);
  const historyLimit = DEFAULTS.maxHistoryLimit;

  async function publishOne(spec: PublishSpec): Promise<unknown> {
    const results = await Promise.all(
      spec.channels.map((channel) => {
        const req: PublishRequest = { channel, event: spec.event, data: spec.data };
        if (spec.idempotencyKey !== undefined) req.idempotencyKey = spec.idempotencyKey;
        if (spec.excludeConnectionId !== undefined) req.excludeConnectionId = spec.excludeConnectionId;
        return bus.publish(req);
      }),
    );
    for (const r of results) if (!r.duplicate) metrics?.published.inc({ source: 'http' });
    if (logger?.isLevelEnabled('debug')) {
      const bytes = Buffer.byteLength(JSON.stringify(spec.data) ?? 'null');
      for (const r of results) {
        logger.debug({ channel: r.channel, event: spec.event, bytes, offset: r.offset, duplicate: r.duplicate, source: 'http' }, 'publish');
      }
    }
    const shape = (r: PublishResult) => ({ channel: r.channel, offset: r.offset });
    return spec.multi ? { results: results.map(shape) } : shape(results[0]!);
  }

  function requireChannel(r: Route, presenceOnly = false): string {
    const c = r.channel!;
    if (!isValidChannel(c)) throw new RequestError('bad_channel', BAD_CHANNEL_MESSAGE);
    if (presenceOnly && !isPresenceChannel(c)) throw new RequestError('bad_channel', 'presence is tracked on "presence-" channels only');
    return c;
  }

  async function dispatch(r: Route, req: ApiRequest): Promise<ApiResponse> {
    switch (r.name) {
      case 'healthz':
        return json(200, { status: 'ok' });
      case 'readyz':
        return (deps.isReady?.() ?? true) && bus.ready && presence.ready !== false
          ? json(200, { status: 'ready' })
          : errorResponse('unavailable', 'not ready', 503);
      case 'metrics': {
        if (metrics === undefined) return errorResponse('not_found', 'no metrics here', 404);
        if (config.metricsToken !== undefined && !new ApiKeys([config.metricsToken]).check(ApiKeys.fromHeaders(req.headers))) {
          return errorResponse('unauthorized', 'metrics need the metrics token', 401);
        }
        return { status: 200, headers: { 'content-type': metrics.contentType }, body: await metrics.text() };
      }
    }
    switch (r.name) {
      case 'publish':
        return json(200, await publishOne(parsePublish(parseBody(req.body), config.maxMessageBytes)));
      case 'batch': {
        const raw = parseBody(req.body);
        if (!isObject(raw) || !Array.isArray(raw.messages) || raw.messages.length > DEFAULTS.maxBatch) {
          throw new RequestError('bad_request', `the body must be {"messages": [...]} with at most ${DEFAULTS.maxBatch} messages`);
        }
        const specs = raw.messages.map((m, i) => parsePublish(m, config.maxMessageBytes, `messages[${i}]: `));
        const results = await Promise.all(specs.map(publishOne));
        return json(200, { results });
      }
      case 'disconnect': {
        const raw = parseBody(req.body);
        const userId = isObject(raw) ? raw.userId : undefined;
        if (typeof userId !== 'string' || userId === '' || userId.length > DEFAULTS.maxUserIdLength) {
          throw new RequestError('bad_request', '"userId" must be a string of 1 to 200 characters');
        }
        return json(200, { disconnected: await bus.control({ type: 'disconnect', userId }) } satisfies DisconnectResponse);
      }
      case 'channel': {
        const channel = requireChannel(r);
        const [subscribers, position] = await Promise.all([bus.subscriberCount(channel), bus.position(channel)]);
        return json(200, { channel, subscribers, epoch: position.epoch, offset: position.offset } satisfies ChannelResponse);
      }
      case 'history': {
        const channel = requireChannel(r);
        const since = intParam(req.query, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(req.query, 'limit', historyLimit, 1, historyLimit);
        const h = await bus.history(channel, { since, limit });
        const items = h.messages.map((m) => historyItem(m.frame)).join(',');
        const head = JSON.stringify({ channel, epoch: h.position.epoch, offset: h.position.offset, complete: h.complete } satisfies Omit<
          HistoryResponse,
          'messages'
        >);
        return { status: 200, headers: { ...JSON_HEADERS }, body: `${head.slice(0, -1)},"messages":[${items}]}` };
      }
      case 'presence': {
        const channel = requireChannel(r, true);
        return json(200, { channel, members: await presence.members(channel) } satisfies PresenceResponse);
      }
    }
    return errorResponse('not_found', 'no such endpoint', 404);
  }

  /** The answer from method, path and headers alone, or undefined (see `Api.precheck`). */
  function early(req: Omit<ApiRequest, 'body'>, r: Route | undefined): ApiResponse | undefined {
    if (!req.path.startsWith('/') || hasDotSegment(req.path)) {
      return errorResponse('bad_request', 'the path must not have "." or ".." segments (raw or %2e)', 400);
    }
    if (r === undefined) return errorResponse('not_found', 'no such endpoint', 404);
    if (!r.methods.includes(req.method.toUpperCase())) {
      return errorResponse('bad_request', `use ${r.methods.join(' or ')} on this endpoint`, 405, { allow: r.methods.join(', ') });
    }
    if (!PUBLIC_ROUTES.has(r.name) && !keys.check(ApiKeys.fromHeaders(req.headers))) {
      return errorResponse('unauthorized', 'send the API key as "Authorization: Bearer <key>" or "x-api-key"', 401, {
        'www-authenticate': 'Bearer',
      });
    }
    return undefined;
  }

  return {
    precheck(req) {
      const r = route(req.path);
      const res = early(req, r);
      if (res !== undefined) metrics?.httpRequests.inc({ route: r?.name ?? 'unknown', status: String(res.status) });
      return res;
    },
    async handle(req: ApiRequest): Promise<ApiResponse> {
      const r = route(req.path);
      let res: ApiResponse | undefined = early(req, r);
      if (res === undefined && r !== undefined) {
        try {
          res = await dispatch(r, req);
        } catch (err) {
          if (err instanceof RequestError) res = errorResponse(err.code, err.message, err.status);
          else if (err instanceof BusUnavailableError)
            res = errorResponse('unavailable', 'the bus is unavailable; retry later', 503, { 'retry-after': '1' });
          else {
            logger?.error({ err, route: r.name }, 'HTTP API request failed');
            res = errorResponse('internal', 'internal error', 500);
          }
        }
      }
      res ??= errorResponse('not_found', 'no such endpoint', 404);
      metrics?.httpRequests.inc({ route: r?.name ?? 'unknown', status: String(res.status) });
      return res;
    },
  };
}
