import { describe, expect, it } from 'vitest';
import { UserError } from './errors.js';
import { guardedPrompts, plainSpinner, type PromptDriver } from './io.js';

const driver: PromptDriver = {
  input: async () => 'typed',
  select: async <T>(spec: { choices: readonly { value: T }[] }) => spec.choices[1]!.value,
  confirm: async () => true,
};

describe('prompts without a terminal', () => {
  const prompts = guardedPrompts(driver, false);
  it('take the default where one is given', async () => {
    expect(await prompts.input({ message: 'Region', flag: '--region', default: 'us-east-1' })).toBe('us-east-1');
    expect(
      await prompts.select({
        message: 'Cache',
        flag: '--cache',
        choices: [
          { name: 'a', value: 'a' },
          { name: 'b', value: 'b' },
        ],
        default: 'a',
      }),
    ).toBe('a');
    expect(await prompts.confirm({ message: 'Go?', flag: '--yes', default: false, safeWithoutTerminal: true })).toBe(false);
  });
  it('fail with a UserError naming the flag otherwise (never wait)', async () => {
    await expect(prompts.input({ message: 'Domain', flag: '--domain' })).rejects.toThrow(UserError);
    await expect(prompts.input({ message: 'Domain', flag: '--domain' })).rejects.toMatchObject({ hint: 'pass --domain' });
    await expect(prompts.confirm({ message: 'Destroy?', flag: '--yes', default: false })).rejects.toMatchObject({ hint: 'pass --yes' });
  });
  it('ask the driver on a terminal', async () => {
    const tty = guardedPrompts(driver, true);
    expect(await tty.input({ message: 'Domain', flag: '--domain' })).toBe('typed');
    expect(await tty.confirm({ message: 'Destroy?', flag: '--yes' })).toBe(true);
  });
});

describe('spinner without a terminal', () => {
  it('prints one plain line per distinct text', () => {
    const lines: string[] = [];
    const s = plainSpinner((l) => lines.push(l), 'deploying');
    s.update('deploying 1/4');
    s.update('deploying 1/4');
    s.update('deploying 2/4');
    s.succeed('deployed');
    expect(lines).toEqual(['deploying', 'deploying 1/4', 'deploying 2/4', 'deployed']);
  });
});
