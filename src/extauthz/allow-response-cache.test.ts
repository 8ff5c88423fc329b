import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import type { AllowDecision, Decision } from '../core/decision.js';
import type { Principal } from '../core/principal.js';
import { compileRenderOptions, renderDecision, type RenderOptions } from '../core/render-decision.js';
import type { RequestContext } from '../core/request-context.js';
import type { VerificationResult } from '../core/stages.js';
import { testRequestContext } from '../core/test-request-context.js';
import { createEngine } from '../engine/create-engine.js';
import { newDecisionId } from '../engine/new-decision-id.js';
import { compilePolicy } from '../policy/compile-policy.js';
import { AllowResponseCache } from './allow-response-cache.js';
import { encodeVerdictResponse } from './check-codec.js';

/**
 * The cached allow must be the uncached render's bytes for the same inputs, whatever the allow, and a
 * change of any input of the rendering must change the bytes (the attacker's path: another principal's,
 * route's or policy generation's allow must never be served).
 */
const uncached = (decision: Decision, ctx: RequestContext, options: RenderOptions = {}): Buffer =>
  encodeVerdictResponse(renderDecision(decision, ctx, compileRenderOptions(options)));

const ID = '0f8e6c2a-3b1d-4e5f-9a7b-8c6d5e4f3a2b';

/** Every allow shape the codebase renders: engine allows (with verification, shadow), and the renderer's edge cases. */
const ALLOWS: readonly [string, AllowDecision][] = [
  ['empty', { kind: 'allow', headers: {}, metadata: {} }],
  [
    'engine allow with claim headers',
    {
      kind: 'allow',
      headers: { 'x-idgate-email': 'a@example.com', 'x-idgate-subject': 'idp:alice', 'x-idgate-issuer': 'idp' },
      metadata: { route: 'orders', subject: 'idp:alice', issuer: 'idp' },
      routeId: 'orders',
      subject: 'idp:alice',
    },
  ],
  [
    'verified',
    {
      kind: 'allow',
      headers: { 'x-idgate-subject': 'idp:bob', 'x-idgate-issuer': 'idp', 'x-idgate-verified': 'age,kyc' },
      metadata: { route: 'pay', subject: 'idp:bob', issuer: 'idp', verified: 'age,kyc' },
      routeId: 'pay',
      subject: 'idp:bob',
    },
  ],
  [
    'shadow',
    {
      kind: 'allow',
      headers: { 'x-idgate-shadow-decision': 'deny:claims_mismatch' },
      metadata: { shadow: 'deny:claims_mismatch', route: 'r' },
      routeId: 'r',
      subject: 'idp:carol',
      shadow: true,
    },
  ],
  ['public, anonymous', { kind: 'allow', headers: {}, metadata: { route: 'open' }, routeId: 'open' }],
  [
    'non-ASCII subject, upper-case, invalid and non-string header names',
    {
      kind: 'allow',
      headers: { 'X-Idgate-Name': 'José Müller', 'bad name': 'x', 'x-idgate-n': 5 as unknown as string, 'x-idgate-ctl': 'a\nb' },
      metadata: { a: 1, b: undefined as unknown as string, c: false, d: -0, e: 'é' },
      subject: 'José',
      shadow: false,
    },
  ],
  [
    'decided by a layer',
    {
      kind: 'allow',
      headers: { 'x-idgate-subject': 'idp:dave' },
      metadata: {},
      routeId: 'payments/refunds',
      subject: 'idp:dave',
      decidedBy: { layer: 'tenant', id: 'payments/refunds', revision: 'platform@1 tenant/payments@2' },
    },
  ],
  ['a subject that is not header-safe', { kind: 'allow', headers: {}, metadata: {}, subject: 'a\nb' }],
  [
    'a long allow (lengths of two bytes)',
    {
      kind: 'allow',
      headers: { 'x-idgate-groups': 'g'.repeat(300), 'x-idgate-subject': 'idp:erin' },
      metadata: { route: 'r'.repeat(200) },
      routeId: 'r'.repeat(200),
      subject: 'idp:erin',
    },
  ],
];

const OPTIONS: readonly [string, RenderOptions][] = [
  ['defaults', {}],
  ['another prefix, strip names, authorization removed', { identityHeaderPrefix: 'x-gate-', stripHeaders: ['x-user'], removeAuthorization: true }],
];

