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

/** One scenario: the no-op ceiling, the transport floor and the target, on the same generator. */
export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly generator: GeneratorName;
  /** `noop`: the proto-loader no-op server (decodes and encodes every Check with proto-loader). */
  readonly ceiling?: TargetRun;
  /** `floor`: grpc-js with pass-through (de)serializers answering fixed bytes — the honest transport floor. */
  readonly floor?: TargetRun;
  readonly target?: TargetRun;
  /** The alternating saturation A/B run after the one-shot targets (run.ts `runSaturationAb`); goals read it. */
  readonly ab?: SaturationAb;
  readonly error?: string;
}

/**
 * Issue 15's saturation goals measured so that they survive a machine whose speed drifts: after a scenario's
 * one-shot targets, the grpc-js floor and idgate alternate (A B, B A, A B; `cold-*`: idgate alone, no floor),
 * each run a fresh pinned process, checked to answer the scenario's verdict, warmed up, then loaded at
 * saturation. The goals read the median of the per-round ratios (`cold-*`: the median throughput).
 */
export interface SaturationAb {
  /** Checks per measured run, per target. */
  readonly calls: { readonly floor: number; readonly idgate: number };
  /** Round i of `floor` pairs with round i of `idgate`; empty for `cold-*`. */
  readonly floor: readonly SaturationRun[];
  readonly idgate: readonly SaturationRun[];
  /** Set when a run failed; the runs before it are kept. */
  readonly error?: string;
}

/** One measured run of the saturation A/B. */
export interface SaturationRun {
  readonly throughput: number;
  /** Server CPU per Check over the run, µs (on a pinned saturated core, ~ 1e6 / throughput). */
  readonly cpuUsPerCheck: number;
  /** As {@link PhaseResult.generatorBound}: the pinned server's core was below 85 % busy. */
  readonly generatorBound?: boolean;
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
  /** The node flags idgate's targets and the baselines ran with (targets.ts `runtimeFlagsOf`), when known. */
  readonly nodeFlags?: { readonly idgate: readonly string[]; readonly baselines: readonly string[] };
}

/**
 * Issue 16's goal measured in alternating runs (run.ts `runTracingAb`): idgate's server CPU per Check at
 * saturation in `hot` and in `hot-traced`, one fresh pinned process per run, A B A B ….
 */
export interface TracingAb {
  readonly hotUs: readonly number[];
  readonly tracedUs: readonly number[];
  readonly callsPerRun: number;
  /** Set when a run failed; the runs before it are kept. */
  readonly error?: string;
}

/**
 * Issue 15's cost goals at 1,000 Checks/s measured in steady state and alternating (run.ts `runPacedAb`):
 * the grpc-js floor and idgate on `hot`, each run a fresh pinned process warmed up, given a lead-in at the
 * rate that is not measured, then measured at the rate; the order within a round alternates (A B, B A, …).
 */
export interface PacedAb {
  readonly rate: number;
  readonly leadInSeconds: number;
  readonly seconds: number;
  readonly floor: readonly PacedRun[];
  readonly idgate: readonly PacedRun[];
  /** Set when a run failed; the runs before it are kept. */
  readonly error?: string;
}

/** One measured window of the paced A/B: the server's CPU over the window and the generator's p99. */
export interface PacedRun {
  readonly cpuMillicores: number;
  readonly p99Us: number;
}

/** One issue goal and whether the measured figure meets it. */
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

/** The median of a non-empty list. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * `f(a[i], b[i])` for each round i of an alternating A/B: run i of one side against run i of the other. The
 * two runs of a round are next to each other in time, so a drift of the machine's speed cancels within a
 * round; the goals read the median of these. Rounds missing a side are left out.
 */
function pairedValues<A, B>(a: readonly A[], b: readonly B[], f: (x: A, y: B) => number): number[] {
  return Array.from({ length: Math.min(a.length, b.length) }, (_, i) => f(a[i] as A, b[i] as B));
}

