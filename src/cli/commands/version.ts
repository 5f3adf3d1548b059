// version: etcdctl's version lines (the same for every -w).
import { Command } from 'commander';
import { contextOf } from '../context.js';

export const ETCDCTL_VERSION = '3.4.23';
export const ETCD_API_VERSION = '3.4';

export function newVersionCommand(): Command {
  return new Command('version')
    .description('Prints the version of etcdctl')
    .allowExcessArguments(true)
    .action((_o: unknown, cmd: Command) => {
      contextOf(cmd).io.out(`etcdctl version: ${ETCDCTL_VERSION}\nAPI version: ${ETCD_API_VERSION}\n`);
    });
}
