/**
 * Answers of the HTTP API (docs/protocol.md#6-http-api), as the server writes them and the backend
 * SDK (@river/node) returns them.
 */
import type { HistoryMessage, Member } from './frames.js';

/** `POST /v1/publish` with `channel` (and each of `results` with `channels`, or of a batch). */
export interface PublishResponse {
  channel: string;
  offset: number;
}

/** `GET /v1/channels/{channel}/history`. */
export interface HistoryResponse {
  channel: string;
  epoch: string;
  offset: number;
  /** True when history still holds every message after `since`. */
  complete: boolean;
  messages: HistoryMessage[];
}

/** `GET /v1/channels/{channel}`. */
export interface ChannelResponse {
  channel: string;
  subscribers: number;
  epoch: string;
  offset: number;
}

/** `GET /v1/channels/{channel}/presence`. */
export interface PresenceResponse {
  channel: string;
  members: Member[];
}

/** `POST /v1/disconnect`. */
export interface DisconnectResponse {
  disconnected: number;
}
