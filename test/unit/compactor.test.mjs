// Auto-compaction's schedule (src/server/compactor.ts) against etcd 3.4's periodic compactor, on a
// fake clock: the revision is sampled every retention/10, the first compaction comes one retention
// after the start, later ones one retention apart, each to the revision of one retention before.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { startCompactor } from '../../dist/server/compactor.js';

function fakeServer(retention, mode = 'periodic') {
  const s = {
    rev: 5, // a data dir with some history already
    compacted: -1,
    done: [],
    cfg: { autoCompactionMode: mode, autoCompactionRetention: retention },
    kv: { rev: () => s.rev, compactRev: () => s.compacted },
    async propose(req) {
      s.compacted = req.compaction.revision;
      s.done.push({ at: Date.now(), rev: s.compacted });
    },
  };
  return s;
}

test('periodic: compactions one retention apart, each to the revision of one retention before (etcd 3.4)', async () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  try {
    const s = fakeServer('3s');
    const timer = startCompactor(s, () => {});
    // one write every 100 ms: the revision at time t is 5 + t/100
    for (let t = 100; t <= 10_000; t += 100) {
      s.rev++;
      mock.timers.tick(100);
      await Promise.resolve(); // let a proposal's promise settle
      await Promise.resolve();
    }
    clearInterval(timer);
    // real etcd, retention 3s: compactions at about 3 s, 6 s, 9 s; never every sample (0.3 s)
    assert.deepEqual(s.done.map((d) => Math.round(d.at / 100) * 100), [3000, 6000, 9000]);
    // each to a revision between one retention and one retention plus a sample before it
    for (const d of s.done) {
      const revThen = (ms) => 5 + Math.floor(ms / 100);
      assert.ok(d.rev <= revThen(d.at - 3000) && d.rev >= revThen(d.at - 3300), `at ${d.at} ms compacted to ${d.rev}`);
    }
  } finally {
    mock.timers.reset();
  }
});

test('periodic: a retention over an hour compacts every hour, to the revision of one retention before', async () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  try {
    const s = fakeServer('2h');
    const timer = startCompactor(s, () => {});
    const minute = 60_000;
    for (let t = minute; t <= 300 * minute; t += minute) {
      s.rev++; // one write a minute: revision 5 + minutes
      mock.timers.tick(minute);
      await Promise.resolve();
      await Promise.resolve();
    }
    clearInterval(timer);
    assert.deepEqual(s.done.map((d) => Math.round(d.at / minute)), [120, 180, 240, 300]);
    for (const d of s.done) assert.ok(d.rev >= 5 + (d.at / minute - 126) && d.rev <= 5 + (d.at / minute - 120), `${d.at / minute} min: ${d.rev}`);
  } finally {
    mock.timers.reset();
  }
});
