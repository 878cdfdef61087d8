import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { niceMax, renderCharts, writeCharts } from './charts.js';
import type { RunResult } from './report.js';
import type { StepResult } from './scenarios.js';
import type { TargetResult } from './suite.js';

/**
 * A strict XML well-formedness check (enough of XML 1.0 for SVG): one root element, every tag closed
 * in order, attributes quoted and unique, no raw `<` and no `&` outside an entity in text or values.
 * Returns the element names in document order.
 */
function wellFormed(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (t: string) => {
    if (t.replace(entity, '').match(/[<&]/)) throw new Error(`bad text: ${t.slice(0, 60)}`);
  };
  let i = 0;
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root: ${text.slice(0, 40)}`);
    checkText(text);
    if (lt === -1) break;
    const gt = xml.indexOf('>', lt);
    if (gt === -1) throw new Error('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
    } else {
      const selfClosing = tag.endsWith('/');
      const m = /^([A-Za-z][\w:.-]*)((?:\s+[A-Za-z][\w:.-]*="[^"<]*")*)\s*\/?$/.exec(tag);
      if (!m) throw new Error(`malformed tag <${tag.slice(0, 60)}>`);
      const attrs = [...m[2]!.matchAll(/([A-Za-z][\w:.-]*)="([^"]*)"/g)];
      const seen = new Set<string>();
      for (const [, a, v] of attrs) {
        if (seen.has(a!)) throw new Error(`duplicate attribute ${a}`);
        seen.add(a!);
        checkText(v!);
      }
      if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
      names.push(m[1]!);
      if (!selfClosing) stack.push(m[1]!);
    }
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return names;
}

const latency = { p50: 40, p99: 120, max: 200, samples: 1000 };
function step(label: string, subscribers: number, usPerMsg: number, offered = 40_000, delivered = offered): StepResult {
  return {
    label,
    subscribers,
    published: 10,
    expected: 10 * subscribers,
    delivered: 10 * subscribers,
    cpuMs: 100,
    usPerMsg,
    generatorUsPerMsg: 3,
    deliveredPerSec: delivered,
    offeredPerSec: offered,
    latency,
    closes: {},
    publishErrors: 0,
    lastError: '',
  };
}
function target(name: string, base: number): TargetResult {
  return {
    name,
    kind: name === 'River' ? 'river' : 'raw',
    steps: [step('single', 1000, base + 2), step('single', 5000, base), step('batch10', 5000, base / 5)],
    rateSteps: [step('rate 4/s', 5000, base, 20_000), step('rate 8/s', 5000, base, 40_000, 36_000)],
    accept: [],
    errors: [],
  };
}
const run: RunResult = {
  startedAt: '2026-12-07T02:30:00.000Z',
  mode: 'full',
  machine: { cpus: 2, model: 'x', node: 'v24', kernel: 'k', loadavg: [1, 1, 1] },
  command: 'npm run bench -- --full',
  targets: [target('raw floor', 10), target('bare ws', 14), target('River', 15), target('A&B <"quoted">', 60)],
};

describe('bench charts', () => {
  it('draws µs per message, delivered against offered and latency as well-formed SVG with every server', () => {
    const charts = renderCharts(run);
    expect(charts.map((c) => c.name)).toEqual(['us-per-message', 'delivered-vs-offered', 'latency']);
    for (const c of charts) {
      const elements = wellFormed(c.svg);
      expect(elements[0]).toBe('svg');
      expect(c.svg).not.toMatch(/NaN|Infinity|undefined/);
      for (const name of ['raw floor', 'bare ws', 'River', 'A&amp;B &lt;&quot;quoted&quot;&gt;']) expect(c.svg).toContain(name);
    }
    const [cost, rate] = charts;
    // One line per server for single messages and one (dashed) for batches, each through its points.
    expect(cost!.svg.match(/<polyline/g)).toHaveLength(8);
    expect(cost!.svg.match(/stroke-dasharray="6 4" points/g)).toHaveLength(4);
    expect(rate!.svg.match(/<polyline/g)).toHaveLength(4);
  });

  it('leaves out a chart without data, and a target without a step', () => {
    const bare: RunResult = {
      ...run,
      targets: [
        { ...target('River', 15), rateSteps: [] },
        { ...target('bare ws', 14), steps: [], rateSteps: [] },
      ],
    };
    const charts = renderCharts(bare);
    expect(charts.map((c) => c.name)).toEqual(['us-per-message', 'latency']);
    for (const c of charts) wellFormed(c.svg);
    expect(charts[0]!.svg).not.toContain('bare ws');
  });

  it('writes the charts next to the JSON', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'river-charts-'));
    try {
      const files = writeCharts(run, path.join(dir, 'run.json'));
      expect(files.map((f) => path.basename(f))).toEqual(['run-us-per-message.svg', 'run-delivered-vs-offered.svg', 'run-latency.svg']);
      for (const f of files) expect(wellFormed(readFileSync(f, 'utf8'))[0]).toBe('svg');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the checker itself refuses what is not well-formed', () => {
    for (const bad of [
      '<svg><g></svg>',
      '<svg a=1/>',
      '<svg>a & b</svg>',
      '<svg/><svg/>',
      '<svg a="1" a="2"/>',
      '<svg><text>x</tex></svg>',
    ]) {
      expect(() => wellFormed(bad), bad).toThrow();
    }
  });

  it('rounds axes up to 1, 2 or 5 × 10^n', () => {
    expect([0.7, 1, 13, 26, 51, 9000, 0].map(niceMax)).toEqual([1, 1, 20, 50, 100, 10_000, 1]);
  });
});
