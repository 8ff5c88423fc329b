import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { ConditionConfig, ConditionEffect, GuardrailConfig, IdgateConfig, Requirements, RiskBand, RouteConfig, RouteMatch } from '../src/config/types.js';
import type { AuthResult } from '../src/core/auth-result.js';
import type { Outcome } from '../src/core/outcome.js';
import type { RiskAssessment } from '../src/core/risk-assessment.js';
import { testRequestContext } from '../src/core/test-request-context.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { ORG_TEST_BASE } from './support/org-policy.js';

/**
 * Property tests of issue #14's promise: a tenant can never make a decision more permissive than the
 * guardrails alone, and adding a guardrail never loosens any decision. Policies are generated as data
 * (requirements, conditions, risk bands, actions, matches), evaluated on generated requests and callers.
 * Bounded (200 runs) with a fixed seed: fast-check prints the seed and the counterexample on failure.
 */

const NOW = Date.UTC(2026, 0, 7, 12, 0);
const SEED = 1414;
const RUNS = 200;

const BASE = parseConfig(`${ORG_TEST_BASE}policy:\n  acrOrder: [bronze, silver, gold]\n`, { sourceName: 'properties.yaml', env: {} });

const HOSTS = ['a.example', 'b.example'];
const PATHS = ['/x', '/x/1', '/y', '/z'];
const COUNTRIES = ['KP', 'ES', 'FR'];

const sub = <T>(values: readonly T[]) => fc.subarray([...values]);
/** Usually empty, sometimes one of `lists`. */
const rare = (...lists: string[][]): fc.Arbitrary<string[]> => fc.oneof({ weight: 3, arbitrary: fc.constant<string[]>([]) }, { weight: 2, arbitrary: fc.constantFrom(...lists) });
/** Usually all of `values` (a caller that holds what policies ask), sometimes fewer. */
const mostly = (values: string[]): fc.Arbitrary<string[]> => fc.oneof({ weight: 3, arbitrary: fc.constant(values) }, { weight: 2, arbitrary: fc.subarray(values) });

const arbRequirements: fc.Arbitrary<Requirements> = fc
  .record({
    authenticated: fc.boolean(),
    // Mostly small sets, so that callers often satisfy them and merges decide something other than deny.
    issuers: rare(['corp'], ['corp', 'partner']),
    scopes: rare(['read'], ['write']),
    anyRoles: rare(['admin', 'ops'], ['admin']),
    allRoles: rare(['user']),
    amr: fc.option(fc.constantFrom(['mfa'], ['mfa', 'hwk']), { nil: undefined, freq: 3 }),
    acr: fc.option(fc.constantFrom('bronze', 'silver', 'gold'), { nil: undefined, freq: 4 }),
    maxTokenAgeMs: fc.option(fc.constantFrom(60_000, 3_600_000), { nil: undefined, freq: 4 }),
    verification: fc.constantFrom([], ['kyc'], ['liveness'], ['kyc', 'liveness']),
    verificationMaxAgeMs: fc.option(fc.constantFrom(3_600_000, 7 * 86_400_000), { nil: undefined }),
    onInReview: fc.constantFrom('deny' as const, 'allow' as const),
    onDeclined: fc.constantFrom('deny' as const, 'retry' as const),
    claim: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  })
  .map((r): Requirements => {
    const mfa = r.amr !== undefined || r.acr !== undefined ? { ...(r.amr !== undefined ? { amr: r.amr } : {}), ...(r.acr !== undefined ? { acrAtLeast: r.acr } : {}) } : undefined;
    const any =
      r.issuers.length + r.scopes.length + r.anyRoles.length + r.allRoles.length + r.verification.length > 0 ||
      mfa !== undefined ||
      r.maxTokenAgeMs !== undefined ||
      r.claim;
    return {
      // As the schema: every other requirement implies a token.
      authenticated: r.authenticated || any,
      issuers: r.issuers,
      claims: r.claim ? { email_verified: { equals: true } } : ({} as Requirements['claims']),
      scopes: r.scopes,
      anyRoles: r.anyRoles,
      allRoles: r.allRoles,
      ...(mfa !== undefined ? { mfa } : {}),
      ...(r.maxTokenAgeMs !== undefined ? { maxTokenAgeMs: r.maxTokenAgeMs } : {}),
      verification: r.verification,
      ...(r.verificationMaxAgeMs !== undefined ? { verificationMaxAgeMs: r.verificationMaxAgeMs } : {}),
      onInReview: r.onInReview,
      onDeclined: r.onDeclined,
    };
  });

