// The process entry of the CLI bundle (dist/etcdctl.cjs): run, then exit with the command's code
// without waiting for gRPC channels to wind down.
import { run } from './main.js';

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
