import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';

/**
 * Issue 13, part 2: one deadline rule — a Check is answered by min(received + grpc.decisionTimeout, proxy
 * deadline − 20 ms) — and defaults under which every shipped proxy timeout leaves room for it. Reads the
 * shipped files exactly as shipped.
 */
const ROOT = resolve(import.meta.dirname, '..');
const MARGIN_MS = 20;

function toMs(value: string): number {
  const m = /^([0-9.]+)(ms|s)$/.exec(value);
  if (m === null) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

const SHIPPED: Array<[string, RegExp]> = [
  ['envoy/front-proxy.yaml', /envoy_grpc: \{ cluster_name: idgate \}[\s\S]*?timeout: ([0-9.]+m?s)/],
  ['envoy/http-service.yaml', /cluster: idgate_http[\s\S]*?timeout: ([0-9.]+m?s)/],
  ['k8s/overlays/istio/istio-operator.yaml', /envoyExtAuthzGrpc:[\s\S]*?timeout: ([0-9.]+m?s)/],
  ['k8s/overlays/envoy-gateway/security-policy.yaml', /failOpen: false\s+timeout: ([0-9.]+m?s)/],
];

describe('decision deadlines versus the shipped proxy timeouts', () => {
  const defaults = parseConfig('{}', { sourceName: 'defaults.yaml', env: {} });

  it('defaults: decisionTimeout 150 ms, stepUpWait 50 ms (a step-up never waits on Didit for most of the budget)', () => {
    expect(defaults.server.grpc.decisionTimeoutMs).toBe(150);
    expect(defaults.didit.stepUpWaitMs).toBe(50);
    expect(defaults.didit.stepUpWaitMs).toBeLessThan(defaults.server.grpc.decisionTimeoutMs / 2);
  });

  it.each(SHIPPED)('%s: idgate decides before the proxy gives up', (file, pattern) => {
    const m = pattern.exec(readFileSync(resolve(ROOT, file), 'utf8'));
    expect(m, `no ext_authz timeout found in ${file}`).not.toBeNull();
    const proxyMs = toMs((m as RegExpExecArray)[1] as string);
    const answeredBy = Math.min(defaults.server.grpc.decisionTimeoutMs, proxyMs - MARGIN_MS);
    // At least 50 ms between idgate's own deadline deny and the proxy's timeout for the network and a busy
    // event loop; and the rule never takes the whole proxy budget.
    expect(proxyMs - answeredBy).toBeGreaterThanOrEqual(50);
  });
});
