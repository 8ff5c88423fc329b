import { describe, expect, it } from 'vitest';
import { boundedLru } from './bounded-lru.js';

describe('boundedLru', () => {
  it('holds at most max entries and evicts the least recently used one', () => {
    const lru = boundedLru<string, number>(3);
    lru.set('a', 1).set('b', 2).set('c', 3);
    expect(lru.get('a')).toBe(1); // a is now the most recently used
    lru.set('d', 4);
    expect(lru.size).toBe(3);
    expect(lru.has('b')).toBe(false);
    expect([...lru.keys()].sort()).toEqual(['a', 'c', 'd']);
    lru.set('a', 10); // an update is not a new entry
    expect(lru.size).toBe(3);
    expect(lru.get('a')).toBe(10);
  });

  it('allocates nothing up front for its bound (LRUCache({ max }) takes ~27 MiB at 1,000,000)', () => {
    const before = process.memoryUsage().arrayBuffers;
    const lru = boundedLru<string, number>(1_000_000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    lru.set('k', 1);
    expect(lru.get('k')).toBe(1);
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const max of [0, -1, 1.5, Number.NaN]) expect(() => boundedLru(max), String(max)).toThrow(TypeError);
  });
});
