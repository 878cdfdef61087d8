import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.js';
import { RIVER_DOCKERFILE } from './test-fixtures.js';
import { formatRef, parseImageRef, registryBaseUrl } from './reference.js';

describe('parseDockerfile', () => {
  it('reads every instruction of the RUN-free Dockerfile', () => {
    const spec = parseDockerfile(RIVER_DOCKERFILE);
    expect(spec).toEqual({
      base: 'node:24-bookworm-slim',
      env: [
        ['NODE_ENV', 'production'],
        ['RIVER_PORT', '4400'],
      ],
      workdir: '/app',
      copy: { src: 'app', dest: '/app' },
      user: 'node',
      exposedPorts: ['4400/tcp'],
      stopSignal: 'SIGTERM',
      healthcheck: { test: ['CMD', 'node', '-e', 'process.exit(0)'], intervalNs: 15e9, timeoutNs: 5e9, startPeriodNs: 20e9, retries: 3 },
      cmd: ['node', 'server/main.js'],
      history: expect.arrayContaining(['COPY app/ /app/', 'CMD ["node", "server/main.js"]']) as unknown as string[],
    });
  });

  it('BASE_IMAGE build argument overrides the ARG default', () => {
    expect(parseDockerfile(RIVER_DOCKERFILE, { BASE_IMAGE: '127.0.0.1:5000/base:1' }).base).toBe('127.0.0.1:5000/base:1');
  });

  it('ENV: quoted values, legacy form, a later key replaces an earlier one', () => {
    const spec = parseDockerfile('FROM x\nENV A="a b" B=\'c\'\nENV C d e\nENV A=z\nCOPY app /app\n');
    expect(spec.env).toEqual([
      ['B', 'c'],
      ['C', 'd e'],
      ['A', 'z'],
    ]);
    expect(spec.cmd).toBeUndefined();
  });

  it('refuses anything a builder would have to run, naming the instruction and its line', () => {
    expect(() => parseDockerfile('FROM node:24\n\n# build\nRUN npm ci\nCOPY app/ /app/\n')).toThrow(
      'Dockerfile line 4: RUN is not supported without a container builder',
    );
    expect(() => parseDockerfile('FROM a AS build\nCOPY app /app\n')).toThrow(/line 1: FROM with options or a stage name/);
    expect(() => parseDockerfile('FROM a\nFROM b\n')).toThrow(/line 2: a second FROM/);
    expect(() => parseDockerfile('FROM a\nCOPY --from=build /x /app\n')).toThrow(/line 2: COPY options/);
    expect(() => parseDockerfile('FROM a\nCOPY ../x /app\n')).toThrow(/line 2: COPY source must be a directory inside the context/);
    expect(() => parseDockerfile('FROM a\nCOPY app /app\nCOPY b /b\n')).toThrow(/line 3: a second COPY/);
    expect(() => parseDockerfile('FROM a\nENV A=1\n')).toThrow('Dockerfile has no COPY');
    expect(() => parseDockerfile('FROM $NOPE\n')).toThrow(/line 1: \$NOPE has no value/);
    expect(() => parseDockerfile('FROM a\nHEALTHCHECK --interval=soon CMD ["x"]\nCOPY a /a\n')).toThrow(/line 2: "soon" is not a duration/);
    expect(() => parseDockerfile('FROM a\nADD x /app\n')).toThrow(/line 2: ADD is not supported/);
  });
});

describe('image references', () => {
  it.each([
    ['node:24-bookworm-slim', 'registry-1.docker.io', 'library/node', '24-bookworm-slim'],
    ['docker.io/bitnami/redis', 'registry-1.docker.io', 'bitnami/redis', 'latest'],
    ['public.ecr.aws/docker/library/node:24-bookworm-slim', 'public.ecr.aws', 'docker/library/node', '24-bookworm-slim'],
    ['127.0.0.1:5000/base@sha256:abc', '127.0.0.1:5000', 'base', 'sha256:abc'],
  ])('resolves %s as docker does (Docker Hub short names included)', (ref, registry, repository, reference) => {
    expect(parseImageRef(ref)).toEqual({ registry, repository, reference });
  });

  it('formats a reference back, and refuses what is not one', () => {
    expect(formatRef(parseImageRef('localhost:5000/a/b:1'))).toBe('localhost:5000/a/b:1');
    expect(() => parseImageRef('Upper/Case')).toThrow(/not an image reference/);
  });

  it('speaks plain HTTP to loopback registries only', () => {
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryBaseUrl('localhost:5000')).toBe('http://localhost:5000');
    expect(registryBaseUrl('123456789012.dkr.ecr.us-east-1.amazonaws.com')).toBe('https://123456789012.dkr.ecr.us-east-1.amazonaws.com');
  });
});
