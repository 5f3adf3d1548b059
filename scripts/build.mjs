// Build: (1) every src/ module transpiled to dist/ (ESM, one file per module) for the library entry
// and the unit tests; (2) the CLI bundled into one file, dist/etcdctl.cjs, because one file starts
// much faster than hundreds of modules. Native and server-only packages stay external.
import { build } from 'esbuild';
import { readdirSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const started = Date.now();
await build({
  entryPoints: walk('src'),
  outdir: 'dist',
  outbase: 'src',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
mkdirSync('dist', { recursive: true });
writeFileSync('dist/package.json', JSON.stringify({ type: 'module' }) + '\n');
console.log(`build: dist/ in ${Date.now() - started} ms`);