const NO_REQUIREMENTS: Requirements = { authenticated: false, issuers: [], claims: {}, scopes: [], anyRoles: [], allRoles: [], verification: [], onInReview: 'deny', onDeclined: 'deny' };

const arbEffect: fc.Arbitrary<ConditionEffect> = fc.oneof(
  fc.constant<ConditionEffect>({ kind: 'deny', code: 'country_denied' }),
  fc.constant<ConditionEffect>({ kind: 'allow' }),
  fc.option(fc.constantFrom(60_000, 900_000), { nil: undefined }).map((maxAgeMs): ConditionEffect => ({ kind: 'step_up', workflow: 'liveness', ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) })),
);

const arbCondition: fc.Arbitrary<ConditionConfig> = fc
  .record({ name: fc.constantFrom('c1', 'c2', 'c3'), notIn: fc.boolean(), countries: fc.subarray(COUNTRIES, { minLength: 1 }), then: arbEffect, cel: fc.boolean() })
  .map((c): ConditionConfig => ({
    name: c.name,
    // A CEL test on a claim errors without a token: a condition that cannot be evaluated must deny.
    when: c.cel ? { kind: 'cel', expression: 'claims.level > 2' } : c.notIn ? { kind: 'country', notIn: c.countries } : { kind: 'country', in: c.countries },
    then: c.then,
  }));

const arbBand: fc.Arbitrary<RiskBand> = fc.record({ atLeast: fc.constantFrom(20, 50, 80), then: arbEffect });

const arbMatch: fc.Arbitrary<RouteMatch> = fc.record({
  hosts: sub(HOSTS),
  paths: fc.constantFrom([], [{ prefix: '/x' }], [{ prefix: '/y' }], [{ exact: '/z' }]),
  methods: fc.constantFrom([], ['GET'], ['POST']),
});

/** Guardrails match broadly (most requests meet at least one), so that merges are exercised. */
const arbGuardMatch: fc.Arbitrary<RouteMatch> = fc.record({
  hosts: fc.constantFrom([], [], ['a.example']),
  paths: fc.constantFrom([], [], [{ prefix: '/x' }]),
  methods: fc.constantFrom([], [], ['GET']),
});

/** What guardrails and routes share: a match, requirements, a level, conditions and risk bands. */
const arbRuleParts = (match: fc.Arbitrary<RouteMatch>) =>
  fc.record({
    match,
    require: arbRequirements,
    level: fc.option(fc.constantFrom('high', 'strict'), { nil: undefined, freq: 3 }),
    conditions: fc.array(arbCondition, { maxLength: 2 }),
    riskBands: fc.array(arbBand, { maxLength: 2 }),
  });

const arbGuardrail: fc.Arbitrary<GuardrailConfig> = fc
  .tuple(arbRuleParts(arbGuardMatch), fc.integer({ min: 0, max: 9 }), fc.boolean())
  .map(([{ level, ...p }, roll, floor]): GuardrailConfig => ({
    id: 'g',
    ...p,
    action: roll === 0 ? 'deny' : 'require',
    require: floor ? p.require : NO_REQUIREMENTS,
    ...(level !== undefined ? { sensitivity: level } : {}),
  }));

const arbRoute: fc.Arbitrary<RouteConfig> = fc
  .tuple(arbRuleParts(arbMatch), fc.constantFrom('public' as const, 'require' as const, 'require' as const, 'deny' as const))
  .map(([{ level, ...p }, action]): RouteConfig => ({
    id: 'r',
    ...p,
    action,
    require: action === 'require' ? p.require : NO_REQUIREMENTS,
    ...(level !== undefined && action === 'require' ? { sensitivity: level } : {}),
    claimHeaders: {},
    shadow: false,
    failOpen: false,
  }));

