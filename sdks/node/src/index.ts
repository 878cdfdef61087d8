export { River, type RiverOptions, type PublishOptions, type PublishResult, type BatchMessage, type History, type HistoryMessage, type Member, type ChannelInfo, type FrameworkRequest } from './river.js';
export { RiverError } from './errors.js';
export type { TokenClaims, TokenOptions, ClaimsFor } from './token.js';
