import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, ERROR_CODES, HTTP_STATUS, closeName, reconnectPolicy } from './codes.js';

// The codes live in one table each (codes.ts); docs/protocol.md must say the same thing.
const doc = readFileSync(fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url)), 'utf8');

function tableRows(marker: string): string[][] {
  const start = doc.indexOf(`<!-- ${marker}:start -->`);
  const end = doc.indexOf(`<!-- ${marker}:end -->`);
  expect(start, `docs/protocol.md has the ${marker} markers`).toBeGreaterThan(-1);
  return doc
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s|:-]+$/.test(l))
    .slice(1)
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

describe('close codes', () => {
  it('docs/protocol.md lists exactly the codes of CLOSE_CODES with the same names', () => {
    const rows = tableRows('close-codes');
    const documented = rows.map(([code, name]) => [Number(code), name!.match(/`(\w+)`/)![1]]);
    const table = Object.entries(CLOSE_CODES).map(([name, code]) => [code, name]);
    expect(documented.sort()).toEqual(table.sort());
  });

  it('the documented client behaviour matches reconnectPolicy', () => {
    for (const [code, , , does] of tableRows('close-codes')) {
      const policy = reconnectPolicy(Number(code));
      const expected =
        /fresh token/.test(does!) && !/stop/.test(does!)
          ? 'refresh'
          : /^stop/.test(does!)
            ? 'stop'
            : /at once/.test(does!)
              ? 'immediate'
              : 'backoff';
      expect(policy, `code ${code}`).toBe(expected);
    }
  });

  it('names codes and classifies ranges', () => {
    expect(closeName(4003)).toBe('slow_consumer');
    expect(closeName(1000)).toBeUndefined();
    expect(reconnectPolicy(4000)).toBe('immediate');
    expect(reconnectPolicy(4002)).toBe('refresh');
    expect(reconnectPolicy(4499)).toBe('backoff');
    expect(reconnectPolicy(4500)).toBe('stop');
    expect(reconnectPolicy(4999)).toBe('stop');
    expect(reconnectPolicy(1006)).toBe('backoff');
  });
});

describe('error codes', () => {
  it('docs/protocol.md lists exactly ERROR_CODES with their HTTP statuses', () => {
    const documented = Object.fromEntries(tableRows('error-codes').map(([code, status]) => [code!.replace(/`/g, ''), Number(status)]));
    expect(documented).toEqual(HTTP_STATUS);
    expect(Object.keys(documented).sort()).toEqual([...ERROR_CODES].sort());
  });
});
