import type { VerdictCounts } from './check-sample.js';
import type { LatencySummary } from './percentiles.js';
import type { GeneratorName, ScenarioName } from './scenarios.js';
import type { TargetName } from './targets.js';

/** One measured phase: saturation, or one fixed offered rate. */
export interface PhaseResult {
  /** `saturation` or the offered rate in checks/s. */
  readonly load: 'saturation' | number;
  /** Completed checks per second. */
  readonly throughput: number;
  readonly latencyUs: LatencySummary;
  readonly cpuMillicores: number;
  readonly rssMiB: number;
  readonly peakRssMiB: number;
  /** Failed streams, non-2xx HTTP statuses and non-zero grpc-status answers. */
  readonly errors: number;
  /**
   * True when the server's core was not busy (< 850 millicores at saturation while pinned to one core):
   * the generator, not the server, set the pace, so the figure is a lower bound, not a capacity.
   */
  readonly generatorBound?: boolean;
  /** The generator's command line (h2load) or a description (node). */
  readonly command: string;
  /** Verdicts sampled while the phase ran (see `startVerdictSampler`), by kind. */
  readonly verdicts?: Readonly<VerdictCounts>;
}

/** Everything measured for one target within one scenario. */
export interface TargetRun {
  readonly target: TargetName;
  readonly phases: readonly PhaseResult[];
  /** Set when the run was aborted (wrong verdict, crash…); phases holds what was measured before. */
  readonly error?: string;
  /** Free-form remarks (e.g. the post-run grpc-status check). */
  readonly notes: readonly string[];
}

/** One scenario: the no-op ceiling and the target, on the same generator. */
export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly generator: GeneratorName;
  readonly ceiling?: TargetRun;
  readonly target?: TargetRun;
  readonly error?: string;
}

/** Facts about the run printed above the table. */
export interface RunInfo {
  readonly command: string;
  readonly date: string;
  readonly hostname: string;
  readonly nodeVersion: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly quick: boolean;
  readonly phaseSeconds: number;
  readonly pinned: boolean;
  /** /proc/loadavg's 1-minute figure when the run started (other work on the machine skews every number). */
  readonly loadAverage: number;
}

/** One issue target and whether the measured figure meets it. */
export interface TargetCheck {
  readonly label: string;
  readonly figure: string;
  /** undefined when the scenario or phase was not measured. */
  readonly pass: boolean | undefined;
}

function phase(run: TargetRun | undefined, load: 'saturation' | number): PhaseResult | undefined {
  return run?.phases.find((p) => p.load === load);
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '—';
}

function ms(us: number): string {
  return fmt(us / 1000, us < 10_000 ? 3 : 1);
}

/**
 * Evaluates the performance targets of the issue against the results: hot path ≥ 85 % and Redis path
 * ≥ 60 % of the no-op ceiling at saturation; at 1,000 checks/s on the hot path p50 ≤ 0.25 ms, p99 ≤ 1 ms,
 * CPU ≤ 100 millicores, RSS ≤ 100 MiB; cold RS256 ≥ 5,000 checks/s on one core.
 */
export function evaluateTargets(results: readonly ScenarioResult[]): TargetCheck[] {
  const get = (name: ScenarioName): ScenarioResult | undefined => results.find((r) => r.scenario === name);
  const ratioCheck = (name: ScenarioName, min: number, label: string): TargetCheck => {
    const r = get(name);
    const t = phase(r?.target, 'saturation');
    const c = phase(r?.ceiling, 'saturation');
    if (t === undefined || c === undefined || c.throughput <= 0) return { label, figure: 'not measured', pass: undefined };
    const ratio = t.throughput / c.throughput;
    const bound = c.generatorBound === true || t.generatorBound === true ? ' — generator-bound †' : '';
    return { label, figure: `${fmt(ratio * 100, 1)} % (${fmt(t.throughput, 0)} / ${fmt(c.throughput, 0)})${bound}`, pass: ratio >= min };
  };
  const saturationRatio = (name: ScenarioName): number | undefined => {
    const r = get(name);
    const t = phase(r?.target, 'saturation');
    const c = phase(r?.ceiling, 'saturation');
    return t === undefined || c === undefined || c.throughput <= 0 ? undefined : t.throughput / c.throughput;
  };
  /** Issue 16: tracing on at 1 % sampling (`hot-traced`) costs at most 5 points of the hot path's ratio. */
  const tracingCost = (): TargetCheck => {
    const label = 'tracing at 1 % costs ≤ 5 points of the hot-path ratio';
    const hot = saturationRatio('hot');
    const traced = saturationRatio('hot-traced');
    if (hot === undefined || traced === undefined) return { label, figure: 'not measured', pass: undefined };
    const points = (hot - traced) * 100;
    return { label, figure: `${fmt(points, 1)} points (${fmt(traced * 100, 1)} % vs ${fmt(hot * 100, 1)} %)`, pass: points <= 5 };
  };
  const checks: TargetCheck[] = [
    ratioCheck('hot', 0.85, 'hot path ≥ 85 % of ceiling'),
    ratioCheck('redis', 0.6, 'Redis path ≥ 60 % of ceiling'),
    tracingCost(),
  ];
  const at1000 = phase(get('hot')?.target, 1000);
  const rate = (label: string, value: number | undefined, max: number, show: (v: number) => string): TargetCheck =>
    value === undefined || !Number.isFinite(value)
      ? { label, figure: 'not measured', pass: undefined }
      : { label, figure: show(value), pass: value <= max };
  checks.push(
    rate('hot @ 1,000/s: p50 ≤ 0.25 ms', at1000?.latencyUs.p50, 250, (v) => `${ms(v)} ms`),
    rate('hot @ 1,000/s: p99 ≤ 1 ms', at1000?.latencyUs.p99, 1000, (v) => `${ms(v)} ms`),
    rate('hot @ 1,000/s: CPU ≤ 100 millicores', at1000?.cpuMillicores, 100, (v) => `${fmt(v, 0)} m`),
    rate('hot @ 1,000/s: RSS ≤ 100 MiB', at1000?.rssMiB, 100, (v) => `${fmt(v, 1)} MiB`),
  );
  const cold = phase(get('cold-rs256')?.target, 'saturation');
  checks.push(
    cold === undefined
      ? { label: 'cold RS256 ≥ 5,000 checks/s per core', figure: 'not measured', pass: undefined }
      : { label: 'cold RS256 ≥ 5,000 checks/s per core', figure: `${fmt(cold.throughput, 0)} /s`, pass: cold.throughput >= 5000 },
  );
  return checks;
}