const CONTEXTS: readonly [string, RequestContext][] = [
  ['no identity headers', testRequestContext({ headers: { ':path': '/api', authorization: 'Bearer t', accept: '*/*' } })],
  ['forged identity headers', testRequestContext({ headers: { 'x-idgate-subject': 'evil', x_idgate_roles: 'admin', 'x-gate-email': 'e', 'x-user': 'u' } })],
  ['no headers', testRequestContext()],
];

describe('AllowResponseCache: the uncached render, byte for byte', () => {
  for (const [optionsName, options] of OPTIONS) {
    for (const [ctxName, ctx] of CONTEXTS) {
      it.each(ALLOWS)(`%s (${optionsName}, ${ctxName})`, (_name, allow) => {
        const cache = new AllowResponseCache(compileRenderOptions(options));
        // First Check renders and keeps; later ones (new ids) are copied from the entry.
        for (const id of [ID, newDecisionId(), newDecisionId(), 'short-id', `${ID.slice(0, 35)}é`, 'non-ASCII-é', '']) {
          const decision = { ...allow, decisionId: id };
          expect(cache.respond(decision, ctx).equals(uncached(decision, ctx, options)), id).toBe(true);
        }
        const noId: AllowDecision = { ...allow };
        delete (noId as { decisionId?: string }).decisionId;
        expect(cache.respond(noId, ctx).equals(uncached(noId, ctx, options))).toBe(true);
      });
    }
  }

  it('keeps an allow only when the request has no identity header, and serves it to the next Check', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const allow = ALLOWS[1]![1];
    cache.respond({ ...allow, decisionId: ID }, CONTEXTS[1]![1]);
    expect(cache.size).toBe(0);
    cache.respond({ ...allow, decisionId: ID }, CONTEXTS[0]![1]);
    expect(cache.size).toBe(1);
    const next = { ...allow, decisionId: newDecisionId() };
    expect(cache.respond(next, CONTEXTS[0]![1]).equals(uncached(next, CONTEXTS[0]![1]))).toBe(true);
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('reads the names the front end listed, and only for the headers they were listed for', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const allow: AllowDecision = { ...ALLOWS[1]![1], decisionId: ID };
    const listed = testRequestContext({ headers: { accept: '*/*' } });
    const named = { ...listed, headerNames: { of: listed.headers, names: ['accept'] } };
    expect(cache.respond(allow, named).equals(uncached(allow, named))).toBe(true);
    expect(cache.size).toBe(1);
    // A copy with other headers keeps the old list: it must not hide the forged header from the scan.
    const forged = { ...named, headers: { accept: '*/*', x_idgate_roles: 'admin' } };
    const bytes = cache.respond({ ...allow, decisionId: newDecisionId() }, forged);
    expect(bytes.toString('latin1')).toContain('x_idgate_roles');
    // A list naming an identity header sends the Check past the cache: still the render's bytes.
    const honest = { ...named, headerNames: { of: listed.headers, names: ['accept', 'x-idgate-email'] } };
    expect(cache.respond(allow, honest).equals(uncached(allow, honest))).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('is bounded: 4 allows per subject and route, 64 routes per subject, 2,000 allows in all', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const ctx = CONTEXTS[0]![1];
    const allow = (subject: string, route: string, claim: string): AllowDecision =>
      ({ kind: 'allow', headers: { 'x-idgate-email': claim }, metadata: { route }, routeId: route, subject, decisionId: ID });
    for (let i = 0; i < 10; i++) cache.respond(allow('idp:x', 'r', `c${i}`), ctx);
    expect(cache.size).toBe(4);
    for (let i = 0; i < 63; i++) cache.respond(allow('idp:x', `r${i}`, 'c'), ctx);
    expect(cache.size).toBe(4 + 63);
    // A 65th route starts the subject's routes afresh.
    cache.respond(allow('idp:x', 'r-last', 'c'), ctx);
    expect(cache.size).toBe(1);
    // Up to 64 routes of one subject are kept side by side (one caller on many routes does not evict itself).
    for (let i = 0; i < 63; i++) cache.respond(allow('idp:x', `r${i}`, 'c'), ctx);
    expect(cache.size).toBe(64);
    for (let i = 0; i < 3000; i++) cache.respond(allow(`idp:s${i}`, 'r', 'c'), ctx);
    expect(cache.size).toBe(2000);
    const next = { ...allow('idp:s2999', 'r', 'c'), decisionId: newDecisionId() };
    expect(cache.respond(next, ctx).equals(uncached(next, ctx))).toBe(true);
    expect(cache.size).toBe(2000);
  });

  it('holds `caches.allows` allows in all when given, and refuses a bound that is not a positive integer', () => {
    const cache = new AllowResponseCache(compileRenderOptions(), 3);
    const ctx = CONTEXTS[0]![1];
    const allow = (subject: string, route: string): AllowDecision =>
      ({ kind: 'allow', headers: { 'x-idgate-email': 'c' }, metadata: { route }, routeId: route, subject, decisionId: ID });
    for (let i = 0; i < 5; i++) cache.respond(allow(`idp:s${i}`, 'r'), ctx);
    expect(cache.size).toBe(3);
    // One subject's allows on two routes sit in one list; each route finds its own bytes.
    const two = new AllowResponseCache(compileRenderOptions(), 10);
    const a = { ...allow('idp:x', 'a'), decisionId: newDecisionId() };
    const b = { ...allow('idp:x', 'b'), decisionId: newDecisionId() };
    two.respond(allow('idp:x', 'a'), ctx);
    two.respond(allow('idp:x', 'b'), ctx);
    expect(two.size).toBe(2);
    expect(two.respond(b, ctx).equals(uncached(b, ctx))).toBe(true);
    expect(two.respond(a, ctx).equals(uncached(a, ctx))).toBe(true);
    expect(two.size).toBe(2);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new AllowResponseCache(compileRenderOptions(), bad)).toThrow(new TypeError('allow cache size must be a positive integer'));
    }
  });
});

