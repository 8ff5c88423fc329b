import { LRUCache } from 'lru-cache';

/**
 * An LRU of at most `max` entries that allocates as it fills. `new LRUCache({ max })` allocates its index
 * arrays for `max` entries up front (two arrays of `max` slots and three typed arrays: about 2.7 MiB at
 * 100,000 entries, written at construction so resident at once); the memory store holds seven of them and
 * an idle `idgate authz` paid ~19 MiB of RSS for caches that were empty (issue 15 §3, bench/README.md
 * "Memory"). Counting every entry as size 1 against `maxSize` bounds the cache by the same number of
 * entries and evicts the least recently used entry the same way, without the up-front arrays.
 * @throws TypeError if `max` is not a positive integer.
 */
export function boundedLru<K extends {}, V extends {}>(max: number): LRUCache<K, V> {
  if (!Number.isInteger(max) || max <= 0) throw new TypeError('LRU max must be a positive integer');
  return new LRUCache<K, V>({ maxSize: max, sizeCalculation: () => 1 });
}
