/** docs/cli.md against the code: the exit-code table and one section per command. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from './errors.js';
import { buildProgram } from './program.js';
import { testContext } from './test-context.js';

const doc = await readFile(new URL('../../docs/cli.md', import.meta.url), 'utf8');

describe('docs/cli.md', () => {
  it('lists exactly the exit codes of EXIT_CODES', () => {
    const section = doc.slice(doc.indexOf('## Exit codes'), doc.indexOf('\n## ', doc.indexOf('## Exit codes') + 1));
    const codes = [...section.matchAll(/^\| (\d+) +\|/gm)].map((m) => Number(m[1]));
    expect(codes).toEqual(Object.values(EXIT_CODES).sort((a, b) => a - b));
  });

  it('documents every command and every flag', () => {
    const program = buildProgram(testContext({ cwd: '/' }).ctx);
    const leaves = program.commands.flatMap((c) =>
      c.commands.length > 0 ? c.commands.map((s) => ({ name: `${c.name()} ${s.name()}`, cmd: s })) : [{ name: c.name(), cmd: c }],
    );
    for (const { name, cmd } of leaves) {
      const heading = doc.indexOf(`### \`river ${name}`);
      expect(heading, `docs/cli.md has no section for river ${name}`).toBeGreaterThan(-1);
      const section = doc.slice(heading, doc.indexOf('\n##', heading + 1) === -1 ? undefined : doc.indexOf('\n##', heading + 1));
      for (const opt of cmd.options) {
        if (opt.long === '--help') continue;
        expect(section, `river ${name} ${opt.long} is not documented`).toContain(opt.long);
      }
    }
  });
});
