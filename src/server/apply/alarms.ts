// Alarms, as etcd keeps them (etcdserver/api/v3alarm): a set of (member, alarm type) pairs changed
// only by applied Alarm log entries, so every member of a future cluster holds the same set. The
// set decides how writes are applied:
//   - NOSPACE ("capped"): puts, txns with a put in either branch, and lease grants fail with
//     NoSpace. Raised when a write does not fit in the backend quota; lifted by DEACTIVATE.
//   - CORRUPT: puts, deletes, txns, compactions, lease grants and revokes fail with Corrupt (reads
//     outside txns still work). Only ever raised by request here: there is no peer to compare with.
// The mode is a function of the set: CORRUPT if any member raised it, else NOSPACE's if any did,
// else normal. That is how etcd derives it at start-up. While running, etcd switches its applier on
// each change instead, so with both types raised its mode is that of the last change (lifting the
// last NOSPACE even restores normal writes under a raised CORRUPT) until a restart derives it again,
// which also makes it depend on whether the backend had saved the change. Ours always equals the
// start-up rule: the same alarms give the same writes, before and after a restart, on every member.

/**
 * The alarm types of etcd's AlarmType enum by name; a number is a type the enum does not name,
 * which etcd keeps and lists like the others (only NOSPACE and CORRUPT change how writes apply).
 */
export type AlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT' | number;

const KNOWN_TYPES: readonly AlarmType[] = ['NONE', 'NOSPACE', 'CORRUPT'];

/** One raised alarm: member ID as an unsigned 64-bit decimal string, as the protos carry it. */
export interface AlarmMember {
  memberID: string;
  alarm: AlarmType;
}

export type WriteMode = 'normal' | 'capped' | 'corrupt';

export interface AlarmChange {
  /** The alarms the request names in its answer (etcd's AlarmResponse.alarms). */
  alarms: AlarmMember[];
  /** Set when the request raised the first NOSPACE or CORRUPT alarm, or lifted the last one (for the log). */
  raised?: AlarmMember;
  disarmed?: AlarmMember;
}

function byMember(a: AlarmMember, b: AlarmMember): number {
  const x = BigInt(a.memberID);
  const y = BigInt(b.memberID);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class AlarmStore {
  private readonly sets = new Map<AlarmType, Map<string, AlarmMember>>(KNOWN_TYPES.map((t) => [t, new Map()]));
  private changed = false;

  /** Restores the set kept in the backend; the mode is etcd's at start-up. */
  constructor(kept: readonly AlarmMember[] = []) {
    for (const m of kept) this.set(m.alarm).set(m.memberID, { memberID: m.memberID, alarm: m.alarm });
  }

  private set(t: AlarmType): Map<string, AlarmMember> {
    let s = this.sets.get(t);
    if (!s) this.sets.set(t, (s = new Map()));
    return s;
  }

  /** Every type in a stable order: the enum's, then unnamed ones by number. */
  private types(): AlarmType[] {
    const extra = [...this.sets.keys()].filter((t): t is number => typeof t === 'number').sort((a, b) => a - b);
    return [...KNOWN_TYPES, ...extra];
  }

  mode(): WriteMode {
    return this.has('CORRUPT') ? 'corrupt' : this.has('NOSPACE') ? 'capped' : 'normal';
  }

  /** Whether some member has raised this alarm. */
  has(t: AlarmType): boolean {
    return (this.sets.get(t)?.size ?? 0) > 0;
  }

  /** Whether this member has raised this alarm. */
  isRaised(memberID: string, t: AlarmType): boolean {
    return this.sets.get(t)?.has(memberID) ?? false;
  }

  /** The raised alarms of one type, or of every type for NONE, by type and then member ID. */
  get(t: AlarmType = 'NONE'): AlarmMember[] {
    const types = t === 'NONE' ? this.types() : [t];
    return types.flatMap((x) => [...(this.sets.get(x)?.values() ?? [])].sort(byMember)).map((m) => ({ ...m }));
  }

  /**
   * Raises an alarm; answers with it, raised now or before. An alarm of type NONE is kept and listed
   * like the others but changes no mode, as in etcd.
   */
  activate(memberID: string, t: AlarmType): AlarmChange {
    const s = this.set(t);
    const had = s.get(memberID);
    if (had) return { alarms: [{ ...had }] };
    const m = { memberID, alarm: t };
    s.set(memberID, m);
    this.changed = true;
    if (s.size !== 1 || (t !== 'NOSPACE' && t !== 'CORRUPT')) return { alarms: [{ ...m }] };
    return { alarms: [{ ...m }], raised: { ...m } };
  }

  /** Lifts an alarm; answers with it if it was raised. */
  deactivate(memberID: string, t: AlarmType): AlarmChange {
    const s = this.set(t);
    const had = s.get(memberID);
    if (!had) return { alarms: [] };
    s.delete(memberID);
    this.changed = true;
    if (s.size > 0 || (t !== 'NOSPACE' && t !== 'CORRUPT')) return { alarms: [{ ...had }] };
    return { alarms: [{ ...had }], disarmed: { ...had } };
  }

  /** The whole set, if it changed since the last call (for the backend's next save). */
  takeChanged(): AlarmMember[] | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    return this.get('NONE');
  }
}

/** An alarm in protobuf's compact text form, as etcd's Status lists it: zero fields left out. */
export function alarmText(m: AlarmMember): string {
  return `${m.memberID === '0' ? '' : `memberID:${m.memberID} `}${m.alarm === 'NONE' || m.alarm === 0 ? '' : `alarm:${m.alarm} `}`;
}
