// Directory sync, needed after creating, renaming or removing files whose existence must survive
// a crash (a file's own fsync does not cover its directory entry).
import * as fs from 'node:fs';

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
