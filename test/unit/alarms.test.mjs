// The alarm store: what etcd's alarm store keeps and answers, and the write mode the alarms set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlarmStore, alarmText } from '../../dist/server/apply/alarms.js';

test('activate answers with the alarm whether it is new or not; deactivate only with one that was raised', () => {
  const a = new AlarmStore();
  assert.deepEqual(a.activate('7', 'NOSPACE'), { alarms: [{ memberID: '7', alarm: 'NOSPACE' }], raised: { memberID: '7', alarm: 'NOSPACE' } });
  assert.deepEqual(a.activate('7', 'NOSPACE'), { alarms: [{ memberID: '7', alarm: 'NOSPACE' }] });
  assert.deepEqual(a.activate('3', 'NOSPACE'), { alarms: [{ memberID: '3', alarm: 'NOSPACE' }] }, 'not the first of its type');
  assert.deepEqual(a.deactivate('9', 'NOSPACE'), { alarms: [] });
  assert.deepEqual(a.deactivate('7', 'CORRUPT'), { alarms: [] });
  assert.deepEqual(a.deactivate('7', 'NOSPACE'), { alarms: [{ memberID: '7', alarm: 'NOSPACE' }] });
  assert.equal(a.mode(), 'capped', 'member 3 still has it');
  assert.deepEqual(a.deactivate('3', 'NOSPACE'), { alarms: [{ memberID: '3', alarm: 'NOSPACE' }], disarmed: { memberID: '3', alarm: 'NOSPACE' } });
  assert.equal(a.mode(), 'normal');
});

test('get lists one type, or every type for NONE, in a fixed order (types, then member IDs as numbers)', () => {
  const a = new AlarmStore();
  a.activate('18446744073709551615', 'CORRUPT');
  a.activate('10', 'NOSPACE');
  a.activate('9', 'NOSPACE');
  a.activate('5', 'NONE');
  a.activate('1', 9); // a type the enum does not name is kept as its number
  assert.deepEqual(a.get('NONE').map((m) => `${m.alarm}/${m.memberID}`), ['NONE/5', 'NOSPACE/9', 'NOSPACE/10', 'CORRUPT/18446744073709551615', '9/1']);
  assert.deepEqual(a.get('NOSPACE').map((m) => m.memberID), ['9', '10']);
  assert.deepEqual(a.get(4), []);
  assert.deepEqual(a.get('NONE').map(alarmText), ['memberID:5 ', 'memberID:9 alarm:NOSPACE ', 'memberID:10 alarm:NOSPACE ', 'memberID:18446744073709551615 alarm:CORRUPT ', 'memberID:1 alarm:9 ']);
  assert.equal(alarmText({ memberID: '0', alarm: 'CORRUPT' }), 'alarm:CORRUPT ');
});

test('the write mode is a function of the alarms: CORRUPT over NOSPACE, whatever the order of changes', () => {
  // etcd switches its applier per change instead: after these steps its writes would be normal
  // until a restart, when it derives CORRUPT from the same alarms (see alarms.ts)
  const a = new AlarmStore();
  a.activate('1', 'NONE');
  assert.equal(a.mode(), 'normal', 'NONE changes nothing');
  a.activate('1', 'CORRUPT');
  a.activate('1', 'NOSPACE');
  assert.equal(a.mode(), 'corrupt');
  a.deactivate('1', 'NOSPACE');
  assert.equal(a.mode(), 'corrupt');
  a.activate('1', 'NOSPACE');
  a.deactivate('1', 'CORRUPT');
  assert.equal(a.mode(), 'capped');
  const restored = new AlarmStore([{ memberID: '1', alarm: 'NOSPACE' }, { memberID: '2', alarm: 'CORRUPT' }]);
  assert.equal(restored.mode(), 'corrupt');
});

test('takeChanged hands the whole set over once per change, for the backend', () => {
  const a = new AlarmStore([{ memberID: '1', alarm: 'NOSPACE' }]);
  assert.equal(a.takeChanged(), undefined, 'restored is not a change');
  a.activate('1', 'NOSPACE');
  assert.equal(a.takeChanged(), undefined, 'raising a raised alarm changes nothing');
  a.activate('2', 'CORRUPT');
  assert.deepEqual(a.takeChanged(), [{ memberID: '1', alarm: 'NOSPACE' }, { memberID: '2', alarm: 'CORRUPT' }]);
  assert.equal(a.takeChanged(), undefined);
  a.deactivate('1', 'NOSPACE');
  assert.deepEqual(a.takeChanged(), [{ memberID: '2', alarm: 'CORRUPT' }]);
});
