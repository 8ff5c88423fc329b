import type { Decider } from '../core/decider.js';

/**
 * OpenTelemetry tracing, behind a seam that costs nothing when `tracing.enabled` is false. This leaf is what
 * the stages (identity, Didit, store, webhook) call; it imports no OpenTelemetry package and nothing above
 * core/. `startTracing()` (observability/start-tracing.ts) loads the OpenTelemetry backend with a dynamic
 * import only when tracing is on and installs it here with {@link installTracingBackend}. Until then
 * {@link traced} is a branch on `undefined` and a direct call, and no span is ever allocated.
 *
 * Span attributes are limited to what is safe to export: route id, outcome, deny code, status, mode,
 * dependency operation names. Never a token, header value, Redis key (keys carry subjects) or subject.
 */

/** Request headers that may carry trace context (`traceparent`, `b3`…), lower-case names. */
export type IncomingTraceHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Every header our propagators read (W3C trace context, B3 single and multi), lower-case: what the gRPC
 * front end copies from the metadata of the proxy's own call.
 */
export const TRACE_CONTEXT_HEADERS: readonly string[] = [
  'traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags',
];

/**
 * The trace context among the headers of the proxy's own Check call (Envoy's tracer injects its span there;
 * end users cannot set it), read through `get` (grpc-js metadata or node:http2 headers); undefined when it
 * carries none.
 */
export function proxyTraceContext(get: (name: string) => unknown): Readonly<Record<string, string>> | undefined {
  let found: Record<string, string> | undefined;
  for (const name of TRACE_CONTEXT_HEADERS) {
    const value = get(name);
    if (typeof value !== 'string') continue;
    found ??= {};
    found[name] = value;
  }
  return found;
}

/** Attribute values we export. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** What the OpenTelemetry-backed implementation provides (see `otel-tracing.ts`). */
export interface TracingBackend {
  /**
   * Runs `fn` in a child span of the active span; without an active span, `fn` runs untraced unless
   * `incoming` is given: then the span continues the trace context in those request headers (only with
   * `tracing.trustIncomingContext`), or starts a root sampled at `sampleRatio`.
   */
  span<T>(name: string, attributes: SpanAttributes | undefined, fn: () => Promise<T>, incoming?: IncomingTraceHeaders): Promise<T>;
  /**
   * Wraps a decider: one server span per Check, child of the proxy's trace context (`ctx.traceContext`, the
   * gRPC call's metadata) or, only with `tracing.trustIncomingContext`, of the one in the request headers.
   */
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
 * span continues their trace context when `tracing.trustIncomingContext`, else is a new root sampled at
 * `sampleRatio`.
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
 * Installs the backend every function of this module delegates to (idempotent per process: while one is
 * installed, another is refused). Called by `startTracing()` only.
 * @returns whether it was installed, and a function that uninstalls it (if it is still the one installed).
 */
export function installTracingBackend(created: TracingBackend): { readonly installed: boolean; uninstall(): void } {
  if (backend !== undefined) return { installed: false, uninstall: () => undefined };
  backend = created;
  return {
    installed: true,
    uninstall: () => {
      if (backend === created) backend = undefined;
    },
  };
}
