/**
 * The stack's CloudFormation outputs. The CLI reads these names (`river deploy` saves them to
 * .river/outputs.json). Outputs hold URLs, names and ARNs only, never a secret value.
 */
export const OUTPUT_KEYS = {
  /** wss://DOMAIN/v1/ws, or ws://ALB-DNS/v1/ws without a domain. */
  WebSocketUrl: 'WebSocketUrl',
  /** Base URL of the publish API (API Gateway HTTP API → Lambda), no trailing slash. */
  HttpApiUrl: 'HttpApiUrl',
  JwtSecretArn: 'JwtSecretArn',
  ApiKeySecretArn: 'ApiKeySecretArn',
  CacheAuthSecretArn: 'CacheAuthSecretArn',
  ClusterName: 'ClusterName',
  ServiceName: 'ServiceName',
  LogGroupName: 'LogGroupName',
  /** The service log group's ARN without the trailing `:*` (what CloudWatch Logs StartLiveTail wants). */
  LogGroupArn: 'LogGroupArn',
} as const;

export type OutputKey = keyof typeof OUTPUT_KEYS;
export type RiverOutputs = Record<OutputKey, string>;
