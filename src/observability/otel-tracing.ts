/**
 * The OpenTelemetry implementation of {@link TracingBackend}. Only ever loaded by `startTracing()` with a
 * dynamic import, so a process with `tracing.enabled: false` never loads the SDK.
 */
import {
  context,
  defaultTextMapGetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { TracingConfig } from '../config/types.js';
import type { Decider } from '../core/decider.js';
import type { Decision } from '../core/decision.js';
import { TRACE_CONTEXT_HEADERS, type IncomingTraceHeaders, type SpanAttributes, type TracingBackend } from '../tracing/tracing.js';

/** Per export request; the batch processor never waits longer than this for the collector. */
const EXPORT_TIMEOUT_MS = 5_000;
/** Spans held while the collector is slow or down; beyond this, new spans are dropped (bounded memory). */
const MAX_QUEUE = 2_048;
/**
 * How often the batch is exported: OpenTelemetry's default. An export costs ~10 ms of CPU however few spans
 * it carries (serialisation, the HTTP request), so exporting every second cost ~4x more per span than every
 * 5 s at the bench's 1 % of ~10k Checks/s (measured in-process, bench/README.md "Tracing cost").
 */
const EXPORT_DELAY_MS = 5_000;

/**
 * Request headers any of our propagators needs to find a context (W3C trace context, B3 single and multi;
 * `tracestate` and the B3 span ids alone are none). A request with none of them has no trace context to
 * continue: whether it is traced is the root sampling decision alone.
 */
const TRACE_HEADERS: readonly string[] = TRACE_CONTEXT_HEADERS.filter((name) => !['tracestate', 'x-b3-spanid', 'x-b3-parentspanid'].includes(name));

/** What an entry point whose headers are not trusted continues: nothing (the root sampler decides). */
const NO_TRACE_HEADERS: IncomingTraceHeaders = Object.freeze({});

/** Whether the request carries any trace-context header (lower-case names, as both front ends give them). */
export function hasTraceHeaders(headers: IncomingTraceHeaders): boolean {
  for (const name of TRACE_HEADERS) if (headers[name] !== undefined) return true;
  return false;
}

/**
 * The root sampling decision, taken once per entry point: `true` with probability `ratio`.
 * (Not the SDK's `TraceIdRatioBasedSampler`, which needs a trace id and so a span to decide: deciding first
 * lets an unsampled Check skip context extraction, span creation and the async context entirely.)
 */
export function createRootSampler(ratio: number, random: () => number = Math.random): () => boolean {
  if (!(ratio > 0)) return () => false;
  if (ratio >= 1) return () => true;
  return () => random() < ratio;
}

export function createOtelBackend(config: TracingConfig, logger: Logger): TracingBackend {
  const sampleRoot = createRootSampler(config.sampleRatio);
  // End users choose request headers: a sampled flag there (when no proxy overwrites it) would let any
  // client force a full span tree per request (CPU and export amplification). Only the proxy's own call
  // metadata (`ctx.traceContext`) is always continued; request headers only when the operator says so.
  const trustHeaders = config.trustIncomingContext;
  const untrusted = (headers: IncomingTraceHeaders): IncomingTraceHeaders => (trustHeaders ? headers : NO_TRACE_HEADERS);
  const exporter = new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: EXPORT_TIMEOUT_MS });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    // A propagated sampled flag (Envoy's decision) wins. Roots are decided before a span is started
    // (`sampleRoot`, at the ratio), so a root that reaches the SDK is one we already chose to record.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: MAX_QUEUE,
        // One export per EXPORT_DELAY_MS of spans, up to the whole queue: with batches of 512, a saturated
        // replica at 1 % (~200 spans/s) exported every ~2.6 s, each export's fixed cost twice as often.
        maxExportBatchSize: MAX_QUEUE,
        scheduledDelayMillis: EXPORT_DELAY_MS,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  // AsyncLocalStorage carries the Check span into the store, Didit and JWKS calls it awaits.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(contextManager)) {
    logger.warn('tracing: another OpenTelemetry context manager is already registered; spans may lose their parent');
  }
  // traceparent (W3C) wins over b3 when both are present: later propagators overwrite earlier ones.
  const propagator = new CompositePropagator({ propagators: [new B3Propagator(), new W3CTraceContextPropagator()] });
  propagation.setGlobalPropagator(propagator);
  const tracer: Tracer = provider.getTracer('idgate');

  function endWith(span: Span, err: unknown): void {
    // The error's class only: messages can quote request data.
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    span.end();
  }

  /**
   * The parent context for a server entry point (a Check, a webhook delivery), or `undefined` when the
   * request starts no trace: no valid incoming trace context and the root sampler said no. An incoming
   * context, sampled or not, is always continued (the parent-based sampler follows its flag, and log lines
   * carry its trace id).
   */
  function entryContext(headers: IncomingTraceHeaders): Context | undefined {
    // NO_TRACE_HEADERS (untrusted request headers, the default) has none: no lookups per Check.
    if (headers !== NO_TRACE_HEADERS && hasTraceHeaders(headers)) {
      const extracted = propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      if (trace.getSpanContext(extracted) !== undefined) return extracted;
    }
    return sampleRoot() ? ROOT_CONTEXT : undefined;
  }

  function activeRecording(): Span | undefined {
    const parent = trace.getSpan(context.active());
    return parent !== undefined && parent.isRecording() ? parent : undefined;
  }

  return {
    span<T>(name: string, attributes: SpanAttributes | undefined, fn: () => Promise<T>, incoming?: IncomingTraceHeaders): Promise<T> {
      // Only inside a sampled Check or at a server entry point (a webhook delivery): background work stays untraced.
      if (incoming === undefined && activeRecording() === undefined) return fn();
      const parent = incoming === undefined ? context.active() : entryContext(untrusted(incoming));
      if (parent === undefined) return fn();
      const span = tracer.startSpan(name, { kind: incoming === undefined ? SpanKind.CLIENT : SpanKind.SERVER, ...(attributes ? { attributes } : {}) }, parent);
      if (!span.isRecording()) return fn();
      return context.with(trace.setSpan(parent, span), async () => {
        try {
          const value = await fn();
          span.end();
          return value;
        } catch (err) {
          endWith(span, err);
          throw err;
        }
      });
    },

    traceDecider(decider: Decider, mode: string): Decider {
      return {
        decide(ctx, deadlineAt) {
          const parent = entryContext(ctx.traceContext ?? untrusted(ctx.headers));
          // An unsampled root (the common case at a low ratio): no span, no context, nothing per Check.
          if (parent === undefined) return decider.decide(ctx, deadlineAt);
          const span = tracer.startSpan('idgate.check', { kind: SpanKind.SERVER, attributes: { 'idgate.mode': mode } }, parent);
          if (!span.isRecording()) return context.with(trace.setSpan(parent, span), () => decider.decide(ctx, deadlineAt));
          // Inside the span's context only while `decide` runs (its store, Didit and JWKS calls start there and
          // carry it on); a decision answered synchronously (a cached token and verdict) ends the span at
          // once, without an async frame and its promise (bench/README.md, "Tracing cost, twelfth round").
          return context.with(trace.setSpan(parent, span), () => {
            let answer: Decision | Promise<Decision>;
            try {
              answer = decider.decide(ctx, deadlineAt);
            } catch (err) {
              endWith(span, err);
              throw err;
            }
            if (!(answer instanceof Promise)) return endCheckSpan(span, answer);
            return answer.then(
              (decision) => endCheckSpan(span, decision),
              (err: unknown) => {
                endWith(span, err);
                throw err;
              },
            );
          });
        },
      };
    },

    logFields(): Record<string, string> {
      const span = trace.getSpan(context.active());
      if (span === undefined) return {};
      const sc = span.spanContext();
      return trace.isSpanContextValid(sc) ? { traceId: sc.traceId, spanId: sc.spanId } : {};
    },

    instrumentRedis(client: { sendCommand: (...args: never[]) => unknown }): void {
      const target = client as unknown as { sendCommand: (command: { name?: string }, ...rest: unknown[]) => unknown };
      const original = target.sendCommand.bind(target);
      target.sendCommand = (command, ...rest) => {
        if (activeRecording() === undefined) return original(command, ...rest);
        // The command name only: keys and arguments carry subjects and session ids.
        const op = typeof command?.name === 'string' ? command.name.toUpperCase() : 'UNKNOWN';
        const span = tracer.startSpan(`redis ${op}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': op } });
        const result = context.with(trace.setSpan(context.active(), span), () => original(command, ...rest));
        if (result instanceof Promise) {
          result.then(() => span.end(), (err: unknown) => endWith(span, err));
        } else {
          span.end();
        }
        return result;
      };
    },

    async shutdown(): Promise<void> {
      try {
        await provider.shutdown();
      } finally {
        contextManager.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** Route, outcome, code and status: never the subject, a header or a verification URL. */
/** Ends a Check's span with its decision's attributes (an error status for a 503 deny); answers `decision`. */
function endCheckSpan(span: Span, decision: Decision): Decision {
  span.setAttributes(decisionAttributes(decision));
  if (decision.kind === 'deny' && decision.status === 503) span.setStatus({ code: SpanStatusCode.ERROR, message: decision.code });
  span.end();
  return decision;
}

function decisionAttributes(decision: Decision): SpanAttributes {
  const attrs: Record<string, string | number | boolean> = { 'idgate.outcome': decision.kind };
  if (decision.routeId !== undefined) attrs['idgate.route'] = decision.routeId;
  if (decision.kind === 'deny') {
    attrs['idgate.code'] = decision.code;
    attrs['idgate.status'] = decision.status;
  } else if (decision.kind === 'step_up') {
    attrs['idgate.code'] = 'verification_required';
    attrs['idgate.workflow'] = decision.workflow;
  }
  if (decision.shadow === true) attrs['idgate.shadow'] = true;
  return attrs;
}
