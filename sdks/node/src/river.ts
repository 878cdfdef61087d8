import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  ChannelResponse,
  DisconnectResponse,
  HistoryMessage,
  HistoryResponse,
  Member,
  PresenceResponse,
  PublishResponse,
} from '@river/protocol';
import { RiverError } from './errors.js';
import { defaultRetryDelay, request, type HttpOptions } from './http.js';
import { makeTokenHandler, signToken, type ClaimsFor, type TokenClaims, type TokenOptions } from './token.js';

export interface RiverOptions {
  /** River's HTTP base URL, e.g. `https://api.example.com` or `http://127.0.0.1:4400`. */
  url: string;
  /** The HTTP API key (needed for every call except createToken). */
  apiKey?: string;
  /** The JWT secret (needed only to mint client tokens). */
  secret?: string;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Extra attempts on network errors, timeouts and 5xx other than 501/505. Default 2. */
  retries?: number;
  fetch?: typeof fetch;
  /** Delay in ms before retry n (0-based); default 100 ms × 2^n with full jitter, at most 2 s. */
  retryDelay?: (n: number) => number;
}

export interface PublishOptions {
  /** Skip this connection (the sender's own tab): `river.connectionId` on the client. */
  excludeConnectionId?: string;
  /** Same key within 5 minutes: published once. Generated when absent, and kept across retries. */
  idempotencyKey?: string;
}

/** The wire types are @river/protocol's (docs/protocol.md#6-http-api), under this SDK's names. */
export type PublishResult = PublishResponse;
export type History = HistoryResponse;
export type ChannelInfo = ChannelResponse;
export type { HistoryMessage, Member };
export interface BatchMessage extends PublishOptions {
  channel?: string;
  channels?: string[];
  event: string;
  data?: unknown;
}

/**
 * The request type a token handler's callback sees when none is given: node's IncomingMessage plus
 * whatever the framework added (Express's `req.get()`, a session's `req.user` …). Pass your framework's
 * type for full checking: `river.tokenHandler<express.Request>((req) => …)`.
 */
// biome-ignore lint/suspicious/noExplicitAny: a framework's request carries fields River cannot know (see above)
export type FrameworkRequest = IncomingMessage & { [key: string]: any };

/** River's backend SDK: publishes and queries over the HTTP API, mints client tokens. */
/**
 * The API path of a channel. `.` and `..` are refused here (as by the server): in a URL they are dot
 * segments that fetch resolves away, so `history('.')` would reach another endpoint.
 */
function channelPath(channel: string): string | undefined {
  if (typeof channel !== 'string' || channel === '' || channel === '.' || channel === '..') return undefined;
  return `/v1/channels/${encodeURIComponent(channel)}`;
}

export class River {
  readonly #http: HttpOptions | undefined;
  readonly #secret: string | undefined;

  constructor(options: RiverOptions) {
    if (!options || typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) {
      throw new RiverError('bad_options', 'River: options.url must be the http(s) base URL of River');
    }
    if (options.apiKey === undefined && options.secret === undefined) {
      throw new RiverError('bad_options', 'River: pass options.apiKey (to call the API) and/or options.secret (to mint tokens)');
    }
    this.#secret = options.secret || undefined;
    this.#http = options.apiKey
      ? {
          baseUrl: options.url.replace(/\/+$/, ''),
          apiKey: options.apiKey,
          timeoutMs: options.timeoutMs ?? 10_000,
          retries: options.retries ?? 2,
          fetch: options.fetch ?? globalThis.fetch,
          retryDelay: options.retryDelay ?? defaultRetryDelay,
        }
      : undefined;
  }

  #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.#http) return Promise.reject(new RiverError('bad_options', 'River: options.apiKey is required to call the HTTP API'));
    return request<T>(this.#http, method, path, body);
  }

  /** GET on a channel's path (+ `rest`); a name that cannot be a path segment is `bad_channel` without a call. */
  #callChannel<T>(channel: string, rest: string): Promise<T> {
    const path = channelPath(channel);
    if (path === undefined) return Promise.reject(new RiverError('bad_channel', `River: ${JSON.stringify(channel)} is not a channel name`));
    return this.#call('GET', `${path}${rest}`);
  }

  /** Publishes one event to a channel (or to each of several); retried safely with one idempotency key. */
  publish(channel: string, event: string, data?: unknown, options?: PublishOptions): Promise<PublishResult>;
  publish(channels: string[], event: string, data?: unknown, options?: PublishOptions): Promise<{ results: PublishResult[] }>;
  publish(target: string | string[], event: string, data?: unknown, options: PublishOptions = {}): Promise<unknown> {
    return this.#call('POST', '/v1/publish', {
      ...(Array.isArray(target) ? { channels: target } : { channel: target }),
      event,
      data: data ?? null,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
      ...(options.excludeConnectionId ? { excludeConnectionId: options.excludeConnectionId } : {}),
    });
  }

  /** Publishes up to 100 messages in one request; results in order. */
  batch(messages: BatchMessage[]): Promise<{ results: (PublishResult | { results: PublishResult[] })[] }> {
    return this.#call('POST', '/v1/batch', {
      messages: messages.map((m) => ({ ...m, data: m.data ?? null, idempotencyKey: m.idempotencyKey ?? randomUUID() })),
    });
  }

  /** Recent messages of a channel after offset `since` (at most `limit`, ≤ 100). */
  history(channel: string, options: { since?: number; limit?: number } = {}): Promise<History> {
    const q = new URLSearchParams();
    if (options.since !== undefined) q.set('since', String(options.since));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const qs = q.size ? `?${q}` : '';
    return this.#callChannel(channel, `/history${qs}`);
  }

  /** Members of a presence channel. */
  presence(channel: string): Promise<PresenceResponse> {
    return this.#callChannel(channel, '/presence');
  }

  /** Subscribers (cluster-wide) and the stream position of a channel. */
  channel(channel: string): Promise<ChannelInfo> {
    return this.#callChannel(channel, '');
  }

  /** Closes every connection of `userId` on every node (4503 user_disconnected). */
  disconnect(userId: string): Promise<DisconnectResponse> {
    return this.#call('POST', '/v1/disconnect', { userId });
  }

  /** Signs a client token (HS256) with the River secret. */
  createToken(claims: TokenClaims, options?: TokenOptions): Promise<string> {
    if (!this.#secret) return Promise.reject(new RiverError('no_secret', 'River: options.secret is required to create tokens'));
    if (!claims || typeof claims.sub !== 'string' || !claims.sub)
      return Promise.reject(new RiverError('bad_request', 'createToken: claims.sub must be a non-empty string'));
    return signToken(this.#secret, claims, options);
  }

  /**
   * An Express/Connect handler for the client's `token` function: `app.get('/river-token',
   * river.tokenHandler((req) => ({ sub: req.user.id })))`. Answers the JWT as text/plain, or 401.
   */
  tokenHandler<Req extends IncomingMessage = FrameworkRequest>(
    claimsFor: ClaimsFor<Req>,
    options?: TokenOptions,
  ): (req: Req, res: ServerResponse, next?: (err?: unknown) => void) => Promise<void> {
    return makeTokenHandler<Req>((c, o) => this.createToken(c, o), claimsFor, options);
  }
}
