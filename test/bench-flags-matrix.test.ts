import { describe, expect, it } from 'vitest';
import { parseRuntimeFlagSets, renderFlagsMatrix } from '../bench/flags-matrix.js';
import type { PhaseResult, TargetRun } from '../bench/report.js';
import { splitRuntimeSettings } from '../bench/targets.js';

function run(target: TargetRun['target'], throughput: number, rssMiB: number): TargetRun {
  const phase = (load: PhaseResult['load']): PhaseResult => ({
    load,
    throughput: load === 'saturation' ? throughput : 1000,
    latencyUs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, count: 1 } as unknown as PhaseResult['latencyUs'],
    cpuMillicores: 80,
    rssMiB,
    peakRssMiB: rssMiB + 10,
    errors: 0,
    command: 'h2load',
  });
  return { target, phases: [phase('saturation'), phase(1000)], notes: [] };
}

describe('bench runtime-flags matrix', () => {
  it('parses flag sets separated by |, with none for Node\'s defaults', () => {
    expect(parseRuntimeFlagSets('none| --max-semi-space-size=16 |--max-semi-space-size=32 --max-old-space-size=256')).toEqual([
      { label: 'none', flags: [] },
      { label: '--max-semi-space-size=16', flags: ['--max-semi-space-size=16'] },
      { label: '--max-semi-space-size=32 --max-old-space-size=256', flags: ['--max-semi-space-size=32', '--max-old-space-size=256'] },
    ]);
  });

  it('takes NAME=value tokens as the target\'s environment (what the image sets in ENV), not as node flags', () => {
    const [set] = parseRuntimeFlagSets('--max-semi-space-size=8 LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_CONF=narenas:2,dirty_decay_ms:1000');
    expect(set?.flags).toEqual(['--max-semi-space-size=8', 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', 'MALLOC_CONF=narenas:2,dirty_decay_ms:1000']);
    expect(splitRuntimeSettings(set?.flags ?? [])).toEqual({
      flags: ['--max-semi-space-size=8'],
      env: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', MALLOC_CONF: 'narenas:2,dirty_decay_ms:1000' },
    });
    // A lower-case word with = is neither (node flags start with --).
    expect(() => parseRuntimeFlagSets('max-semi-space-size=8')).toThrow(/is not a node flag .* or an environment variable/);
  });

  it('refuses an empty matrix, a repeated set and a word that is no flag', () => {
    expect(() => parseRuntimeFlagSets('')).toThrow(/at least one flag set/);
    expect(() => parseRuntimeFlagSets('none|')).toThrow(/"none" given twice/);
    expect(() => parseRuntimeFlagSets('--max-semi-space-size 16')).toThrow(/"16" is not a node flag/);
  });

  it('prints throughput, ratio to the floor and RSS per flag set', () => {
    const table = renderFlagsMatrix([
      {
        label: 'none',
        flags: [],
        result: { scenario: 'hot', generator: 'h2load', ceiling: run('noop', 20_000, 150), floor: run('floor', 16_000, 140), target: run('idgate', 12_000, 180) },
      },
    ]);
    expect(table).toContain('| `none` | 12000 | 16000 | 20000 | 75.0 % | 180.0 | 190.0 | 150.0 | 180.0 | 80 |');
  });
});
