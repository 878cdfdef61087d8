import { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/**
 * How Secrets Manager generates each secret's first value. FROZEN: changing any of these after a
 * deployment makes CloudFormation replace the secret (a new value: every issued token, the app's
 * API key and the cache's AUTH token would change at once). Secrets Manager generates the value at
 * deploy time; it never appears in the template, the assembly or an output.
 */
export const SECRET_GENERATION = {
  /** HS256 secret: 64 alphanumerics ≈ 381 bits (PROTOCOL: at least 256). `river secret rotate` replaces it later. */
  jwt: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
  /** The HTTP API key the app backend sends: 48 alphanumerics ≈ 286 bits. */
  apiKey: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
  /** ElastiCache AUTH token: 16–128 printable characters without @ " / : alphanumerics only. */
  cacheAuth: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
} as const;

export class RiverSecrets extends Construct {
  readonly jwt: secretsmanager.Secret;
  readonly apiKey: secretsmanager.Secret;
  readonly cacheAuth: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: { name: string }) {
    super(scope, id);
    const make = (sid: string, what: string, gen: secretsmanager.SecretStringGenerator): secretsmanager.Secret => {
      const secret = new secretsmanager.Secret(this, sid, {
        description: `River (${props.name}): ${what}`,
        generateSecretString: gen,
      });
      // `river destroy` removes everything; nothing depends on a secret outliving its deployment.
      secret.applyRemovalPolicy(RemovalPolicy.DESTROY);
      return secret;
    };
    this.jwt = make('JwtSecret', 'HS256 secret for client tokens (AWSCURRENT and AWSPREVIOUS are accepted)', SECRET_GENERATION.jwt);
    this.apiKey = make('ApiKey', 'HTTP API key of the app backend', SECRET_GENERATION.apiKey);
    this.cacheAuth = make('CacheAuth', 'ElastiCache AUTH token', SECRET_GENERATION.cacheAuth);
  }
}
