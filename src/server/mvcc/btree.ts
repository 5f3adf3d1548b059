// The ordered map behind the key index: sorted-btree's B+tree, keyed by latin1 strings (one char per
// key byte, so JS string order is etcd's byte order). This module only smooths over the package's
// CommonJS default export.
import btreeModule from 'sorted-btree';

export type BTree<K, V> = import('sorted-btree').default<K, V>;
type BTreeClass = new <K, V>() => BTree<K, V>;
const mod = btreeModule as unknown as { default?: BTreeClass };
export const BTree: BTreeClass = mod.default ?? (btreeModule as unknown as BTreeClass);
