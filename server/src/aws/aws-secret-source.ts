/**
 * The JWT secrets from AWS Secrets Manager (RIVER_JWT_SECRET_ID): the AWSCURRENT value and, after a
 * rotation, the AWSPREVIOUS one, re-read every 5 minutes. `river secret rotate` is one
 * PutSecretValue, which moves AWSCURRENT to the new value and AWSPREVIOUS to the old: within 5
 * minutes every node accepts both, so tokens minted before the rotation keep working until the
 * next one, and no connection is dropped (nothing restarts).
 *
 * A failed refresh keeps the last good values (and logs a warning); a failed first read fails the
 * node's startup, since it could not verify any token.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from '../auth.js';
import { MIN_SECRET_BYTES } from '../config.js';

export type SecretStage = 'AWSCURRENT' | 'AWSPREVIOUS';

/** Reads one staged value of a secret. The seam tests replace (or mock with aws-sdk-client-mock). */
export interface SecretReader {
  /** The SecretString at `stage`; undefined when no version carries that stage (no rotation yet). */
  read(secretId: string, stage: SecretStage): Promise<string | undefined>;
}

/** A `SecretReader` over the AWS SDK's Secrets Manager client (region and credentials from the environment). */
export function secretsManagerReader(client: Pick<SecretsManagerClient, 'send'> = new SecretsManagerClient({})): SecretReader {
  return {
    async read(secretId, stage) {
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
        return out.SecretString;
      } catch (err) {
        // Before the first rotation no version is AWSPREVIOUS: Secrets Manager answers "not found".
        if (stage === 'AWSPREVIOUS' && (err as { name?: string } | null)?.name === 'ResourceNotFoundException') return undefined;
        throw err;
      }
    },
  };
}

/** `{ region }` from a secret ARN (arn:aws:secretsmanager:REGION:…), so no AWS_REGION is needed. */
export function regionOf(secretId: string): { region: string } | undefined {
  const m = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretId);
  return m === null ? undefined : { region: m[1]! };
}

export class SecretUnavailableError extends Error {
  readonly code = 'secret_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}

export interface AwsSecretSourceOptions {
  secretId: string;
  reader?: SecretReader;
  /** Re-read period (default 5 minutes). */
  refreshMs?: number;
  /** Only `warn` is used (a pino logger fits); never given a secret. */
  logger?: { warn(obj: object, msg: string): void };
}

export const DEFAULT_REFRESH_MS = 5 * 60_000;

export class AwsSecretSource implements SecretSource {
  private current: readonly string[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private refreshing: Promise<void> | undefined;

  private constructor(
    private readonly secretId: string,
    private readonly reader: SecretReader,
    private readonly logger: AwsSecretSourceOptions['logger'],
  ) {}

  /** Reads both stages once (throws `SecretUnavailableError` when that fails), then re-reads every `refreshMs`. */
  static async start(opts: AwsSecretSourceOptions): Promise<AwsSecretSource> {
    const reader = opts.reader ?? secretsManagerReader(new SecretsManagerClient(regionOf(opts.secretId) ?? {}));
    const source = new AwsSecretSource(opts.secretId, reader, opts.logger);
    try {
      source.current = await source.load();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SecretUnavailableError(`cannot read the JWT secret ${opts.secretId} from Secrets Manager: ${why}`, { cause: err });
    }
    source.timer = setInterval(() => void source.refresh(), opts.refreshMs ?? DEFAULT_REFRESH_MS);
    source.timer.unref();
    return source;
  }

  /** The current secret first, then the previous one when there is one. */
  secrets(): readonly string[] {
    return this.current;
  }

  /** Re-reads now; on failure keeps the last good values and logs a warning. Never rejects. */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().then(
      (values) => {
        this.current = values;
      },
      (err: unknown) => {
        this.logger?.warn({ secretId: this.secretId, err: err instanceof Error ? err.message : String(err) },
          'JWT secret refresh failed; keeping the last values read');
      },
    ).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Stops refreshing. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async load(): Promise<readonly string[]> {
    const [current, previous] = await Promise.all([
      this.reader.read(this.secretId, 'AWSCURRENT'),
      this.reader.read(this.secretId, 'AWSPREVIOUS'),
    ]);
    if (current === undefined || Buffer.byteLength(current, 'utf8') < MIN_SECRET_BYTES) {
      throw new Error(`the AWSCURRENT value is ${current === undefined ? 'missing' : `shorter than ${MIN_SECRET_BYTES} bytes`}`);
    }
    // A too-short previous value (written by hand) is simply not accepted.
    const usable = previous !== undefined && previous !== current && Buffer.byteLength(previous, 'utf8') >= MIN_SECRET_BYTES;
    return usable ? [current, previous] : [current];
  }
}
