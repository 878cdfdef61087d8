// Builds @river/client: one self-contained ESM file (the protocol helpers it uses are bundled in, so
// the package has no runtime dependency) plus a minified copy for browsers. Types come from tsc.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  conditions: ['river-source'],
  logLevel: 'warning',
};
await build({ ...common, outfile: 'dist/index.js' }); // readable ESM, no map: bundlers map it themselves
// The minified file is served to browsers as is: its map (sources inlined) ships in the package.
await build({ ...common, outfile: 'dist/river.min.js', minify: true, sourcemap: true });
const min = readFileSync('dist/river.min.js');
console.log(`@river/client: dist/river.min.js ${min.length} B minified, ${gzipSync(min, { level: 9 }).length} B min+gzip`);
