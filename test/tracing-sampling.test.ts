import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Decider } from '../src/core/decider.js';
import type { Decision } from '../src/core/decision.js';
import { EMPTY_REQUEST_CONTEXT, type RequestContext } from '../src/core/request-context.js';
import { createRootSampler, hasTraceHeaders } from '../src/observability/otel-tracing.js';
import { startTracing } from '../src/observability/start-tracing.js';
import { traceDecider, traceLogFields, traced } from '../src/tracing/tracing.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';

/**
 * Root sampling is decided before any span exists (issue 16: tracing at 1 % must cost little), so these
 * tests pin the semantics that decision must keep: a request without trace context is traced with
 * probability `sampleRatio`, exactly once (not ratio² through a second sampler); a request with trusted
 * trace context follows its sampled flag whatever the ratio, and its trace id reaches the log lines.
 * Trusted: the proxy's call metadata (`ctx.traceContext`) always, request headers only with
 * `trustIncomingContext` — by default a client's sampled flag forces nothing (security review).
 */

const silent = pino({ level: 'silent' });
const ALLOW: Decision = { kind: 'allow', routeId: 'r', headers: {} } as unknown as Decision;

function request(headers: Record<string, string>): RequestContext {
  return { ...EMPTY_REQUEST_CONTEXT, headers };
}

function tracingConfig(url: string, ratio: number, trustIncomingContext: boolean) {
  return { enabled: true, endpoint: url, sampleRatio: ratio, serviceName: 'sampling-test', trustIncomingContext };
}

/** A decider that records the log fields (trace id) visible while it runs. */
function recordingDecider(seen: Array<Record<string, string>>): Decider {
  return {
    async decide() {
      // Across an await, as the real stages do: the context must survive it.
      await new Promise((r) => setImmediate(r));
      seen.push(traceLogFields());
      // A dependency call inside the Check: a child span only when the Check is recorded.
      await traced('dependency', async () => undefined);
      return ALLOW;
    },
  };
}

const hex = (bytes: number): string => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('');

describe('root sampling decision', () => {
  it('hasTraceHeaders sees W3C and every B3 form, and nothing else', () => {
    expect(hasTraceHeaders({})).toBe(false);
    expect(hasTraceHeaders({ authorization: 'Bearer x', 'x-request-id': 'abc', tracestate: 'a=b' })).toBe(false);
    for (const name of ['traceparent', 'b3', 'x-b3-traceid', 'x-b3-sampled', 'x-b3-flags']) {
      expect(hasTraceHeaders({ [name]: '1' }), name).toBe(true);
    }
  });

  it('samples with probability ratio: never at 0, always at 1, by the random draw in between', () => {
    const never = createRootSampler(0, () => 0);
    const always = createRootSampler(1, () => 0.999999);
    expect([never(), never()]).toEqual([false, false]);
    expect([always(), always()]).toEqual([true, true]);
    const draws = [0.0099, 0.01, 0.5, 0];
    const onePercent = createRootSampler(0.01, () => draws.shift() ?? 1);
    expect([onePercent(), onePercent(), onePercent(), onePercent()]).toEqual([true, false, false, true]);
  });
});

describe.each([
  { ratio: 1, rootExported: true },
  { ratio: 0, rootExported: false },
])('a traced Check at sampleRatio $ratio, request headers trusted', ({ ratio, rootExported }) => {
  let otlp: OtlpReceiver;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    stop = await startTracing(tracingConfig(otlp.url, ratio, true), silent);
  });
  afterAll(async () => {
    await stop();
    await otlp.close();
  });
  afterEach(() => {
    otlp.spans.length = 0;
  });

  it(`without trace context: ${rootExported ? 'a root span with its child' : 'no span, no trace id in the logs'}`, async () => {
    const seen: Array<Record<string, string>> = [];
    const decider = traceDecider(recordingDecider(seen), 'grpc');
    for (let i = 0; i < 5; i++) await decider.decide(request({ 'x-request-id': `r${i}` }), Date.now() + 1_000);
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, ratio, true), silent);
    const checks = otlp.spans.filter((s) => s.name === 'idgate.check');
    if (rootExported) {
      expect(checks).toHaveLength(5);
      for (const c of checks) expect(c.parentSpanId).toBe('');
      const children = otlp.spans.filter((s) => s.name === 'dependency');
      expect(children.map((s) => s.parentSpanId).sort()).toEqual(checks.map((s) => s.spanId).sort());
      expect(seen.map((f) => f.traceId).sort()).toEqual(checks.map((s) => s.traceId).sort());
    } else {
      expect(otlp.spans).toEqual([]);
      expect(seen).toEqual(Array.from({ length: 5 }, () => ({})));
    }
  });

  it('with a sampled traceparent: exported as its child whatever the ratio', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const seen: Array<Record<string, string>> = [];
    await traceDecider(recordingDecider(seen), 'grpc').decide(request({ traceparent: `00-${traceId}-${parent}-01` }), Date.now() + 1_000);
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, ratio, true), silent);
    const check = otlp.spans.find((s) => s.name === 'idgate.check');
    expect(check).toMatchObject({ traceId, parentSpanId: parent });
    expect(otlp.spans.find((s) => s.name === 'dependency')).toMatchObject({ traceId, parentSpanId: check?.spanId });
    expect(seen[0]?.traceId).toBe(traceId);
  });

  it('with an unsampled traceparent: nothing exported, but the log lines carry its trace id', async () => {
    const traceId = hex(16);
    const seen: Array<Record<string, string>> = [];
    await traceDecider(recordingDecider(seen), 'grpc').decide(request({ traceparent: `00-${traceId}-${hex(8)}-00` }), Date.now() + 1_000);
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, ratio, true), silent);
    expect(otlp.spans).toEqual([]);
    expect(seen[0]?.traceId).toBe(traceId);
  });

  it('with a malformed traceparent: treated as no trace context (the root decision applies)', async () => {
    const seen: Array<Record<string, string>> = [];
    await traceDecider(recordingDecider(seen), 'grpc').decide(request({ traceparent: 'garbage' }), Date.now() + 1_000);
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, ratio, true), silent);
    const checks = otlp.spans.filter((s) => s.name === 'idgate.check');
    expect(checks).toHaveLength(rootExported ? 1 : 0);
    if (rootExported) expect(checks[0]?.parentSpanId).toBe('');
  });
});

