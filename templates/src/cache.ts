import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { RiverCacheConfig } from './config.js';

const ENGINE_VERSION = { valkey: '8.0', redis: '7.1' } as const;
const SERVERLESS_MAJOR = { valkey: '8', redis: '7' } as const;

/**
 * The bus behind the nodes and the publish Lambda: ElastiCache (Valkey by default, Redis OSS
 * selectable) in the isolated subnets, TLS in transit, encrypted at rest, AUTH with the token from
 * Secrets Manager (a `{{resolve:secretsmanager:…}}` reference: CloudFormation resolves it at deploy
 * time, the template never holds it).
 *
 * - `node`: a replication group of a primary and one replica in the other AZ, automatic failover
 *   (the original River ran one node without TLS: a node failure lost the bus).
 * - `serverless`: ElastiCache Serverless (always TLS, cluster protocol: the nodes run with
 *   RIVER_REDIS_CLUSTER=true). Its AUTH password is an RBAC `default` user holding the same token.
 */
export class RiverCache extends Construct {
  readonly host: string;
  readonly port: string;
  /** The endpoint speaks the Redis Cluster protocol. */
  readonly cluster: boolean;
  readonly securityGroup: ec2.SecurityGroup;
  /** What clients must reach: 6379 (and 6380, the serverless reader endpoint). */
  readonly ports: ec2.Port;

  constructor(
    scope: Construct,
    id: string,
    props: {
      name: string;
      cache: RiverCacheConfig;
      vpc: ec2.IVpc;
      subnets: ec2.SubnetSelection;
      authToken: secretsmanager.ISecret;
    },
  ) {
    super(scope, id);
    const { cache, vpc } = props;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'River cache: reachable only from the River tasks and the publish Lambda',
      allowAllOutbound: false,
    });
    const subnetIds = vpc.selectSubnets(props.subnets).subnetIds;
    const token = props.authToken.secretValue.unsafeUnwrap(); // a dynamic reference, not the value

    if (cache.mode === 'node') {
      const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
        description: `River (${props.name}) cache subnets`,
        subnetIds,
      });
      // Memory: maxmemory is the node type's memory less reserved-memory-percent (25 %, ElastiCache's
      // default). Past it Redis evicts the keys closest to expiry first (every history, epoch and
      // idempotency key has a TTL): an evicted channel answers recovered:false and starts a new
      // epoch, never a refused publish or an out-of-memory (docs/self-host.md, "Redis out of memory").
      const parameters = new elasticache.CfnParameterGroup(this, 'Parameters', {
        cacheParameterGroupFamily: cache.engine === 'valkey' ? 'valkey8' : 'redis7',
        description: `River (${props.name}) bus: at maxmemory evict the keys closest to expiry`,
        properties: { 'maxmemory-policy': 'volatile-ttl' },
      });
      const group = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
        cacheParameterGroupName: parameters.ref,
        replicationGroupDescription: `River (${props.name}) bus`,
        engine: cache.engine,
        engineVersion: ENGINE_VERSION[cache.engine],
        cacheNodeType: cache.nodeType,
        numCacheClusters: 2,
        automaticFailoverEnabled: true,
        multiAzEnabled: true,
        transitEncryptionEnabled: true,
        atRestEncryptionEnabled: true,
        authToken: token,
        port: 6379,
        cacheSubnetGroupName: subnetGroup.ref,
        securityGroupIds: [this.securityGroup.securityGroupId],
        // History is a short recovery window, not data to back up.
        snapshotRetentionLimit: 0,
        autoMinorVersionUpgrade: true,
      });
      this.host = group.attrPrimaryEndPointAddress;
      this.port = group.attrPrimaryEndPointPort;
      this.cluster = false;
      this.ports = ec2.Port.tcp(6379);
      return;
    }

    const user = new elasticache.CfnUser(this, 'DefaultUser', {
      engine: cache.engine,
      userId: `${props.name}-default`,
      userName: 'default',
      accessString: 'on ~* &* +@all',
      authenticationMode: { Type: 'password', Passwords: [token] },
    });
    const userGroup = new elasticache.CfnUserGroup(this, 'UserGroup', {
      engine: cache.engine,
      userGroupId: `${props.name}-users`,
      userIds: [user.userId],
    });
    userGroup.addResourceDependency(user);
    const serverless = new elasticache.CfnServerlessCache(this, 'Serverless', {
      serverlessCacheName: `${props.name}-bus`,
      description: `River (${props.name}) bus`,
      engine: cache.engine,
      majorEngineVersion: SERVERLESS_MAJOR[cache.engine],
      subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      userGroupId: userGroup.userGroupId,
    });
    serverless.addResourceDependency(userGroup);
    this.host = serverless.attrEndpointAddress;
    this.port = serverless.attrEndpointPort;
    this.cluster = true;
    this.ports = ec2.Port.tcpRange(6379, 6380);
  }

  /** rediss://HOST:PORT (the password comes separately, from RIVER_REDIS_PASSWORD). */
  get url(): string {
    return `rediss://${this.host}:${this.port}`;
  }
}
