import { SignJWT } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Claims of a River client token (docs/protocol.md#5-channels-and-tokens). */
export interface TokenClaims {
  sub: string;
  channels?: string[];
  publish?: string[];
  info?: Record<string, unknown>;
  [claim: string]: unknown;
}

export interface TokenOptions {
  /** Lifetime: seconds, or a jose time span like `'1h'`, `'15m'`, `'30s'`. Default `'1h'`. */
  expiresIn?: string | number;
  /** The signing time (`iat`; `exp` counts from it), in ms since the epoch. Default: now. */
  now?: number;
}

/**
 * Signs an HS256 JWT with the River secret (its UTF-8 bytes are the HMAC key), with `iat` and `exp`.
 * River's one token signer: the CLI, the e2e harness and the load generator mint with it too.
 */
export async function signToken(secret: string, claims: TokenClaims, options: TokenOptions = {}): Promise<string> {
  const { expiresIn = '1h' } = options;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(typeof expiresIn === 'number' ? now + expiresIn : expiresIn)
    .sign(new TextEncoder().encode(secret));
}

export type TokenRequest = IncomingMessage;
export type TokenResponse = ServerResponse;
/** Returns the claims for this request's user, or null/undefined when nobody is signed in (401). */
export type ClaimsFor<Req> = (req: Req) => TokenClaims | null | undefined | Promise<TokenClaims | null | undefined>;

/**
 * An Express/Connect (or plain node:http) handler answering with a fresh token as `text/plain`,
 * 401 when `claimsFor` returns null, and passing errors to `next` (or answering 500 without one).
 */
export function makeTokenHandler<Req extends IncomingMessage>(
  sign: (claims: TokenClaims, options?: TokenOptions) => Promise<string>,
  claimsFor: ClaimsFor<Req>,
  options?: TokenOptions,
): (req: Req, res: ServerResponse, next?: (err?: unknown) => void) => Promise<void> {
  return async (req, res, next) => {
    try {
      const claims = await claimsFor(req);
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      if (!claims) {
        res.statusCode = 401;
        res.end('unauthorized');
        return;
      }
      const token = await sign(claims, options);
      res.statusCode = 200;
      res.end(token);
    } catch (err) {
      if (next) return next(err);
      res.statusCode = 500;
      res.end('internal error');
    }
  };
}