const ids = <T extends { id: string }>(list: readonly T[], prefix: string): T[] => list.map((x, i) => ({ ...x, id: `${prefix}${i}` }));

interface Probe {
  readonly host: string;
  readonly path: string;
  readonly method: string;
  readonly country?: string;
  readonly auth: AuthResult;
  readonly risk?: RiskAssessment;
}

const arbAuth: fc.Arbitrary<AuthResult> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<AuthResult>({ kind: 'anonymous' }) },
  { weight: 1, arbitrary: fc.constant<AuthResult>({ kind: 'failed', code: 'token_expired', message: 'expired' }) },
  {
    weight: 7,
    arbitrary: fc
      .record({
        issuer: fc.constantFrom('corp', 'corp', 'partner'),
        scopes: mostly(['read', 'write']),
        roles: mostly(['admin', 'ops', 'user']),
        amr: mostly(['mfa', 'hwk', 'pwd']),
        acr: fc.constantFrom('bronze', 'silver', 'gold', 'gold', undefined),
        loginAgoS: fc.constantFrom(30, 30, 1800, 7200),
        emailVerified: fc.constantFrom(true, true, false),
        level: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
      })
      .map((c): AuthResult => ({
        kind: 'verified',
        principal: {
          issuerName: c.issuer,
          issuer: `https://${c.issuer}.example`,
          sub: 'u1',
          subject: `${c.issuer}:u1`,
          claims: {
            sub: 'u1',
            scope: c.scopes.join(' '),
            roles: c.roles,
            amr: c.amr,
            ...(c.acr !== undefined ? { acr: c.acr } : {}),
            auth_time: NOW / 1000 - c.loginAgoS,
            email_verified: c.emailVerified,
            ...(c.level !== undefined ? { level: c.level } : {}),
          },
          source: 'header',
          tokenId: 't1',
        },
      })),
  },
);

const arbProbe: fc.Arbitrary<Probe> = fc.record(
  {
    host: fc.constantFrom(...HOSTS),
    path: fc.constantFrom(...PATHS),
    method: fc.constantFrom('GET', 'POST'),
    country: fc.constantFrom('ES', 'ES', 'FR', 'KP'),
    auth: arbAuth,
    risk: fc.option(fc.integer({ min: 0, max: 100 }).map((score): RiskAssessment => ({ score, signals: [] })), { nil: undefined }),
  },
  { requiredKeys: ['host', 'path', 'method', 'auth'] },
);

function configOf(parts: { guardrails: readonly GuardrailConfig[]; tenantRoutes?: readonly RouteConfig[]; platform?: readonly RouteConfig[]; defaultAction: 'allow' | 'deny' }): IdgateConfig {
  return {
    ...BASE,
    policy: {
      ...BASE.policy,
      default: parts.defaultAction,
      sensitivity: {
        high: { ...NO_REQUIREMENTS, authenticated: true, mfa: { amr: ['mfa'] }, onInReview: 'allow', onDeclined: 'retry' },
        // No verification of its own, but the schema's In Review/Declined defaults (deny).
        strict: { ...NO_REQUIREMENTS, authenticated: true, maxTokenAgeMs: 3_600_000 },
      },
      routes: parts.platform ?? [],
      guardrails: parts.guardrails,
      tenants:
        parts.tenantRoutes === undefined
          ? []
          : [{ name: 't', owns: { hosts: HOSTS, prefixes: ['/'] }, files: [], routes: parts.tenantRoutes.map((r) => ({ ...r, id: `t/${r.id}` })), status: 'ok', revision: 'r1' }],
      revision: 'p1',
    },
  };
}

function evaluate(config: IdgateConfig, probe: Probe): Outcome {
  const ctx = testRequestContext({
    host: probe.host,
    path: probe.path,
    rawPath: probe.path,
    method: probe.method,
    headers: probe.country !== undefined ? { 'x-geo-country': probe.country } : {},
    receivedAt: NOW,
  });
  return compilePolicy(config).evaluate(ctx, probe.auth, NOW, probe.risk);
}

const RANK = { deny: 0, verify: 1, allow: 2 } as const;

