import { describe, expect, it } from 'vitest';
import { parseMemoryProbeLine, probeMemory } from '../bench/probe-memory.js';
import { startTarget, type LaunchContext } from '../bench/targets.js';

const ctx: LaunchContext = { configYaml: '', issuer: 'https://issuer.example', jwksUri: 'http://127.0.0.1:1/jwks', audience: 'bench', extraArgs: [] };

describe('bench memory probe (issue 15 §3)', () => {
  it('reads RSS and heap after a forced GC from a real child process', async () => {
    // The transport floor as a stand-in child: any target started with memoryProbe answers SIGUSR2 the same way.
    const target = await startTarget('floor', ctx, { memoryProbe: true });
    try {
      const first = await probeMemory(target);
      expect(first.rssMiB).toBeGreaterThan(first.heapUsedMiB);
      expect(first.heapUsedMiB).toBeGreaterThan(1);
      expect(first.heapTotalMiB).toBeGreaterThanOrEqual(first.heapUsedMiB);
      expect(Number.isFinite(first.externalMiB)).toBe(true);
      // The probe keeps answering: the harness probes idle and again after load.
      const second = await probeMemory(target);
      expect(second.rssMiB).toBeGreaterThan(0);
      expect(target.output()).toContain('"msg":"bench-memory"');
    } finally {
      await target.stop();
    }
  });

  it('accepts only probe lines whose GC ran', () => {
    const line = (fields: Record<string, unknown>): string =>
      JSON.stringify({ msg: 'bench-memory', gc: true, rss: 100 * 1048576, heapUsed: 20 * 1048576, heapTotal: 40 * 1048576, external: 1048576, ...fields });
    expect(parseMemoryProbeLine(line({}))).toEqual({ rssMiB: 100, heapUsedMiB: 20, heapTotalMiB: 40, externalMiB: 1 });
    // Started without --expose-gc: the heap is not "after GC", so the figure is refused.
    expect(parseMemoryProbeLine(line({ gc: false }))).toBeUndefined();
    expect(parseMemoryProbeLine(line({ rss: '100' }))).toBeUndefined();
    expect(parseMemoryProbeLine('{"msg":"ready"}')).toBeUndefined();
    expect(parseMemoryProbeLine('"bench-memory" but not JSON')).toBeUndefined();
  });
});
