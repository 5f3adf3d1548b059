// The WAL's sync thread (see wal.ts, "syncThread"): it makes the log durable while the main thread
// goes on serving. The main thread writes each batch of records into the page cache itself, then
// publishes the index of the last record written; this thread loops: whenever the written index is
// ahead of the synced one, it reads that index, runs fdatasync on the current segment and
// publishes the index as synced, then tells the main thread. One fdatasync covers every record
// written before it started, so batches written while a sync runs all go out with the next one, and
// the disk never waits for the main thread to come back from other work (a GC pause, a burst of
// replies) before the next sync starts.
//
// Shared state (a SharedArrayBuffer, see SyncThread in wal.ts): BigInt64 [written, synced], then
// Int32 [fd, stop, waiting]. The main thread changes the fd only while this thread is idle (written
// == synced), and stores it before the written index that needs it. It wakes this thread only when
// `waiting` says it sleeps: a wake-up is a system call (measured: about 4% of the main thread at 256
// clients when made for every batch).
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

export interface SyncWorkerData {
  sab: SharedArrayBuffer;
  /** Modules the main thread was started with via --import (node 20 does not load them here). */
  preload: string[];
}

/** What this thread tells the main thread. */
export type SyncReport = { synced: number; seconds: number } | { error: { message: string; code?: string } };

const data = workerData as SyncWorkerData;
const idx = new BigInt64Array(data.sab, 0, 2);
const ctl = new Int32Array(data.sab, 16, 3);
const WRITTEN = 0;
const SYNCED = 1;
const FD = 0;
const STOP = 1;
const WAITING = 2;

function post(r: SyncReport): void {
  parentPort!.postMessage(r);
}

function loop(): void {
  for (;;) {
    if (Atomics.load(ctl, STOP) !== 0) return;
    let written = Atomics.load(idx, WRITTEN);
    if (written <= Atomics.load(idx, SYNCED)) {
      // say so first, then look again: a write published in between is either seen here or wakes us
      Atomics.store(ctl, WAITING, 1);
      written = Atomics.load(idx, WRITTEN);
      if (written <= Atomics.load(idx, SYNCED) && Atomics.load(ctl, STOP) === 0) Atomics.wait(idx, WRITTEN, written);
      Atomics.store(ctl, WAITING, 0);
      continue;
    }
    const fd = Atomics.load(ctl, FD);
    const start = process.hrtime.bigint();
    try {
      fs.fdatasyncSync(fd);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      post({ error: { message: err.message, code: err.code } });
      return;
    }
    Atomics.store(idx, SYNCED, written);
    post({ synced: Number(written), seconds: Number(process.hrtime.bigint() - start) / 1e9 });
  }
}

for (const m of data.preload) await import(m);
loop();
