import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import type { AuthResult } from '../core/auth-result.js';
import type { Decision } from '../core/decision.js';
import type { Principal } from '../core/principal.js';
import type { Outcome } from '../core/outcome.js';
import type { VerificationResult } from '../core/stages.js';
import { StoreError } from '../store/store-error.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { EMPTY_REQUEST_CONTEXT } from '../core/request-context.js';
import { createEngine } from './create-engine.js';

/**
 * The engine answers synchronously when every stage does (a fully cached Check) and through a promise
 * otherwise, with the same decision and the same observation either way. Policy is real; identity and
 * verification are scripted seams that answer either synchronously or asynchronously.
 */
// Every route shape the engine treats differently: public, failOpen, plain verification, shadow.
const config = parseConfig(
  `policy:
  routes:
    - { id: open, match: { prefix: /open }, require: { authenticated: false } }
    - { id: lenient, match: { prefix: /lenient }, failOpen: true, require: { verification: [age] } }
    - { id: age, match: { prefix: /age }, require: { verification: [age] } }
    - { id: shadowed, match: { prefix: /shadowed }, shadow: true, require: { verification: [age] } }
didit: { mode: sandbox }
workflows:
  age: { workflowId: wf-age, maxAge: 7d }
issuers:
  - name: idp
    issuer: https://idp.example
    audiences: [shop]
    jwksUri: https://idp.example/keys
`,
  { sourceName: 'engine.yaml', env: {} },
);
const policy = compilePolicy(config);
const principal: Principal = { issuerName: 'idp', issuer: 'https://idp.example', sub: 'bob', subject: 'idp:bob', claims: {}, source: 'header', tokenId: 'tok-bob' };
const VERIFIED: AuthResult = { kind: 'verified', principal };

type Answer<T> = { value: T } | { fault: unknown };
interface Observed {
  decision: Decision;
  outcome: Outcome | undefined;
}

/** An engine whose stages answer `auth` and `gate` synchronously (`sync`) or through a promise. */
function engineWith(sync: boolean, auth: Answer<AuthResult>, gate: Answer<VerificationResult>) {
  const observed: Observed[] = [];
  const faults: unknown[] = [];
  const answer = <T>(a: Answer<T>): T | Promise<T> => {
    if (sync) {
      if ('fault' in a) throw a.fault;
      return a.value;
    }
    return 'fault' in a ? Promise.reject(a.fault) : Promise.resolve(a.value);
  };
  const engine = createEngine(
    {
      authenticator: { authenticate: () => answer(auth) },
      policy: () => policy,
      verification: { check: () => answer(gate) },
      observer: { observe: (_ctx, decision, outcome) => observed.push({ decision, outcome }) },
      onFault: (err) => faults.push(err),
    },
    { headerPrefix: 'x-idgate-' },
  );
  return { engine, observed, faults };
}

/** A decision without its (random) id, for comparing two runs. */
const withoutId = (d: Decision): Omit<Decision, 'decisionId'> => {
  const { decisionId, ...rest } = d;
  expect(decisionId).toMatch(/\S/);
  return rest;
};

const SATISFIED: Answer<VerificationResult> = { value: { kind: 'satisfied', workflows: ['age'] } };
const STEP_UP: Answer<VerificationResult> = { value: { kind: 'step_up', workflow: 'age', verificationUrl: 'https://didit.example/s/1' } };

describe('createEngine: synchronous when every stage is', () => {
  const cases: [string, string, Answer<AuthResult>, Answer<VerificationResult>, string][] = [
    ['a cached token and cached verdicts', '/age/a', { value: VERIFIED }, SATISFIED, 'allow'],
    ['an anonymous caller on an open route', '/open/a', { value: { kind: 'anonymous' } }, SATISFIED, 'allow'],
    ['a step-up', '/age/a', { value: VERIFIED }, STEP_UP, 'step_up'],
    ['a shadowed step-up', '/shadowed/a', { value: VERIFIED }, STEP_UP, 'allow'],
    ['a store outage on a failOpen route', '/lenient/a', { value: VERIFIED }, { fault: new StoreError('unavailable', 'x') }, 'allow'],
    ['a store outage on a strict route', '/age/a', { value: VERIFIED }, { fault: new StoreError('unavailable', 'x') }, 'dependency_unavailable'],
    ['a programming error in verification', '/age/a', { value: VERIFIED }, { fault: new TypeError('bug') }, 'internal_error'],
    ['a programming error in identity', '/age/a', { fault: new TypeError('bug') }, SATISFIED, 'internal_error'],
  ];

  it.each(cases)('%s: the same decision and observation, synchronously or through a promise', async (_name, path, auth, gate, expected) => {
    const ctx = { ...EMPTY_REQUEST_CONTEXT, method: 'GET', path, rawPath: path };
    const syncRun = engineWith(true, auth, gate);
    const asyncRun = engineWith(false, auth, gate);

    const now = syncRun.engine.decide(ctx, Date.now() + 1_000);
    expect(now).not.toBeInstanceOf(Promise);
    const later = asyncRun.engine.decide(ctx, Date.now() + 1_000);
    expect(later).toBeInstanceOf(Promise);
    const [a, b] = [now as Decision, await later];

    expect(a.kind === 'deny' ? a.code : a.kind).toBe(expected);
    expect(withoutId(a)).toEqual(withoutId(b));
    expect(syncRun.observed).toHaveLength(1);
    expect(asyncRun.observed).toHaveLength(1);
    expect(syncRun.observed[0]?.decision).toBe(a);
    expect(syncRun.observed[0]?.outcome).toEqual(asyncRun.observed[0]?.outcome);
    expect(syncRun.faults.length).toBe(asyncRun.faults.length);
  });
});
