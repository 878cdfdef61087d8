export {
  River,
  type RiverOptions,
  type PublishOptions,
  type PublishResult,
  type BatchMessage,
  type History,
  type HistoryMessage,
  type Member,
  type ChannelInfo,
  type FrameworkRequest,
} from './river.js';
export { RiverError } from './errors.js';
export { signToken, type TokenClaims, type TokenOptions, type ClaimsFor } from './token.js';
