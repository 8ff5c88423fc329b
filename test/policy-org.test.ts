import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { runExplain } from '../src/app/run-explain.js';
import { parseConfig } from '../src/config/parse-config.js';
import type { IdgateConfig } from '../src/config/types.js';
import type { AuthResult } from '../src/core/auth-result.js';
import type { Outcome } from '../src/core/outcome.js';
import type { RequestContext } from '../src/core/request-context.js';
import { testRequestContext } from '../src/core/test-request-context.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { ORG_TEST_BASE, orgConfig, verifiedCaller, type OrgParts } from './support/org-policy.js';

const NOW = Date.UTC(2026, 0, 7, 12, 0);

const BASE = ORG_TEST_BASE;

const ROUTES = `
  default: deny
  routes:
    # guardrails
    - id: embargo
      match: { glob: /** }
      public: true
      conditions: [{ name: embargo, when: { country: { in: [KP, IR] } }, then: deny }]
    - id: payments-floor
      match: { host: pay.example.com }
      require: { mfa: true, verification: [kyc], verificationMaxAge: 30d }
    - id: block-debug
      match: { prefix: /debug }
      deny: true
    - id: cel-broken
      match: { prefix: /cel }
      public: true
      conditions: [{ name: needs-claim, when: { cel: "claims.level > 3" }, then: deny }]
    - id: office
      match: { prefix: /office }
      public: true
      conditions:
        - { name: trusted, when: { country: { in: [ES] } }, then: allow }
        - { name: others, when: { country: { notIn: [ES] } }, then: deny }
    # tenant and platform routes
    - id: refunds
      match: { prefix: /refunds }
      require: { scopes: ["refunds:write"] }
    - id: open
      match: { prefix: /open }
      public: true
    - id: tenant-allows-all
      match: { prefix: /office }
      public: true
      conditions: [{ name: everyone, when: { country: { notIn: [ZZ] } }, then: allow }]
    - id: admin
      match: { prefix: /admin }
      require: { roles: [admin] }
    - id: catch-all
      match: { prefix: / }
      public: true
    - id: live
      match: { prefix: /live }
      require: { verification: [liveness] }
    - id: platform-health
      match: { path: /healthz }
      public: true
`;

const ctx = (over: Partial<RequestContext> = {}): RequestContext => testRequestContext({ path: '/', rawPath: over.path ?? '/', receivedAt: NOW, ...over });
const ANON: AuthResult = { kind: 'anonymous' };
const verified = verifiedCaller;

function policy(parts: OrgParts, extra = '') {
  return compilePolicy(orgConfig(BASE, `${extra}${ROUTES}`, parts));
}

const PAYMENTS = { name: 'payments', hosts: ['pay.example.com'], routes: ['refunds', 'open'] };
const SHOP = { name: 'shop', hosts: ['shop.example.com'], routes: ['admin', 'catch-all'] };

function layerOf(o: Outcome): string {
  return `${o.decidedBy?.layer ?? '?'} ${o.decidedBy?.id ?? '?'}`;
}

