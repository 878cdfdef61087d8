/**
 * The JWT secrets from AWS Secrets Manager (RIVER_JWT_SECRET_ID), re-read every 5 minutes: the
 * AWSCURRENT value, the AWSPENDING one while `river secret rotate` is under way, and the AWSPREVIOUS
 * one after a rotation. A node accepts tokens signed with any of them, so:
 *
 * 1. `river secret rotate` stages the new value as AWSPENDING. Backends and `river token --deployed`
 *    still sign with AWSCURRENT; each node accepts the new value from its next read (at most 5 min).
 * 2. Every read whose versions differ from the last is logged ("JWT secrets loaded", with the version
 *    ids); the CLI waits until every running task has logged the pending version, then moves
 *    AWSCURRENT to it. Secrets Manager moves AWSPREVIOUS to the old value, which stays accepted.
 *
 * Nothing restarts and no connection is dropped. The design and its timeline: docs/deploy-aws.md.
 * A failed refresh keeps the last good values (and logs a warning); a failed first read fails the
 * node's startup, since it could not verify any token.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from '../auth.js';
import { MIN_SECRET_BYTES } from '../config.js';

export type SecretStage = 'AWSCURRENT' | 'AWSPENDING' | 'AWSPREVIOUS';

/** One version of the secret: its value and Secrets Manager's version id. */
export interface SecretVersion {
  value: string;
  versionId?: string;
}

/** Reads one staged value of a secret. The seam tests replace (or mock with aws-sdk-client-mock). */
export interface SecretReader {
  /** The version at `stage`; undefined when no version carries that stage (no rotation yet, none under way). */
  read(secretId: string, stage: SecretStage): Promise<SecretVersion | undefined>;
}

/** A `SecretReader` over the AWS SDK's Secrets Manager client (region and credentials from the environment). */
export function secretsManagerReader(client: Pick<SecretsManagerClient, 'send'> = new SecretsManagerClient({})): SecretReader {
  return {
    async read(secretId, stage) {
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
        if (out?.SecretString === undefined) return undefined; // (a mock may answer nothing)
        return out.VersionId === undefined ? { value: out.SecretString } : { value: out.SecretString, versionId: out.VersionId };
      } catch (err) {
        // Before the first rotation no version is AWSPREVIOUS, and outside one none is AWSPENDING: "not found".
        if (stage !== 'AWSCURRENT' && (err as { name?: string } | null)?.name === 'ResourceNotFoundException') return undefined;
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
  /** A pino logger fits; never given a secret, only version ids. */
  logger?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
}

export const DEFAULT_REFRESH_MS = 5 * 60_000;

/** The log line `river secret rotate` looks for (with the version ids in `jwtSecretVersions`). */
export const LOADED_MESSAGE = 'JWT secrets loaded';

export class AwsSecretSource implements SecretSource {
  private current: readonly string[] = [];
  /** What the last "JWT secrets loaded" line said, to log only changes. */
  private loadedVersions = '';
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
      source.accept(await source.load());
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SecretUnavailableError(`cannot read the JWT secret ${opts.secretId} from Secrets Manager: ${why}`, { cause: err });
    }
    source.timer = setInterval(() => void source.refresh(), opts.refreshMs ?? DEFAULT_REFRESH_MS);
    source.timer.unref();
    return source;
  }

  /** The current secret first, then the pending one (a rotation under way), then the previous one. */
  secrets(): readonly string[] {
    return this.current;
  }

  /** Re-reads now; on failure keeps the last good values and logs a warning. Never rejects. */
  refresh(): Promise<void> {
    this.refreshing ??= this.load()
      .then(
        (versions) => {
          this.accept(versions);
        },
        (err: unknown) => {
          this.logger?.warn(
            { secretId: this.secretId, err: err instanceof Error ? err.message : String(err) },
            'JWT secret refresh failed; keeping the last values read',
          );
        },
      )
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** Stops refreshing. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private accept(versions: ReadonlyArray<{ stage: SecretStage } & SecretVersion>): void {
    this.current = versions.map((v) => v.value);
    const ids = versions.map((v) => `${v.stage}:${v.versionId ?? '?'}`);
    if (ids.join(' ') !== this.loadedVersions) {
      this.loadedVersions = ids.join(' ');
      this.logger?.info?.({ secretId: this.secretId, jwtSecretVersions: ids }, LOADED_MESSAGE);
    }
  }

  private async load(): Promise<ReadonlyArray<{ stage: SecretStage } & SecretVersion>> {
    const [current, pending, previous] = await Promise.all(
      (['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS'] as const).map((stage) => this.reader.read(this.secretId, stage)),
    );
    if (current === undefined || Buffer.byteLength(current.value, 'utf8') < MIN_SECRET_BYTES) {
      throw new Error(`the AWSCURRENT value is ${current === undefined ? 'missing' : `shorter than ${MIN_SECRET_BYTES} bytes`}`);
    }
    const out: Array<{ stage: SecretStage } & SecretVersion> = [{ stage: 'AWSCURRENT', ...current }];
    // A too-short value (written by hand) is simply not accepted; a repeated one is listed once.
    for (const [stage, v] of [
      ['AWSPENDING', pending],
      ['AWSPREVIOUS', previous],
    ] as const) {
      if (v === undefined || Buffer.byteLength(v.value, 'utf8') < MIN_SECRET_BYTES) continue;
      if (out.some((o) => o.value === v.value)) continue;
      out.push({ stage, ...v });
    }
    return out;
  }
}