describe('AllowResponseCache: a change of any input changes the bytes', () => {
  const ctx = CONTEXTS[0]![1];
  const base = ALLOWS[2]![1];
  // Each: the base allow with one input changed, as another caller, route, policy or verification state would.
  const VARIANTS: readonly [string, AllowDecision][] = [
    ['another subject', { ...base, subject: 'idp:mallory', headers: { ...base.headers, 'x-idgate-subject': 'idp:mallory' }, metadata: { ...base.metadata, subject: 'idp:mallory' } }],
    ['another subject in the headers only', { ...base, headers: { ...base.headers, 'x-idgate-subject': 'idp:mallory' } }],
    ['another route', { ...base, routeId: 'admin', metadata: { ...base.metadata, route: 'admin' } }],
    ['another route id only', { ...base, routeId: 'admin' }],
    ['fewer verifications', { ...base, headers: { ...base.headers, 'x-idgate-verified': 'age' }, metadata: { ...base.metadata, verified: 'age' } }],
    ['no verification', { ...base, headers: { 'x-idgate-subject': 'idp:bob', 'x-idgate-issuer': 'idp' } }],
    ['one more claim header', { ...base, headers: { ...base.headers, 'x-idgate-email': 'b@example.com' } }],
    ['headers in another order', { ...base, headers: { 'x-idgate-issuer': 'idp', 'x-idgate-subject': 'idp:bob', 'x-idgate-verified': 'age,kyc' } }],
    ['shadow', { ...base, shadow: true }],
    ['decided by a layer', { ...base, decidedBy: { layer: 'guardrail', id: 'g1', revision: 'platform@1' } }],
    ['decided by another rule', { ...base, decidedBy: { layer: 'guardrail', id: 'g2', revision: 'platform@1' } }],
    ['a metadata number sign', { ...base, metadata: { ...base.metadata, n: -0 } }],
    ['a metadata number', { ...base, metadata: { ...base.metadata, n: 0 } }],
    ['a metadata value type', { ...base, metadata: { ...base.metadata, n: '0' } }],
  ];

  it('answers each variant with its own render, after the base and every other variant were kept', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const all: [string, AllowDecision][] = [['base', base], ...VARIANTS];
    // Twice round: the second time every answer could come from an entry.
    for (let round = 0; round < 2; round++) {
      const seen = new Set<string>();
      for (const [name, allow] of all) {
        const decision = { ...allow, decisionId: ID };
        const bytes = cache.respond(decision, ctx);
        expect(bytes.equals(uncached(decision, ctx)), name).toBe(true);
        seen.add(bytes.toString('hex'));
      }
      expect(seen.size, 'every variant renders differently').toBe(all.length);
    }
  });
});

