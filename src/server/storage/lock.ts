// One server per data directory. The lock is a file holding the owner's PID, created exclusively.
// A lock left by a process that no longer runs (kill -9) is taken over; one held by a live process
// (or by another server in this process) refuses the start.
//
// A PID alone is not enough after a kill -9: the number can be reused by an unrelated process (in a
// container, PIDs are small and start over from the same numbers), which would keep the data dir
// locked for good. So on Linux the file also records the owner's start time (field 22 of
// /proc/PID/stat) and the boot it ran in; a live PID whose start time or boot differs is not the
// owner. (etcd itself holds an flock, which the kernel drops with the process; node has no flock.)
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

/** The process's start time since boot, in clock ticks, where /proc has it; else ''. */
function startTime(pid: number): string {
  try {
    // the command name (field 2) is in parentheses and may hold spaces: count fields after it
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** What the lock file says of its owner: "PID [START BOOT]". */
function ownerLine(): string {
  const start = startTime(process.pid);
  return start ? `${process.pid} ${start} ${bootId()}\n` : `${process.pid}\n`;
}

/** Whether the process named by a lock file's contents still runs: same PID, start and boot. */
function ownerRuns(contents: string): number | undefined {
  const [pidText, start, boot] = contents.trim().split(/\s+/);
  const pid = parseInt(pidText, 10);
  if (!Number.isFinite(pid) || pid === process.pid || !alive(pid)) return undefined;
  if (start && boot) {
    const now = startTime(pid);
    if ((now && now !== start) || (bootId() && bootId() !== boot)) return undefined; // PID reused
  }
  return pid;
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
        fs.writeSync(fd, ownerLine());
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        heldHere.add(dir);
        return new DataDirLock(file, dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = ownerRuns(fs.readFileSync(file, 'utf8'));
        if (owner !== undefined) throw new DataDirLockedError(dataDir, owner);
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
