import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { releaseStartupMemory } from './release-startup-memory.js';

const newSpaceMiB = (): number => (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1048576;

describe('releaseStartupMemory', () => {
  it('shrinks a young generation that allocation grew, without exposing gc anywhere', () => {
    // Allocate like a startup does: enough surviving garbage for V8 to grow new space past its minimum.
    let keep: { i: number; s: string }[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      keep.push({ i, s: `x${i}` });
      if (keep.length > 50_000) keep = [];
    }
    const grown = newSpaceMiB();
    expect(keep.length).toBeGreaterThan(0);
    expect(grown).toBeGreaterThan(2);
    const pauseMs = releaseStartupMemory();
    expect(pauseMs).toBeTypeOf('number');
    expect(pauseMs).toBeGreaterThanOrEqual(0);
    expect(newSpaceMiB()).toBeLessThan(grown);
    // The gc extension was on only to take the function: neither this global nor a later context has gc.
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
