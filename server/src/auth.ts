/**
 * Client token verification (docs/protocol.md#5-channels-and-tokens): HS256 only, current and previous secret,
 * claims parsed once into a typed `Identity`.
 */
import type { webcrypto } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
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

const ALGORITHMS = ['HS256'];
const encoder = new TextEncoder();
const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const;
const EMPTY_INFO: Member['info'] = Object.freeze({}) as Member['info'];
/** Shared by every identity without a "publish" claim (no empty array kept per connection). */
const NO_PATTERNS: readonly string[] = Object.freeze([]);

function patterns(payload: JWTPayload, name: 'channels' | 'publish'): string[] | undefined {
  const v = payload[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every(isValidPattern)) {
    throw new TokenError(`the "${name}" claim must be a list of channel patterns`);
  }
  return v as string[];
}

/** Validates the River claims of a verified payload. */
export function identityFromClaims(payload: JWTPayload): Identity {
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

/**
 * Verifies client JWTs against a secret source. Each secret string is imported once as a
 * WebCrypto HMAC key and cached (handing jose raw bytes would import the key again on every
 * verification, more than half of its cost), so a rotated source takes effect on the next
 * verification.
 */
export class TokenVerifier {
  private readonly keys = new Map<string, Promise<webcrypto.CryptoKey>>();

  constructor(private readonly source: SecretSource) {}

  private key(secret: string): Promise<webcrypto.CryptoKey> {
    let k = this.keys.get(secret);
    if (k === undefined) {
      if (this.keys.size > 8) this.keys.clear();
      k = crypto.subtle.importKey('raw', encoder.encode(secret), HMAC_SHA256, false, ['verify']);
      this.keys.set(secret, k);
    }
    return k;
  }

  /** Resolves the token's identity or rejects with a `TokenError` saying why (never quoting the token). */
  async verify(token: string): Promise<Identity> {
    const secrets = this.source.secrets();
    if (secrets.length === 0) throw new TokenError('no JWT secret is available yet');
    let lastError: unknown;
    for (const secret of secrets) {
      try {
        const { payload } = await jwtVerify(token, await this.key(secret), { algorithms: ALGORITHMS });
        return identityFromClaims(payload);
      } catch (err) {
        if (err instanceof TokenError) throw err;
        lastError = err;
        // Only a signature mismatch is worth trying the next (older) secret for.
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw new TokenError(describe(lastError), { cause: lastError, expired: lastError instanceof errors.JWTExpired });
  }
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the token's "${err.claim}" claim is not valid now`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token is not signed with HS256';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not match the River secret';
  return 'the token is not a valid JWT';
}