describe('request headers not trusted (the default): sampleRatio 0', () => {
  let otlp: OtlpReceiver;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    stop = await startTracing(tracingConfig(otlp.url, 0, false), silent);
  });
  afterAll(async () => {
    await stop();
    await otlp.close();
  });
  /** Exports what has ended (a shutdown flushes), then tracing starts again. */
  async function flush(): Promise<void> {
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, 0, false), silent);
  }

  it('a flood of sampled traceparent/b3 request headers exports no span and puts no client trace id in the logs', async () => {
    const seen: Array<Record<string, string>> = [];
    const decider = traceDecider(recordingDecider(seen), 'http');
    for (let i = 0; i < 50; i++) {
      await decider.decide(request(i % 2 === 0 ? { traceparent: `00-${hex(16)}-${hex(8)}-01` } : { b3: `${hex(16)}-${hex(8)}-1` }), Date.now() + 1_000);
    }
    // A webhook-style entry point with the same headers.
    await traced('idgate.webhook', async () => undefined, undefined, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
    await flush();
    expect(otlp.spans).toEqual([]);
    expect(seen).toEqual(Array.from({ length: 50 }, () => ({})));
  });

  it("the proxy's call metadata (ctx.traceContext) is continued, and wins over the request headers", async () => {
    const [traceId, parent] = [hex(16), hex(8)];
    // The client's sampled header is ignored; the metadata's context is the parent.
    const ctx = { ...request({ traceparent: `00-${hex(16)}-${hex(8)}-01` }), traceContext: { traceparent: `00-${traceId}-${parent}-01` } };
    const seen: Array<Record<string, string>> = [];
    await traceDecider(recordingDecider(seen), 'grpc').decide(ctx, Date.now() + 1_000);
    await flush();
    expect(otlp.spans.map((s) => [s.name, s.traceId])).toEqual([['dependency', traceId], ['idgate.check', traceId]]);
    expect(otlp.spans.find((s) => s.name === 'idgate.check')?.parentSpanId).toBe(parent);
    expect(seen[0]?.traceId).toBe(traceId);
  });
});

describe('a sampled Check whose decision is synchronous (a cached token and verdict)', () => {
  let otlp: OtlpReceiver;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    stop = await startTracing(tracingConfig(otlp.url, 1, false), silent);
  });
  afterAll(async () => {
    await stop();
    await otlp.close();
  });

  it('answers synchronously and still exports the span with the decision, a 503 deny as an error, a throw as an error', async () => {
    const outage = { kind: 'deny', code: 'dependency_unavailable', status: 503, routeId: 'pay' } as unknown as Decision;
    const seen: Array<Record<string, string>> = [];
    const sync: Decider = {
      decide() {
        seen.push(traceLogFields());
        return outage;
      },
    };
    const answer = traceDecider(sync, 'grpc').decide(request({}), Date.now() + 1_000);
    // Not a promise: the front end answers without a microtask, as it does untraced.
    expect(answer).toBe(outage);
    expect(seen[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const failing: Decider = {
      decide() {
        throw new TypeError('boom');
      },
    };
    expect(() => traceDecider(failing, 'grpc').decide(request({}), Date.now() + 1_000)).toThrow('boom');
    await stop();
    stop = await startTracing(tracingConfig(otlp.url, 1, false), silent);
    const checks = otlp.spans.filter((s) => s.name === 'idgate.check');
    expect(checks).toHaveLength(2);
    expect(checks[0]).toMatchObject({ traceId: seen[0]?.traceId, statusCode: 2 });
    expect(checks[0]?.attributes).toMatchObject({ 'idgate.outcome': 'deny', 'idgate.code': 'dependency_unavailable', 'idgate.status': 503, 'idgate.route': 'pay' });
    expect(checks[1]?.statusCode).toBe(2);
  });
});
