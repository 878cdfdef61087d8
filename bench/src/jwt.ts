import { createHmac } from 'node:crypto';

// Tokens are minted with @river/node's signToken (River's one signer); this file only verifies, for the baselines.

/** Checks an HS256 token's signature (for the Socket.IO baseline's auth); returns its claims or undefined. */
export function verifyToken(secret: string, token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const sig = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest('base64url');
  if (sig !== parts[2]) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