function ms(us: number): string {
  return fmt(us / 1000, us < 10_000 ? 3 : 1);
}

/**
 * The performance goals of issue 15 §2 (throughput and cost against the transport floor, cold verification
 * per core) and issue 16 (tracing cost). Every check in {@link evaluateTargets} reads its bound from here,
 * so the goals table is computed from the run, never typed.
 */
export const GOALS = {
  /** Saturation throughput as a percentage of the floor's, same scenario and run. */
  hotToFloorPercent: 75,
  redisToFloorPercent: 55,
  stepupToFloorPercent: 55,
  /** Distinct tokens verified per second on one core (saturation of `cold-*`). */
  coldRs256PerSecond: 6_000,
  coldEs256PerSecond: 5_000,
  /** Hot path at 1,000 checks/s: server CPU at most the floor's plus this percentage of it. */
  cpuOverFloorPercentAt1000: 15,
  /** Hot path at 1,000 checks/s: p99 at most the floor's p99 + this, µs. */
  p99OverFloorAt1000Us: 500,
  /** Tracing's cost in points of `hot`'s floor ratio: hot ratio × (1 − traced / not), from the tracing A/B when run. */
  tracingPoints: 5,
} as const;

/** The offered rate the cost goals are judged at. */
const COST_RATE = 1_000;

/**
 * Evaluates the goals ({@link GOALS}) against the results: hot path ≥ 75 %, Redis path ≥ 55 % and step-up
 * path ≥ 55 % of the transport floor at saturation; cold RS256 ≥ 6,000 and cold ES256 ≥ 5,000 distinct
 * tokens/s on one core; on the hot path at 1,000 checks/s CPU ≤ the floor's + 15 % and p99 ≤ the floor's
 * p99 + 0.5 ms; tracing at 1 % within 5 points of `hot`'s ratio (read from `tracingAb` when the run has it).
 * Figures name both the floor and the
 * proto-loader ceiling, so a reader sees how much the old ratio flattered idgate.
 */