describe('org-wide policy: every matching guardrail applies', () => {
  const p = policy({ guardrails: ['embargo', 'payments-floor'], tenants: [PAYMENTS, SHOP] });
  const mfaKyc = verified({ amr: ['mfa'], scope: 'refunds:write' });

  it('applies the payments floor to a tenant route and the embargo to the same request', () => {
    const ok = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds/1' }), mfaKyc, NOW);
    expect(ok.kind).toBe('verify');
    expect(ok.kind === 'verify' && ok.needs.map((n) => [n.workflow, n.maxAgeMs])).toEqual([['kyc', 30 * 86_400_000]]);
    expect(ok.routeId).toBe('payments/refunds');
    expect(ok.decidedBy).toEqual({ layer: 'tenant', id: 'payments/refunds', revision: 'platform@platformrev1 tenant/payments@rev-payments' });

    const embargoed = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds/1', headers: { 'x-geo-country': 'IR' } }), mfaKyc, NOW);
    expect(embargoed).toMatchObject({ kind: 'deny', status: 403, code: 'country_denied', decidedBy: { layer: 'guardrail', id: 'embargo', revision: 'platform@platformrev1' } });
    expect(embargoed.trace.at(-1)).toEqual({ step: 'guardrail:embargo', result: 'fail', detail: 'guardrail embargo: condition embargo denied (country_denied)' });
  });

  it('names the guardrail when its floor is what the caller lacks, the route when the route is', () => {
    const noMfa = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds/1' }), verified({ scope: 'refunds:write' }), NOW);
    expect(noMfa).toMatchObject({ kind: 'deny', code: 'mfa_required' });
    expect(layerOf(noMfa)).toBe('guardrail payments-floor');
    const noScope = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds/1' }), verified({ amr: ['mfa'] }), NOW);
    expect(noScope).toMatchObject({ kind: 'deny', code: 'claims_mismatch' });
    expect(layerOf(noScope)).toBe('tenant payments/refunds');
  });

  it('makes a public tenant route need a token under a guardrail floor', () => {
    const anon = p.evaluate(ctx({ host: 'pay.example.com', path: '/open' }), ANON, NOW);
    expect(anon).toMatchObject({ kind: 'deny', status: 401, code: 'token_missing', routeId: 'payments/open' });
    expect(layerOf(anon)).toBe('guardrail payments-floor');
    expect(p.evaluate(ctx({ host: 'pay.example.com', path: '/open' }), verified({ amr: ['mfa'] }), NOW).kind).toBe('verify');
    // The same route kind on a host no floor covers stays public.
    expect(p.evaluate(ctx({ host: 'shop.example.com', path: '/anything' }), ANON, NOW).kind).toBe('allow');
  });

  it('explains which layer set each requirement', () => {
    const out = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds/1' }), mfaKyc, NOW);
    const lines = out.trace.filter((s) => s.step === 'requirement').map((s) => s.detail);
    expect(lines).toContain('scopes refunds:write: tenant route payments/refunds');
    expect(lines.filter((l) => l.startsWith('mfa: required by guardrail payments-floor'))).toHaveLength(1);
    expect(lines).toContain('verification kyc ≤30d: guardrail payments-floor');
    expect(out.trace.find((s) => s.step === 'guardrails')?.detail).toBe('matched embargo, payments-floor');
  });
});

