import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests run against the TypeScript sources of the workspace packages; processes spawned by
// e2e tests run the built dist/ (npm test builds first).
const alias = {
  '@river/protocol': src('./sdks/protocol/src/index.ts'),
  '@river/server': src('./server/src/index.ts'),
  '@river/client': src('./sdks/client/src/index.ts'),
  '@river/node': src('./sdks/node/src/index.ts'),
  '@river/templates': src('./templates/src/index.ts'),
  river: src('./cli/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    env: {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake',
      AWS_REGION: 'us-east-1',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{sdks,server,cli,templates,bench,examples}/**/src/**/*.test.ts', '{bench,examples}/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
