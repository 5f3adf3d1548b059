// The key index: for every key, the list of its versions in revision order.
//
// Revisions are values {main, sub}: one main revision per write transaction, and a sub revision per
// change inside it. A key's life is a sequence of generations; each starts with a put (version 1,
// createRev = that put's main revision) and ends with a delete, recorded as a tombstone. Example:
//
//   put a@2  put a@3  del a@4  put a@6
//   versions: {2, ver 1, create 2} {3, ver 2, create 2} {4, tombstone} {6, ver 1, create 6}
//
// A read at revision 3 sees ver 2; at 4 or 5 the key does not exist; at 6 it sees the new generation.
// Compaction at revision C keeps, of the versions at or below C, only the newest, and drops even that
// one when it is a tombstone; a key with no versions left leaves the index.

/** One version of one key. value === null marks a tombstone (a delete). */
export interface KeyVersion {
  readonly key: string; // latin1: one char per byte
  readonly main: number;
  readonly sub: number;
  readonly createRev: number; // 0 for a tombstone
  readonly version: number; // 0 for a tombstone
  readonly value: Buffer | null;
  readonly lease: string; // decimal lease ID, '0' when none
}

export function isTombstone(v: KeyVersion): boolean {
  return v.value === null;
}

export class KeyHistory {
  readonly versions: KeyVersion[] = [];
  constructor(readonly key: string) {}

  latest(): KeyVersion | undefined {
    return this.versions[this.versions.length - 1];
  }

  /** The newest version with main revision <= rev, or undefined. */
  at(rev: number): KeyVersion | undefined {
    const vs = this.versions;
    for (let i = vs.length - 1; i >= 0; i--) {
      if (vs[i].main <= rev) return vs[i];
    }
    return undefined;
  }

  /** The live (non-tombstone) version visible at rev, or undefined. */
  liveAt(rev: number): KeyVersion | undefined {
    const v = this.at(rev);
    return v && v.value !== null ? v : undefined;
  }

  /**
   * Drops versions made obsolete by a compaction at rev; returns them so the backend can delete
   * them too. See the file comment for the rule.
   */
  compact(rev: number): KeyVersion[] {
    const vs = this.versions;
    let newestAtOrBelow = -1;
    for (let i = 0; i < vs.length && vs[i].main <= rev; i++) newestAtOrBelow = i;
    if (newestAtOrBelow < 0) return [];
    const keepNewest = vs[newestAtOrBelow].value !== null;
    const cut = keepNewest ? newestAtOrBelow : newestAtOrBelow + 1;
    return vs.splice(0, cut);
  }

  isEmpty(): boolean {
    return this.versions.length === 0;
  }
}
