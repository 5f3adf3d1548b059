// Where the running CLI code lives on disk, in the ESM build (dist/cli/...) and in the CJS bundle
// (dist/etcdctl.cjs, where esbuild defines import.meta.url from __filename).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dist/ directory this code runs from. */
export function distDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (path.basename(dir) === 'dist') return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
}