describe('org-wide policy: guardrail deny, conditions and CEL errors', () => {
  it('denies outright with route_denied on a guardrail with action deny, whatever the tenant route says', () => {
    const p = policy({ guardrails: ['block-debug'], tenants: [{ name: 'shop', hosts: ['shop.example.com'], routes: ['catch-all'] }] });
    const out = p.evaluate(ctx({ host: 'shop.example.com', path: '/debug/vars' }), ANON, NOW);
    expect(out).toMatchObject({ kind: 'deny', status: 403, code: 'route_denied', decidedBy: { layer: 'guardrail', id: 'block-debug' } });
    expect(out.routeId).toBeUndefined();
    expect(p.evaluate(ctx({ host: 'shop.example.com', path: '/debugger' }), ANON, NOW).kind).toBe('allow');
  });

  it("never lets a tenant condition's allow skip a guardrail condition", () => {
    const p = policy({ guardrails: ['office'], tenants: [{ name: 'shop', hosts: ['shop.example.com'], routes: ['tenant-allows-all'] }] });
    const fr = p.evaluate(ctx({ host: 'shop.example.com', path: '/office', headers: { 'x-geo-country': 'FR' } }), ANON, NOW);
    expect(fr).toMatchObject({ kind: 'deny', code: 'country_denied' });
    expect(layerOf(fr)).toBe('guardrail office');
    // The guardrail's own `allow` ends only its list; the request is then allowed by the tenant route.
    const es = p.evaluate(ctx({ host: 'shop.example.com', path: '/office', headers: { 'x-geo-country': 'ES' } }), ANON, NOW);
    expect(es.kind).toBe('allow');
    expect(es.trace.map((s) => s.step)).toContain('condition:everyone');
  });

  it('denies when a guardrail condition cannot be evaluated (CEL error), never skips it', () => {
    const p = policy({ guardrails: ['cel-broken'], tenants: [{ name: 'shop', hosts: ['shop.example.com'], routes: ['catch-all'] }] });
    // No token: `claims.level` does not exist, the expression errors.
    const out = p.evaluate(ctx({ host: 'shop.example.com', path: '/cel' }), ANON, NOW);
    expect(out).toMatchObject({ kind: 'deny', code: 'condition_denied', decidedBy: { layer: 'guardrail', id: 'cel-broken' } });
    expect(out.trace.at(-1)?.detail).toBe('guardrail cel-broken: condition needs-claim denied (condition_denied)');
    expect(p.evaluate(ctx({ host: 'shop.example.com', path: '/cel' }), verified({ level: 1 }), NOW).kind).toBe('allow');
  });

  it('keeps a shadow tenant route from shadowing a guardrail deny', () => {
    const config = orgConfig(BASE, ROUTES, { guardrails: ['embargo'], tenants: [{ name: 'shop', hosts: ['shop.example.com'], routes: ['catch-all'] }] });
    const tenants = config.policy.tenants ?? [];
    const shadowed: IdgateConfig = {
      ...config,
      policy: { ...config.policy, tenants: tenants.map((t) => ({ ...t, routes: t.routes.map((r) => ({ ...r, shadow: true })) })) },
    };
    const out = compilePolicy(shadowed).evaluate(ctx({ host: 'shop.example.com', path: '/x', headers: { 'x-geo-country': 'KP' } }), ANON, NOW);
    expect(out).toMatchObject({ kind: 'deny', code: 'country_denied', shadow: false });
  });
});

describe('org-wide policy: verification max ages', () => {
  it("lets another layer's verificationMaxAge shorten a workflow's max age, never lengthen it", () => {
    const config = orgConfig(BASE, ROUTES, { guardrails: ['payments-floor'], tenants: [{ name: 'payments', hosts: ['pay.example.com'], routes: ['live'] }] });
    const week = 7 * 86_400_000;
    const guardrails = (config.policy.guardrails ?? []).map((g) => ({ ...g, require: { ...g.require, verificationMaxAgeMs: week } }));
    const p = compilePolicy({ ...config, policy: { ...config.policy, guardrails } });
    const out = p.evaluate(ctx({ host: 'pay.example.com', path: '/live' }), verified({ amr: ['mfa'] }), NOW);
    // liveness keeps its own 1 d (the floor's 7 d would loosen it); kyc, the floor's own workflow, gets 7 d.
    expect(out.kind === 'verify' && out.needs.map((n) => [n.workflow, n.maxAgeMs])).toEqual([['liveness', 86_400_000], ['kyc', week]]);
  });
});

describe('org-wide policy: default and defaults layers', () => {
  it('turns default allow under a guardrail floor into "require the floor"', () => {
    const allowAll = compilePolicy(orgConfig(BASE, ROUTES.replace('default: deny', 'default: allow'), { guardrails: ['payments-floor'], platform: ['platform-health'] }));
    const anon = allowAll.evaluate(ctx({ host: 'pay.example.com', path: '/anything' }), ANON, NOW);
    expect(anon).toMatchObject({ kind: 'deny', code: 'token_missing', decidedBy: { layer: 'guardrail', id: 'payments-floor' } });
    const ok = allowAll.evaluate(ctx({ host: 'pay.example.com', path: '/anything' }), verified({ amr: ['mfa'] }), NOW);
    expect(ok).toMatchObject({ kind: 'verify', routeId: 'default', decidedBy: { layer: 'default', id: 'default' } });
    // No floor on other hosts: default allow as today.
    expect(allowAll.evaluate(ctx({ host: 'www.example.com', path: '/anything' }), ANON, NOW)).toMatchObject({ kind: 'allow', decidedBy: { layer: 'default' } });
  });

  it('falls back from tenant routes to policy.defaults.routes, then policy.default', () => {
    const p = policy({ tenants: [{ name: 'payments', hosts: ['pay.example.com'], routes: ['refunds'] }], defaults: ['platform-health'] });
    const health = p.evaluate(ctx({ host: 'pay.example.com', path: '/healthz' }), ANON, NOW);
    expect(health).toMatchObject({ kind: 'allow', routeId: 'platform-health', decidedBy: { layer: 'defaults', id: 'platform-health', revision: 'platform@platformrev1 tenant/payments@rev-payments' } });
    const other = p.evaluate(ctx({ host: 'pay.example.com', path: '/other' }), ANON, NOW);
    expect(other).toMatchObject({ kind: 'deny', code: 'no_route', decidedBy: { layer: 'default', id: 'default', revision: 'platform@platformrev1 tenant/payments@rev-payments' } });
  });
});

