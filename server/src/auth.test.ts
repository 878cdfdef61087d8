import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { TokenVerifier, type SecretSource } from './auth.js';
import { TokenError } from './errors.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);

function sign(secret: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'u1', ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

/** A source whose secrets the test changes, like a rotation picked up from Secrets Manager. */
function mutableSource(...initial: string[]): SecretSource & { set(...s: string[]): void } {
  let list = initial;
  return {
    secrets: () => list,
    set: (...s) => {
      list = s;
    },
  };
}

describe('TokenVerifier', () => {
  it('accepts the current and the previous secret, and reads the claims', async () => {
    const v = new TokenVerifier(mutableSource(B, A));
    await expect(v.verify(await sign(B, { channels: ['dogs'] }))).resolves.toMatchObject({ userId: 'u1', channels: ['dogs'] });
    await expect(v.verify(await sign(A))).resolves.toMatchObject({ userId: 'u1' });
    await expect(v.verify(await sign(C))).rejects.toThrow(/signature does not match/);
  });

  it('follows a rotated source on the next verification although keys are cached', async () => {
    const source = mutableSource(A);
    const v = new TokenVerifier(source);
    const tokenA = await sign(A);
    await v.verify(tokenA); // A's key is now cached
    source.set(C, B);
    await expect(v.verify(tokenA)).rejects.toBeInstanceOf(TokenError);
    await expect(v.verify(await sign(B))).resolves.toMatchObject({ userId: 'u1' });
    await expect(v.verify(await sign(C))).resolves.toMatchObject({ userId: 'u1' });
  });

  it('verifies many tokens at once against one cached key', async () => {
    const v = new TokenVerifier(mutableSource(A));
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => sign(A, { sub: `u${i}` })));
    const ids = await Promise.all(tokens.map((t) => v.verify(t)));
    expect(ids.map((i) => i.userId)).toEqual(tokens.map((_, i) => `u${i}`));
  });

  it('rejects when no secret is available', async () => {
    const v = new TokenVerifier(mutableSource());
    await expect(v.verify(await sign(A))).rejects.toThrow(/no JWT secret/);
  });
});
