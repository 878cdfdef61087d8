import { describe, expect, it } from 'vitest';
import { loadConfig } from '@river/server';
import { tempProject, testContext } from '../test-context.js';

describe('river secret generate', () => {
  it('prints a fresh 32-byte base64url secret that a node outside river dev accepts as key and secret', async () => {
    const project = await tempProject();
    const printed: string[] = [];
    for (let i = 0; i < 2; i++) {
      const t = testContext({ cwd: project.dir });
      expect(await t.run(['secret', 'generate'])).toBe(0);
      printed.push(t.io.stdoutText().trim());
    }
    expect(printed[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(printed[1]).not.toBe(printed[0]);
    expect(loadConfig({ RIVER_JWT_SECRET: printed[0], RIVER_API_KEY: printed[1] }).apiKeys).toEqual([printed[1]]);
  });
});
