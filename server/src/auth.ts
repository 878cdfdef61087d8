/**
 * Client token verification (docs/protocol.md#5-channels-and-tokens): HS256 only, current and previous secret,
 * claims parsed once into a typed `Identity`.
 *
 * HS256 is one HMAC-SHA256, so it is verified on node:crypto's synchronous path (createHmac and
 * timingSafeEqual) rather than through WebCrypto: no promise per step, no key import, no copies of the
 * signing input. The checks are those of a strict JWS/JWT verifier (RFC 7515/7519) restricted to HS256:
 * three base64url segments (no padding, no other characters), a JSON object header whose "alg" is
 * HS256 ("none" and every other algorithm refused), no "crit" extension and no unencoded payload
 * (b64: false), a signature of exactly 32 bytes compared in constant time, a payload that is strict
 * UTF-8 JSON object, numeric "exp", "nbf" and "iat" when present, "exp" in the future and "nbf" not.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { DEFAULTS, isValidPattern, type Member } from '@river/protocol';
import type { Config } from './config.js';
import { TokenError } from './errors.js';

/** Where the JWT secrets come from. `secrets()` returns the current secret first, then older ones still accepted. */
export interface SecretSource {
  secrets(): readonly string[];
}

/** The secrets of the configuration (RIVER_JWT_SECRET, RIVER_JWT_PREVIOUS_SECRET). */
export function staticSecrets(config: Pick<Config, 'jwtSecret' | 'jwtPreviousSecret'>): SecretSource {
  const list = [config.jwtSecret, config.jwtPreviousSecret].filter((s): s is string => s !== undefined);
  return { secrets: () => list };
}

/** What a verified token says about its connection. */
export interface Identity {
  userId: string;
  /** Seconds since the epoch, or undefined when the token never expires. */
  exp: number | undefined;
  /** Subscribe patterns; undefined when the claim is absent. */
  channels: readonly string[] | undefined;
  /** Client-publish patterns; empty when the claim is absent. */
  publish: readonly string[];
  info: Member['info'];
}

/** The claims of a token's payload, as parsed JSON. */
export type Claims = Record<string, unknown>;

const EMPTY_INFO: Member['info'] = Object.freeze({}) as Member['info'];
/** Shared by every identity without a "publish" claim (no empty array kept per connection). */
const NO_PATTERNS: readonly string[] = Object.freeze([]);
/** A base64url segment as RFC 7515 §2 writes it: the URL-safe alphabet, no padding, never 1 mod 4 long. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const INVALID = 'the token is not a valid JWT';
const BAD_SIGNATURE = 'the token signature does not match the River secret';

function patterns(payload: Claims, name: 'channels' | 'publish'): string[] | undefined {
  const v = payload[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every(isValidPattern)) {
    throw new TokenError(`the "${name}" claim must be a list of channel patterns`);
  }
  return v as string[];
}

/** Validates the River claims of a verified payload. */
export function identityFromClaims(payload: Claims): Identity {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub === '' || sub.length > DEFAULTS.maxUserIdLength) {
    throw new TokenError(`the "sub" claim must be a string of 1 to ${DEFAULTS.maxUserIdLength} characters`);
  }
  let info = EMPTY_INFO;
  if (payload.info !== undefined) {
    const i = payload.info;
    if (typeof i !== 'object' || i === null || Array.isArray(i)) throw new TokenError('the "info" claim must be a JSON object');
    if (Buffer.byteLength(JSON.stringify(i)) > DEFAULTS.maxInfoBytes) {
      throw new TokenError(`the "info" claim must be at most ${DEFAULTS.maxInfoBytes} bytes of JSON`);
    }
    info = i as Member['info'];
  }
  return {
    userId: sub,
    exp: typeof payload.exp === 'number' ? payload.exp : undefined,
    channels: patterns(payload, 'channels'),
    publish: patterns(payload, 'publish') ?? NO_PATTERNS,
    info,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes one base64url segment strictly; undefined when it is not one. */
function segment(s: string): Buffer | undefined {
  if (s.length % 4 === 1 || !BASE64URL.test(s)) return undefined;
  return Buffer.from(s, 'base64url');
}

/** A segment as a JSON object (strict UTF-8), or undefined. */
function jsonObject(s: string): Record<string, unknown> | undefined {
  const bytes = segment(s);
  if (bytes === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(strictUtf8.decode(bytes));
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the registered time claims (RFC 7519 §4.1.4-6) against `now` (seconds), as a strict verifier with no clock tolerance does. */
export function checkTimeClaims(claims: Claims, now: number): void {
  for (const name of ['iat', 'nbf', 'exp'] as const) {
    const v = claims[name];
    if (v !== undefined && typeof v !== 'number') throw new TokenError(`the token's "${name}" claim is not valid now`);
  }
  if (typeof claims.nbf === 'number' && claims.nbf > now) throw new TokenError(`the token's "nbf" claim is not valid now`);
  if (typeof claims.exp === 'number' && claims.exp <= now) throw new TokenError('the token has expired', { expired: true });
}

/**
 * Verifies client JWTs against a secret source. Each secret string becomes a KeyObject once (cached,
 * at most a few), so a rotated source takes effect on the next verification.
 */
export class TokenVerifier {
  private readonly keys = new Map<string, KeyObject>();

  constructor(private readonly source: SecretSource) {}

  private key(secret: string): KeyObject {
    let k = this.keys.get(secret);
    if (k === undefined) {
      if (this.keys.size > 8) this.keys.clear();
      k = createSecretKey(Buffer.from(secret, 'utf8'));
      this.keys.set(secret, k);
    }
    return k;
  }

  /** Resolves the token's identity or rejects with a `TokenError` saying why (never quoting the token). */
  async verify(token: string): Promise<Identity> {
    return this.verifySync(token);
  }

  /** The token's identity, or throws a `TokenError` saying why (never quoting the token). */
  verifySync(token: string): Identity {
    const secrets = this.source.secrets();
    if (secrets.length === 0) throw new TokenError('no JWT secret is available yet');
    if (typeof token !== 'string') throw new TokenError(INVALID);
    const dot1 = token.indexOf('.');
    const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
    if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) throw new TokenError(INVALID);
    const header = jsonObject(token.slice(0, dot1));
    if (header === undefined || typeof header.alg !== 'string' || header.alg === '') throw new TokenError(INVALID);
    if (header.alg !== 'HS256') throw new TokenError('the token is not signed with HS256');
    // No JWS extension is understood, so any "crit" is refused (RFC 7515 §4.1.11); JWTs never use an unencoded payload (RFC 7797).
    if (header.crit !== undefined || (header.b64 !== undefined && header.b64 !== true)) throw new TokenError(INVALID);
    const signature = segment(token.slice(dot2 + 1));
    if (signature === undefined) throw new TokenError(INVALID);
    const payloadText = token.slice(dot1 + 1, dot2);
    if (!BASE64URL.test(payloadText) || payloadText.length % 4 === 1) throw new TokenError(INVALID);
    const signingInput = token.slice(0, dot2);
    let matched = false;
    for (const secret of secrets) {
      const mac = createHmac('sha256', this.key(secret)).update(signingInput, 'latin1').digest();
      // Only a signature mismatch is worth trying the next (older) secret for.
      if (signature.length === mac.length && timingSafeEqual(signature, mac)) {
        matched = true;
        break;
      }
    }
    if (!matched) throw new TokenError(BAD_SIGNATURE);
    const claims = jsonObject(payloadText);
    if (claims === undefined) throw new TokenError(INVALID);
    checkTimeClaims(claims, Math.floor(Date.now() / 1000));
    return identityFromClaims(claims);
  }
}
