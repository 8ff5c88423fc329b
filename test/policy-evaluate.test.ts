import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config/parse-config.js';
import type { RequestContext } from '../src/core/request-context.js';
import { testRequestContext } from '../src/core/test-request-context.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { compileGlob, splitSegments } from '../src/policy/path-matcher.js';
import type { Outcome } from '../src/core/outcome.js';

const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;

const POLICY = `
issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
  - { name: partner, issuer: https://partner.example, audiences: [api], jwksUri: https://partner.example/jwks }
workflows:
  kyc: { workflowId: wf-kyc, maxAge: 30d }
  age: { workflowId: wf-age, minAge: 18 }
didit: { mode: sandbox }
policy:
  acrOrder: [bronze, silver, gold]
  roleClaims: [roles, realm_access.roles]
  sensitivity:
    high: { mfa: true, maxTokenAge: 1h, roles: [staff], verification: [age], verificationMaxAge: 1d }
  routes:
    - id: ext-partner
      match: { contextExtensions: { policy: partner-api } }
      require: { issuers: [partner] }
    - id: ext-scoped
      match: { contextExtensions: { policy: scoped }, methods: [POST] }
      public: true
    - id: healthz
      match: { path: /healthz }
      public: true
    - id: internal
      match: { prefix: /internal }
      deny: true
    - id: glob-one
      match: { glob: /files/*/meta }
      public: true
    - id: glob-many
      match: { glob: /docs/** }
      public: true
    - id: host-wild
      match: { host: "*.tenant.example", prefix: /t }
      public: true
    - id: methods
      match: { prefix: /write, methods: [POST, PUT] }
      public: true
    - id: claims
      match: { prefix: /claims }
      require:
        claims:
          email_verified: true
          tier: { oneOf: [gold, silver] }
          groups: { contains: eng }
          org.id: { present: true }
    - id: scopes
      match: { prefix: /scopes }
      require: { scopes: [read, write] }
    - id: roles
      match: { prefix: /roles }
      require: { roles: [admin, ops], allRoles: [user] }
    - id: mfa
      match: { prefix: /mfa }
      require: { mfa: true }
    - id: acr
      match: { prefix: /acr }
      require: { mfa: { acrAtLeast: silver } }
    - id: fresh
      match: { prefix: /fresh }
      require: { maxTokenAge: 5m }
    - id: corp-only
      match: { prefix: /corp }
      require: { issuers: [corp] }
    - id: verify
      match: { prefix: /verify }
      require: { verification: [kyc], onInReview: allow }
    - id: verify-override
      match: { prefix: /verify2 }
      require: { verification: [kyc], verificationMaxAge: 2d, onDeclined: retry }
    - id: sensitive
      match: { prefix: /sensitive }
      sensitivity: high
      require: { roles: [admin], verification: [kyc] }
      shadow: true
      failOpen: true
    - id: optional
      match: { prefix: /optional }
      require: { authenticated: false }
      claimHeaders: { x-idgate-email: email }
    - id: headers
      match: { prefix: /headers }
      claimHeaders:
        x-idgate-email: email
        x-idgate-groups: groups
        x-idgate-org: org
        x-idgate-n: n
        x-idgate-flag: flag
        x-idgate-nested: org.name
        x-idgate-null: nothing
        x-idgate-mixed: mixed
    - id: api
      match: { prefix: /api }
`;

const policy = compilePolicy(parseConfig(POLICY, { sourceName: 'policy.yaml', env: {} }));

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return testRequestContext({ path: '/', rawPath: over.path ?? '/', requestId: 'r-1', receivedAt: NOW, ...over });
}

const ANON: AuthResult = { kind: 'anonymous' };

function verified(claims: Record<string, unknown>, issuerName = 'corp'): AuthResult {
  return {
    kind: 'verified',
    principal: {
      issuerName,
      issuer: `https://${issuerName}.example`,
      sub: 'u1',
      subject: `${issuerName}:u1`,
      claims: { sub: 'u1', ...claims },
      source: 'header',
      tokenId: 'abc123',
    },
  };
}

const USER = verified({});

interface Case {
  readonly name: string;
  readonly ctx: Partial<RequestContext>;
  readonly auth?: AuthResult;
  readonly expected: Record<string, unknown>;
}

function run(c: Case): Outcome {
  return policy.evaluate(ctx(c.ctx), c.auth ?? USER, NOW);
}

