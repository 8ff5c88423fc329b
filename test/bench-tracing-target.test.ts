import { describe, expect, it } from 'vitest';
import { evaluateTargets, type PhaseResult, type ScenarioResult } from '../bench/report.js';
import type { ScenarioName } from '../bench/scenarios.js';
import { benchPhase } from './support/bench-phase.js';

const saturation = (throughput: number): PhaseResult => benchPhase('saturation', throughput);

/** The proto-loader ceiling is set 20 % above the floor: the tracing cost is read against the floor only. */
function scenario(name: ScenarioName, target: number, floor: number): ScenarioResult {
  return {
    scenario: name,
    generator: 'h2load',
    ceiling: { target: 'noop', phases: [saturation(floor * 1.2)], notes: [] },
    floor: { target: 'floor', phases: [saturation(floor)], notes: [] },
    target: { target: 'idgate', phases: [saturation(target)], notes: [] },
  };
}

const LABEL = 'tracing at 1 % costs ≤ 5 points of the hot-path floor ratio';

describe('bench target: tracing cost (issue 16)', () => {
  it('reads the cost as idgate throughput lost, in points of hot\'s floor ratio (not a second floor)', () => {
    // hot: 90 % of its floor. Traced idgate 6 % slower: 90 × 0.06 = 5.4 points → fails, whatever the traced
    // scenario's own floor measured (here 5 % higher, which alone would read as 9.7 points).
    const check = evaluateTargets([scenario('hot', 9_000, 10_000), scenario('hot-traced', 8_460, 10_500)]).find((c) => c.label === LABEL);
    expect(check?.pass).toBe(false);
    expect(check?.figure).toBe('5.4 points (idgate 8460 vs 9000 Checks/s traced vs not, against hot\'s 90.0 %; each against its own floor: 80.6 % vs 90.0 %)');
    // 3 % slower: 2.7 points → passes, though the traced scenario's floor read 8 % higher.
    const ok = evaluateTargets([scenario('hot', 9_000, 10_000), scenario('hot-traced', 8_730, 10_800)]).find((c) => c.label === LABEL);
    expect(ok?.pass).toBe(true);
    expect(ok?.figure).toMatch(/^2\.7 points/);
    // Exactly on the budget passes: 10 % slower at a 50 % ratio is 5.0 points.
    const edge = evaluateTargets([scenario('hot', 5_000, 10_000), scenario('hot-traced', 4_500, 10_000)]).find((c) => c.label === LABEL);
    expect(edge?.figure).toMatch(/^5\.0 points/);
    expect(edge?.pass).toBe(true);
  });

  it('reads traced / not from the alternating A/B\'s per-round server CPU per Check when the run has one', () => {
    // The one-shot throughputs say 30 % slower (27 points at a 90 % ratio); the A/B's rounds cost 1.1, 3.3,
    // −46.7 (the odd round out, which does not move a median) and 1.0 % of server CPU per Check: median 1.08 %,
    // 90 × 0.0108 = 1.0 point.
    const results = [scenario('hot', 9_000, 10_000), scenario('hot-traced', 6_300, 7_000)];
    expect(evaluateTargets(results).find((c) => c.label === LABEL)?.pass).toBe(false);
    const ab = { hotUs: [88, 87, 88, 95], tracedUs: [89, 90, 60, 96], callsPerRun: 40_000 };
    const check = evaluateTargets(results, ab).find((c) => c.label === LABEL);
    expect(check?.pass).toBe(true);
    expect(check?.figure).toBe(
      '1.0 points (alternating A/B, 4 rounds, median of the per-round costs 1 − not / traced 1.1, 3.3, -46.7, 1.0 %: ' +
        'server CPU per Check traced 89.0, 90.0, 60.0, 96.0 µs, not 88.0, 87.0, 88.0, 95.0 µs; against hot\'s 90.0 %; ' +
        'one-shot: idgate 6300 vs 9000 Checks/s traced vs not; each against its own floor: 90.0 % vs 90.0 %)',
    );
    // A real cost shows the same way: traced 10 % dearer per Check at a 90 % ratio is 8.2 points → fails.
    const dear = evaluateTargets([scenario('hot', 9_000, 10_000), scenario('hot-traced', 9_000, 10_000)], { hotUs: [80, 80], tracedUs: [88, 88], callsPerRun: 40_000 });
    const costly = dear.find((c) => c.label === LABEL);
    expect(costly?.pass).toBe(false);
    expect(costly?.figure).toMatch(/^8\.2 points \(alternating A\/B, 2 rounds/);
  });

  it('falls back to the one-shot throughputs when the A/B aborted or measured nothing', () => {
    const results = [scenario('hot', 9_000, 10_000), scenario('hot-traced', 8_460, 10_500)];
    for (const ab of [{ hotUs: [80], tracedUs: [], callsPerRun: 1 }, { hotUs: [80], tracedUs: [80], callsPerRun: 1, error: 'idgate answered deny' }]) {
      const check = evaluateTargets(results, ab).find((c) => c.label === LABEL);
      expect(check?.figure).toMatch(/^5\.4 points \(idgate 8460 vs 9000/);
      expect(check?.pass).toBe(false);
    }
  });

  it('is "not measured" unless both scenarios ran', () => {
    const check = evaluateTargets([scenario('hot', 9_000, 10_000)]).find((c) => c.label === LABEL);
    expect(check).toEqual({ label: LABEL, figure: 'not measured', pass: undefined });
  });
});

describe('bench OTLP sink (every tool that runs a traced scenario starts one)', () => {
  it('acknowledges an OTLP/HTTP export with 200 and stops on close', async () => {
    const { startOtlpSink } = await import('../bench/otlp-sink.js');
    const sink = await startOtlpSink();
    expect(sink.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/);
    const res = await fetch(sink.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: new Uint8Array(64) });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await sink.close();
    await expect(fetch(sink.endpoint, { method: 'POST', body: 'x' })).rejects.toThrow();
  });
});

describe('scenario config (run.js and the A/B tools cpu-per-check, paced-tail)', () => {
  const at = { issuer: 'http://127.0.0.1:1', jwksUri: 'http://127.0.0.1:1/jwks', audience: 'bench', celConditions: true };

  it('turns tracing on for a traced scenario at its ratio, and off for the others', async () => {
    const { parse } = await import('yaml');
    const { renderScenarioConfig } = await import('../bench/idgate-config.js');
    const { SCENARIOS } = await import('../bench/scenarios.js');
    const traced = parse(renderScenarioConfig(SCENARIOS['hot-traced'], { ...at, tracingEndpoint: 'http://127.0.0.1:2/v1/traces' })) as Record<string, unknown>;
    expect(traced['tracing']).toEqual({ enabled: true, endpoint: 'http://127.0.0.1:2/v1/traces', sampleRatio: 0.01 });
    const hot = parse(renderScenarioConfig(SCENARIOS.hot, at)) as Record<string, unknown>;
    expect(hot['tracing']).toBeUndefined();
    // Until the twelfth round the A/B tools ran `hot-traced` untraced: without a sink that is now an error.
    expect(() => renderScenarioConfig(SCENARIOS['hot-traced'], at)).toThrow(/needs an OTLP sink/);
  });
});
