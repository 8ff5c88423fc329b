import type { Logger } from 'pino';
import type { TracingConfig } from '../config/types.js';
import type { Decider } from '../core/decider.js';

/**
 * OpenTelemetry tracing, behind a seam that costs nothing when `tracing.enabled` is false: this module
 * imports no OpenTelemetry package; {@link startTracing} loads `./otel-tracing.js` (and with it the SDK,
 * the OTLP exporter and the propagators) with a dynamic import only when tracing is on. Until then
 * {@link traced} is a branch on `undefined` and a direct call, and no span is ever allocated.
 *
 * Span attributes are limited to what is safe to export: route id, outcome, deny code, status, mode,
 * dependency operation names. Never a token, header value, Redis key (keys carry subjects) or subject.
 */

/** Request headers that may carry trace context (`traceparent`, `b3`…), lower-case names. */
export type IncomingTraceHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Attribute values we export. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** What the OpenTelemetry-backed implementation provides (see `otel-tracing.ts`). */
export interface TracingBackend {
  /**
   * Runs `fn` in a child span of the active span; without an active span, `fn` runs untraced unless
   * `incoming` is given: then the span continues the trace context in those request headers, or starts one.
   */
  span<T>(name: string, attributes: SpanAttributes | undefined, fn: () => Promise<T>, incoming?: IncomingTraceHeaders): Promise<T>;
  /** Wraps a decider: one server span per Check, child of the trace context in the request headers. */
  traceDecider(decider: Decider, mode: string): Decider;
  /** `{ traceId, spanId }` of the active span, for log lines; empty when none. */
  logFields(): Record<string, string>;
  /** Patches an ioredis client (or cluster) so each command is a child span of the active span. */
  instrumentRedis(client: { sendCommand: (...args: never[]) => unknown }): void;
  /** Flushes pending spans (bounded by the exporter timeout) and stops exporting. */
  shutdown(): Promise<void>;
}

let backend: TracingBackend | undefined;

/** Whether tracing was started in this process. */
export function tracingEnabled(): boolean {
  return backend !== undefined;
}

/**
 * Runs `fn` inside a child span named `name` of the active span (no span when tracing is off or nothing
 * is being traced). `incoming`: the request headers of a server entry point (webhook deliveries) — the
 * span continues their trace context, or is a new root sampled at `sampleRatio`.
 */
export function traced<T>(name: string, fn: () => Promise<T>, attributes?: SpanAttributes, incoming?: IncomingTraceHeaders): Promise<T> {
  return backend === undefined ? fn() : backend.span(name, attributes, fn, incoming);
}

/** The pino `mixin`: adds `traceId`/`spanId` to every line logged inside a traced span. */
export function traceLogFields(): Record<string, string> {
  return backend === undefined ? EMPTY : backend.logFields();
}
const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The decider itself when tracing is off; else one wrapped to emit a span per Check. */
export function traceDecider(decider: Decider, mode: string): Decider {
  return backend === undefined ? decider : backend.traceDecider(decider, mode);
}

/** Instruments an ioredis client when tracing is on; a no-op otherwise. */
export function instrumentRedis(client: { sendCommand: (...args: never[]) => unknown }): void {
  backend?.instrumentRedis(client);
}

/**
 * Starts tracing when `config.enabled` (idempotent per process: a second call keeps the first backend).
 * @returns a function that flushes and stops it (a no-op when tracing is off).
 */
export async function startTracing(config: TracingConfig, logger: Logger): Promise<() => Promise<void>> {
  if (!config.enabled) return async () => undefined;
  if (backend !== undefined) return async () => undefined;
  const { createOtelBackend } = await import('./otel-tracing.js');
  const created = createOtelBackend(config, logger);
  backend = created;
  logger.info({ endpoint: redactUrl(config.endpoint), sampleRatio: config.sampleRatio }, 'tracing enabled (OTLP/HTTP)');
  return async () => {
    if (backend === created) backend = undefined;
    await created.shutdown();
  };
}

/** The endpoint without userinfo or query (either could carry a credential). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[invalid url]';
  }
}
