/** API key checks for the HTTP API: constant time over SHA-256 digests, several keys for rotation. */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new RangeError('at least one API key is required');
    this.digests = keys.map(digest);
  }

  /** The key sent with `Authorization: Bearer <key>` or `x-api-key: <key>`, if any. */
  static fromHeaders(headers: Record<string, string | undefined>): string | undefined {
    const auth = headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (m !== null) return m[1]!.trim();
    }
    const key = headers['x-api-key'];
    return key === undefined || key === '' ? undefined : key.trim();
  }

  /** Whether `candidate` is one of the keys. Every key is compared, in constant time. */
  check(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    const d = digest(candidate);
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  }
}
