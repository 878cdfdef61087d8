/**
 * Draws the charts of an earlier run: node --import tsx bench/src/render-charts.ts bench/results/<run>.json
 * (writes <run>-us-per-message.svg, -delivered-vs-offered.svg and -latency.svg beside it).
 */
import { readFileSync } from 'node:fs';
import { writeCharts } from './charts.js';
import type { RunResult } from './report.js';

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node --import tsx bench/src/render-charts.ts bench/results/<run>.json');
  process.exit(1);
}
for (const svg of writeCharts(JSON.parse(readFileSync(file, 'utf8')) as RunResult, file)) console.log(svg);
