import { RiverError } from './errors.js';

export interface HttpOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  retries: number;
  fetch: typeof fetch;
  /** Delay before retry `n` (0-based); injectable so tests need not wait. */
  retryDelay: (n: number) => number;
}

/** Every 5xx is retried except these: 501 Not Implemented and 505 HTTP Version Not Supported answer
 *  the same on every attempt. */
const NO_RETRY_5XX = new Set([501, 505]);
const isRetryStatus = (status: number): boolean => status >= 500 && status <= 599 && !NO_RETRY_5XX.has(status);

/** 100 ms, 200 ms, 400 ms … capped at 2 s, with full jitter. */
export const defaultRetryDelay = (n: number): number => Math.floor(Math.random() * Math.min(2000, 100 * 2 ** n));

/**
 * One JSON request with a timeout per attempt (the answer's body included), retried on network
 * errors, timeouts and 5xx other than 501/505. The body is sent identically on every attempt (so a
 * publish keeps its one idempotency key, and a retry after a lost answer publishes nothing twice).
 */
export async function request<T>(o: HttpOptions, method: string, path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  let last: RiverError | undefined;
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, o.retryDelay(attempt - 1)));
    let res: Response;
    try {
      res = await o.fetch(o.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${o.apiKey}`, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(payload !== undefined ? { body: payload } : {}),
        signal: AbortSignal.timeout(o.timeoutMs),
      });
    } catch (cause) {
      last = failed(o, method, path, cause);
      continue;
    }
    let json: unknown;
    let text = '';
    try {
      text = await res.text();
    } catch (cause) {
      // A 2xx whose body was cut off (the timeout fired while reading it, the connection dropped):
      // the request may have taken effect, so retry with the same body (idempotency key).
      if (res.ok) {
        last = failed(o, method, path, cause);
        continue;
      }
    }
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined) throw new RiverError('bad_response', `${method} ${path}: the answer is not JSON`, { status: res.status });
      return json as T;
    }
    const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    last = new RiverError(
      typeof err?.code === 'string' ? err.code : `http_${res.status}`,
      typeof err?.message === 'string' ? err.message : `${method} ${path}: HTTP ${res.status}`,
      { status: res.status },
    );
    if (!isRetryStatus(res.status)) throw last;
  }
  throw last!;
}

/** A request or its answer failed without an HTTP status: `timeout` or `network_error`. */
function failed(o: HttpOptions, method: string, path: string, cause: unknown): RiverError {
  const timeout = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
  return timeout
    ? new RiverError('timeout', `${method} ${path}: no answer within ${o.timeoutMs} ms`, { cause })
    : new RiverError('network_error', `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}
