import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CHECK_DURATION_BUCKETS, createMetrics, EVENT_LOOP_LAG_RESOLUTION_MS } from './metrics.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Asserts each series' sample in a scrape (`undefined`: the series is absent). */
function expectSamples(text: string, expected: Readonly<Record<string, number | undefined>>): void {
  for (const [series, value] of Object.entries(expected)) expect(sample(text, series), series).toBe(value);
}

describe('createMetrics', () => {
  it('registers every idgate metric plus the default process metrics', async () => {
    const metrics = createMetrics();
    const text = await metrics.registry.metrics();
    for (const name of [
      'idgate_checks_total',
      'idgate_check_duration_seconds',
      'idgate_jwks_fetches_total',
      'idgate_token_cache_total',
      'idgate_verdict_cache_total',
      'idgate_webhooks_total',
      'idgate_didit_requests_total',
      'idgate_config_reloads_total',
      'idgate_dependency_up',
      'idgate_shadow_decisions_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('# TYPE idgate_check_duration_seconds histogram');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(sample(text, 'idgate_token_cache_total{result="hit"}')).toBe(0);
  });

  it('still catches an event-loop stall at the coarser lag sampling interval', async () => {
    const metrics = createMetrics();
    // Let the lag monitor take a few samples, then hold the loop for three sampling intervals.
    await new Promise((r) => setTimeout(r, 2 * EVENT_LOOP_LAG_RESOLUTION_MS));
    const stallMs = 3 * EVENT_LOOP_LAG_RESOLUTION_MS;
    const until = performance.now() + stallMs;
    while (performance.now() < until) {
      // busy: the stall under test
    }
    await new Promise((r) => setTimeout(r, 2 * EVENT_LOOP_LAG_RESOLUTION_MS));
    const text = await metrics.registry.metrics();
    // The sample that spans the stall is late by at least the stall minus one interval.
    expect(sample(text, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual((stallMs - EVENT_LOOP_LAG_RESOLUTION_MS) / 1000);
  });

  it('counts written verdicts by a bounded snake-case status, and exports the funnel baselines at zero', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    let text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_verdicts_total{status="approved"}': 0,
      'idgate_didit_requests_total{op="create_session",result="ok"}': 0,
      'idgate_dependency_faults_total{dependency="store"}': 0,
    });
    metrics.recordVerdict('Approved');
    metrics.recordVerdict('In Review');
    metrics.recordVerdict('Kyc Expired');
    metrics.recordVerdict('<script>not a status</script>');
    text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_verdicts_total{status="approved"}': 1,
      'idgate_verdicts_total{status="in_review"}': 1,
      'idgate_verdicts_total{status="kyc_expired"}': 1,
      'idgate_verdicts_total{status="other"}': 1,
    });
    expect(text).not.toContain('script');
  });

  it('uses its own registry, so two instances never collide', () => {
    expect(() => {
      createMetrics(new Registry(), { defaultMetrics: false });
      createMetrics(new Registry(), { defaultMetrics: false });
    }).not.toThrow();
  });

  it('counts checks per label set and accumulates across scrapes', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.recordCheck('deny', 'token_missing', 'payments', 'grpc', 0.00005);
    metrics.recordCheck('deny', 'token_missing', 'payments', 'grpc', 0.0002);
    metrics.recordCheck('allow', undefined, 'payments', 'http', 0.003);
    metrics.recordCheck('step_up', 'verification_required', undefined, 'grpc', 2);
    let text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_checks_total{outcome="deny",code="token_missing",route="payments",mode="grpc"}': 2,
      'idgate_checks_total{outcome="allow",code="none",route="payments",mode="http"}': 1,
      'idgate_checks_total{outcome="step_up",code="verification_required",route="none",mode="grpc"}': 1,
    });

    metrics.recordCheck('deny', 'token_missing', 'payments', 'grpc', 0.0001);
    text = await metrics.registry.metrics();
    expect(sample(text, 'idgate_checks_total{outcome="deny",code="token_missing",route="payments",mode="grpc"}')).toBe(3);
  });

  it('exposes the duration histogram with cumulative sub-millisecond buckets', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.recordCheck('deny', 'token_missing', 'r', 'grpc', 0.00005);
    metrics.recordCheck('deny', 'token_missing', 'r', 'grpc', 0.0002);
    metrics.recordCheck('deny', 'token_missing', 'r', 'grpc', 0.0002);
    metrics.recordCheck('deny', 'token_missing', 'r', 'grpc', 5);
    metrics.recordCheck('deny', 'token_missing', 'r', 'grpc', Number.NaN);
    const text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_check_duration_seconds_bucket{le="0.0001",outcome="deny"}': 1,
      'idgate_check_duration_seconds_bucket{le="0.00025",outcome="deny"}': 3,
      'idgate_check_duration_seconds_bucket{le="1",outcome="deny"}': 3,
      'idgate_check_duration_seconds_bucket{le="+Inf",outcome="deny"}': 4,
      'idgate_check_duration_seconds_count{outcome="deny"}': 4,
    });
    expect(sample(text, 'idgate_check_duration_seconds_sum{outcome="deny"}')).toBeCloseTo(5.00045, 10);
    expect(text).not.toContain('outcome="allow"');
    expect(CHECK_DURATION_BUCKETS[0]).toBe(0.0001);
    expect(CHECK_DURATION_BUCKETS.at(-1)).toBe(1);
  });

  it('caps route label cardinality and maps unknown codes', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false, maxRouteLabels: 2 });
    for (const route of ['a', 'b', 'c', 'd']) metrics.recordCheck('allow', undefined, route, 'grpc', 0.001);
    metrics.recordCheck('deny', 'made_up' as never, 'a', 'grpc', 0.001);
    const text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_checks_total{outcome="allow",code="none",route="other",mode="grpc"}': 2,
      'idgate_checks_total{outcome="deny",code="unknown",route="a",mode="grpc"}': 1,
    });
    expect(text).not.toContain('route="c"');
  });

  it('counts cache lookups, dependencies and plain counters', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.recordTokenCache('hit');
    metrics.recordTokenCache('hit');
    metrics.recordTokenCache('miss');
    metrics.recordVerdictCache('error');
    metrics.setDependencyUp('redis', false);
    metrics.setDependencyUp('didit', true);
    metrics.jwksFetchesTotal.inc({ issuer: 'corp', result: 'ok' });
    metrics.shadowDecisionsTotal.inc({ would: 'deny' });
    const text = await metrics.registry.metrics();
    expectSamples(text, {
      'idgate_token_cache_total{result="hit"}': 2,
      'idgate_token_cache_total{result="miss"}': 1,
      'idgate_verdict_cache_total{result="error"}': 1,
      'idgate_dependency_up{dependency="redis"}': 0,
      'idgate_dependency_up{dependency="didit"}': 1,
      'idgate_jwks_fetches_total{issuer="corp",result="ok"}': 1,
      'idgate_shadow_decisions_total{would="deny"}': 1,
      'idgate_config_reloads_total{result="failure"}': 0,
    });
  });

  it('is reset by registry.resetMetrics()', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.recordCheck('allow', undefined, 'r', 'grpc', 0.001);
    metrics.registry.resetMetrics();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'idgate_check_duration_seconds_count{outcome="allow"}')).toBeUndefined();
  });
});
