import type { PhaseResult } from '../../bench/report.js';

/** A bench phase carrying the figures the report's goals read; latencies, RSS and the command fixed. */
export function benchPhase(load: PhaseResult['load'], throughput: number, cpuMillicores = 1000, p99Us = 300): PhaseResult {
  return {
    load,
    throughput,
    latencyUs: { p50: 100, p90: 200, p99: p99Us, p999: p99Us * 4 / 3, max: p99Us * 5 / 3, count: 1000 } as unknown as PhaseResult['latencyUs'],
    cpuMillicores,
    rssMiB: 100,
    peakRssMiB: 100,
    errors: 0,
    command: 'h2load',
  };
}