/**
 * Why `stricter` is more permissive than `looser` (allow > verify > deny; a verify must need every
 * workflow the other needs, no older, and deny In Review/Declined whenever the other does), or undefined.
 */
function loosening(looser: Outcome, stricter: Outcome): string | undefined {
  if (RANK[stricter.kind] > RANK[looser.kind]) return `${stricter.kind} where the floor alone gives ${looser.kind}`;
  if (stricter.kind !== 'verify' || looser.kind !== 'verify') return undefined;
  for (const need of looser.needs) {
    const mine = stricter.needs.find((n) => n.workflow === need.workflow);
    if (mine === undefined) return `drops the need for ${need.workflow}`;
    if (mine.maxAgeMs > need.maxAgeMs) return `accepts an older ${need.workflow} (${mine.maxAgeMs} > ${need.maxAgeMs})`;
    if (need.onInReview === 'deny' && mine.onInReview !== 'deny') return `lets ${need.workflow} In Review through`;
    if (need.onDeclined === 'deny' && mine.onDeclined !== 'deny') return `retries a declined ${need.workflow}`;
  }
  return undefined;
}

const describeOutcome = (o: Outcome): string => `${o.kind}${o.kind === 'deny' ? ` ${o.code}` : ''} by ${o.decidedBy?.layer ?? '?'} ${o.decidedBy?.id ?? '?'}`;

describe('org-wide policy properties (fast-check, seed 1414)', () => {
  it('a tenant never makes a decision more permissive than the guardrails alone', () => {
    fc.assert(
      fc.property(
        fc.array(arbGuardrail, { maxLength: 3 }),
        fc.array(arbRoute, { maxLength: 3 }),
        fc.constantFrom('allow' as const, 'deny' as const),
        fc.array(arbProbe, { minLength: 1, maxLength: 4 }),
        (rawGuardrails, rawRoutes, defaultAction, probes) => {
          const guardrails = ids(rawGuardrails, 'g');
          const alone = configOf({ guardrails, defaultAction: 'allow' });
          const withTenant = configOf({ guardrails, tenantRoutes: ids(rawRoutes, 'r'), defaultAction });
          for (const probe of probes) {
            const floor = evaluate(alone, probe);
            const got = evaluate(withTenant, probe);
            const why = loosening(floor, got);
            expect(why, `${why ?? ''}: guardrails alone → ${describeOutcome(floor)}, with the tenant → ${describeOutcome(got)}`).toBeUndefined();
          }
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('adding a guardrail never loosens a decision (tenant, platform and default layers)', () => {
    fc.assert(
      fc.property(
        fc.array(arbGuardrail, { maxLength: 3 }),
        arbGuardrail,
        fc.nat(),
        fc.array(arbRoute, { maxLength: 3 }),
        fc.array(arbRoute, { maxLength: 2 }),
        fc.constantFrom('allow' as const, 'deny' as const),
        fc.array(arbProbe, { minLength: 1, maxLength: 4 }),
        (rawGuardrails, extra, at, tenantRoutes, platform, defaultAction, probes) => {
          const before = ids(rawGuardrails, 'g');
          const after = [...before];
          after.splice(at % (before.length + 1), 0, { ...extra, id: 'added' });
          // The tenant owns a.example only: b.example requests exercise the platform routes and the default.
          const owned = (guardrails: readonly GuardrailConfig[]): IdgateConfig => {
            const c = configOf({ guardrails, tenantRoutes: ids(tenantRoutes, 'r'), platform: ids(platform, 'p'), defaultAction });
            const tenants = (c.policy.tenants ?? []).map((t) => ({ ...t, owns: { hosts: ['a.example'], prefixes: ['/'] } }));
            return { ...c, policy: { ...c.policy, tenants } };
          };
          const without = owned(before);
          const withExtra = owned(after);
          for (const probe of probes) {
            const was = evaluate(without, probe);
            const now = evaluate(withExtra, probe);
            const why = loosening(was, now);
            expect(why, `${why ?? ''}: before → ${describeOutcome(was)}, with the added guardrail → ${describeOutcome(now)}`).toBeUndefined();
          }
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
