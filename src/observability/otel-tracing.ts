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
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { TracingConfig } from '../config/types.js';
import type { Decider } from '../core/decider.js';
import type { Decision } from '../core/decision.js';
import type { IncomingTraceHeaders, SpanAttributes, TracingBackend } from './tracing.js';

/** Per export request; the batch processor never waits longer than this for the collector. */
const EXPORT_TIMEOUT_MS = 5_000;
/** Spans held while the collector is slow or down; beyond this, new spans are dropped (bounded memory). */
const MAX_QUEUE = 2_048;
const EXPORT_DELAY_MS = 1_000;

export function createOtelBackend(config: TracingConfig, logger: Logger): TracingBackend {
  const exporter = new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: EXPORT_TIMEOUT_MS });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    // A propagated sampled flag (Envoy's decision) wins; a Check without trace context is sampled at the ratio.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: MAX_QUEUE,
        maxExportBatchSize: 512,
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

  function activeRecording(): Span | undefined {
    const parent = trace.getSpan(context.active());
    return parent !== undefined && parent.isRecording() ? parent : undefined;
  }

  return {
    span<T>(name: string, attributes: SpanAttributes | undefined, fn: () => Promise<T>, incoming?: IncomingTraceHeaders): Promise<T> {
      // Only inside a sampled Check or at a server entry point (a webhook delivery): background work stays untraced.
      if (incoming === undefined && activeRecording() === undefined) return fn();
      const parent = incoming === undefined ? context.active() : propagation.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);
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
          const parent = propagation.extract(ROOT_CONTEXT, ctx.headers, defaultTextMapGetter);
          const span = tracer.startSpan('idgate.check', { kind: SpanKind.SERVER, attributes: { 'idgate.mode': mode } }, parent);
          if (!span.isRecording()) return context.with(trace.setSpan(parent, span), () => decider.decide(ctx, deadlineAt));
          return context.with(trace.setSpan(parent, span), async () => {
            try {
              const decision = await decider.decide(ctx, deadlineAt);
              span.setAttributes(decisionAttributes(decision));
              if (decision.kind === 'deny' && decision.status === 503) span.setStatus({ code: SpanStatusCode.ERROR, message: decision.code });
              span.end();
              return decision;
            } catch (err) {
              endWith(span, err);
              throw err;
            }
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