export function evaluateTargets(results: readonly ScenarioResult[], tracingAb?: TracingAb, pacedAb?: PacedAb): TargetCheck[] {
  const get = (name: ScenarioName): ScenarioResult | undefined => results.find((r) => r.scenario === name);
  const notMeasured = (label: string): TargetCheck => ({ label, figure: 'not measured', pass: undefined });
  // With the saturation A/B (a full run has it), a ratio is the median of its per-round ratios, each idgate
  // run against the floor run next to it; the one-shot phases are still printed, and are the fallback.
  const abOf = (r: ScenarioResult | undefined, needsFloor: boolean): SaturationAb | undefined => {
    const ab = r?.ab;
    if (ab === undefined || ab.error !== undefined || ab.idgate.length === 0) return undefined;
    return needsFloor && ab.floor.length === 0 ? undefined : ab;
  };
  // The per-round ratios of a usable paired A/B (empty without one), and their median.
  const roundRatios = (ab: SaturationAb | undefined): number[] =>
    ab === undefined ? [] : pairedValues(ab.idgate, ab.floor, (t, f) => t.throughput / f.throughput).filter(Number.isFinite);
  const abRatio = (r: ScenarioResult | undefined): number | undefined => {
    const ratios = roundRatios(abOf(r, true));
    return ratios.length === 0 ? undefined : median(ratios);
  };
  const oneShotRatio = (name: ScenarioName): number | undefined => {
    const r = get(name);
    const t = phase(r?.target, 'saturation');
    const f = phase(r?.floor, 'saturation');
    return t === undefined || f === undefined || f.throughput <= 0 ? undefined : t.throughput / f.throughput;
  };
  const satRuns = (runs: readonly SaturationRun[]): string => runs.map((x) => `${fmt(x.throughput, 0)}${x.generatorBound === true ? ' †' : ''}`).join(', ');
  // Bounds are compared by cross-multiplying in whole percentages, so a figure exactly on a goal passes
  // (0.55 × 100 is 55.00000000000001 in floating point); a median ratio is compared with a 1e-9 margin.
  const ratioCheck = (name: ScenarioName, minPercent: number): TargetCheck => {
    const label = `${name === 'hot' ? 'hot path' : name === 'redis' ? 'Redis path' : 'step-up path'} ≥ ${minPercent} % of floor`;
    const r = get(name);
    const t = phase(r?.target, 'saturation');
    const f = phase(r?.floor, 'saturation');
    const c = phase(r?.ceiling, 'saturation');
    const ratio = oneShotRatio(name);
    const oneShot =
      t === undefined || f === undefined || ratio === undefined
        ? undefined
        : {
            figure: `${fmt(ratio * 100, 1)} % (${fmt(t.throughput, 0)} / floor ${fmt(f.throughput, 0)}${c !== undefined && c.throughput > 0 ? `; ${fmt((t.throughput / c.throughput) * 100, 1)} % of the noop ceiling's ${fmt(c.throughput, 0)}` : ''})${[t, f, c].some((p) => p?.generatorBound === true) ? ' — generator-bound †' : ''}`,
            pass: t.throughput * 100 >= minPercent * f.throughput,
          };
    const ab = abOf(r, true);
    const ratios = roundRatios(ab);
    if (ab !== undefined && ratios.length > 0) {
      const abMedian = median(ratios);
      return {
        label,
        figure:
          `${fmt(abMedian * 100, 1)} % (saturation A/B, ${ratios.length} round${ratios.length === 1 ? '' : 's'}, median of the per-round ratios ${ratios.map((x) => fmt(x * 100, 1)).join(', ')} %: ` +
          `idgate ${satRuns(ab.idgate)}; floor ${satRuns(ab.floor)} Checks/s${oneShot !== undefined ? `; one-shot: ${oneShot.figure}` : ''})`,
        pass: abMedian * 100 >= minPercent - 1e-9,
      };
    }
    if (oneShot === undefined) return notMeasured(label);
    return { label, ...oneShot };
  };
  const coldCheck = (name: ScenarioName, min: number): TargetCheck => {
    const label = `cold ${name === 'cold-rs256' ? 'RS256' : 'ES256'} ≥ ${min.toLocaleString('en-US')} distinct tokens/s on one core`;
    const t = phase(get(name)?.target, 'saturation');
    const oneShot = t === undefined ? undefined : `${fmt(t.throughput, 0)} /s${t.generatorBound === true ? ' — generator-bound †' : ''}`;
    const ab = abOf(get(name), false);
    if (ab !== undefined) {
      const m = median(ab.idgate.map((x) => x.throughput));
      return {
        label,
        figure: `${fmt(m, 0)} /s (saturation A/B, median of ${ab.idgate.length} run${ab.idgate.length === 1 ? '' : 's'} of idgate alone: ${satRuns(ab.idgate)} /s${oneShot !== undefined ? `; one-shot: ${oneShot}` : ''})`,
        pass: m >= min,
      };
    }
    if (t === undefined || oneShot === undefined) return notMeasured(label);
    return { label, figure: oneShot, pass: t.throughput >= min };
  };
  // The cost is idgate's own throughput lost to tracing, in points of `hot`'s floor ratio:
  // hot ratio × (1 − traced / hot). Comparing each scenario's ratio to its own floor instead would add the
  // noise of a second floor measurement (it varied by ~9 % between two scenarios of one quiet run, more
  // than the whole 5-point budget); both scenarios' floor ratios are still printed.
  // With the alternating A/B (a full run has it), traced / hot is read from its medians of server CPU per
  // Check (on a pinned saturated core, throughput = 1 / CPU per Check): two one-shot saturation phases
  // minutes apart moved by 28 % with no idgate code in them (the floor, seventh round), the A/B by a few %.
  const tracingCost = (): TargetCheck => {
    const label = `tracing at 1 % costs ≤ ${GOALS.tracingPoints} points of the hot-path floor ratio`;
    // `hot`'s ratio from its saturation A/B when the run has one; each scenario's one-shot ratio is printed.
    const hotAb = abRatio(get('hot'));
    const hotOneShot = oneShotRatio('hot');
    const hot = hotAb ?? hotOneShot;
    const traced = oneShotRatio('hot-traced');
    const hotT = phase(get('hot')?.target, 'saturation');
    const tracedT = phase(get('hot-traced')?.target, 'saturation');
    if (hot === undefined || hotOneShot === undefined || traced === undefined || hotT === undefined || tracedT === undefined || hotT.throughput <= 0) return notMeasured(label);
    const ownFloors = `each against its own floor: ${fmt(traced * 100, 1)} % vs ${fmt(hotOneShot * 100, 1)} %`;
    const hotSource = hotAb !== undefined ? ' (saturation A/B)' : '';
    if (tracingAb !== undefined && tracingAb.error === undefined && Math.min(tracingAb.hotUs.length, tracingAb.tracedUs.length) > 0) {
      // Each round's cost is 1 − hot / traced (its two runs are next to each other); the goal reads the median.
      const costs = pairedValues(tracingAb.hotUs, tracingAb.tracedUs, (h, t) => 1 - h / t);
      const points = hot * median(costs) * 100;
      const us = (list: readonly number[]): string => list.map((x) => fmt(x, 1)).join(', ');
      return {
        label,
        figure:
          `${fmt(points, 1)} points (alternating A/B, ${costs.length} round${costs.length === 1 ? '' : 's'}, median of the per-round costs 1 − not / traced ${costs.map((c) => fmt(c * 100, 1)).join(', ')} %: ` +
          `server CPU per Check traced ${us(tracingAb.tracedUs)} µs, not ${us(tracingAb.hotUs)} µs; against hot's ${fmt(hot * 100, 1)} %${hotSource}; ` +
          `one-shot: idgate ${fmt(tracedT.throughput, 0)} vs ${fmt(hotT.throughput, 0)} Checks/s traced vs not; ${ownFloors})`,
        pass: points <= GOALS.tracingPoints + 1e-9,
      };
    }
    const points = hot * (1 - tracedT.throughput / hotT.throughput) * 100;
    return {
      label,
      figure:
        `${fmt(points, 1)} points (idgate ${fmt(tracedT.throughput, 0)} vs ${fmt(hotT.throughput, 0)} Checks/s traced vs not, ` +
        `against hot's ${fmt(hot * 100, 1)} %${hotSource}; ${ownFloors})`,
      pass: points <= GOALS.tracingPoints,
    };
  };
  const hot = get('hot');
  const t1000 = phase(hot?.target, COST_RATE);
  const f1000 = phase(hot?.floor, COST_RATE);
  // With the steady-state A/B (a full run has it), the goals read its medians. The one-shot window follows
  // the 100/s phase, and whether V8's memory reducer shrank a target's young generation in between (so the
  // 1,000/s window pays for growing it back: 3-5x the scavenges) differed between runs and between targets
  // (eighth round: 6 of 8 idgate windows, 0 of 4 floor windows); the one-shot figures are still printed.
  const ab = pacedAb !== undefined && pacedAb.error === undefined && pacedAb.rate === COST_RATE && pacedAb.floor.length > 0 && pacedAb.idgate.length > 0 ? pacedAb : undefined;
  const abRuns = (runs: readonly PacedRun[], pick: (r: PacedRun) => string): string => runs.map(pick).join(', ');
  const abSource = (a: PacedAb, what: string, values: readonly string[], pick: (r: PacedRun) => string): string =>
    `steady-state A/B, ${values.length} round${values.length === 1 ? '' : 's'} of ${a.seconds} s after a ${a.leadInSeconds} s lead-in, median of the per-round ${what} ${values.join(', ')}: idgate ${abRuns(a.idgate, pick)}; floor ${abRuns(a.floor, pick)}`;
  const cpuLabel = `hot @ 1,000/s: CPU ≤ floor's + ${GOALS.cpuOverFloorPercentAt1000} %`;
  // With the A/B, each round compares its idgate run with its floor run (next to each other in time) and the
  // goals read the median of those comparisons: the machine's speed drifted by a third within one full run.
  const cpuCheck = (): TargetCheck => {
    const percent = 100 + GOALS.cpuOverFloorPercentAt1000;
    const oneShot =
      t1000 !== undefined && f1000 !== undefined && Number.isFinite(t1000.cpuMillicores) && Number.isFinite(f1000.cpuMillicores)
        ? { t: t1000.cpuMillicores, f: f1000.cpuMillicores }
        : undefined;
    if (ab !== undefined) {
      const ratios = pairedValues(ab.idgate, ab.floor, (t, f) => t.cpuMillicores / f.cpuMillicores);
      const ratio = median(ratios);
      const shot = oneShot !== undefined ? `; one-shot after 100/s: ${fmt(oneShot.t, 0)} m vs ${fmt(oneShot.f, 0)} m` : '';
      return {
        label: cpuLabel,
        figure: `${fmt(ratio * 100, 1)} % of the floor's CPU (max ${percent} %; ${abSource(ab, 'ratios', ratios.map((x) => `${fmt(x * 100, 1)} %`), (r) => `${fmt(r.cpuMillicores, 0)} m`)}${shot})`,
        pass: ratio * 100 <= percent + 1e-9,
      };
    }
    if (oneShot === undefined) return notMeasured(cpuLabel);
    const max = (oneShot.f * percent) / 100;
    return {
      label: cpuLabel,
      figure: `${fmt(oneShot.t, 0)} m vs floor ${fmt(oneShot.f, 0)} m (max ${fmt(max, 0)} m)`,
      pass: oneShot.t * 100 <= oneShot.f * percent,
    };
  };
  const p99Label = `hot @ 1,000/s: p99 ≤ floor's p99 + ${GOALS.p99OverFloorAt1000Us / 1000} ms`;
  const p99Check = (): TargetCheck => {
    const oneShot =
      t1000 !== undefined && f1000 !== undefined && Number.isFinite(t1000.latencyUs.p99) && Number.isFinite(f1000.latencyUs.p99)
        ? { t: t1000.latencyUs.p99, f: f1000.latencyUs.p99 }
        : undefined;
    if (ab !== undefined) {
      const diffs = pairedValues(ab.idgate, ab.floor, (t, f) => t.p99Us - f.p99Us);
      const diff = median(diffs);
      const signed = (us: number): string => `${us < 0 ? '−' : '+'}${ms(Math.abs(us))}`;
      const shot = oneShot !== undefined ? `; one-shot after 100/s: ${ms(oneShot.t)} vs ${ms(oneShot.f)} ms` : '';
      return {
        label: p99Label,
        figure: `${signed(diff)} ms over the floor's p99 (max +${ms(GOALS.p99OverFloorAt1000Us)} ms; ${abSource(ab, 'differences', diffs.map((d) => `${signed(d)} ms`), (r) => `${ms(r.p99Us)} ms`)}${shot})`,
        pass: diff <= GOALS.p99OverFloorAt1000Us,
      };
    }
    if (oneShot === undefined) return notMeasured(p99Label);
    const max = oneShot.f + GOALS.p99OverFloorAt1000Us;
    return { label: p99Label, figure: `${ms(oneShot.t)} ms vs floor ${ms(oneShot.f)} ms (max ${ms(max)} ms)`, pass: oneShot.t <= max };
  };
  return [
    ratioCheck('hot', GOALS.hotToFloorPercent),
    ratioCheck('redis', GOALS.redisToFloorPercent),
    ratioCheck('stepup', GOALS.stepupToFloorPercent),
    coldCheck('cold-rs256', GOALS.coldRs256PerSecond),
    coldCheck('cold-es256', GOALS.coldEs256PerSecond),
    cpuCheck(),
    p99Check(),
    tracingCost(),
  ];
}

