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
 * When to refresh a token received at local time `now` (ms): a quarter of its remaining life before it
 * expires, at least 1 s and at most 60 s before. The remaining life is the earlier of two estimates:
 * `exp - iat` (right when the token was just minted, whatever the local clock says) and `exp` against
 * the local clock (right for a token minted a while ago, e.g. cached by the app). When the local
 * clock says the token has already expired although `exp - iat` is positive, the clock is taken to
 * be wrong (the server refuses a really expired token, and the client then fetches a new one).
 * Returns undefined for a token without `exp`.
 */
export function refreshPlan(token: string, now: number): { refreshAt: number; expiresAt: number } | undefined {
  const { exp, iat } = tokenTimes(token);
  if (exp === undefined) return undefined;
  const byClock = exp * 1000 - now;
  const lifetime = iat !== undefined ? (exp - iat) * 1000 : byClock;
  const remaining = byClock > 0 ? Math.min(lifetime, byClock) : lifetime;
  const margin = Math.min(60_000, Math.max(1000, remaining / 4));
  return { refreshAt: now + remaining - margin, expiresAt: now + remaining };
}