describe('org-wide policy: ownership dispatch', () => {
  it("never sends tenant B's request to tenant A's route, even when A's route would match it", () => {
    // payments' `open` route has no host: it would match shop's request if dispatch were by first match.
    const p = policy({ tenants: [PAYMENTS, { name: 'shop', hosts: ['shop.example.com'], routes: ['admin'] }] });
    const out = p.evaluate(ctx({ host: 'shop.example.com', path: '/open' }), ANON, NOW);
    expect(out).toMatchObject({ kind: 'deny', code: 'no_route' });
    expect(out.routeId).toBeUndefined();
    expect(p.matchRoute(ctx({ host: 'shop.example.com', path: '/open' }))).toBeUndefined();
    expect(p.matchRoute(ctx({ host: 'pay.example.com', path: '/open' }))?.route.config.id).toBe('payments/open');
  });

  it('dispatches on segment-aware prefixes', () => {
    const p = policy({
      tenants: [
        { name: 'payments', hosts: ['api.example.com'], prefixes: ['/pay'], routes: ['catch-all'] },
        { name: 'shop', hosts: ['api.example.com'], prefixes: ['/shop'], routes: ['admin', 'catch-all'] },
      ],
    });
    expect(p.evaluate(ctx({ host: 'api.example.com', path: '/pay/x' }), ANON, NOW).routeId).toBe('payments/catch-all');
    expect(p.evaluate(ctx({ host: 'api.example.com', path: '/payroll' }), ANON, NOW)).toMatchObject({ kind: 'deny', code: 'no_route' });
    expect(p.evaluate(ctx({ host: 'api.example.com', path: '/shop/admin' }), ANON, NOW)).toMatchObject({ kind: 'allow', routeId: 'shop/catch-all' });
  });

  it('sends an unowned request to the platform routes, never an owned one', () => {
    const p = policy({ tenants: [PAYMENTS], platform: ['platform-health', 'catch-all'] });
    expect(p.evaluate(ctx({ host: 'www.example.com', path: '/healthz' }), ANON, NOW)).toMatchObject({ kind: 'allow', routeId: 'platform-health', decidedBy: { layer: 'platform', revision: 'platform@platformrev1' } });
    expect(p.evaluate(ctx({ host: 'www.example.com', path: '/x' }), ANON, NOW).routeId).toBe('catch-all');
    // pay.example.com is owned: the platform catch-all never sees it.
    expect(p.evaluate(ctx({ host: 'pay.example.com', path: '/x' }), ANON, NOW)).toMatchObject({ kind: 'deny', code: 'no_route' });
  });

  it('answers 503 policy_unavailable for everything a failed tenant owns, and only that', () => {
    const p = policy({ tenants: [{ ...PAYMENTS, status: 'failed' }, SHOP] });
    const out = p.evaluate(ctx({ host: 'pay.example.com', path: '/refunds' }), verified({ scope: 'refunds:write' }), NOW);
    expect(out).toMatchObject({ kind: 'deny', status: 503, code: 'policy_unavailable', retryAfter: 5, decidedBy: { layer: 'tenant', id: 'payments', revision: 'platform@platformrev1 tenant/payments@failed' } });
    expect(p.evaluate(ctx({ host: 'shop.example.com', path: '/x' }), ANON, NOW).kind).toBe('allow');
  });

  it('takes the matching guardrail deny before a failed tenant', () => {
    const p = policy({ guardrails: ['block-debug'], tenants: [{ ...PAYMENTS, status: 'failed' }] });
    expect(p.evaluate(ctx({ host: 'pay.example.com', path: '/debug' }), ANON, NOW)).toMatchObject({ code: 'route_denied', decidedBy: { layer: 'guardrail' } });
  });

  it('a stale tenant keeps serving its previous routes', () => {
    const p = policy({ tenants: [{ ...PAYMENTS, status: 'stale' }] });
    expect(p.evaluate(ctx({ host: 'pay.example.com', path: '/open' }), ANON, NOW)).toMatchObject({ kind: 'allow', routeId: 'payments/open' });
  });
});

