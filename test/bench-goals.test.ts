import { describe, expect, it } from 'vitest';
import { evaluateMemory, renderMemoryReport, steadyRssOf, type RoleMemory } from '../bench/memory.js';
import { assessFlatness, soakSteadyStateLine } from '../bench/soak.js';
import { evaluateTargets, renderReport, verdictWord, type PhaseResult, type ScenarioResult, type TargetCheck } from '../bench/report.js';
import type { ScenarioName } from '../bench/scenarios.js';
import { NODE_RUNTIME_FLAGS, runtimeFlagsOf } from '../bench/targets.js';

/** A phase with the figures the goals read; everything else fixed. */
function phaseOf(load: PhaseResult['load'], throughput: number, cpuMillicores = 500, p99Us = 1_000): PhaseResult {
  return {
    load,
    throughput,
    latencyUs: { p50: 100, p90: 200, p99: p99Us, p999: p99Us, max: p99Us, count: 1000 } as unknown as PhaseResult['latencyUs'],
    cpuMillicores,
    rssMiB: 100,
    peakRssMiB: 100,
    errors: 0,
    command: 'h2load',
  };
}

/** A scenario where the ceiling does 30,000/s, the floor `floor`/s and idgate `target`/s at saturation. */
function scenario(name: ScenarioName, target: number, floor: number, extra: { target?: PhaseResult[]; floor?: PhaseResult[] } = {}): ScenarioResult {
  return {
    scenario: name,
    generator: 'h2load',
    ceiling: { target: 'noop', phases: [phaseOf('saturation', 30_000)], notes: [] },
    floor: { target: 'floor', phases: [phaseOf('saturation', floor), ...(extra.floor ?? [])], notes: [] },
    target: { target: 'idgate', phases: [phaseOf('saturation', target), ...(extra.target ?? [])], notes: [] },
  };
}

function find(checks: readonly TargetCheck[], prefix: string): TargetCheck {
  const check = checks.find((c) => c.label.startsWith(prefix));
  if (check === undefined) throw new Error(`no goal starting with ${prefix}: ${checks.map((c) => c.label).join(', ')}`);
  return check;
}

describe('bench goals (issue 15 §2), computed against the transport floor', () => {
  it('hot path passes at exactly 75 % of the floor and misses just below, whatever the ceiling', () => {
    const at = find(evaluateTargets([scenario('hot', 15_000, 20_000)]), 'hot path ≥ 75 % of floor');
    expect(at.pass).toBe(true);
    expect(at.figure).toBe('75.0 % (15000 / floor 20000; 50.0 % of the noop ceiling\'s 30000)');
  });

  // Each throughput goal: exactly on the bound passes, one check/s below misses (floor 20,000/s).
  const bounds: Partial<Record<ScenarioName, readonly [label: string, bound: number]>> = {
    hot: ['hot path ≥ 75 % of floor', 15_000],
    redis: ['Redis path ≥ 55 % of floor', 11_000],
    stepup: ['step-up path ≥ 55 % of floor', 11_000],
    'cold-rs256': ['cold RS256 ≥ 6,000 distinct tokens/s', 6_000],
    'cold-es256': ['cold ES256 ≥ 5,000 distinct tokens/s', 5_000],
  };
  it.each(Object.entries(bounds) as [ScenarioName, readonly [string, number]][])('%s: PASS on the bound, MISS one below', (name, [label, bound]) => {
    expect(find(evaluateTargets([scenario(name, bound, 20_000)]), label).pass).toBe(true);
    expect(find(evaluateTargets([scenario(name, bound - 1, 20_000)]), label).pass).toBe(false);
  });

  it('prints a cold figure as tokens/s', () => {
    expect(find(evaluateTargets([scenario('cold-es256', 4_999, 20_000)]), 'cold ES256').figure).toBe('4999 /s');
  });

  it('at 1,000/s CPU may exceed the floor\'s by 15 % and p99 the floor\'s by 0.5 ms, no more', () => {
    const run = (cpu: number, p99Us: number): TargetCheck[] =>
      evaluateTargets([
        scenario('hot', 15_000, 20_000, { target: [phaseOf(1000, 1000, cpu, p99Us)], floor: [phaseOf(1000, 1000, 100, 1_200)] }),
      ]);
    const at = run(115, 1_700);
    expect(find(at, 'hot @ 1,000/s: CPU').pass).toBe(true);
    expect(find(at, 'hot @ 1,000/s: CPU').figure).toBe('115 m vs floor 100 m (max 115 m)');
    expect(find(at, 'hot @ 1,000/s: p99').pass).toBe(true);
    expect(find(at, 'hot @ 1,000/s: p99').figure).toBe('1.700 ms vs floor 1.200 ms (max 1.700 ms)');
    const over = run(115.5, 1_701);
    expect(find(over, 'hot @ 1,000/s: CPU').pass).toBe(false);
    expect(find(over, 'hot @ 1,000/s: p99').pass).toBe(false);
  });

  it('is "not measured" without the floor or the phase, and the report prints PASS / MISS / –', () => {
    const noFloor: ScenarioResult = { ...scenario('hot', 15_000, 20_000) };
    delete (noFloor as { floor?: unknown }).floor;
    const checks = evaluateTargets([noFloor]);
    expect(find(checks, 'hot path')).toMatchObject({ figure: 'not measured', pass: undefined });
    expect(find(checks, 'hot @ 1,000/s: CPU').pass).toBeUndefined();
    expect([verdictWord(true), verdictWord(false), verdictWord(undefined)]).toEqual(['PASS', 'MISS', '–']);
    const report = renderReport(
      { command: 'x', date: '2026-12-05', hostname: 'h', nodeVersion: 'v24', cpuModel: 'c', cores: 2, quick: true, phaseSeconds: 3, pinned: true, loadAverage: 0 },
      [scenario('hot', 15_000, 20_000)],
      'idgate',
    );
    expect(report).toContain('| hot path ≥ 75 % of floor | 75.0 % (15000 / floor 20000; 50.0 % of the noop ceiling\'s 30000) | PASS |');
    // idgate's row carries its ratio to both baselines.
    expect(report).toMatch(/\| hot \| idgate \| saturation \| h2load \| 15000 \| 50\.0 % \| 75\.0 % \|/);
    expect(report).toContain('| hot | floor (transport) | saturation |');
  });
});

