/**
 * What `river diff` shows, from the toolkit's TemplateDiff (@aws-cdk/cloudformation-diff): one entry
 * per resource added, modified, replaced or removed (a replacement or removal of a resource that holds
 * state or an address marked, as approval.ts decides), and the IAM statements and security-group rules
 * the change adds, removes or broadens. Structural input type: no import of the diff library.
 */
import { STATEFUL_RESOURCE_TYPES } from './approval.js';
import type { ResourceChange, StackDiff } from './cloud.js';

/** The parts of a TemplateDiff read here. */
export interface TemplateDiffLike {
  resources: { forEachDifference(cb: (logicalId: string, change: ResourceDifferenceLike) => void): void };
  readonly permissionsBroadened: boolean;
  iamChanges: { readonly hasChanges: boolean; summarizeStatements(): string[][]; summarizeManagedPolicies(): string[][] };
  securityGroupChanges: { readonly hasChanges: boolean; summarize(): string[][] };
}

export interface ResourceDifferenceLike {
  readonly isAddition: boolean;
  readonly isRemoval: boolean;
  readonly resourceType: string | undefined;
  /** ResourceImpact: WILL_CREATE, WILL_UPDATE, WILL_REPLACE, MAY_REPLACE, WILL_DESTROY, WILL_ORPHAN, WILL_IMPORT, NO_CHANGE */
  readonly changeImpact: string;
}

function actionOf(change: ResourceDifferenceLike): ResourceChange['action'] | undefined {
  if (change.isAddition) return 'add';
  if (change.isRemoval) return 'remove';
  switch (change.changeImpact) {
    case 'WILL_REPLACE':
      return 'replace';
    case 'MAY_REPLACE':
      return 'may-replace';
    case 'WILL_DESTROY':
    case 'WILL_ORPHAN':
      return 'remove';
    case 'NO_CHANGE':
      return undefined;
    default:
      return 'modify';
  }
}

/** Table rows (the first is the header) to one line each: "+ Allow ecr:BatchGetImage on * for AWS:${Role}". */
function rows(table: string[][], line: (cells: string[]) => string): string[] {
  return table.slice(1).map((r) => line(r.map((c) => c.replace(/\s*\n\s*/g, ' ').trim())));
}

export function summarizeDiff(stackName: string, diff: TemplateDiffLike): StackDiff {
  const changes: ResourceChange[] = [];
  diff.resources.forEachDifference((logicalId, change) => {
    const action = actionOf(change);
    if (!action) return;
    const resourceType = change.resourceType ?? 'unknown';
    const destructive = action === 'replace' || action === 'may-replace' || action === 'remove';
    // An unknown type counts as stateful, as in approval.ts: better one warning too many.
    const stateful = destructive && (change.resourceType === undefined || STATEFUL_RESOURCE_TYPES.has(resourceType));
    changes.push({ logicalId, resourceType, action, stateful });
  });
  const iam = diff.iamChanges.hasChanges
    ? [
        ...rows(
          diff.iamChanges.summarizeStatements(),
          ([sign, resource, effect, action, principal, condition]) =>
            `${sign} ${effect} ${action} on ${resource}${principal ? ` for ${principal}` : ''}${condition ? ` when ${condition}` : ''}`,
        ),
        ...rows(
          diff.iamChanges.summarizeManagedPolicies(),
          ([sign, resource, policy]) => `${sign} managed policy ${policy} on ${resource}`,
        ),
      ]
    : [];
  const securityGroups = diff.securityGroupChanges.hasChanges
    ? rows(
        diff.securityGroupChanges.summarize(),
        ([sign, group, dir, protocol, peer]) =>
          `${sign} ${group} ${dir === 'In' ? 'ingress' : 'egress'} ${protocol} ${dir === 'In' ? 'from' : 'to'} ${peer}`,
      )
    : [];
  return { stackName, changes, security: { broadening: diff.permissionsBroadened, iam, securityGroups } };
}
