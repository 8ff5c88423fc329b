import type { PhaseResult, ScenarioResult } from './report.js';

/** One flag set of `run.js --runtime-flags-matrix` and the `hot` scenario measured under it. */
export interface FlagSetRun {
  /** As given on the command line (`none` for Node's defaults). */
  readonly label: string;
  readonly flags: readonly string[];
  readonly result: ScenarioResult;
}

/**
 * Parses `--runtime-flags-matrix "none|--max-semi-space-size=16|--max-semi-space-size=32 --max-old-space-size=256"`:
 * flag sets separated by `|`, each a space-separated list of node flags; `none` (or an empty set) runs
 * with Node's defaults, i.e. without the image's `--max-semi-space-size=32`.
 * @throws TypeError when no set is given, a set repeats, or an entry is not a `--flag`.
 */
export function parseRuntimeFlagSets(value: string): { label: string; flags: string[] }[] {
  const sets = value.split('|').map((s) => s.trim());
  if (sets.length === 0 || (sets.length === 1 && sets[0] === '')) throw new TypeError('--runtime-flags-matrix needs at least one flag set');
  const seen = new Set<string>();
  return sets.map((raw) => {
    const label = raw === '' ? 'none' : raw;
    if (seen.has(label)) throw new TypeError(`--runtime-flags-matrix: flag set "${label}" given twice`);
    seen.add(label);
    const flags = label === 'none' ? [] : label.split(/\s+/);
    const bad = flags.find((f) => !f.startsWith('--') && !/^[A-Z][A-Z0-9_]*=/.test(f));
    if (bad !== undefined) throw new TypeError(`--runtime-flags-matrix: "${bad}" is not a node flag (--name or --name=value) or an environment variable (NAME=value)`);
    return { label, flags };
  });
}

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

function at(run: ScenarioResult['target'], load: PhaseResult['load']): PhaseResult | undefined {
  return run?.phases.find((p) => p.load === load);
}

/**
 * The flag-set comparison: per set, saturation throughput of idgate, the floor and the ceiling (each
 * started with that set), idgate's ratio to the floor, and idgate's RSS — at the end of saturation, its
 * peak, and at `costRate` checks/s — with its CPU at that rate: the throughput/memory trade of a GC flag.
 */
export function renderFlagsMatrix(runs: readonly FlagSetRun[], costRate = 1_000): string {
  const out = [
    '## Runtime flags matrix (`hot` scenario; every target started with the set)',
    '',
    `| node flags | idgate checks/s | floor checks/s | noop checks/s | idgate ÷ floor | idgate RSS after saturation (MiB) | idgate peak RSS | floor peak RSS | idgate RSS @ ${costRate}/s | idgate CPU @ ${costRate}/s (m) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const errors: string[] = [];
  for (const { label, result } of runs) {
    const t = at(result.target, 'saturation');
    const f = at(result.floor, 'saturation');
    const c = at(result.ceiling, 'saturation');
    const r = at(result.target, costRate);
    const ratio = t !== undefined && f !== undefined && f.throughput > 0 ? `${fmt((t.throughput / f.throughput) * 100, 1)} %` : '—';
    const bound = [t, f, c].some((p) => p?.generatorBound === true) ? ' †' : '';
    out.push(
      `| \`${label}\` | ${fmt(t?.throughput, 0)} | ${fmt(f?.throughput, 0)} | ${fmt(c?.throughput, 0)} | ${ratio}${bound} | ${fmt(t?.rssMiB, 1)} | ${fmt(t?.peakRssMiB, 1)} | ${fmt(f?.peakRssMiB, 1)} | ${fmt(r?.rssMiB, 1)} | ${fmt(r?.cpuMillicores, 0)} |`,
    );
    for (const run of [result.ceiling, result.floor, result.target]) if (run?.error !== undefined) errors.push(`- \`${label}\` / ${run.target}: ${run.error.split('\n')[0] ?? ''}`);
    if (result.error !== undefined) errors.push(`- \`${label}\`: ${result.error.split('\n')[0] ?? ''}`);
  }
  if (runs.some((x) => [x.result.ceiling, x.result.floor, x.result.target].some((run) => at(run, 'saturation')?.generatorBound === true))) {
    out.push('', '† a saturation figure of this set was generator-bound (server core < 85 % busy): a lower bound.');
  }
  if (errors.length > 0) out.push('', ...errors);
  return `${out.join('\n')}\n`;
}
