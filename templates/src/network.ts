import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/**
 * The VPC: two AZs (`maxAzs: 2` renders Fn::GetAZs, no lookup), public subnets for the ALB (and the
 * tasks when there is no NAT), isolated subnets for the cache, the publish Lambda and the Secrets
 * Manager endpoint, and private subnets with egress only when NAT gateways are configured.
 */
export class RiverNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the Fargate tasks run. */
  readonly taskSubnets: ec2.SubnetSelection;
  readonly taskPublicIp: boolean;
  readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  readonly secretsEndpoint: ec2.InterfaceVpcEndpoint;

  constructor(scope: Construct, id: string, props: { natGateways: number }) {
    super(scope, id);
    const nat = props.natGateways > 0;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.80.0.0/16'),
      maxAzs: 2,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 22 },
        { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        ...(nat ? [{ name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 }] : []),
      ],
    });
    // Without NAT the tasks need a public IP to pull their image and ship logs; their security
    // group admits only the ALB, so the IP is not reachable from the internet.
    this.taskSubnets = { subnetType: nat ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC };
    this.taskPublicIp = !nat;
    // The isolated Lambda reads its API key and cache token here; with private DNS the tasks use it too.
    this.secretsEndpoint = this.vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: this.isolatedSubnets,
      privateDnsEnabled: true,
      open: false,
    });
  }
}