describe('memory goals (issue 15 §3)', () => {
  const usage = (rssMiB: number) => ({ rssMiB, heapUsedMiB: 20, heapTotalMiB: 40, externalMiB: 1 });
  const steady = (peakMiB: number) => ({ fromSeconds: 30, toSeconds: 60, samples: 31, peakMiB, meanMiB: peakMiB - 4 });
  const roles = (idle: number, loaded: number, steadyPeak = loaded): RoleMemory[] => [
    { role: 'authz (memory store)', idle: usage(idle), loaded: usage(loaded), steadyRss: steady(steadyPeak) },
    { role: 'authz (Redis store)', idle: usage(idle), loaded: usage(loaded), steadyRss: steady(steadyPeak) },
    { role: 'webhook', idle: usage(500) },
  ];

  it('authz passes at 80 MiB idle and 128 MiB loaded, in steady state and after GC, and misses above', () => {
    const at = evaluateMemory(roles(80, 128));
    expect(at).toHaveLength(6);
    expect(at.every((c) => c.pass === true)).toBe(true);
    const over = evaluateMemory(roles(80.1, 128.1));
    expect(over.map((c) => c.pass)).toEqual([false, false, false, false, false, false]);
    expect(over[0]?.figure).toBe('80.1 MiB (heap used 20.0 MiB)');
    expect(over[1]).toEqual({
      label: 'authz (memory store): peak RSS at 1,000 checks/s in steady state ≤ 128 MiB',
      figure: '128.1 MiB (mean 124.1 MiB, 31 samples, 30–60 s)',
      pass: false,
    });
  });

  it('a steady-state peak above the goal misses even when RSS after a forced GC passes', () => {
    const checks = evaluateMemory(roles(74, 111, 131));
    expect(checks.filter((c) => c.label.includes('steady state')).map((c) => c.pass)).toEqual([false, false]);
    expect(checks.filter((c) => c.label.includes('after GC at 1,000')).map((c) => c.pass)).toEqual([true, true]);
  });

  it('an aborted role is reported as such, not as a pass', () => {
    const checks = evaluateMemory([{ role: 'authz (Redis store)', error: 'redis-server did not start' }]);
    expect(checks.find((c) => c.label.startsWith('authz (Redis store): idle'))).toMatchObject({ figure: 'aborted', pass: undefined });
    expect(checks.find((c) => c.label.startsWith('authz (Redis store): peak'))).toMatchObject({ figure: 'aborted', pass: undefined });
    expect(checks.find((c) => c.label.startsWith('authz (memory store): idle'))).toMatchObject({ figure: 'not measured', pass: undefined });
  });

  it('reads the steady state from the second half of the load: peak and mean of its samples', () => {
    const series = (pairs: [number, number][]) => pairs.map(([atSeconds, rssMiB]) => ({ atSeconds, rssMiB }));
    const samples = series([[1, 100], [29.9, 140], [30, 120], [45, 126], [60, 123]]);
    expect(steadyRssOf(samples, 60)).toEqual({ fromSeconds: 30, toSeconds: 60, samples: 3, peakMiB: 126, meanMiB: 123 });
    // Fewer than 2 samples in the second half: no steady state to read.
    expect(steadyRssOf(series([[1, 100], [9, 110]]), 10)).toBeUndefined();
  });

  it('says which window the loaded figures come from, and when it is too short to be the steady state', () => {
    const full = renderMemoryReport(roles(74, 111, 120), { rate: 1_000, loadSeconds: 60 });
    expect(full).toContain('| authz (Redis store): peak RSS at 1,000 checks/s in steady state ≤ 128 MiB | 120.0 MiB (mean 116.0 MiB, 31 samples, 30–60 s) | PASS |');
    expect(full).toContain('| authz (Redis store): RSS after GC at 1,000 checks/s ≤ 128 MiB | 111.0 MiB (heap used 20.0 MiB) | PASS |');
    expect(full).toMatch(/\| authz \(memory store\) \| 1000\/s \| 111\.0 \|.*\| 120\.0 \/ 116\.0 \|/);
    expect(full.trimEnd().split('\n').at(-1)).toBe(
      'Steady state = VmRSS sampled every second over the second half of 60 s at 1000/s, no GC forced; the soak (`make soak`) runs the same for minutes.',
    );
    const quick = renderMemoryReport(roles(74, 120), { rate: 1_000, loadSeconds: 10 });
    expect(quick.trimEnd().split('\n').at(-1)).toBe(
      'The load ran 10 s at 1000/s, shorter than the 60 s a full run reads the steady state from: these figures do not show it (bench/README.md, "The soak, tenth round").',
    );
  });
});

