/**
 * What the app's `token` function may hand back, and how the client reads it. A JWT string is used
 * as is; a fetch `Response` is read only when it is ok. Anything else (an HTTP error, an HTML page,
 * "unauthorized") is refused here, never sent to River as `auth`: the caller reports the RiverError
 * (`token_error`, with the cause) and backs off.
 */
import { RiverError } from './errors.js';

/** The part of fetch's `Response` the client reads (so `token: () => fetch('/river-token')` works). */
export interface TokenResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText?: string;
  text(): Promise<string>;
}

/** A JWT, or a function returning one (or the token endpoint's `Response`), sync or async. */
export type TokenSource = string | (() => string | TokenResponse | Promise<string | TokenResponse>);

/** Three base64url parts: the shape of a JWT (the server checks the rest). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const isResponse = (v: unknown): v is TokenResponse =>
  typeof v === 'object' && v !== null && typeof (v as TokenResponse).ok === 'boolean' && typeof (v as TokenResponse).text === 'function';

/** Calls the token function and returns the JWT it gave, or throws a RiverError `token_error` saying why not. */
export async function fetchToken(fn: Exclude<TokenSource, string>): Promise<string> {
  let out: unknown;
  try {
    out = await fn();
  } catch (error) {
    throw new RiverError('token_error', `the token function failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (isResponse(out)) {
    if (!out.ok)
      throw new RiverError('token_error', `token endpoint answered ${out.status}${out.statusText ? ` ${out.statusText}` : ''}`, {
        cause: out,
      });
    try {
      out = await out.text();
    } catch (error) {
      throw new RiverError('token_error', "the token endpoint's body could not be read", { cause: error });
    }
  }
  const token = typeof out === 'string' ? out.trim() : out;
  if (typeof token !== 'string' || !JWT_SHAPE.test(token)) {
    const shown = typeof token === 'string' ? JSON.stringify(token.slice(0, 40)) : String(token);
    throw new RiverError('token_error', `the token function returned something that is not a JWT: ${shown}`, { cause: out });
  }
  return token;
}

/** Any failure to get a token, as the RiverError the client reports. */
export const asTokenError = (error: unknown): RiverError =>
  error instanceof RiverError ? error : new RiverError('token_error', 'the token function failed', { cause: error });
