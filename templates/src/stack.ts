import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { RiverConfig } from './config.js';

export interface RiverStackProps extends StackProps {
  config: RiverConfig;
  lambdaDir: string;
  sourceDir: string;
}

export class RiverStack extends Stack {
  constructor(scope: Construct, id: string, props: RiverStackProps) {
    super(scope, id, { env: { region: props.config.region }, description: `River real-time service (${props.config.name})` });
  }
}
