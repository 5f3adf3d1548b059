// serve [etcd flags...]: runs the etcd-ts server in this process with etcd's own flags.
// The server module is found at run time next to the CLI (dist/server/main.js), so the CLI bundle
// never includes the server and a plain `etcdctl get` never loads it.
import { Command } from 'commander';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { distDir } from '../here.js';

export async function runServe(args: string[]): Promise<void> {
  const spec = pathToFileURL(path.join(distDir(), 'server', 'main.js')).href;
  const m = (await import(spec)) as { runServerMain(argv: string[]): Promise<void> };
  await m.runServerMain(args);
}

export function newServeCommand(): Command {
  return new Command('serve')
    .description("Runs the etcd-ts server (takes etcd's flags)")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => runServe(args));
}
