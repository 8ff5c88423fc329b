import type { Logger } from 'pino';
import type { TracingConfig } from '../config/types.js';
import { installTracingBackend, tracingEnabled } from '../tracing/tracing.js';

/**
 * Starts tracing when `config.enabled`: loads the OpenTelemetry backend (`./otel-tracing.js`, and with it
 * the SDK, the OTLP exporter and the propagators) with a dynamic import, so a process with tracing off
 * never loads them, and installs it in the tracing seam (`tracing/tracing.ts`). Idempotent per process: a
 * second call keeps the first backend.
 * @returns a function that flushes and stops it (a no-op when tracing is off).
 */
export async function startTracing(config: TracingConfig, logger: Logger): Promise<() => Promise<void>> {
  // Checked before the backend is built: building one registers OpenTelemetry's global context manager
  // and propagator, which a second instance must not replace.
  if (!config.enabled || tracingEnabled()) return async () => undefined;
  const { createOtelBackend } = await import('./otel-tracing.js');
  const created = createOtelBackend(config, logger);
  const installation = installTracingBackend(created);
  logger.info({ endpoint: redactUrl(config.endpoint), sampleRatio: config.sampleRatio }, 'tracing enabled (OTLP/HTTP)');
  return async () => {
    installation.uninstall();
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
