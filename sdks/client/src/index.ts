export { River } from './river.js';
export type {
  RiverOptions,
  StateChange,
  Clock,
  WebSocketLike,
  WebSocketConstructor,
  NetworkEvents,
  TokenSource,
  TokenResponse,
} from './options.js';
export {
  Channel,
  type EventMap,
  type ReservedEvents,
  type ReservedEventName,
  type Member,
  type MessageMeta,
  type StreamPosition,
  type SubscribedInfo,
} from './channel.js';
export { RiverError } from './errors.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { TRANSITIONS, nextState, afterClose, type ConnectionState, type ConnectionEvent, type CloseAction } from './state.js';