/** PASS / MISS / – (not measured) for a goals table. */
export function verdictWord(pass: boolean | undefined): string {
  return pass === undefined ? '–' : pass ? 'PASS' : 'MISS';
}

/** Renders the results as the markdown report (header facts, one table, target checks, commands). */
export function renderReport(info: RunInfo, results: readonly ScenarioResult[], targetName: TargetName, tracingAb?: TracingAb, pacedAb?: PacedAb): string {
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
  out.push(
    `- mode: ${info.quick ? 'quick' : 'full'} (${info.phaseSeconds} s per offered rate); target: \`${targetName}\`; ceiling: \`noop\` (same gRPC stack, fixed allow, proto-loader decode/encode per Check); floor: \`floor\` (same grpc-js server, pass-through (de)serializers, fixed pre-encoded reply)`,
  );
  if (info.nodeFlags !== undefined) {
    const shown = (flags: readonly string[]): string => `\`${flags.join(' ') || '(none)'}\``;
    out.push(`- node flags: idgate ${shown(info.nodeFlags.idgate)}, as the image runs it; the baselines (noop, floor) ${shown(info.nodeFlags.baselines)}, their fastest measured set, so idgate's memory trade is not charged to them (bench/README.md, "Old-generation growth, eleventh round")`);
  }
  out.push('- latencies in ms (h2load: request start → end of response; node: call start → trailers); CPU in millicores of the server process tree; RSS = VmRSS at the end of the phase, peak = VmHWM', '');
  out.push('| scenario | target | load | generator | checks/s | ratio to noop | ratio to floor | p50 | p90 | p99 | p99.9 | CPU (m) | RSS (MiB) | peak RSS | errors | sampled allow | sampled deny | sampled step-up |');
  out.push('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const aborted = (scenario: string, target: string, generator: string, error: string): string =>
    `| ${scenario} | ${target} | — | ${generator} | aborted: ${error.replace(/\|/g, '\\|').split('\n')[0] ?? ''} | | | | | | | | | | | | | |`;
  const ratioTo = (p: PhaseResult, base: PhaseResult | undefined): string =>
    base !== undefined && base.throughput > 0 ? `${fmt((p.throughput / base.throughput) * 100, 1)} %` : '—';
  const shownName: Readonly<Record<string, string>> = { noop: 'noop (ceiling)', floor: 'floor (transport)' };
  for (const r of results) {
    if (r.error !== undefined && r.ceiling === undefined && r.floor === undefined && r.target === undefined) {
      out.push(aborted(r.scenario, '—', r.generator, r.error));
      continue;
    }
    for (const run of [r.ceiling, r.floor, r.target]) {
      if (run === undefined) continue;
      if (run.phases.length === 0 && run.error !== undefined) {
        out.push(aborted(r.scenario, run.target, r.generator, run.error));
        continue;
      }
      for (const p of run.phases) {
        const load = p.load === 'saturation' ? 'saturation' : `${p.load}/s`;
        const l = p.latencyUs;
        out.push(
          `| ${r.scenario} | ${shownName[run.target] ?? run.target} | ${load} | ${r.generator} | ${fmt(p.throughput, 0)}${p.generatorBound === true ? ' †' : ''} | ${ratioTo(p, phase(r.ceiling, p.load))} | ${ratioTo(p, phase(r.floor, p.load))} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.p999)} | ${fmt(p.cpuMillicores, 0)} | ${fmt(p.rssMiB, 1)} | ${fmt(p.peakRssMiB, 1)} | ${p.errors} | ${p.verdicts?.allow ?? '—'} | ${p.verdicts?.deny ?? '—'} | ${p.verdicts?.step_up ?? '—'} |`,
        );
      }
    }
  }
  if (results.some((r) => [r.ceiling, r.floor, r.target].some((run) => run?.phases.some((p) => p.generatorBound === true)) || [...(r.ab?.floor ?? []), ...(r.ab?.idgate ?? [])].some((x) => x.generatorBound === true))) {
    out.push('', '† generator-bound: the server\'s core was below 85 % busy at saturation, so the load generator set the pace; the figure is a lower bound of the server\'s capacity and a ratio involving it says little.');
  }
  out.push('', '## Goals (issue 15 §2, issue 16)', '', '| goal | measured | |', '|---|---|---|');
  for (const check of evaluateTargets(results, tracingAb, pacedAb)) out.push(`| ${check.label} | ${check.figure} | ${verdictWord(check.pass)} |`);
  const notes: string[] = [];
  for (const r of results) {
    if (r.error !== undefined) notes.push(`- **${r.scenario}**: ${r.error}`);
    for (const run of [r.ceiling, r.floor, r.target]) {
      if (run === undefined) continue;
      if (run.error !== undefined) notes.push(`- **${r.scenario} / ${run.target}** aborted: ${run.error}`);
      for (const n of run.notes) notes.push(`- ${r.scenario} / ${run.target}: ${n}`);
    }
  }
  for (const r of results) {
    if (r.ab === undefined) continue;
    const runs = (list: readonly SaturationRun[]): string =>
      list.length > 0 ? list.map((x) => `${fmt(x.throughput, 0)}/s at ${fmt(x.cpuUsPerCheck, 1)} µs${x.generatorBound === true ? ' †' : ''}`).join(', ') : '—';
    const paired = r.ab.calls.floor > 0;
    const who = paired ? `the grpc-js floor and idgate alternating (A B, B A, …; ${r.ab.calls.floor} Checks per floor run, ${r.ab.calls.idgate} per idgate run)` : `idgate alone (${r.ab.calls.idgate} distinct tokens per run)`;
    notes.push(
      `- ${r.scenario}: saturation A/B (${who}, each run a fresh pinned process warmed up, then saturated; throughput and server CPU per Check): ` +
        `idgate ${runs(r.ab.idgate)}${paired ? `; floor ${runs(r.ab.floor)}` : ''}${r.ab.error !== undefined ? `; aborted: ${r.ab.error}` : ''}`,
    );
  }
  if (tracingAb !== undefined) {
    const runs = (list: readonly number[]): string => (list.length > 0 ? list.map((u) => fmt(u, 1)).join(', ') : '—');
    notes.push(
      `- tracing A/B (idgate alone, \`hot\` and \`hot-traced\` alternating, each run a fresh pinned process, ${tracingAb.callsPerRun} saturated Checks): ` +
        `server CPU µs per Check — hot ${runs(tracingAb.hotUs)}; traced ${runs(tracingAb.tracedUs)}${tracingAb.error !== undefined ? `; aborted: ${tracingAb.error}` : ''}`,
    );
  }
  if (pacedAb !== undefined) {
    const runs = (list: readonly PacedRun[]): string => (list.length > 0 ? list.map((r) => `${fmt(r.cpuMillicores, 0)} m / p99 ${ms(r.p99Us)} ms`).join(', ') : '—');
    notes.push(
      `- paced A/B (\`hot\`, the grpc-js floor and idgate alternating, each run a fresh pinned process warmed up, then ${pacedAb.leadInSeconds} s at ${pacedAb.rate}/s not measured and ${pacedAb.seconds} s measured): ` +
        `idgate ${runs(pacedAb.idgate)}; floor ${runs(pacedAb.floor)}${pacedAb.error !== undefined ? `; aborted: ${pacedAb.error}` : ''}`,
    );
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
