/**
 * The server's error classes. Each carries a stable `code`; they are translated to wire form at a
 * few boundaries only: the upgrade, the connection (error frame or close code) and the HTTP API.
 */
import { HTTP_STATUS, type ErrorCode } from '@river/protocol';

/** A bad configuration value: startup fails with this one sentence. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A token that cannot be accepted (bad signature, bad claims, wrong algorithm, expired). */
export class TokenError extends Error {
  readonly code = 'token_invalid';
  /** The token is valid but for its `exp` (the connection closes 4002, not 4500, so the client fetches a fresh one). */
  readonly expired: boolean;
  constructor(message: string, options?: { cause?: unknown; expired?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenError';
    this.expired = options?.expired ?? false;
  }
}

/** A refused request, with the error code of docs/protocol.md#7-codes and its HTTP status. */
export class RequestError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RequestError';
    this.code = code;
    this.status = options?.status ?? HTTP_STATUS[code];
  }
}