describe('AllowResponseCache: the header and metadata objects as the key', () => {
  const ctx = CONTEXTS[0]![1];
  const base = ALLOWS[2]![1];
  const frozen = (allow: AllowDecision): AllowDecision =>
    ({ ...allow, headers: Object.freeze({ ...allow.headers }), metadata: Object.freeze({ ...allow.metadata }) });

  it('serves Checks holding the very frozen objects it rendered from, and equal copies of them', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const allow = frozen(base);
    for (const decision of [{ ...allow, decisionId: ID }, { ...allow, decisionId: newDecisionId() }, { ...base, decisionId: newDecisionId() }]) {
      expect(cache.respond(decision, ctx).equals(uncached(decision, ctx))).toBe(true);
    }
    expect(cache.size).toBe(1);
  });

  it('compares the entries of objects that are not frozen, even the very same object changed in place', () => {
    const cache = new AllowResponseCache(compileRenderOptions());
    const headers: Record<string, string> = { ...base.headers };
    const metadata: Record<string, string | number | boolean> = { ...base.metadata };
    const first = { ...base, headers, metadata, decisionId: ID };
    const before = cache.respond(first, ctx);
    headers['x-idgate-subject'] = 'idp:mallory';
    metadata.subject = 'idp:mallory';
    const second = { ...first, decisionId: newDecisionId() };
    const after = cache.respond(second, ctx);
    expect(after.equals(uncached(second, ctx))).toBe(true);
    expect(after.toString('latin1')).toContain('idp:mallory');
    expect(before.toString('latin1')).not.toContain('idp:mallory');
  });

  it('does not take a frozen object on trust when a getter or an inherited entry could read differently', () => {
    let subject = 'idp:bob';
    const withGetter = Object.freeze(Object.defineProperty({ ...base.headers }, 'x-idgate-subject', { get: () => subject, enumerable: true }));
    const inherited = Object.freeze(Object.create(Object.freeze({ 'x-idgate-subject': 'idp:bob' })) as Record<string, string>);
    for (const headers of [withGetter, inherited]) {
      const cache = new AllowResponseCache(compileRenderOptions());
      const metadata = Object.freeze({ ...base.metadata });
      subject = 'idp:bob';
      cache.respond({ ...base, headers, metadata, decisionId: ID }, ctx);
      subject = 'idp:mallory';
      const next = { ...base, headers, metadata, decisionId: newDecisionId() };
      expect(cache.respond(next, ctx).equals(uncached(next, ctx))).toBe(true);
    }
  });
});