/** Renders the results as the markdown report (header facts, one table, target checks, commands). */
export function renderReport(info: RunInfo, results: readonly ScenarioResult[], targetName: TargetName): string {
  const out: string[] = [];
  out.push(`# idgate benchmark — ${info.date} on ${info.hostname}`, '');
  out.push(`- command: \`${info.command}\``);
  out.push(`- node ${info.nodeVersion}; CPU: ${info.cpuModel} × ${info.cores} cores`);
  out.push(
    info.pinned
      ? '- server pinned to core 0 (`taskset -c 0`); load generator, harness, JWKS server and redis-server on core 1'
      : '- nothing pinned (fewer than 2 cores): server and load generator share the CPU',
  );
  if (info.loadAverage > 0.5) {
    out.push(`- ⚠ load average ${info.loadAverage.toFixed(2)} when the run started: other work shared the cores, so latencies and ratios are noisy`);
  }
  out.push(`- mode: ${info.quick ? 'quick' : 'full'} (${info.phaseSeconds} s per offered rate); target: \`${targetName}\`; ceiling: \`noop\` (same gRPC stack, fixed allow)`);
  out.push('- latencies in ms (h2load: request start → end of response; node: call start → trailers); CPU in millicores of the server process tree; RSS = VmRSS at the end of the phase, peak = VmHWM', '');
  out.push('| scenario | target | load | generator | checks/s | ratio to ceiling | p50 | p90 | p99 | p99.9 | CPU (m) | RSS (MiB) | peak RSS | errors | sampled allow | sampled deny | sampled step-up |');
  out.push('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    if (r.error !== undefined && r.ceiling === undefined && r.target === undefined) {
      out.push(`| ${r.scenario} | — | — | ${r.generator} | aborted: ${r.error.replace(/\|/g, '\\|').split('\n')[0] ?? ''} | | | | | | | | | | | | |`);
      continue;
    }
    for (const run of [r.ceiling, r.target]) {
      if (run === undefined) continue;
      if (run.phases.length === 0 && run.error !== undefined) {
        out.push(`| ${r.scenario} | ${run.target} | — | ${r.generator} | aborted: ${run.error.replace(/\|/g, '\\|').split('\n')[0] ?? ''} | | | | | | | | | | | | |`);
        continue;
      }
      for (const p of run.phases) {
        const c = phase(r.ceiling, p.load);
        const ratio = c !== undefined && c.throughput > 0 ? `${fmt((p.throughput / c.throughput) * 100, 1)} %` : '—';
        const load = p.load === 'saturation' ? 'saturation' : `${p.load}/s`;
        const l = p.latencyUs;
        out.push(
          `| ${r.scenario} | ${run.target === 'noop' ? 'noop (ceiling)' : run.target} | ${load} | ${r.generator} | ${fmt(p.throughput, 0)}${p.generatorBound === true ? ' †' : ''} | ${ratio} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.p999)} | ${fmt(p.cpuMillicores, 0)} | ${fmt(p.rssMiB, 1)} | ${fmt(p.peakRssMiB, 1)} | ${p.errors} | ${p.verdicts?.allow ?? '—'} | ${p.verdicts?.deny ?? '—'} | ${p.verdicts?.step_up ?? '—'} |`,
        );
      }
    }
  }
  if (results.some((r) => [r.ceiling, r.target].some((run) => run?.phases.some((p) => p.generatorBound === true)))) {
    out.push('', '† generator-bound: the server\'s core was below 85 % busy at saturation, so the load generator set the pace; the figure is a lower bound of the server\'s capacity and a ratio involving it says little.');
  }
  out.push('', '## Targets', '', '| target | measured | |', '|---|---|---|');
  for (const check of evaluateTargets(results)) {
    out.push(`| ${check.label} | ${check.figure} | ${check.pass === undefined ? '–' : check.pass ? '✓' : '✗'} |`);
  }
  const notes: string[] = [];
  for (const r of results) {
    if (r.error !== undefined) notes.push(`- **${r.scenario}**: ${r.error}`);
    for (const run of [r.ceiling, r.target]) {
      if (run === undefined) continue;
      if (run.error !== undefined) notes.push(`- **${r.scenario} / ${run.target}** aborted: ${run.error}`);
      for (const n of run.notes) notes.push(`- ${r.scenario} / ${run.target}: ${n}`);
    }
  }
  if (notes.length > 0) out.push('', '## Notes', '', ...notes);
  const commands = new Map<string, string>();
  for (const r of results) {
    const p = r.target?.phases[0] ?? r.ceiling?.phases[0];
    if (p !== undefined) commands.set(r.scenario, p.command);
  }
  if (commands.size > 0) {
    out.push('', '## Generator commands (saturation phase; the port differs per target)', '');
    for (const [name, command] of commands) out.push(`- ${name}: \`${command}\``);
  }
  return `${out.join('\n')}\n`;
}
