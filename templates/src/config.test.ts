import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultRiverConfig, parseRiverConfig, RiverConfigError } from './config.js';

const deployDoc = readFileSync(new URL('../../docs/deploy-aws.md', import.meta.url), 'utf8');

function fails(raw: unknown, field: string, text: RegExp): void {
  let err: unknown;
  try {
    parseRiverConfig(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RiverConfigError);
  const e = err as RiverConfigError;
  expect(e.code).toBe('config_invalid');
  expect(e.field).toBe(field);
  expect(e.message).toContain(`"${field}"`);
  expect(e.message).toMatch(text);
}

describe('parseRiverConfig', () => {
  it('fills every default from an empty file', () => {
    expect(parseRiverConfig({})).toEqual(defaultRiverConfig());
  });

  it('has the defaults the table of docs/deploy-aws.md states, and the table states every one', () => {
    // Rows such as | `taskCpu`, `taskMemory` | `256`, `512` | …: the fields and their defaults, in order.
    const documented: Record<string, unknown> = {};
    for (const row of deployDoc.split('\n').filter((l) => l.startsWith('| `'))) {
      const [fields = '', defaults = ''] = row.split('|').slice(1, 3);
      const names = [...fields.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
      const values = [...defaults.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      names.forEach((name, i) => {
        if (values[i] !== undefined) documented[name] = values[i];
      });
    }
    const defaults = defaultRiverConfig() as unknown as Record<string, unknown>;
    for (const [field, value] of Object.entries(defaults)) expect(JSON.parse(String(documented[field])), field).toEqual(value);
    const jsonValued = Object.entries(documented).filter(([, text]) => {
      try {
        JSON.parse(String(text));
        return true;
      } catch {
        return false; // `node:24-bookworm-slim`: the image build's default, not the file's
      }
    });
    expect(Object.keys(defaults).sort()).toEqual(jsonValued.map(([field]) => field).sort());
  });

  it('keeps a full valid config', () => {
    const raw = {
      name: 'chat-prod',
      region: 'eu-west-1',
      domain: 'rt.example.com',
      hostedZoneId: 'Z0123456789ABC',
      hostedZoneName: 'example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123',
      taskCpu: 1024,
      taskMemory: 4096,
      minTasks: 3,
      maxTasks: 30,
      natGateways: 2,
      logRetentionDays: 365,
      cache: { mode: 'serverless', engine: 'redis', nodeType: 'cache.r7g.large' },
      image: 'public.ecr.aws/x/river:1.0',
      allowedOrigins: ['https://app.example.com', 'https://*.example.com', 'http://localhost:3000'],
      publishConcurrency: 0,
      publishRateLimit: 50,
      publishBurstLimit: 100,
      accessLogs: true,
      containerInsights: true,
      console: true,
    };
    expect(parseRiverConfig(raw)).toEqual(raw);
  });

  it('checks the operations settings', () => {
    fails({ publishConcurrency: -1 }, 'publishConcurrency', /integer from 0 to 1000/);
    fails({ publishRateLimit: 0 }, 'publishRateLimit', /integer from 1 to 100000/);
    fails({ publishBurstLimit: 5001 }, 'publishBurstLimit', /integer from 1 to 5000/);
    fails({ accessLogs: 'yes' }, 'accessLogs', /true or false/);
    fails({ containerInsights: 1 }, 'containerInsights', /true or false/);
    fails({ console: 'on' }, 'console', /true or false/);
  });

  it('merges a partial cache section with its defaults', () => {
    expect(parseRiverConfig({ cache: { mode: 'serverless' } }).cache).toEqual({
      mode: 'serverless',
      engine: 'valkey',
      nodeType: 'cache.t4g.micro',
    });
  });

  it('names the field and the rule of each mistake', () => {
    fails([], '(root)', /JSON object/);
    fails({ nmae: 'x' }, 'nmae', /not a known setting/);
    fails({ name: 'River_1' }, 'name', /lowercase letters/);
    fails({ name: 'a'.repeat(33) }, 'name', /1 to 32/);
    fails({ region: 'useast1' }, 'region', /AWS region/);
    fails({ taskCpu: 300 }, 'taskCpu', /one of 256, 512/);
    fails({ taskCpu: 256, taskMemory: 4096 }, 'taskMemory', /one of 512, 1024, 2048 for taskCpu 256 \(got 4096\)/);
    fails({ minTasks: 0 }, 'minTasks', /integer from 1/);
    fails({ minTasks: 1.5 }, 'minTasks', /integer/);
    fails({ minTasks: 5, maxTasks: 3 }, 'maxTasks', /at least minTasks \(5\)/);
    fails({ natGateways: 3 }, 'natGateways', /from 0 to 2/);
    fails({ logRetentionDays: 10 }, 'logRetentionDays', /one of 1, 3, 5, 7, 14, 30/);
    fails({ cache: 'redis' }, 'cache', /object/);
    fails({ cache: { mode: 'cluster' } }, 'cache.mode', /"node", "serverless"/);
    fails({ cache: { engine: 'memcached' } }, 'cache.engine', /"valkey", "redis"/);
    fails({ cache: { nodeType: 't4g.micro' } }, 'cache.nodeType', /ElastiCache node type/);
    fails({ cache: { size: 1 } }, 'cache.size', /not a known setting/);
    fails({ image: 'has space' }, 'image', /without spaces/);
    fails({ baseImage: 'mirror.example.com/node:24 slim' }, 'baseImage', /without spaces/);
    fails({ baseImage: 7 }, 'baseImage', /string|without spaces/);
    fails(
      { image: 'public.ecr.aws/x/river:1.0', baseImage: 'mirror.example.com/library/node:24-bookworm-slim' },
      'baseImage',
      /no effect with "image".*remove one/,
    );
    expect(parseRiverConfig({ baseImage: 'mirror.example.com/library/node:24-bookworm-slim' }).baseImage).toBe(
      'mirror.example.com/library/node:24-bookworm-slim',
    );
    fails({ allowedOrigins: 'https://a.example.com' }, 'allowedOrigins', /list of 1 to 50 origins/);
    fails({ allowedOrigins: [] }, 'allowedOrigins', /list of 1 to 50 origins/);
    fails(
      { allowedOrigins: ['https://a.example.com/'] },
      'allowedOrigins',
      /no path or trailing slash \(got "https:\/\/a\.example\.com\/"\)/,
    );
    fails({ allowedOrigins: ['a.example.com'] }, 'allowedOrigins', /scheme and host/);
    fails({ allowedOrigins: ['https://A.example.com'] }, 'allowedOrigins', /lowercase/);
    fails({ allowedOrigins: ['https://a.example.com,https://b.example.com'] }, 'allowedOrigins', /scheme and host/);
    fails({ allowedOrigins: Array.from({ length: 51 }, (_, i) => `https://a${i}.example.com`) }, 'allowedOrigins', /1 to 50/);
    expect(parseRiverConfig({ allowedOrigins: ['*'] }).allowedOrigins).toEqual(['*']);
    expect(parseRiverConfig({ allowedOrigins: ['https://a.example.com', 'https://a.example.com'] }).allowedOrigins).toEqual([
      'https://a.example.com',
    ]);
  });

  it('checks domain, certificate and hosted zone together', () => {
    fails({ domain: 'RT.example.com' }, 'domain', /lowercase DNS name/);
    fails({ domain: 'rt.example.com' }, 'certificateArn', /required with "domain"/);
    fails({ certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x' }, 'certificateArn', /needs "domain"/);
    fails({ domain: 'rt.example.com', certificateArn: 'arn:aws:iam::123:x' }, 'certificateArn', /ACM certificate ARN/);
    fails(
      { domain: 'rt.example.com', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x' },
      'certificateArn',
      /deployment region us-east-1/,
    );
    fails({ domain: 'rt.example.com', hostedZoneId: 'Z123' }, 'hostedZoneName', /give both/);
    fails({ domain: 'rt.example.com', hostedZoneName: 'example.com' }, 'hostedZoneId', /give both/);
    fails({ domain: 'rt.example.com', hostedZoneId: 'Z123', hostedZoneName: 'other.com' }, 'hostedZoneName', /parent of it/);
    fails({ domain: 'rt.example.com', hostedZoneId: 'z123', hostedZoneName: 'example.com' }, 'hostedZoneId', /hosted zone id/);
    expect(parseRiverConfig({ domain: 'rt.example.com', hostedZoneId: 'Z123', hostedZoneName: 'example.com.' }).hostedZoneName).toBe(
      'example.com',
    );
    expect(parseRiverConfig({ domain: 'example.com', hostedZoneId: 'Z123', hostedZoneName: 'example.com' }).domain).toBe('example.com');
  });
});
