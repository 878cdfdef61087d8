/**
 * Reads `exp` and `iat` from a JWT payload WITHOUT verifying it (the server verifies; the client only
 * needs to know when to refresh). Anything unreadable gives `{}`.
 */
export function tokenTimes(token: string): { exp?: number; iat?: number } {
  try {
    const part = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))) as Record<string, unknown>;
    const out: { exp?: number; iat?: number } = {};
    if (typeof claims.exp === 'number') out.exp = claims.exp;
    if (typeof claims.iat === 'number') out.iat = claims.iat;
    return out;
  } catch {
    return {};
  }
}

/**
 * When to refresh a token received at local time `now` (ms): a quarter of its lifetime before it
 * expires, at least 1 s and at most 60 s before. The lifetime is `exp - iat` when `iat` is present, so
 * a skewed client clock does not matter; otherwise `exp` against the local clock.
 * Returns undefined for a token without `exp`.
 */
export function refreshPlan(token: string, now: number): { refreshAt: number; expiresAt: number } | undefined {
  const { exp, iat } = tokenTimes(token);
  if (exp === undefined) return undefined;
  const lifetime = iat !== undefined ? (exp - iat) * 1000 : exp * 1000 - now;
  const margin = Math.min(60_000, Math.max(1000, lifetime / 4));
  return { refreshAt: now + lifetime - margin, expiresAt: now + lifetime };
}
