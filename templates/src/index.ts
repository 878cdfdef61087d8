export type { RiverConfig, RiverCacheConfig, CacheMode, CacheEngine } from './config.js';
export { parseRiverConfig, defaultRiverConfig, RiverConfigError, FARGATE_MEMORY, LOG_RETENTION_DAYS, CONFIG_PATTERNS } from './config.js';
export { OUTPUT_KEYS } from './outputs.js';
export type { OutputKey, RiverOutputs } from './outputs.js';
export { buildRiverApp, stackNameOf, serverImageDir, RiverBuildError } from './app.js';
export type { BuildRiverAppOptions } from './app.js';