describe('the soak against issue 15 §3', () => {
  const steady = (peakMiB: number) => ({ fromSeconds: 150, toSeconds: 300, samples: 31, peakMiB, meanMiB: peakMiB - 2 });

  it('reads the peak of the second half against 128 MiB, and names the caches when there are many subjects', () => {
    expect(soakSteadyStateLine(steady(128), 1)).toBe(
      "- steady state (second half, no GC forced): peak RSS 128.0 MiB, mean 126.0 MiB; issue 15 §3's ≤ 128 MiB at 1,000 checks/s met ✓",
    );
    expect(soakSteadyStateLine(steady(170.4), 100_000)).toBe(
      "- steady state (second half, no GC forced): peak RSS 170.4 MiB, mean 168.4 MiB; issue 15 §3's ≤ 128 MiB at 1,000 checks/s NOT met ✗ (100000 distinct subjects: the token, verdict and allow caches fill to their bounds, set by `caches` and `store.localCacheMaxEntries`; bench/README.md, \"Cache memory per active subject, twelfth round\")",
    );
    expect(soakSteadyStateLine(undefined, 1)).toBe('- steady state: too few samples to read');
  });

  it('judges flatness on the second half only: a filling first half is flat, a climbing second half is not', () => {
    const series = (values: number[]) => values.map((rssMiB, i) => ({ atSeconds: i * 10, rssMiB }));
    expect(assessFlatness(series([84, 150, 165, 170, 170, 171, 170, 170]))).toMatchObject({ flat: true, midMiB: 170, endMiB: 170 });
    // 120 → 140 is more than max(8 MiB, 10 %) over the second half.
    expect(assessFlatness(series([84, 100, 110, 115, 120, 128, 134, 140]))).toMatchObject({ flat: false, midMiB: 120, endMiB: 140 });
    expect(assessFlatness(series([84, 100, 110])).flat).toBe(false);
  });
});

describe('node flags per target', () => {
  it('idgate and its derived targets run the image flags; the baselines keep the 4x old-generation growth', () => {
    expect(NODE_RUNTIME_FLAGS).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50']);
    for (const name of ['idgate', 'idgate-h2', 'bound', 'standin'] as const) expect(runtimeFlagsOf(name)).toEqual(NODE_RUNTIME_FLAGS);
    for (const name of ['noop', 'floor', 'h2floor'] as const) expect(runtimeFlagsOf(name)).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=300']);
  });

  it('the report says which flags idgate and the baselines ran with', () => {
    const info = { command: 'x', date: '2026-12-06', hostname: 'h', nodeVersion: 'v24', cpuModel: 'c', cores: 2, quick: true, phaseSeconds: 3, pinned: true, loadAverage: 0 };
    const withFlags = renderReport({ ...info, nodeFlags: { idgate: ['--a=1'], baselines: [] } }, [], 'idgate');
    expect(withFlags).toContain(
      '- node flags: idgate `--a=1`, as the image runs it; the baselines (noop, floor) `(none)`, their fastest measured set, so idgate\'s memory trade is not charged to them (bench/README.md, "Old-generation growth, eleventh round")',
    );
    expect(renderReport(info, [], 'idgate')).not.toContain('- node flags:');
  });
});
