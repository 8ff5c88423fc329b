import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import type { IdgateConfig } from '../config/types.js';
import { planReload, SECTION_RELOAD } from './reload-plan.js';

const BASE = `
issuers:
  - { name: corp, issuer: "https://idp", audiences: [api], jwksUri: "https://idp/jwks" }
workflows:
  kyc: { workflowId: 11111111-1111-4111-8111-111111111111, minAge: 18 }
didit: { mode: sandbox }
risk: { enabled: false }
policy:
  routes:
    - { id: a, match: { prefix: /a }, require: { verification: [kyc] } }
`;
const load = (extra = ''): IdgateConfig => parseConfig(`${BASE}${extra}`, { sourceName: 't.yaml', env: {} });
const wired = { workflowsWired: true };

describe('planReload', () => {
  it('classifies every section of a loaded config', () => {
    for (const key of Object.keys(load())) expect(SECTION_RELOAD, key).toHaveProperty(key);
  });

  it('applies reloadable sections whole', () => {
    const next = parseConfig(BASE.replace('minAge: 18', 'minAge: 21, requireAmlClear: true'), { sourceName: 't', env: {} });
    const plan = planReload(load(), next, wired);
    expect(plan).toMatchObject({ applied: ['workflows'], refused: [] });
    expect(plan.effective.workflows.kyc).toMatchObject({ minAge: 21, requireAmlClear: true });
  });

  it('refuses restart-only sections, keeping the running value, and applies the rest', () => {
    const running = load();
    const next = load('headers: { prefix: x-gate- }\nserver: { grpc: { port: 9999 } }\nnetwork: { trustedProxies: [10.0.0.0/8] }\n');
    const plan = planReload(running, next, wired);
    expect([...plan.refused].sort()).toEqual(['headers', 'server']);
    expect(plan.applied).toEqual(['network']);
    expect(plan.effective.headers).toEqual(running.headers);
    expect(plan.effective.server).toEqual(running.server);
    expect(plan.effective.network.trustedProxies).toEqual(['10.0.0.0/8']);
  });

  it('refuses risk.enabled and logging.level but applies the rest of their sections', () => {
    const running = load();
    const next = parseConfig(BASE.replace('enabled: false', 'enabled: true, velocity: { max: 7 }') + 'logging: { level: debug, allowSampleRate: 0.5, decisionReplay: true }\n', { sourceName: 't', env: {} });
    const plan = planReload(running, next, wired);
    expect([...plan.refused].sort()).toEqual(['logging.level', 'risk.enabled']);
    expect(plan.effective.risk).toMatchObject({ enabled: false, velocityMax: 7 });
    expect(plan.effective.logging).toEqual({ level: running.logging.level, allowSampleRate: 0.5, decisionReplay: true });
    expect([...plan.applied].sort()).toEqual(['logging', 'risk']);
  });

  it('refuses workflow changes when no Didit client was started', () => {
    const next = parseConfig(BASE.replace('minAge: 18', 'minAge: 21'), { sourceName: 't', env: {} });
    const plan = planReload(load(), next, { workflowsWired: false });
    expect(plan.refused).toEqual(['workflows']);
    expect(plan.effective.workflows.kyc?.minAge).toBe(18);
  });

  it('changes nothing for an identical config', () => {
    expect(planReload(load(), load(), wired)).toMatchObject({ applied: [], refused: [] });
  });
});