const matching: Case[] = [
  { name: 'path_invalid before anything else', ctx: { path: '', pathError: 'encoded slash', contextExtensions: { policy: 'partner-api' } }, expected: { kind: 'deny', status: 400, code: 'path_invalid' } },
  { name: 'no method is request_invalid', ctx: { method: '', path: '/healthz' }, expected: { kind: 'deny', status: 400, code: 'request_invalid' } },
  { name: 'contextExtensions route wins over a path route', ctx: { path: '/healthz', contextExtensions: { policy: 'partner-api' } }, auth: ANON, expected: { kind: 'deny', routeId: 'ext-partner', code: 'token_missing' } },
  { name: 'contextExtensions must all match (other value)', ctx: { path: '/healthz', contextExtensions: { policy: 'other' } }, expected: { kind: 'allow', routeId: 'healthz' } },
  { name: 'contextExtensions route still checks its method', ctx: { path: '/healthz', contextExtensions: { policy: 'scoped' } }, expected: { kind: 'allow', routeId: 'healthz' } },
  { name: 'contextExtensions route with matching method', ctx: { method: 'POST', path: '/x', contextExtensions: { policy: 'scoped' } }, expected: { kind: 'allow', routeId: 'ext-scoped' } },
  { name: 'exact path', ctx: { path: '/healthz' }, auth: ANON, expected: { kind: 'allow', routeId: 'healthz' } },
  { name: 'exact path does not match a child', ctx: { path: '/healthz/x' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'prefix matches itself', ctx: { path: '/api' }, expected: { kind: 'allow', routeId: 'api' } },
  { name: 'prefix matches a child', ctx: { path: '/api/orders/1' }, expected: { kind: 'allow', routeId: 'api' } },
  { name: 'prefix is segment-aware (/api vs /apix)', ctx: { path: '/apix' }, expected: { kind: 'deny', status: 403, code: 'no_route' } },
  { name: 'prefix /verify does not catch /verify2', ctx: { path: '/verify2/a' }, expected: { kind: 'verify', routeId: 'verify-override' } },
  { name: 'deny route', ctx: { path: '/internal/metrics' }, expected: { kind: 'deny', status: 403, code: 'route_denied', routeId: 'internal' } },
  { name: 'glob * matches one segment', ctx: { path: '/files/abc/meta' }, auth: ANON, expected: { kind: 'allow', routeId: 'glob-one' } },
  { name: 'glob * does not cross segments', ctx: { path: '/files/a/b/meta' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'glob ** matches many segments', ctx: { path: '/docs/a/b/c' }, auth: ANON, expected: { kind: 'allow', routeId: 'glob-many' } },
  { name: 'glob /docs/** matches /docs itself', ctx: { path: '/docs' }, auth: ANON, expected: { kind: 'allow', routeId: 'glob-many' } },
  { name: 'glob /docs/** does not match /docsx', ctx: { path: '/docsx' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'host wildcard matches one label', ctx: { host: 'a.tenant.example', path: '/t' }, auth: ANON, expected: { kind: 'allow', routeId: 'host-wild' } },
  { name: 'host wildcard ignores a trailing dot', ctx: { host: 'a.tenant.example.', path: '/t' }, auth: ANON, expected: { kind: 'allow', routeId: 'host-wild' } },
  { name: 'host wildcard does not match two labels', ctx: { host: 'a.b.tenant.example', path: '/t' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'host wildcard does not match the apex', ctx: { host: 'tenant.example', path: '/t' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'method in set', ctx: { method: 'PUT', path: '/write' }, auth: ANON, expected: { kind: 'allow', routeId: 'methods' } },
  { name: 'method outside set falls through', ctx: { method: 'GET', path: '/write' }, expected: { kind: 'deny', code: 'no_route' } },
  { name: 'default deny', ctx: { path: '/nowhere' }, expected: { kind: 'deny', status: 403, code: 'no_route', shadow: false } },
];

const requirements: Case[] = [
  { name: 'anonymous on a require route', ctx: { path: '/api' }, auth: ANON, expected: { kind: 'deny', status: 401, code: 'token_missing', challenge: {} } },
  {
    name: 'expired token',
    ctx: { path: '/api' },
    auth: { kind: 'failed', code: 'token_expired', message: 'token expired' },
    expected: { kind: 'deny', status: 401, code: 'token_expired', challenge: { error: 'invalid_token' } },
  },
  {
    name: 'invalid token',
    ctx: { path: '/api' },
    auth: { kind: 'failed', code: 'token_invalid', message: 'bad signature' },
    expected: { kind: 'deny', status: 401, code: 'token_invalid', challenge: { error: 'invalid_token' } },
  },
  {
    name: 'JWKS unavailable fails closed with 503',
    ctx: { path: '/api' },
    auth: { kind: 'failed', code: 'dependency_unavailable', message: 'keys unavailable' },
    expected: { kind: 'deny', status: 503, code: 'dependency_unavailable', retryAfter: 5 },
  },
  { name: 'issuer accepted', ctx: { path: '/corp' }, expected: { kind: 'allow', routeId: 'corp-only' } },
  { name: 'issuer not accepted', ctx: { path: '/corp' }, auth: verified({}, 'partner'), expected: { kind: 'deny', status: 401, code: 'token_invalid', message: 'issuer not accepted for this route', challenge: { error: 'invalid_token' } } },
  {
    name: 'claims all hold',
    ctx: { path: '/claims' },
    auth: verified({ email_verified: true, tier: 'gold', groups: ['eng', 'ops'], org: { id: 7 } }),
    expected: { kind: 'allow', routeId: 'claims' },
  },
  {
    name: 'claims: contains on a space-separated string',
    ctx: { path: '/claims' },
    auth: verified({ email_verified: true, tier: 'silver', groups: 'ops eng', org: { id: 'x' } }),
    expected: { kind: 'allow' },
  },
  { name: 'claims: equals is strict ("true" ≠ true)', ctx: { path: '/claims' }, auth: verified({ email_verified: 'true', tier: 'gold', groups: ['eng'], org: { id: 1 } }), expected: { kind: 'deny', status: 403, code: 'claims_mismatch' } },
  { name: 'claims: oneOf fails', ctx: { path: '/claims' }, auth: verified({ email_verified: true, tier: 'bronze', groups: ['eng'], org: { id: 1 } }), expected: { kind: 'deny', code: 'claims_mismatch' } },
  { name: 'claims: contains fails', ctx: { path: '/claims' }, auth: verified({ email_verified: true, tier: 'gold', groups: ['engineering'], org: { id: 1 } }), expected: { kind: 'deny', code: 'claims_mismatch' } },
  { name: 'claims: present fails on null', ctx: { path: '/claims' }, auth: verified({ email_verified: true, tier: 'gold', groups: ['eng'], org: { id: null } }), expected: { kind: 'deny', code: 'claims_mismatch' } },
  { name: 'claims: dotted path through a non-object', ctx: { path: '/claims' }, auth: verified({ email_verified: true, tier: 'gold', groups: ['eng'], org: 'acme' }), expected: { kind: 'deny', code: 'claims_mismatch' } },
  { name: 'scopes from scope string', ctx: { path: '/scopes' }, auth: verified({ scope: 'openid read write' }), expected: { kind: 'allow', routeId: 'scopes' } },
  { name: 'scopes from scp array', ctx: { path: '/scopes' }, auth: verified({ scp: ['read', 'write'] }), expected: { kind: 'allow' } },
  {
    name: 'scope missing',
    ctx: { path: '/scopes' },
    auth: verified({ scope: 'read' }),
    expected: { kind: 'deny', status: 403, code: 'claims_mismatch', challenge: { error: 'insufficient_scope', scope: 'read write' } },
  },
  { name: 'roles: any-of and all-of hold', ctx: { path: '/roles' }, auth: verified({ roles: ['ops', 'user'] }), expected: { kind: 'allow', routeId: 'roles' } },
  { name: 'roles: read from a nested role claim', ctx: { path: '/roles' }, auth: verified({ realm_access: { roles: ['admin', 'user'] } }), expected: { kind: 'allow' } },
  { name: 'roles: space-separated string', ctx: { path: '/roles' }, auth: verified({ roles: 'admin user' }), expected: { kind: 'allow' } },
  { name: 'roles: any-of missing', ctx: { path: '/roles' }, auth: verified({ roles: ['user'] }), expected: { kind: 'deny', status: 403, code: 'claims_mismatch' } },
  { name: 'roles: all-of missing', ctx: { path: '/roles' }, auth: verified({ roles: ['admin'] }), expected: { kind: 'deny', status: 403, code: 'claims_mismatch' } },
  { name: 'mfa via amr', ctx: { path: '/mfa' }, auth: verified({ amr: ['pwd', 'mfa'] }), expected: { kind: 'allow', routeId: 'mfa' } },
  {
    name: 'mfa missing',
    ctx: { path: '/mfa' },
    auth: verified({ amr: ['pwd'] }),
    expected: { kind: 'deny', status: 401, code: 'mfa_required', challenge: { error: 'insufficient_user_authentication' } },
  },
  { name: 'acr strong enough', ctx: { path: '/acr' }, auth: verified({ acr: 'gold' }), expected: { kind: 'allow', routeId: 'acr' } },
  {
    name: 'acr too weak',
    ctx: { path: '/acr' },
    auth: verified({ acr: 'bronze' }),
    expected: { kind: 'deny', status: 401, code: 'mfa_required', challenge: { error: 'insufficient_user_authentication', acr_values: 'silver gold' } },
  },
  { name: 'acr unknown value', ctx: { path: '/acr' }, auth: verified({ acr: 'platinum' }), expected: { kind: 'deny', code: 'mfa_required' } },
  { name: 'recent login', ctx: { path: '/fresh' }, auth: verified({ auth_time: NOW_S - 60 }), expected: { kind: 'allow', routeId: 'fresh' } },
  {
    name: 'login too old',
    ctx: { path: '/fresh' },
    auth: verified({ auth_time: NOW_S - 301 }),
    expected: { kind: 'deny', status: 401, code: 'reauthentication_required', challenge: { error: 'insufficient_user_authentication', max_age: '300' } },
  },
  { name: 'auth_time in the future beyond skew counts as too old', ctx: { path: '/fresh' }, auth: verified({ auth_time: NOW_S + 120 }), expected: { kind: 'deny', code: 'reauthentication_required' } },
  { name: 'auth_time slightly ahead within skew is fresh', ctx: { path: '/fresh' }, auth: verified({ auth_time: NOW_S + 10 }), expected: { kind: 'allow' } },
  { name: 'auth_time missing counts as too old', ctx: { path: '/fresh' }, auth: USER, expected: { kind: 'deny', code: 'reauthentication_required' } },
  { name: 'auth_time as a string counts as too old', ctx: { path: '/fresh' }, auth: verified({ auth_time: String(NOW_S) }), expected: { kind: 'deny', code: 'reauthentication_required' } },
  {
    name: 'verification needed with the workflow max age',
    ctx: { path: '/verify' },
    expected: { kind: 'verify', routeId: 'verify', needs: [{ workflow: 'kyc', maxAgeMs: 30 * 86_400_000, onInReview: 'allow', onDeclined: 'deny' }] },
  },
  {
    name: 'verification max age overridden by the route',
    ctx: { path: '/verify2' },
    expected: { kind: 'verify', needs: [{ workflow: 'kyc', maxAgeMs: 2 * 86_400_000, onInReview: 'deny', onDeclined: 'retry' }] },
  },
  { name: 'verification is not checked for anonymous callers', ctx: { path: '/verify' }, auth: ANON, expected: { kind: 'deny', code: 'token_missing' } },
  { name: 'authenticated: false allows anonymous', ctx: { path: '/optional' }, auth: ANON, expected: { kind: 'allow', routeId: 'optional', headers: {} } },
  { name: 'authenticated: false allows a failed token too', ctx: { path: '/optional' }, auth: { kind: 'failed', code: 'token_invalid', message: 'x' }, expected: { kind: 'allow', headers: {} } },
  { name: 'public route passes claim headers of a verified caller', ctx: { path: '/optional' }, auth: verified({ email: 'a@example.com' }), expected: { kind: 'allow', headers: { 'x-idgate-email': 'a@example.com' } } },
];

const sensitivity: Case[] = [
  {
    name: 'level adds mfa to the route',
    ctx: { path: '/sensitive' },
    auth: verified({ roles: ['admin', 'staff'], auth_time: NOW_S - 60 }),
    expected: { kind: 'deny', code: 'mfa_required', shadow: true },
  },
  {
    name: 'level adds its own any-of role group (route group alone is not enough)',
    ctx: { path: '/sensitive' },
    auth: verified({ roles: ['admin'], amr: ['mfa'], auth_time: NOW_S - 60 }),
    expected: { kind: 'deny', code: 'claims_mismatch' },
  },
  {
    name: 'level adds maxTokenAge',
    ctx: { path: '/sensitive' },
    auth: verified({ roles: ['admin', 'staff'], amr: ['mfa'], auth_time: NOW_S - 7200 }),
    expected: { kind: 'deny', code: 'reauthentication_required', challenge: { error: 'insufficient_user_authentication', max_age: '3600' } },
  },
  {
    name: 'everything holds: verifications united, smaller max age wins, flags copied',
    ctx: { path: '/sensitive' },
    auth: verified({ roles: ['admin', 'staff'], amr: ['mfa'], auth_time: NOW_S - 60 }),
    expected: {
      kind: 'verify',
      routeId: 'sensitive',
      shadow: true,
      failOpen: true,
      needs: [
        { workflow: 'kyc', maxAgeMs: 86_400_000, onInReview: 'deny', onDeclined: 'deny' },
        { workflow: 'age', maxAgeMs: 86_400_000, onInReview: 'deny', onDeclined: 'deny' },
      ],
    },
  },
];

describe('compilePolicy().evaluate', () => {
  it.each(matching)('matching: $name', (c) => {
    expect(run(c)).toMatchObject(c.expected);
  });

  it.each(requirements)('requirement: $name', (c) => {
    expect(run(c)).toMatchObject(c.expected);
  });

  it.each(sensitivity)('sensitivity: $name', (c) => {
    expect(run(c)).toMatchObject(c.expected);
  });

  it('a failing deny has no challenge where none applies', () => {
    const out = run({ name: '', ctx: { path: '/roles' }, auth: verified({ roles: [] }), expected: {} });
    expect(out.kind === 'deny' && out.challenge).toBeFalsy();
  });

  it('traces every failed check but decides on the first (claims before scopes before mfa)', () => {
    const out = policy.evaluate(ctx({ path: '/claims' }), verified({ tier: 'gold', groups: ['eng'], org: { id: 1 } }), NOW);
    expect(out).toMatchObject({ kind: 'deny', code: 'claims_mismatch' });
    expect(out.trace.map((s) => `${s.step}:${s.result}`)).toEqual([
      'route:info',
      'token:pass',
      'claim:email_verified:fail',
      'claim:tier:pass',
      'claim:groups:pass',
      'claim:org.id:pass',
    ]);
  });

  it('names exactly the missing scopes and roles in the trace, and passes with one shared step each', () => {
    const scopes = policy.evaluate(ctx({ path: '/scopes' }), verified({ scope: 'write', scp: ['other'] }), NOW);
    expect(scopes.trace).toContainEqual({ step: 'scope', result: 'fail', detail: 'missing scope read' });
    const roles = policy.evaluate(ctx({ path: '/roles' }), verified({ roles: 'guest', realm_access: { roles: ['user'] } }), NOW);
    expect(roles).toMatchObject({ kind: 'deny', code: 'claims_mismatch', message: 'required role missing' });
    expect(roles.trace).toContainEqual({ step: 'roles', result: 'fail', detail: 'missing role: one of admin, ops' });
    const both = policy.evaluate(ctx({ path: '/roles' }), verified({ roles: [] }), NOW);
    expect(both.trace).toContainEqual({ step: 'roles', result: 'fail', detail: 'missing role: one of admin, ops; all of user' });
    // A role from the second role claim counts, and a pass is the shared step, not a new one.
    const passed = policy.evaluate(ctx({ path: '/roles' }), verified({ roles: ['ops'], realm_access: { roles: ['user'] } }), NOW);
    const again = policy.evaluate(ctx({ path: '/roles' }), verified({ roles: 'ops', realm_access: { roles: ['user'] } }), NOW);
    expect(passed.kind).toBe('allow');
    expect(passed.trace.find((s) => s.step === 'roles')).toBe(again.trace.find((s) => s.step === 'roles'));
  });

  it('never puts claim values or token ids in the trace', () => {
    const secretish = 'alice@example.com';
    const outs = [
      policy.evaluate(ctx({ path: '/claims' }), verified({ email_verified: secretish, tier: secretish, groups: secretish, org: { id: secretish } }), NOW),
      policy.evaluate(ctx({ path: '/headers' }), verified({ email: `${secretish}\r\nx-evil: 1` }), NOW),
      policy.evaluate(ctx({ path: '/acr' }), verified({ acr: secretish }), NOW),
    ];
    for (const out of outs) {
      const text = JSON.stringify(out.trace);
      expect(text).not.toContain('alice');
      expect(text).not.toContain('abc123');
      expect(out.trace.length).toBeGreaterThan(1);
    }
  });
});

describe('claim headers', () => {
  const headersOf = (claims: Record<string, unknown>): Readonly<Record<string, string>> => {
    const out = policy.evaluate(ctx({ path: '/headers' }), verified(claims), NOW);
    if (out.kind !== 'allow') throw new Error(`expected allow, got ${out.kind}`);
    return out.headers;
  };

  it.each([
    { name: 'string', claims: { email: 'a@example.com' }, expected: { 'x-idgate-email': 'a@example.com' } },
    { name: 'number', claims: { n: 42 }, expected: { 'x-idgate-n': '42' } },
    { name: 'boolean', claims: { flag: false }, expected: { 'x-idgate-flag': 'false' } },
    { name: 'array comma-joined', claims: { groups: ['a', 'b', 3] }, expected: { 'x-idgate-groups': 'a,b,3' } },
    { name: 'object skipped', claims: { org: { id: 1 } }, expected: {} },
    { name: 'nested path', claims: { org: { name: 'acme' } }, expected: { 'x-idgate-nested': 'acme' } },
    { name: 'null skipped', claims: { nothing: null }, expected: {} },
    { name: 'array with an object skipped', claims: { mixed: ['a', { b: 1 }] }, expected: {} },
    { name: 'non-ASCII percent-encoded as UTF-8', claims: { email: 'Ā@x', n: '中文 José' }, expected: { 'x-idgate-email': '%C4%80@x', 'x-idgate-n': '%E4%B8%AD%E6%96%87%20Jos%C3%A9' } },
    { name: 'comma and percent inside array items encoded', claims: { groups: ['a,b', '100%'] }, expected: { 'x-idgate-groups': 'a%2Cb,100%25' } },
    { name: 'value over 1 KiB dropped', claims: { email: 'x'.repeat(1025) }, expected: {} },
    { name: 'value of exactly 1 KiB kept', claims: { n: 'y'.repeat(1024) }, expected: { 'x-idgate-n': 'y'.repeat(1024) } },
    { name: 'NaN skipped', claims: { n: Number.NaN }, expected: {} },
  ])('$name', ({ claims, expected }) => {
    expect(headersOf(claims)).toEqual(expected);
  });

  it.each([
    { name: 'CR/LF injection', claims: { email: 'a@example.com\r\nx-idgate-subject: corp:admin' } },
    { name: 'NUL', claims: { email: 'a\u0000b' } },
    { name: 'LF inside an array element', claims: { groups: ['a', 'b\nc'] } },
    { name: 'a C1 control', claims: { email: 'a\u0085b' } },
    { name: 'a lone surrogate', claims: { email: 'a\ud800' } },
  ])('refuses $name with 403 claims_invalid, named in the trace', ({ claims }) => {
    const out = policy.evaluate(ctx({ path: '/headers' }), verified(claims), NOW);
    expect(out).toMatchObject({ kind: 'deny', status: 403, code: 'claims_invalid' });
    expect(out.trace.some((s) => s.step === 'headers' && s.result === 'fail' && s.detail.startsWith('x-idgate-'))).toBe(true);
  });

  it('records a dropped (too long) header in the trace by name', () => {
    const out = policy.evaluate(ctx({ path: '/headers' }), verified({ email: 'x'.repeat(1025) }), NOW);
    expect(out.trace).toContainEqual({ step: 'headers', result: 'info', detail: 'x-idgate-email dropped: claim email is longer than 1024 bytes' });
  });
});

describe('odd claim types never throw', () => {
  const odd: unknown[] = [null, 0, -1, 1e308, Number.NaN, true, '', ' ', [], [null], [[1]], {}, { a: { b: {} } }, 'x'.repeat(10_000)];
  const paths = ['/claims', '/scopes', '/roles', '/mfa', '/acr', '/fresh', '/headers', '/sensitive'];
  const cases = paths.flatMap((path) => odd.map((value, i) => ({ path, i, value })));

  it.each(cases)('$path with odd value #$i', ({ path, value }) => {
    const claims = Object.fromEntries(
      ['email_verified', 'tier', 'groups', 'org', 'scope', 'scp', 'roles', 'realm_access', 'amr', 'acr', 'auth_time', 'email', 'n', 'flag', 'mixed'].map((k) => [k, value]),
    );
    const out = policy.evaluate(ctx({ path }), verified(claims), NOW);
    expect(['allow', 'deny', 'verify']).toContain(out.kind);
    if (path !== '/headers') expect(out.kind).toBe('deny');
  });

  it('a __proto__ claim path reads nothing from the prototype', () => {
    const p = compilePolicy(
      parseConfig(
        `issuers: [{ name: corp, issuer: https://c, audiences: [a], jwksUri: https://c/j }]
policy:
  routes:
    - id: r
      require: { claims: { constructor.name: { present: true } } }
`,
        { sourceName: 'p.yaml', env: {} },
      ),
    );
    expect(p.evaluate(ctx({ path: '/x' }), verified({}), NOW)).toMatchObject({ kind: 'deny', code: 'claims_mismatch' });
  });
});

describe('policy defaults and shadow', () => {
  it('default allow with policy-wide shadow', () => {
    const p = compilePolicy(parseConfig('policy: { default: allow, shadow: true }', { sourceName: 'p.yaml', env: {} }));
    expect(p.evaluate(ctx({ path: '/anything' }), ANON, NOW)).toMatchObject({ kind: 'allow', headers: {}, shadow: true, failOpen: false });
    expect(p.matchRoute(ctx({ path: '/anything' }))).toBeUndefined();
  });

  it('matchRoute reports how the route was selected', () => {
    expect(policy.matchRoute(ctx({ path: '/api/x' }))).toMatchObject({ by: 'request', route: { config: { id: 'api' } } });
    expect(policy.matchRoute(ctx({ path: '/api/x', contextExtensions: { policy: 'partner-api' } }))).toMatchObject({
      by: 'contextExtensions',
      route: { config: { id: 'ext-partner' } },
    });
  });
});

describe('match.caseSensitive: false (case-insensitive upstreams)', () => {
  const p = compilePolicy(
    parseConfig(
      `policy:
  routes:
    - { id: admin, match: { prefix: /Admin, caseSensitive: false }, deny: true }
    - { id: reports, match: { glob: /reports/*/PDF, caseSensitive: false }, deny: true }
    - { id: exact, match: { path: /Exact, caseSensitive: false }, deny: true }
    - { id: strict, match: { prefix: /strict }, deny: true }
    - { id: rest, match: { prefix: / }, public: true }
`,
      { sourceName: 'p.yaml', env: {} },
    ),
  );
  it.each([
    ['/admin/users', 'admin'],
    ['/ADMIN/users', 'admin'],
    ['/aDmIn', 'admin'],
    ['/Reports/2024/pdf', 'reports'],
    ['/REPORTS/x/Pdf', 'reports'],
    ['/exact', 'exact'],
    ['/EXACT', 'exact'],
    ['/EXACT/x', 'rest'],
    ['/administrator', 'rest'],
    ['/STRICT', 'rest'],
    ['/strict', 'strict'],
    // Only ASCII letters fold: an escaped non-ASCII character or a Unicode look-alike is another name.
    ['/%E2%84%AAdmin', 'rest'],
  ])('%s → route %s', (path, id) => {
    expect(p.matchRoute(ctx({ path }))?.route.config.id).toBe(id);
  });

  it('parses only as a boolean, and is absent from the compiled match when sensitive (the default)', () => {
    expect(() => parseConfig('policy: { routes: [{ id: a, match: { prefix: /a, caseSensitive: maybe }, deny: true }] }', { sourceName: 'p.yaml', env: {} })).toThrow(/caseSensitive/);
    const cfg = parseConfig('policy: { routes: [{ id: a, match: { prefix: /a, caseSensitive: true }, deny: true }] }', { sourceName: 'p.yaml', env: {} });
    expect(cfg.policy.routes[0]?.match.caseSensitive).toBeUndefined();
  });
});

describe('path parameters (";")', () => {
  const routes = `  routes:
    - { id: admin, match: { prefix: /api/admin }, deny: true }
    - { id: api, match: { prefix: /api }, public: true }
`;
  const rejecting = compilePolicy(parseConfig(`policy:\n${routes}`, { sourceName: 'p.yaml', env: {} }));
  const stripping = compilePolicy(parseConfig(`policy:\n  pathParameters: strip\n${routes}`, { sourceName: 'p.yaml', env: {} }));

  it('are refused by default with 400 request_invalid, raw or encoded', () => {
    for (const pathParameters of ['raw', 'encoded'] as const) {
      expect(rejecting.evaluate(ctx({ path: '/api/admin/users', pathParameters }), ANON, NOW)).toMatchObject({ kind: 'deny', status: 400, code: 'request_invalid' });
    }
    expect(rejecting.evaluate(ctx({ path: '/api/x' }), ANON, NOW)).toMatchObject({ kind: 'allow' });
  });

  it('with pathParameters: strip, raw ones match on the stripped path; encoded ones are still refused', () => {
    expect(stripping.evaluate(ctx({ path: '/api/admin/users', pathParameters: 'raw' }), ANON, NOW)).toMatchObject({ kind: 'deny', code: 'route_denied' });
    expect(stripping.evaluate(ctx({ path: '/api/x', pathParameters: 'raw' }), ANON, NOW)).toMatchObject({ kind: 'allow' });
    expect(stripping.evaluate(ctx({ path: '/api/admin%3Bx/users', pathParameters: 'encoded' }), ANON, NOW)).toMatchObject({ kind: 'deny', status: 400, code: 'request_invalid' });
  });
});

describe('globs', () => {
  it.each([
    ['/a/**/b', '/a/b', true],
    ['/a/**/b', '/a/x/y/b', true],
    ['/a/**/b', '/a/x/y/c', false],
    ['/a/**/b/**/c', '/a/1/b/2/3/c', true],
    ['/a/**/b/**/c', '/a/c/b', false],
    ['/**', '/', true],
    ['/**', '/x/y', true],
    ['/*', '/', true],
    ['/*', '/x/y', false],
    ['/v*/items', '/v2/items', true],
    ['/v*/items', '/items', false],
    ['/*.json', '/a.json', true],
    ['/*.json', '/a/b.json', false],
    ['/a.b', '/axb', false],
  ])('%s vs %s → %s', (glob, path, expected) => {
    expect(compileGlob(glob)(splitSegments(path))).toBe(expected);
  });

  it('stays fast on a hostile path', () => {
    const glob = compileGlob('/**/a*a*a*a*b/**/c/**/d');
    const hostile = `/${'a'.repeat(4000)}/${'x/'.repeat(2000)}e`;
    expect(glob(splitSegments(hostile))).toBe(false);
  });
});

describe('the example policy', () => {
  const example = compilePolicy(parseConfig(readFileSync('examples/idgate.yaml', 'utf8'), { sourceName: 'examples/idgate.yaml', env: {} }));

  const exampleCases: (Case & { readonly auth: AuthResult })[] = [
    { name: 'healthz is public', ctx: { path: '/healthz' }, auth: ANON, expected: { kind: 'allow', routeId: 'healthz' } },
    { name: 'public/** is public', ctx: { path: '/public/css/site.css' }, auth: ANON, expected: { kind: 'allow', routeId: 'public' } },
    { name: 'admin needs the admin role', ctx: { path: '/api/admin/users' }, auth: verified({ roles: ['user'], amr: ['mfa'] }, 'demo'), expected: { kind: 'deny', code: 'claims_mismatch' } },
    { name: 'admin needs mfa', ctx: { path: '/api/admin/users' }, auth: verified({ roles: ['admin'] }, 'demo'), expected: { kind: 'deny', code: 'mfa_required' } },
    { name: 'api needs scope read', ctx: { path: '/api/orders' }, auth: verified({ scope: 'read' }, 'demo'), expected: { kind: 'allow', routeId: 'api' } },
    { name: 'payments needs kyc', ctx: { path: '/payments/checkout' }, auth: verified({ amr: ['mfa'], auth_time: NOW_S }, 'demo'), expected: { kind: 'verify', routeId: 'payments' } },
    {
      name: 'payments from an unmanaged device needs a kyc verdict from the last day',
      ctx: { path: '/payments/checkout' },
      auth: verified({ amr: ['mfa'], auth_time: NOW_S }, 'demo'),
      expected: { kind: 'verify', needs: [{ workflow: 'kyc', maxAgeMs: 86_400_000 }] },
    },
    {
      name: 'payments from a managed device keeps the 30-day kyc',
      ctx: { path: '/payments/checkout', headers: { 'x-device-managed': 'true' } },
      auth: verified({ amr: ['mfa'], auth_time: NOW_S }, 'demo'),
      expected: { kind: 'verify', needs: [{ workflow: 'kyc', maxAgeMs: 30 * 86_400_000 }] },
    },
    { name: 'partner-api by context', ctx: { path: '/v1/x', contextExtensions: { policy: 'partner-api' } }, auth: ANON, expected: { kind: 'deny', routeId: 'partner-api', code: 'token_missing' } },
    { name: 'default deny', ctx: { path: '/elsewhere' }, auth: ANON, expected: { kind: 'deny', code: 'no_route' } },
    {
      name: 'admin from an embargoed country',
      ctx: { path: '/api/admin/users', headers: { 'x-geo-country': 'KP' } },
      auth: verified({ roles: ['admin'], amr: ['mfa'] }, 'demo'),
      expected: { kind: 'deny', status: 403, code: 'country_denied' },
    },
    { name: 'admin without a country header', ctx: { path: '/api/admin/users' }, auth: verified({ roles: ['admin'], amr: ['mfa'] }, 'demo'), expected: { kind: 'allow', routeId: 'admin' } },
    { name: 'api DELETE without the admin role', ctx: { method: 'DELETE', path: '/api/orders/1' }, auth: verified({ scope: 'read' }, 'demo'), expected: { kind: 'deny', status: 403, code: 'claims_mismatch' } },
    { name: 'api DELETE with the admin role', ctx: { method: 'DELETE', path: '/api/orders/1' }, auth: verified({ scope: 'read', roles: ['admin'] }, 'demo'), expected: { kind: 'allow', routeId: 'api' } },
    {
      name: 'partner-api from outside the partner networks',
      ctx: { path: '/v1/x', contextExtensions: { policy: 'partner-api' }, sourceAddress: '203.0.113.50' },
      auth: verified({ scope: 'partner' }, 'demo'),
      expected: { kind: 'deny', code: 'network_denied' },
    },
    {
      name: 'partner-api from a partner network behind the local proxy',
      ctx: { path: '/v1/x', contextExtensions: { policy: 'partner-api' }, sourceAddress: '127.0.0.1', headers: { 'x-forwarded-for': '198.51.100.20' } },
      auth: verified({ scope: 'partner' }, 'demo'),
      expected: { kind: 'allow', routeId: 'partner-api' },
    },
  ];

  it.each(exampleCases)('$name', ({ ctx: c, auth, expected }) => {
    expect(example.evaluate(ctx(c), auth, NOW)).toMatchObject(expected);
  });

  // Regression (issue 11): `US,KP` (a duplicated header, joined by Envoy and the HTTP mode) read as "no
  // country" and slipped past the embargo; a non-boolean managed flag was compared as a string.
  const admin = verified({ roles: ['admin'], amr: ['mfa'] }, 'demo');
  const buyer = verified({ amr: ['mfa'], auth_time: NOW_S }, 'demo');
  it.each([
    ['x-geo-country', 'US,KP', '/api/admin/users', 'country_denied', admin],
    ['x-geo-country', 'KP,US', '/api/admin/users', 'country_denied', admin],
    ['x-geo-country', 'US, US', '/api/admin/users', 'country_denied', admin],
    ['x-geo-country', 'USA', '/api/admin/users', 'country_denied', admin],
    ['x-geo-country', 'K1', '/api/admin/users', 'country_denied', admin],
    ['x-geo-country', 'US,KP', '/healthz', 'country_denied', ANON],
    ['x-device-managed', 'true,false', '/payments/checkout', 'device_denied', buyer],
    ['x-device-managed', 'yes', '/payments/checkout', 'device_denied', buyer],
    ['x-device-managed', 'True', '/payments/checkout', 'device_denied', buyer],
    ['x-device-managed', '1', '/public/a.css', 'device_denied', ANON],
    ['x-device-id', 'laptop-1,laptop-2', '/api/orders', 'device_denied', verified({ scope: 'read' }, 'demo')],
  ] as const)('a malformed %s (%s) on %s fails closed with %s', (header, value, path, code, auth) => {
    const outcome = example.evaluate(ctx({ path, headers: { [header]: value } }), auth, NOW);
    expect(outcome).toMatchObject({ kind: 'deny', status: 403, code });
    if (outcome.kind === 'deny') expect(outcome.message).not.toContain(value);
  });

  it.each([
    ['x-geo-country', ' us '],
    ['x-geo-country', ''],
    ['x-device-managed', 'false'],
    ['x-device-id', 'laptop-1'],
  ])('a well-formed or empty %s (%j) is not refused', (header, value) => {
    expect(example.evaluate(ctx({ path: '/healthz', headers: { [header]: value } }), ANON, NOW)).toMatchObject({ kind: 'allow' });
  });
});
