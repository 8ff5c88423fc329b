import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { loadConfig } from '../src/config/load-config.js';
import { parseConfig } from '../src/config/parse-config.js';
import type { Decider } from '../src/core/decider.js';
import { traceDecider, traced, tracingEnabled } from '../src/tracing/tracing.js';

const ISSUER = `issuers:
  - name: corp
    issuer: https://corp.example
    audiences: [api]
    jwksUri: https://corp.example/jwks
`;

function parse(text: string) {
  return parseConfig(text, { sourceName: 't.yaml', env: {} });
}

function errorOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('tracing config', () => {
  it('is off by default, with a loopback collector, ratio 1 and service name idgate', async () => {
    const config = await loadConfig('examples/idgate.yaml', { env: {} });
    expect(config.tracing).toEqual({ enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', sampleRatio: 1, serviceName: 'idgate', trustIncomingContext: false });
  });

  it('accepts an OTLP/HTTP endpoint and a ratio', () => {
    const config = parse(`${ISSUER}tracing: { enabled: true, endpoint: "http://otel-collector.observability:4318/v1/traces", sampleRatio: 0.01, serviceName: edge-idgate, trustIncomingContext: true }\n`);
    expect(config.tracing).toEqual({ enabled: true, endpoint: 'http://otel-collector.observability:4318/v1/traces', sampleRatio: 0.01, serviceName: 'edge-idgate', trustIncomingContext: true });
  });

  it('refuses a non-http endpoint, a ratio outside 0..1 and unknown keys, naming the key', () => {
    expect(errorOf(`${ISSUER}tracing: { enabled: true, endpoint: "grpc://collector:4317" }\n`)).toMatch(/tracing\.endpoint/);
    expect(errorOf(`${ISSUER}tracing: { sampleRatio: 1.5 }\n`)).toMatch(/tracing\.sampleRatio/);
    expect(errorOf(`${ISSUER}tracing: { sampleRate: 0.5 }\n`)).toMatch(/sampleRate/);
  });
});

describe('tracing off: no OpenTelemetry on the hot path', () => {
  it('traced() runs the function itself and returns its very promise; traceDecider() returns the decider unchanged', async () => {
    expect(tracingEnabled()).toBe(false);
    const p = Promise.resolve(42);
    expect(traced('x', () => p)).toBe(p);
    const decider: Decider = { decide: () => Promise.reject(new Error('unused')) };
    expect(traceDecider(decider, 'grpc')).toBe(decider);
  });

  it('only src/observability/otel-tracing.ts imports OpenTelemetry, and it is loaded by a dynamic import only', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk('src');
    const importers = files.filter((f) => /from '@opentelemetry\//.test(readFileSync(f, 'utf8')));
    expect(importers).toEqual(['src/observability/otel-tracing.ts']);
    const staticOtel = files.filter((f) => /^import[^;]*from '\.{1,2}\/(observability\/)?otel-tracing\.js'/m.test(readFileSync(f, 'utf8')));
    expect(staticOtel).toEqual([]);
    expect(readFileSync('src/observability/start-tracing.ts', 'utf8')).toContain("await import('./otel-tracing.js')");
  });
});