describe('org-wide policy: risk', () => {
  const RISKY = `
  default: deny
  routes:
    - id: risk-guard
      match: { prefix: / }
      public: true
      risk: [{ atLeast: 50, then: deny }]
    - id: calm
      match: { prefix: / }
      require: {}
`;
  it('needs the risk score when only a guardrail uses it, and denies by its band', () => {
    const p = compilePolicy(orgConfig(BASE, RISKY, { guardrails: ['risk-guard'], tenants: [{ name: 'shop', hosts: ['shop.example.com'], routes: ['calm'] }] }));
    const c = ctx({ host: 'shop.example.com', path: '/x' });
    expect(p.needsRisk(c)).toBe(true);
    expect(p.evaluate(c, verified({}), NOW, { score: 70, signals: [] })).toMatchObject({ kind: 'deny', code: 'risk_denied', decidedBy: { layer: 'guardrail', id: 'risk-guard' } });
    expect(p.evaluate(c, verified({}), NOW, { score: 10, signals: [] })).toMatchObject({ kind: 'allow', routeId: 'shop/calm' });
  });
});

describe('single-file configurations are unchanged', () => {
  it('a file without guardrails/tenants/defaults decides as before, decided by the platform layer', () => {
    const config = parseConfig(`${BASE}policy:\n${ROUTES.replace(/    # guardrails[\s\S]*?    # tenant and platform routes\n/, '')}`, { sourceName: 'single.yaml', env: {} });
    const p = compilePolicy(config);
    const out = p.evaluate(ctx({ path: '/refunds/1' }), verified({ scope: 'refunds:write' }), NOW);
    expect(out).toMatchObject({ kind: 'allow', routeId: 'refunds', decidedBy: { layer: 'platform', id: 'refunds', revision: 'platform@' } });
    // No org-only trace steps on the single-file path.
    expect(out.trace.map((s) => s.step)).toEqual(['route', 'token', 'scope']);
  });
});

describe('explain on an org-wide policy', () => {
  it('shows the deciding layer and which layer set each requirement', async () => {
    const config = orgConfig(BASE, ROUTES, { guardrails: ['embargo', 'payments-floor'], tenants: [PAYMENTS] });
    const claims = { iss: 'https://corp.example', sub: 'alice', scope: 'refunds:write' };
    const r = await runExplain({ logger: pino({ level: 'silent' }) }, config, { request: { host: 'pay.example.com', path: '/refunds/7' }, claims });
    expect(r.exitCode).toBe(4);
    expect(r.text).toContain('route     payments/refunds');
    expect(r.text).toMatch(/decided {3}guardrail payments-floor \(platform@platformrev1\)/);
    expect(r.text).toMatch(/requirement +scopes refunds:write: tenant route payments\/refunds/);
    expect(r.text).toMatch(/requirement +mfa: required by guardrail payments-floor/);
    expect(r.text).toMatch(/requirement +verification kyc ≤30d: guardrail payments-floor/);
    expect(r.text).toContain('decision  DENY 401 mfa_required');
  });
});
