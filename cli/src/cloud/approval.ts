/**
 * Which deployments need a human's approval (or `--yes`). The toolkit asks (CDK_TOOLKIT_I5060) before
 * every change set that does anything; River answers yes by itself unless the change set
 *
 * - broadens IAM permissions or security-group rules (`permissionChangeType: "broadening"`), or
 * - replaces or deletes a resource that holds state or an address other systems use: a replaced secret
 *   invalidates every token and the app's API key, a replaced cache or log group loses its data, a
 *   replaced VPC, subnet or load balancer moves the endpoint, a replaced DNS record or HTTP API changes
 *   what the app talks to.
 *
 * Replacing a task definition (every image or environment change), a scaling policy or a listener
 * rule is routine and goes ahead: ECS rolls the tasks over without dropping the service.
 */
import type { DeployQuestion } from './cloud.js';

/** Resource types whose replacement or deletion must be approved. */
export const STATEFUL_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'AWS::SecretsManager::Secret',
  'AWS::ElastiCache::ReplicationGroup',
  'AWS::ElastiCache::ServerlessCache',
  'AWS::ElastiCache::User',
  'AWS::ElastiCache::UserGroup',
  'AWS::ElastiCache::SubnetGroup',
  'AWS::Logs::LogGroup',
  'AWS::EC2::VPC',
  'AWS::EC2::Subnet',
  'AWS::ElasticLoadBalancingV2::LoadBalancer',
  'AWS::Route53::RecordSet',
  'AWS::Route53::HostedZone',
  'AWS::ECR::Repository',
  'AWS::ApiGatewayV2::Api',
]);

export interface ChangeSetSummary {
  /** The toolkit's PermissionChangeType: none, non-broadening, broadening. */
  permissionChangeType?: string;
  destructiveChanges?: ReadonlyArray<{ logicalId: string; resourceType?: string }>;
}

/** The question for one I5060 request: security-changes and destructive-changes need approval, other does not. */
export function classifyChangeSet(summary: ChangeSetSummary | undefined, message: string): DeployQuestion {
  if (summary?.permissionChangeType === 'broadening') return { kind: 'security-changes', message };
  const destructive = summary?.destructiveChanges ?? [];
  // An unknown type is treated as stateful: better one question too many than a lost secret.
  const stateful = destructive.filter((d) => d.resourceType === undefined || STATEFUL_RESOURCE_TYPES.has(d.resourceType));
  if (stateful.length > 0) {
    const list = stateful.map((d) => `  ${d.logicalId}${d.resourceType ? ` (${d.resourceType})` : ''}`).join('\n');
    return { kind: 'destructive-changes', message: `${message}\n\nResources replaced or deleted that hold state or an address:\n${list}` };
  }
  return { kind: 'other', message };
}
