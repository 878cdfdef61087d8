/** Client JWTs (docs/protocol.md#5-channels-and-tokens), minted the way an app backend would: HS256 over the secret's UTF-8 bytes. */
import { signToken } from '@river/node';
import { DEFAULTS, isValidPattern } from '@river/protocol';
import { UserError } from './errors.js';

export interface TokenClaims {
  sub: string;
  channels?: string[];
  publish?: string[];
  info?: Record<string, unknown>;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_TTL_SECONDS = 365 * 86_400;

/** `90`, `45s`, `10m`, `1h`, `7d` → seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2] || 's']! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > MAX_TTL_SECONDS) {
    throw new UserError(`${flag} "${text}" is not a duration`, `use a number with s, m, h or d, e.g. ${flag} 1h (at most 365d)`, {
      code: 'bad_flag',
    });
  }
  return seconds;
}

/** `a,b*` → ['a', 'b*'], each a valid channel pattern. */
export function parsePatterns(text: string, flag: string): string[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const p of list) {
    if (!isValidPattern(p)) {
      throw new UserError(
        `${flag}: "${p}" is not a channel pattern`,
        'use 1-200 characters of A-Z a-z 0-9 _ - = @ , . ; : and * as a wildcard',
        {
          code: 'bad_flag',
        },
      );
    }
  }
  if (list.length === 0)
    throw new UserError(`${flag} is empty`, `give a comma-separated list, e.g. ${flag} 'dogs,doc-*'`, { code: 'bad_flag' });
  return list;
}

export function parseInfo(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(`--info is not valid JSON: ${text}`, `quote a JSON object, e.g. --info '{"name":"Ada"}'`, { code: 'bad_flag' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError('--info must be a JSON object', `e.g. --info '{"name":"Ada"}'`, { code: 'bad_flag' });
  }
  if (Buffer.byteLength(JSON.stringify(value)) > DEFAULTS.maxInfoBytes) {
    throw new UserError(`--info is over ${DEFAULTS.maxInfoBytes} bytes`, 'keep presence info small: a name, an avatar URL', {
      code: 'bad_flag',
    });
  }
  return value as Record<string, unknown>;
}

export function checkSub(sub: string): string {
  if (sub === '' || sub.length > DEFAULTS.maxUserIdLength) {
    throw new UserError(`--sub must be 1 to ${DEFAULTS.maxUserIdLength} characters`, 'e.g. --sub user-42', { code: 'bad_flag' });
  }
  return sub;
}

/** Signs `claims` with `secret` (@river/node's signer), valid from `nowMs` for `ttlSeconds`. */
export function mintToken(secret: string, claims: TokenClaims, ttlSeconds: number, nowMs: number): Promise<string> {
  const { sub, channels, publish, info } = claims;
  return signToken(
    secret,
    { sub, ...(channels && { channels }), ...(publish && { publish }), ...(info && { info }) },
    { expiresIn: ttlSeconds, now: nowMs },
  );
}
