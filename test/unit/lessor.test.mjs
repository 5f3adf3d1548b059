// Unit tests of the lessor with a fake clock: grant rules, renew, expiry through the revoker,
// restart (leases come back with their TTL renewed), keys attached and detached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lessor, MAX_LEASE_TTL } from '../../dist/server/lease/lessor.js';

class FakeClock {
  t = 1_000_000;
  timers = new Set();
  now() {
    return this.t;
  }
  every(ms, fn) {
    const timer = { ms, fn, next: this.t + ms };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }
  /** Moves time forward, firing every timer that falls due, in order. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let due;
      for (const tm of this.timers) if (tm.next <= end && (!due || tm.next < due.next)) due = tm;
      if (!due) break;
      this.t = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.t = end;
  }
}

class MemStore {
  rows = new Map();
  load() {
    return [...this.rows].map(([id, ttl]) => ({ id, ttl }));
  }
  put(id, ttl) {
    this.rows.set(id, ttl);
  }
  remove(id) {
    this.rows.delete(id);
  }
}

/** A lessor whose revoker applies the revoke at once, as the log would, and records it. */
function setup({ store = new MemStore(), clock = new FakeClock(), minTTL = 2 } = {}) {
  const lessor = new Lessor(store, { minTTL, clock });
  const revoked = [];
  const revoker = async (id) => {
    revoked.push({ id, at: clock.now() });
    lessor.revoke(id);
  };
  return { lessor, store, clock, revoked, revoker };
}

const code = (name) => (e) => {
  assert.equal(e.errorName, name);
  return true;
};

test('grant: min TTL raises small, zero and negative TTLs; too large, duplicate and ID 0 are refused', () => {
  const { lessor, store } = setup();
  assert.equal(lessor.grant('1', 0), 2);
  assert.equal(lessor.grant('2', -5), 2);
  assert.equal(lessor.grant('3', 1), 2);
  assert.equal(lessor.grant('4', 60), 60);
  assert.equal(lessor.grant('5', MAX_LEASE_TTL), MAX_LEASE_TTL);
  assert.throws(() => lessor.grant('6', MAX_LEASE_TTL + 1), code('LeaseTTLTooLarge'));
  assert.throws(() => lessor.grant('4', 10), code('LeaseExist'));
  assert.throws(() => lessor.grant('0', 10), code('LeaseNotFound'));
  assert.equal(lessor.lookup('4').ttl, 60, 'a refused duplicate leaves the lease alone');
  assert.deepEqual([...store.rows], [['1', 2], ['2', 2], ['3', 2], ['4', 60], ['5', MAX_LEASE_TTL]]);
});

test('expiry: a lease is handed to the revoker once its TTL has passed, not before', async () => {
  const { lessor, clock, revoked, revoker } = setup();
  lessor.promote(revoker, 0);
  lessor.grant('10', 5);
  lessor.attach('10', 'a');
  clock.advance(4900);
  assert.deepEqual(revoked, []);
  assert.equal(lessor.lookup('10').remaining, 0);
  clock.advance(600);
  assert.equal(revoked.length, 1);
  assert.equal(revoked[0].id, '10');
  assert.ok(revoked[0].at >= 1_000_000 + 5000);
  assert.equal(lessor.exists('10'), false);
});

test('renew pushes expiry back by the TTL; remaining time is truncated to whole seconds', async () => {
  const { lessor, clock, revoked, revoker } = setup();
  lessor.promote(revoker, 0);
  lessor.grant('7', 10);
  clock.advance(8500);
  assert.equal(lessor.lookup('7').remaining, 1);
  assert.equal(await lessor.renew('7'), 10);
  assert.equal(lessor.lookup('7').remaining, 10);
  clock.advance(9000);
  assert.deepEqual(revoked, []);
  clock.advance(1500);
  assert.deepEqual(revoked.map((r) => r.id), ['7']);
  await assert.rejects(lessor.renew('7'), code('LeaseNotFound'));
  await assert.rejects(lessor.renew('404'), code('LeaseNotFound'));
});

test('renew of an expired lease waits for its revoke, then says not found', async () => {
  const clock = new FakeClock();
  const lessor = new Lessor(new MemStore(), { minTTL: 2, clock });
  const proposed = [];
  lessor.promote(async (id) => proposed.push(id), 0); // the revoke is "in the log", not applied yet
  lessor.grant('5', 2);
  clock.advance(2600);
  assert.deepEqual(proposed, ['5']);
  let settled = false;
  const p = lessor.renew('5').catch((e) => {
    settled = true;
    return e;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'still waiting while the revoke is in flight');
  assert.deepEqual(lessor.revoke('5'), []);
  assert.equal((await p).errorName, 'LeaseNotFound');
});

test('a revoke that fails is proposed again after the retry interval', async () => {
  const clock = new FakeClock();
  const lessor = new Lessor(new MemStore(), { minTTL: 2, clock, revokeRetryMs: 3000 });
  const tries = [];
  lessor.promote(async (id) => {
    tries.push(clock.now());
    throw new Error('server stopped');
  }, 0);
  lessor.grant('9', 2);
  clock.advance(2500);
  assert.equal(tries.length, 1);
  clock.advance(2000);
  assert.equal(tries.length, 1);
  clock.advance(1500);
  assert.equal(tries.length, 2);
});

test('revoke returns the attached keys; detach and re-attach move keys between leases', () => {
  const { lessor } = setup();
  lessor.grant('1', 10);
  lessor.grant('2', 10);
  lessor.attach('1', 'b');
  lessor.attach('1', 'a');
  lessor.attach('1', 'c');
  lessor.detach('1', 'c');
  lessor.attach('2', 'c');
  assert.deepEqual(lessor.lookup('1').keys, ['a', 'b']);
  assert.deepEqual(lessor.revoke('1').sort(), ['a', 'b']);
  assert.throws(() => lessor.revoke('1'), code('LeaseNotFound'));
  assert.deepEqual(lessor.lookup('2').keys, ['c']);
});

test('restart: persisted leases come back with keys re-attached and their full TTL plus the extension', () => {
  const store = new MemStore();
  const clock = new FakeClock();
  const first = setup({ store, clock });
  first.lessor.promote(first.revoker, 0);
  first.lessor.grant('1', 10);
  first.lessor.grant('2', 3);
  first.lessor.grant('3', 4);
  first.lessor.revoke('3');
  clock.advance(9000); // lease 2 expired and was revoked; lease 1 has 1 s left
  assert.deepEqual(first.revoked.map((r) => r.id), ['2']);
  first.lessor.stop();

  clock.advance(60_000); // down for a minute
  const again = setup({ store, clock });
  again.lessor.recoverKeys([{ key: 'k', lease: '1' }, { key: 'x', lease: '0' }]);
  assert.deepEqual(again.lessor.list().map((l) => l.id), ['1']);
  again.lessor.promote(again.revoker, 1000);
  assert.equal(again.lessor.lookup('1').remaining, 11);
  assert.deepEqual(again.lessor.lookup('1').keys, ['k']);
  clock.advance(10_900);
  assert.deepEqual(again.revoked, [], 'never early');
  clock.advance(600);
  assert.deepEqual(again.revoked.map((r) => r.id), ['1']);
});

test('list is in expiry order; revokes are rate limited per check', () => {
  const clock = new FakeClock();
  const lessor = new Lessor(new MemStore(), { minTTL: 2, clock, revokeRate: 4, checkIntervalMs: 500 });
  const proposed = [];
  lessor.promote(async (id) => {
    proposed.push(id);
    lessor.revoke(id);
  }, 0);
  lessor.grant('30', 30);
  lessor.grant('10', 10);
  lessor.grant('20', 20);
  assert.deepEqual(lessor.list().map((l) => l.id), ['10', '20', '30']);
  for (let i = 0; i < 6; i++) lessor.grant(String(100 + i), 2);
  clock.advance(2000);
  assert.equal(proposed.length, 2, 'two per 500 ms check at 4 per second');
  clock.advance(1000);
  assert.equal(proposed.length, 6);
});
