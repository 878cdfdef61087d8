import { createHmac, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenVerifier, type SecretSource } from './auth.js';
import { TokenError } from './errors.js';

const A = randomBytes(32).toString('base64url');
const B = randomBytes(32).toString('base64url');
const C = randomBytes(32).toString('base64url');

function sign(secret: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'u1', ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
/** A token assembled by hand: any header and payload text, signed with HMAC-SHA256 over exactly what is sent. */
function forge(header: unknown, payload: unknown, secret = A, raw?: { header?: string; payload?: string }): string {
  const h = raw?.header ?? b64(JSON.stringify(header));
  const p = raw?.payload ?? b64(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
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

afterEach(() => {
  vi.useRealTimers();
});

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

  it('refuses every algorithm but HS256, "none" included, whatever the key', async () => {
    const v = new TokenVerifier(mutableSource(A));
    const none = `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify({ sub: 'x' }))}.`;
    expect(() => v.verifySync(none)).toThrow(/not signed with HS256/);
    const hs512 = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(A + A));
    expect(() => v.verifySync(hs512)).toThrow(/not signed with HS256/);
    for (const alg of ['hs256', 'HS256 ', 'RS256'])
      expect(() => v.verifySync(forge({ alg }, { sub: 'x' }))).toThrow(/not signed with HS256/);
    for (const header of [{}, { alg: '' }, { alg: 256 }, [1], 'HS256', null]) {
      expect(() => v.verifySync(forge(header, { sub: 'x' }))).toThrow(/not a valid JWT/);
    }
  });

  it('refuses what is not three strict base64url segments, "crit" and unencoded payloads', () => {
    const v = new TokenVerifier(mutableSource(A));
    const good = forge({ alg: 'HS256' }, { sub: 'x' });
    expect(v.verifySync(good).userId).toBe('x');
    const [h, p, s] = good.split('.') as [string, string, string];
    const bad = [
      '',
      'garbage',
      `${h}.${p}`,
      `${h}.${p}.${s}.`,
      `${h}.${p}.${s}.${s}`,
      `${h}=.${p}.${s}`, // padding
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+`, // the standard alphabet
      ` ${h}.${p}.${s}`,
      `${h}.${p}.${s.slice(0, -2)}`, // a short signature
      `${h}.${p}.${s}AAAA`, // a long one
      forge({ alg: 'HS256', crit: ['exp'] }, { sub: 'x' }),
      forge({ alg: 'HS256', crit: ['b64'], b64: false }, { sub: 'x' }),
      forge({ alg: 'HS256', b64: false }, { sub: 'x' }),
      forge({ alg: 'HS256' }, '[1]'),
      forge({ alg: 'HS256' }, 'not json'),
      forge({ alg: 'HS256' }, '', A, { payload: b64(Buffer.from([0x7b, 0xff, 0x7d])) }), // not UTF-8
      forge({ alg: 'HS256' }, '', A, { header: b64('{"alg":"HS256"') }),
    ];
    for (const t of bad) expect(() => v.verifySync(t), t).toThrow(TokenError);
  });

  it('refuses a tampered payload or header with the right secret in the signature', async () => {
    const v = new TokenVerifier(mutableSource(A));
    const [h, , s] = (await sign(A)).split('.') as [string, string, string];
    expect(() => v.verifySync(`${h}.${b64(JSON.stringify({ sub: 'admin' }))}.${s}`)).toThrow(/signature does not match/);
    expect(() => v.verifySync(`${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}x.${b64('{}')}.${s}`)).toThrow(TokenError);
  });

  it('checks exp, nbf and iat against the clock, with no tolerance', () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_800_000_000_500);
    const now = 1_800_000_000;
    const v = new TokenVerifier(mutableSource(A));
    const t = (claims: Record<string, unknown>) => forge({ alg: 'HS256' }, { sub: 'x', ...claims });
    expect(v.verifySync(t({ exp: now + 1, nbf: now, iat: now })).exp).toBe(now + 1);
    const expired = (() => {
      try {
        v.verifySync(t({ exp: now }));
      } catch (err) {
        return err;
      }
    })();
    expect(expired).toBeInstanceOf(TokenError);
    expect(expired).toMatchObject({ expired: true, message: 'the token has expired' });
    expect(() => v.verifySync(t({ nbf: now + 1 }))).toThrow(`the token's "nbf" claim is not valid now`);
    for (const claim of ['exp', 'nbf', 'iat']) {
      let err: unknown;
      try {
        v.verifySync(t({ [claim]: String(now + 100) }));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ expired: false, message: `the token's "${claim}" claim is not valid now` });
    }
    vi.setSystemTime((now + 1) * 1000);
    expect(() => v.verifySync(t({ exp: now + 1 }))).toThrow(/expired/);
  });

  it('says no wherever jose says no (the verifier it replaces) on a spread of forged tokens', async () => {
    const v = new TokenVerifier(mutableSource(A));
    const key = new TextEncoder().encode(A);
    const now = Math.floor(Date.now() / 1000);
    const headers: unknown[] = [
      { alg: 'HS256' },
      { alg: 'HS256', typ: 'JWT' },
      { alg: 'none' },
      { alg: 'HS384' },
      {},
      { alg: 'HS256', crit: ['x'] },
      [],
    ];
    const payloads: unknown[] = [
      { sub: 'x' },
      { sub: 'x', exp: now - 5 },
      { sub: 'x', exp: now + 60 },
      { sub: 'x', nbf: now + 60 },
      { sub: 'x', iat: 'yesterday' },
      { sub: 'x', exp: '1' },
      [],
      'null',
      { sub: 'x', channels: ['a.*'] },
    ];
    let compared = 0;
    for (const h of headers) {
      for (const p of payloads) {
        for (const secret of [A, B]) {
          const tok = forge(h, p, secret);
          const joseOk = await jwtVerify(tok, key, { algorithms: ['HS256'] }).then(
            () => true,
            () => false,
          );
          let ours = true;
          try {
            v.verifySync(tok);
          } catch {
            ours = false;
          }
          if (!joseOk) expect(ours, tok).toBe(false);
          if (joseOk) expect(ours, tok).toBe(true);
          compared++;
        }
      }
    }
    expect(compared).toBe(headers.length * payloads.length * 2);
  });
});
