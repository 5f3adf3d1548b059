// One server per data directory. The lock is a file holding the owner's PID, created exclusively.
// A lock left by a process that no longer runs (kill -9) is taken over; one held by a live process
// (or by another server in this process) refuses the start.
import * as fs from 'node:fs';
import * as path from 'node:path';

const heldHere = new Set<string>();

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`data dir ${dir} is in use by another etcd server (pid ${pid}); refusing to start`);
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DataDirLock {
  private constructor(
    private readonly file: string,
    private readonly dir: string,
  ) {}

  static acquire(dataDir: string): DataDirLock {
    const dir = path.resolve(dataDir);
    const file = path.join(dir, 'member', 'lock');
    if (heldHere.has(dir)) throw new DataDirLockedError(dataDir, process.pid);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx', 0o600);
        fs.writeSync(fd, `${process.pid}\n`);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        heldHere.add(dir);
        return new DataDirLock(file, dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = parseInt(fs.readFileSync(file, 'utf8'), 10);
        if (Number.isFinite(pid) && pid !== process.pid && alive(pid)) throw new DataDirLockedError(dataDir, pid);
        fs.rmSync(file, { force: true }); // stale: its owner is gone
      }
    }
    throw new Error(`cannot lock data dir ${dataDir}`);
  }

  release(): void {
    heldHere.delete(this.dir);
    fs.rmSync(this.file, { force: true });
  }
}
