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

const RETRY_STATUS = new Set([500, 502, 503, 504]);

/** 100 ms, 200 ms, 400 ms … capped at 2 s, with full jitter. */
export const defaultRetryDelay = (n: number): number => Math.floor(Math.random() * Math.min(2000, 100 * 2 ** n));

/**
 * One JSON request with a timeout per attempt, retried on network errors, timeouts and 5xx. The body is
 * sent identically on every attempt (so a publish keeps its one idempotency key).
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
      const timeout = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
      last = timeout
        ? new RiverError('timeout', `${method} ${path}: no answer within ${o.timeoutMs} ms`, { cause })
        : new RiverError('network_error', `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      continue;
    }
    let json: unknown;
    const text = await res.text().catch(() => '');
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
    if (!RETRY_STATUS.has(res.status)) throw last;
  }
  throw last!;
}
