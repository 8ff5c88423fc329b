import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMemoryProbeLine, probeMemory } from '../bench/probe-memory.js';
import { cpuMicrosPerCall, parseStatusKiB, type UsageSample } from '../bench/proc-stats.js';
import { startTarget, type LaunchContext } from '../bench/targets.js';

const ctx: LaunchContext = { configYaml: '', issuer: 'https://issuer.example', jwksUri: 'http://127.0.0.1:1/jwks', audience: 'bench', extraArgs: [] };

describe('bench memory probe (issue 15 §3)', () => {
  it('reads RSS and heap after a forced GC from a real child process', async () => {
    // The transport floor as a stand-in child: any target started with memoryProbe answers SIGUSR2 the same way.
    // With IDGATE_BENCH_SMAPS_DIR (inherited by the child) each probe also writes its smaps/heap-space breakdown.
    const smapsDir = mkdtempSync(join(tmpdir(), 'idgate-smaps-'));
    process.env.IDGATE_BENCH_SMAPS_DIR = smapsDir;
    const target = await startTarget('floor', ctx, { memoryProbe: true }).finally(() => {
      delete process.env.IDGATE_BENCH_SMAPS_DIR;
    });
    try {
      const first = await probeMemory(target);
      expect(first.rssMiB).toBeGreaterThan(first.heapUsedMiB);
      expect(first.heapUsedMiB).toBeGreaterThan(1);
      expect(first.heapTotalMiB).toBeGreaterThanOrEqual(first.heapUsedMiB);
      expect(Number.isFinite(first.externalMiB)).toBe(true);
      // The split of RSS read from /proc right after the probe line: node's binary pages and the process's own.
      expect(first.rssFileMiB).toBeGreaterThan(5);
      expect(first.rssAnonMiB).toBeGreaterThan(first.heapUsedMiB);
      expect(Math.abs((first.rssFileMiB ?? 0) + (first.rssAnonMiB ?? 0) - first.rssMiB)).toBeLessThan(8);
      // The probe keeps answering: the harness probes idle and again after load.
      const second = await probeMemory(target);
      expect(second.rssMiB).toBeGreaterThan(0);
      expect(target.output()).toContain('"msg":"bench-memory"');
      // One breakdown file per probe, read after the same GC: the kinds of mapping add up to the probe's RSS.
      const files = readdirSync(smapsDir).sort();
      expect(files).toHaveLength(2);
      const breakdown = JSON.parse(readFileSync(join(smapsDir, files[0] ?? ''), 'utf8')) as {
        rss: number; smapsRssKiB: Record<string, number>; heapSpaces: Record<string, { size: number; used: number; physical: number }>;
      };
      const kinds = breakdown.smapsRssKiB;
      expect((kinds.file ?? 0) / 1024).toBeGreaterThan(5);
      expect(kinds.anon256k ?? 0).toBeGreaterThan(0);
      expect(kinds.anon256k ?? 0).toBeLessThanOrEqual(kinds.anon ?? 0);
      const totalKiB = ['file', 'heap', 'stack', 'anon', 'other'].reduce((sum, kind) => sum + (kinds[kind] ?? 0), 0);
      expect(Math.abs(totalKiB * 1024 - breakdown.rss) / 1048576).toBeLessThan(8);
      const oldSpace = breakdown.heapSpaces.old_space;
      expect(oldSpace?.used ?? 0).toBeGreaterThan(1048576);
      expect(oldSpace?.size ?? 0).toBeGreaterThanOrEqual(oldSpace?.used ?? Infinity);
    } finally {
      await target.stop();
      rmSync(smapsDir, { recursive: true, force: true });
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

  it('reads the RSS split from /proc/<pid>/status and turns CPU ticks into µs per call', () => {
    const status = 'Name:\tnode\nVmHWM:\t  120000 kB\nVmRSS:\t  110000 kB\nRssAnon:\t   50000 kB\nRssFile:\t   59000 kB\n';
    expect(parseStatusKiB(status, 'RssAnon')).toBe(50_000);
    expect(parseStatusKiB(status, 'RssFile')).toBe(59_000);
    expect(parseStatusKiB('Name:\tnode\n', 'RssFile')).toBe(0);
    const sample = (atMs: number, ticks: Record<number, number>): UsageSample => ({ atMs, cpuTicksByPid: new Map(Object.entries(ticks).map(([p, t]) => [Number(p), t])), rssKiB: 0, hwmKiB: 0 });
    // 150 ticks at 100 Hz = 1.5 s of CPU over 10,000 calls = 150 µs each; a process born in between counts from 0.
    expect(cpuMicrosPerCall(sample(0, { 10: 100 }), sample(10_000, { 10: 200, 11: 50 }), 100, 10_000)).toBeCloseTo(150, 6);
    expect(cpuMicrosPerCall(sample(0, { 10: 100 }), sample(10_000, { 10: 200 }), 100, 0)).toBeNaN();
  });
});