describe('AllowResponseCache: the engine\'s allows (the attacker\'s path)', () => {
  const yaml = (emailHeader: string) => `policy:
  routes:
    - { id: orders, match: { prefix: /orders }, claimHeaders: { ${emailHeader}: email } }
    - { id: admin, match: { prefix: /admin }, claimHeaders: { ${emailHeader}: email } }
    - { id: pay, match: { prefix: /pay }, require: { verification: [age] } }
didit: { mode: sandbox }
workflows: { age: { workflowId: wf-age, maxAge: 7d } }
issuers: [{ name: idp, issuer: 'https://idp.example', audiences: [shop], jwksUri: 'https://idp.example/keys' }]
`;
  const principalOf = (sub: string, email: string): Principal => ({
    issuerName: 'idp', issuer: 'https://idp.example', sub, subject: `idp:${sub}`, claims: { email }, source: 'header', tokenId: `tok-${sub}`,
  });
  const alice = principalOf('alice', 'alice@example.com');
  const mallory = principalOf('mallory', 'mallory@example.com');

  /** An engine over a reloadable policy, a scripted caller and a scripted verification state. */
  function setup() {
    const state = {
      policy: compilePolicy(parseConfig(yaml('x-idgate-email'), { sourceName: 't.yaml', env: {} })),
      principal: alice,
      gate: { kind: 'satisfied', workflows: ['age'] } as VerificationResult,
    };
    const engine = createEngine(
      {
        authenticator: { authenticate: () => ({ kind: 'verified', principal: state.principal }) },
        policy: () => state.policy,
        verification: { check: () => state.gate },
      },
      { headerPrefix: 'x-idgate-' },
    );
    const cache = new AllowResponseCache(compileRenderOptions());
    /** One Check of `path`: the cached answer, checked against the uncached render, with its decision. */
    const check = (path: string): { bytes: Buffer; decision: Decision } => {
      const ctx = testRequestContext({ path, rawPath: path, headers: { ':path': path } });
      const decision = engine.decide(ctx, Date.now() + 1000) as Decision;
      const bytes = decision.kind === 'allow' ? cache.respond(decision, ctx) : uncached(decision, ctx);
      expect(bytes.equals(uncached(decision, ctx)), `${path} as ${state.principal.subject}`).toBe(true);
      return { bytes, decision };
    };
    /** The bytes without the decision id, to compare two Checks' answers. */
    const stripped = (r: { bytes: Buffer; decision: Decision }): string =>
      r.bytes.toString('latin1').replace(r.decision.decisionId ?? '', '<id>');
    return { state, check, stripped, cache };
  }

  it('two principals on one route get their own allows', () => {
    const { state, check, stripped } = setup();
    const first = stripped(check('/orders'));
    expect(stripped(check('/orders'))).toBe(first);
    state.principal = mallory;
    const other = stripped(check('/orders'));
    expect(other).not.toBe(first);
    expect(other).toContain('mallory@example.com');
    expect(other).not.toContain('alice');
  });

  it('one principal on two routes gets each route\'s allow', () => {
    const { check, stripped } = setup();
    const orders = stripped(check('/orders'));
    const admin = stripped(check('/admin'));
    expect(admin).not.toBe(orders);
    expect(stripped(check('/orders'))).toBe(orders);
  });

  it('a reload between two Checks answers with the new policy\'s allow', () => {
    const { state, check, stripped, cache } = setup();
    const before = stripped(check('/orders'));
    expect(before).toContain('x-idgate-email');
    state.policy = compilePolicy(parseConfig(yaml('x-idgate-mail'), { sourceName: 't.yaml', env: {} }));
    // Not cleared (a front end clears it on reload; the answer must be right either way).
    const after = stripped(check('/orders'));
    expect(after).not.toBe(before);
    expect(after).toContain('x-idgate-mail');
    expect(after).not.toContain('x-idgate-email');
    expect(cache.size).toBe(2);
  });

  it('two principals of one subject with other claims (two tokens) get their own allows', () => {
    const { state, check, stripped } = setup();
    const first = stripped(check('/orders'));
    state.principal = { ...alice, claims: { email: 'alice@evil.example' }, tokenId: 'tok-alice-2' };
    const other = stripped(check('/orders'));
    expect(other).toContain('alice@evil.example');
    state.principal = alice;
    expect(stripped(check('/orders'))).toBe(first);
  });

  it('one principal object whose claims changed in place gets the allow of its claims (the object decides nothing)', () => {
    const { state, check, stripped } = setup();
    const claims: Record<string, unknown> = { email: 'eve@example.com' };
    state.principal = { ...alice, sub: 'eve', subject: 'idp:eve', claims };
    const first = check('/orders');
    expect(stripped(first)).toContain('eve@example.com');
    claims.email = 'eve@other.example';
    const second = check('/orders');
    expect(stripped(second)).toContain('eve@other.example');
    expect(stripped(second)).not.toContain('eve@example.com');
  });

  it('shares one frozen header and metadata object between the Checks of one allow, and only those', () => {
    const { state, check } = setup();
    const a = check('/orders').decision;
    const b = check('/orders').decision;
    if (a.kind !== 'allow' || b.kind !== 'allow') throw new Error('expected allows');
    expect(b.headers).toBe(a.headers);
    expect(b.metadata).toBe(a.metadata);
    expect(Object.isFrozen(a.headers) && Object.isFrozen(a.metadata)).toBe(true);
    expect(a.headers).toEqual({ 'x-idgate-email': 'alice@example.com', 'x-idgate-subject': 'idp:alice', 'x-idgate-issuer': 'idp' });
    expect(a.metadata).toEqual({ route: 'orders', subject: 'idp:alice', issuer: 'idp' });
    const admin = check('/admin').decision;
    if (admin.kind !== 'allow') throw new Error('expected an allow');
    expect(admin.metadata).not.toBe(a.metadata);
    expect(admin.metadata).toEqual({ route: 'admin', subject: 'idp:alice', issuer: 'idp' });
    state.principal = mallory;
    const other = check('/orders').decision;
    if (other.kind !== 'allow') throw new Error('expected an allow');
    expect(other.headers).not.toBe(a.headers);
  });

  it('a re-verified principal is allowed with its new verification, a revoked one is not allowed', () => {
    const { state, check, stripped } = setup();
    const verified = stripped(check('/pay'));
    expect(verified).toContain('age');
    state.gate = { kind: 'satisfied', workflows: [] };
    const unverified = stripped(check('/pay'));
    expect(unverified).not.toBe(verified);
    // x-idgate-verified is still named, in the list of headers to remove.
    expect(unverified).not.toContain('age');
    state.gate = { kind: 'deny', status: 403, code: 'verification_declined', message: 'declined' };
    expect(check('/pay').decision.kind).toBe('deny');
    state.gate = { kind: 'satisfied', workflows: ['age'] };
    expect(stripped(check('/pay'))).toBe(verified);
  });
});
