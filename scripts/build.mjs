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

// The CLI bundle: one CommonJS file with commander, grpc-js and the rest bundled in (one file
// loads far faster than hundreds of modules), and a small launcher that runs it through a V8 code
// cache. import.meta.url becomes the bundle's own URL so proto/ and dist/server/ are found from it.
const cliStarted = Date.now();
// commander loads child_process eagerly for executable subcommands, which etcdctl does not use;
// load it on first use instead (about 6 ms of every start).
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const src = (await readFile(args.path, 'utf8')).replace(
        "const childProcess = require('node:child_process');",
        "let lazyCp; const childProcess = new Proxy({}, { get: (_t, k) => (lazyCp ??= require('node:child_process'))[k] });",
      );
      return { contents: src, loader: 'js' };
    });
  },
};
// The etcd API's message, enum and service tables (src/client/codec.ts's Schema), read from proto/
// here (by the module just built into dist/) and embedded in the bundle: no .proto parsing,
// protobufjs or grpc-js when the CLI starts.
const { buildSchema } = await import('../dist/client/schema.js');
const apiSchema = buildSchema('proto');
await build({
  entryPoints: ['src/cli/entry.ts'],
  outfile: 'dist/etcdctl.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // cli-table3 loads from node_modules only when a table is printed; chalk (ESM-only, so it cannot
  // be required on node 20) is bundled, and initialised only when colour is used.
  external: ['lmdb', 'cli-table3'],
  minify: true,
  define: { 'import.meta.url': '__etcdctlUrl', __ETCD_API_SCHEMA__: JSON.stringify(apiSchema) },
  // src/api/errors.ts needs only grpc-js's status numbers; the CLI bundle does not carry grpc-js.
  alias: { '@grpc/grpc-js': './src/client/grpc-status-shim.ts' },
  plugins: [lazyChildProcess],
  banner: { js: 'const __etcdctlUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
});
await build({
  entryPoints: ['src/cli/launch.ts'],
  outfile: 'dist/etcdctl-launch.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
console.log(`build: dist/etcdctl.cjs in ${Date.now() - cliStarted} ms`);
