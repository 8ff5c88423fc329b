import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { Decision } from '../src/core/decision.js';
import type { Principal } from '../src/core/principal.js';
import { DiditError, type DiditErrorCode } from '../src/didit/didit-error.js';
import { createEngine } from '../src/engine/create-engine.js';
import { KeysUnavailableError } from '../src/identity/jwks-cache.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { StoreError, type StoreErrorCode } from '../src/store/store-error.js';
import { requestContextWith } from './support/tokens.js';

/**
 * Fault classification in the engine: which thrown faults may let a `failOpen` route through. The
 * verification stage is a scripted seam that throws the given fault; everything else is real.
 */
const config = parseConfig(
  `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
workflows:
  kyc: { workflowId: wf-kyc, maxAge: 30d }
didit: { mode: sandbox }
policy:
  routes:
    - { id: lenient, match: { prefix: /lenient }, failOpen: true, require: { verification: [kyc] } }
    - { id: strict, match: { prefix: /strict }, require: { verification: [kyc] } }
`,
  { sourceName: 'faults.yaml', env: {} },
);
const policy = compilePolicy(config);
const principal: Principal = { issuerName: 'corp', issuer: 'https://corp.example', sub: 'alice', subject: 'corp:alice', claims: {}, source: 'header', tokenId: 't1' };

async function decide(path: string, fault: unknown): Promise<Decision> {
  const engine = createEngine(
    {
      authenticator: { authenticate: async () => ({ kind: 'verified', principal }) },
      policy: () => policy,
      verification: { check: async () => Promise.reject(fault) },
    },
    { headerPrefix: 'x-idgate-' },
  );
  return engine.decide({ ...requestContextWith({}), path, rawPath: path }, Date.now() + 1_000);
}

const outcome = (d: Decision) => (d.kind === 'deny' ? d.code : d.kind);

describe('failOpen only on a real outage (classified by type, not by name)', () => {
  const outages: [string, unknown][] = [
    ...(['timeout', 'unavailable', 'rate_limited'] as DiditErrorCode[]).map((c): [string, unknown] => [`DiditError ${c}`, new DiditError(c, 'x')]),
    ...(['unavailable', 'timeout'] as StoreErrorCode[]).map((c): [string, unknown] => [`StoreError ${c}`, new StoreError(c, 'x')]),
  ];
  const ownFaults: [string, unknown][] = [
    ...(['bad_request', 'auth', 'not_found', 'bad_response'] as DiditErrorCode[]).map((c): [string, unknown] => [`DiditError ${c}`, new DiditError(c, 'x', { status: 400 })]),
    ['StoreError corrupt', new StoreError('corrupt', 'x')],
  ];

  it.each(outages)('%s: fails open on a failOpen route, closed (503) on a strict one', async (_name, fault) => {
    expect(outcome(await decide('/lenient/x', fault))).toBe('allow');
    expect(outcome(await decide('/strict/x', fault))).toBe('dependency_unavailable');
  });

  it.each(ownFaults)('%s: a fault of our own making fails closed even on a failOpen route', async (_name, fault) => {
    expect(outcome(await decide('/lenient/x', fault))).toBe('dependency_unavailable');
  });

  it('an error merely named like a dependency error is an internal error, never an open door', async () => {
    const impostor = Object.assign(new Error('x'), { name: 'DiditError', code: 'unavailable', transient: true, outage: true });
    expect(outcome(await decide('/lenient/x', impostor))).toBe('internal_error');
    const named = Object.assign(new Error('x'), { name: 'DependencyError' });
    expect(outcome(await decide('/lenient/x', named))).toBe('internal_error');
  });

  it('the JWKS fault is a DependencyError too (an outage)', () => {
    const err = new KeysUnavailableError();
    expect(err).toBeInstanceOf(Error);
    expect(err.outage).toBe(true);
  });
});
