// defrag --data-dir: etcdctl opens <dir>/member/snap/db as an etcd (bbolt) backend and rewrites it
// compactly. We do not rewrite bbolt files: a bbolt database is checked and reported as
// unsupported; anything else gets the error etcdctl gives, which on etcd 3.4 is a panic (exit 2)
// with this first line. Our own server keeps an LMDB backend, which is not bbolt either.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BoltReader, goPathError } from '../bbolt/reader.js';
import { CliError, ExitCode } from './errors.js';
import { capnslogTime } from './printers/go-format.js';
import type { Io } from './context.js';

/** The exit code of a Go panic. */
const GO_PANIC_EXIT = 2 as ExitCode;


export async function defragDataDir(dataDir: string, io: Io): Promise<void> {
  const db = path.join(dataDir, 'member', 'snap', 'db');
  let why: string;
  try {
    const st = fs.statSync(db);
    if (st.isDirectory()) throw new Error(goPathError('open', db, { code: 'EISDIR' } as NodeJS.ErrnoException));
    BoltReader.open(db).close();
    why = 'offline defragmentation of bbolt files is not supported by etcd-ts';
    io.err(`Failed to defragment etcd data[${dataDir}] (${why})\n`);
    throw new CliError(ExitCode.Error, '');
  } catch (e) {
    if (e instanceof CliError) throw e;
    why = (e as NodeJS.ErrnoException).code ? goPathError('open', db, e as NodeJS.ErrnoException) : (e as Error).message;
  }
  const msg = `cannot open database at ${db} (${why})`;
  throw new CliError(GO_PANIC_EXIT, '', `${capnslogTime()} C | mvcc/backend: ${msg}\npanic: ${msg}\n\n`);
}
