import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { RequestContext } from '../src/core/request-context.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { compilePolicy, type CompiledPolicy } from '../src/policy/compile-policy.js';
import { comparePosture, compareOrdered } from '../src/policy/compare-posture.js';
import type { Outcome } from '../src/core/outcome.js';
import type { RiskAssessment } from '../src/core/risk-assessment.js';

const NOW = Date.UTC(2026, 0, 7, 12, 0); // a Wednesday

const BASE = `
issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
workflows:
  kyc: { workflowId: wf-kyc, maxAge: 30d }
  liveness: { workflowId: wf-live, maxAge: 1d }
didit: { mode: sandbox }
context: { countryHeader: x-geo-country }
risk: { enabled: true }
network: { trustedProxies: [10.0.0.0/8, "fd00::/8"] }
`;

function policyOf(routes: string, extra = ''): CompiledPolicy {
  return compilePolicy(parseConfig(`${BASE}${extra}policy:\n  routes:\n${routes}`, { sourceName: 'conditions.yaml', env: {} }));
}

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return {
    method: 'GET',
    scheme: 'https',
    host: 'app.example.com',
    path: '/',
    rawPath: over.path ?? '/',
    query: '',
    headers: {},
    sourceAddress: '203.0.113.7',
    sourcePrincipal: '',
    contextExtensions: {},
    metadata: {},
    requestId: 'r-1',
    protocol: 'HTTP/2',
    receivedAt: NOW,
    ...over,
  };
}

function verified(claims: Record<string, unknown> = {}): AuthResult {
  return {
    kind: 'verified',
    principal: {
      issuerName: 'corp',
      issuer: 'https://corp.example',
      sub: 'u1',
      subject: 'corp:u1',
      claims: { sub: 'u1', ...claims },
      source: 'header',
      tokenId: 'abc123',
    },
  };
}

const USER = verified();
const ANON: AuthResult = { kind: 'anonymous' };

function steps(outcome: Outcome, prefix = 'condition:'): { step: string; result: string; detail: string }[] {
  return outcome.trace.filter((s) => s.step.startsWith(prefix)).map((s) => ({ ...s }));
}

describe('sourceIp conditions', () => {
  const policy = policyOf(`
    - id: net
      match: { prefix: /net }
      conditions:
        - name: office-only
          when: { sourceIp: { notIn: [192.0.2.0/24, "2001:db8::/32"] } }
          then: deny
    - id: blocklist
      match: { prefix: /block }
      conditions:
        - name: blocked
          when: { sourceIp: { in: [198.51.100.0/24] } }
          then: { deny: network_denied, message: "this network is blocked" }
    - id: both
      match: { prefix: /both }
      conditions:
        - name: carve-out
          when: { sourceIp: { in: [192.0.2.0/24], notIn: [192.0.2.128/25] } }
          then: deny
`);

  it.each([
    ['IPv4 inside the allowed network passes', '/net', '192.0.2.10', {}, 'allow'],
    ['IPv4 outside the allowed network is denied', '/net', '198.51.100.1', {}, 'network_denied'],
    ['IPv6 inside the allowed network passes', '/net', '2001:db8:1::5', {}, 'allow'],
    ['IPv6 outside the allowed network is denied', '/net', '2001:db9::1', {}, 'network_denied'],
    ['IPv4-mapped IPv6 inside the IPv4 network passes', '/net', '::ffff:192.0.2.10', {}, 'allow'],
    ['IPv4-mapped IPv6 outside is denied', '/net', '::ffff:198.51.100.1', {}, 'network_denied'],
    ['an unknown source address is outside every network (fail closed)', '/net', '', {}, 'network_denied'],
    ['a garbage source address is outside every network', '/net', 'not-an-ip', {}, 'network_denied'],
    ['blocklist: listed address is denied', '/block', '198.51.100.9', {}, 'network_denied'],
    ['blocklist: other address passes', '/block', '192.0.2.1', {}, 'allow'],
    ['blocklist: unknown address is not in the block list', '/block', '', {}, 'allow'],
    ['in + notIn: inside in, outside notIn matches', '/both', '192.0.2.1', {}, 'network_denied'],
    ['in + notIn: inside notIn does not match', '/both', '192.0.2.200', {}, 'allow'],
    ['in + notIn: outside in does not match', '/both', '203.0.113.1', {}, 'allow'],
  ] as const)('%s', (_name, path, sourceAddress, headers, expected) => {
    const outcome = policy.evaluate(ctx({ path, sourceAddress, headers }), USER, NOW);
    if (expected === 'allow') expect(outcome).toMatchObject({ kind: 'allow' });
    else expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: expected });
  });

  it('uses the message of the deny effect', () => {
    expect(policy.evaluate(ctx({ path: '/block', sourceAddress: '198.51.100.9' }), USER, NOW)).toMatchObject({ message: 'this network is blocked' });
  });

  it('never writes the address into the trace', () => {
    const outcome = policy.evaluate(ctx({ path: '/net', sourceAddress: '198.51.100.1' }), USER, NOW);
    expect(steps(outcome)).toEqual([{ step: 'condition:office-only', result: 'fail', detail: 'source address not in the `notIn` list: deny network_denied' }]);
    expect(JSON.stringify(outcome.trace)).not.toContain('198.51.100');
  });

  // network.trustedProxies is 10.0.0.0/8 and fd00::/8.
  it.each([
    ['untrusted peer sending XFF: the peer is the client', '198.51.100.1', '192.0.2.10', 'network_denied'],
    ['trusted proxy forwarding an allowed client', '10.1.2.3', '192.0.2.10', 'allow'],
    ['trusted proxy forwarding a denied client', '10.1.2.3', '198.51.100.1', 'network_denied'],
    ['client prepends a fake allowed hop; the real client is read right to left', '10.1.2.3', '192.0.2.10, 198.51.100.1', 'network_denied'],
    ['several trusted hops are skipped', '10.1.2.3', '192.0.2.10, 10.9.9.9, 10.8.8.8', 'allow'],
    ['trusted IPv6 proxy', 'fd00::1', '2001:db8::99', 'allow'],
    ['garbage hop stops the walk at the last trusted hop (not allowed)', '10.1.2.3', '192.0.2.10, garbage', 'network_denied'],
    ['an allowed address as the untrusted peer itself still works without XFF', '192.0.2.10', '', 'allow'],
  ] as const)('x-forwarded-for: %s', (_name, peer, xff, expected) => {
    const headers: Record<string, string> = xff === '' ? {} : { 'x-forwarded-for': xff };
    const outcome = policy.evaluate(ctx({ path: '/net', sourceAddress: peer, headers }), USER, NOW);
    if (expected === 'allow') expect(outcome.kind).toBe('allow');
    else expect(outcome).toMatchObject({ kind: 'deny', code: expected });
  });
});

describe('country conditions', () => {
  const policy = policyOf(`
    - id: embargo
      match: { prefix: /embargo }
      conditions:
        - { name: embargoed, when: { country: { in: [KP, IR] } }, then: deny }
    - id: iberia
      match: { prefix: /iberia }
      conditions:
        - { name: iberia-only, when: { country: { notIn: [ES, PT] } }, then: { deny: country_denied } }
`);

  it.each([
    ['deny list: listed country is denied', '/embargo', { 'x-geo-country': 'KP' }, 'country_denied'],
    ['deny list: lower-case header value is upper-cased', '/embargo', { 'x-geo-country': 'ir' }, 'country_denied'],
    ['deny list: other country passes', '/embargo', { 'x-geo-country': 'ES' }, 'allow'],
    ['deny list: missing header is not in the list (passes)', '/embargo', {}, 'allow'],
    ['allow list: listed country passes', '/iberia', { 'x-geo-country': 'PT' }, 'allow'],
    ['allow list: other country is denied', '/iberia', { 'x-geo-country': 'FR' }, 'country_denied'],
    ['allow list: missing header is denied (fail closed)', '/iberia', {}, 'country_denied'],
    // Since issue 11 a malformed country is refused before any route, with its own message.
    ['allow list: malformed header value is denied before the list is read', '/iberia', { 'x-geo-country': 'ESP' }, 'country_denied'],
    ['allow list: a value with spaces is trimmed', '/iberia', { 'x-geo-country': ' es ' }, 'allow'],
  ] as const)('%s', (_name, path, headers, expected) => {
    const outcome = policy.evaluate(ctx({ path, headers }), USER, NOW);
    if (expected === 'allow') expect(outcome.kind).toBe('allow');
    else {
      const message = (headers as Record<string, string>)['x-geo-country'] === 'ESP' ? 'the x-geo-country header is not exactly one ISO 3166-1 alpha-2 country code' : 'access from this country is not allowed';
      expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: expected, message });
    }
  });

  it('keeps the country out of the trace', () => {
    const outcome = policy.evaluate(ctx({ path: '/iberia', headers: { 'x-geo-country': 'FR' } }), USER, NOW);
    expect(steps(outcome)[0]?.detail).toBe('country not in the `notIn` list: deny country_denied');
    expect(JSON.stringify(outcome.trace)).not.toContain('FR');
  });
});

describe('device posture', () => {
  const policy = policyOf(`
    - id: managed
      match: { prefix: /managed }
      conditions:
        - { name: unmanaged, when: { device: { header: x-device-managed, notEquals: "true" } }, then: deny }
    - id: os
      match: { prefix: /os }
      conditions:
        - { name: old-os, when: { device: { claim: device.os_version, atMost: "14.1.9" } }, then: { deny: device_denied, message: "update your OS" } }
    - id: trust
      match: { prefix: /trust }
      conditions:
        - { name: low-trust, when: { device: { claim: device_trust, oneOf: [low, unknown] } }, then: { stepUp: liveness, maxAge: 15m } }
`);

  it.each([
    ['managed header true passes', '/managed', { 'x-device-managed': 'true' }, {}, 'allow'],
    ['managed header false is denied', '/managed', { 'x-device-managed': 'false' }, {}, 'device_denied'],
    ['missing managed header is denied (notEquals holds for absent values)', '/managed', {}, {}, 'device_denied'],
    ['newer OS passes', '/os', {}, { device: { os_version: '14.2' } }, 'allow'],
    ['much newer OS (14.10 > 14.9) passes', '/os', {}, { device: { os_version: '14.10' } }, 'allow'],
    ['older OS is denied', '/os', {}, { device: { os_version: '14.1' } }, 'device_denied'],
    ['equal OS is denied (atMost is inclusive)', '/os', {}, { device: { os_version: '14.1.9' } }, 'device_denied'],
    ['numeric OS claim compares as a version', '/os', {}, { device: { os_version: 13 } }, 'device_denied'],
    ['missing OS claim does not match atMost (not denied)', '/os', {}, {}, 'allow'],
    ['boolean OS claim is incomparable (not denied, no throw)', '/os', {}, { device: { os_version: true } }, 'allow'],
    ['object OS claim is incomparable', '/os', {}, { device: { os_version: { v: 1 } } }, 'allow'],
    ['low trust steps up', '/trust', {}, { device_trust: 'low' }, 'verify'],
    ['high trust passes', '/trust', {}, { device_trust: 'high' }, 'allow'],
  ] as const)('%s', (_name, path, headers, claims, expected) => {
    const outcome = policy.evaluate(ctx({ path, headers }), verified(claims), NOW);
    if (expected === 'allow' || expected === 'verify') expect(outcome.kind).toBe(expected);
    else expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: expected });
  });

  it('the step-up carries the effect max age', () => {
    const outcome = policy.evaluate(ctx({ path: '/trust' }), verified({ device_trust: 'unknown' }), NOW);
    expect(outcome).toMatchObject({ kind: 'verify', needs: [{ workflow: 'liveness', maxAgeMs: 900_000, onInReview: 'deny', onDeclined: 'deny' }] });
  });

  it.each([
    ['header equals compares configured scalars as text', 'true', { equals: true }, 'header', true],
    ['header equals number as text', '3', { equals: 3 }, 'header', true],
    ['claim equals is strict about types', 'true', { equals: true }, 'claim', false],
    ['claim equals boolean', true, { equals: true }, 'claim', true],
    ['oneOf hit', 'b', { oneOf: ['a', 'b'] }, 'claim', true],
    ['oneOf on absent', undefined, { oneOf: ['a'] }, 'claim', false],
    ['notEquals on absent holds', undefined, { notEquals: 'x' }, 'header', true],
    ['present true on value', 'x', { present: true }, 'header', true],
    ['present true on empty header', '', { present: true }, 'header', false],
    ['present false on absent', undefined, { present: false }, 'claim', true],
    ['present false on null claim', null, { present: false }, 'claim', true],
    ['atLeast numbers', 10, { atLeast: 9.5 }, 'claim', true],
    ['atLeast numeric header text against a number', '10', { atLeast: 9.5 }, 'header', true],
    ['atLeast version with more segments', '14.2.1', { atLeast: '14.2' }, 'header', true],
    ['atLeast version equal with trailing zero', '14.2.0', { atLeast: '14.2' }, 'header', true],
    ['atLeast version lower', '14.1.99', { atLeast: '14.2' }, 'header', false],
    ['atLeast with a v prefix', 'v2.0', { atLeast: '1.9' }, 'header', true],
    ['atLeast lexicographic strings', 'beta', { atLeast: 'alpha' }, 'claim', true],
    ['atLeast mixed string and number is incomparable', 'abc', { atLeast: 3 }, 'claim', false],
    ['atMost on a boolean is incomparable', false, { atMost: 3 }, 'claim', false],
    ['atMost on an array is incomparable', [1], { atMost: 3 }, 'claim', false],
    ['atLeast on NaN is incomparable', Number.NaN, { atLeast: 1 }, 'claim', false],
  ] as const)('comparePosture: %s', (_name, value, test, source, expected) => {
    expect(comparePosture(value, test, source)).toBe(expected);
  });

  it('compareOrdered never throws on odd input', () => {
    for (const v of [undefined, null, {}, [], Symbol.for('x'), 1n, () => 1, '', ' ', '1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17']) {
      expect(() => compareOrdered(v, '1.0', 'claim')).not.toThrow();
      expect(() => compareOrdered(v, 1, 'header')).not.toThrow();
    }
  });
});

describe('effects', () => {
  const policy = policyOf(`
    - id: merge
      match: { prefix: /merge }
      require: { verification: [kyc, liveness], verificationMaxAge: 2h, onDeclined: retry }
      conditions:
        - { name: fresh-liveness, when: { cel: "true" }, then: { stepUp: liveness, maxAge: 15m } }
        - { name: lax-kyc, when: { cel: "true" }, then: { stepUp: kyc, maxAge: 3h } }
    - id: stepup-only
      match: { prefix: /stepup }
      conditions:
        - { name: ask, when: { device: { header: x-risky, equals: "1" } }, then: { stepUp: liveness } }
    - id: short-circuit
      match: { prefix: /short }
      conditions:
        - { name: trusted-net, when: { sourceIp: { in: [192.0.2.0/24] } }, then: allow }
        - { name: country-check, when: { country: { notIn: [ES] } }, then: deny }
        - { name: later, when: { cel: "true" }, then: { stepUp: liveness } }
    - id: public-conditions
      match: { prefix: /pub }
      public: true
      conditions:
        - { name: geo, when: { country: { in: [KP] } }, then: deny }
`);

  it('step-ups merge with the route needs: the stricter max age wins per workflow', () => {
    const outcome = policy.evaluate(ctx({ path: '/merge' }), USER, NOW);
    expect(outcome).toMatchObject({
      kind: 'verify',
      needs: [
        { workflow: 'kyc', maxAgeMs: 7_200_000, onInReview: 'deny', onDeclined: 'retry' },
        { workflow: 'liveness', maxAgeMs: 900_000, onInReview: 'deny', onDeclined: 'retry' },
      ],
    });
    expect(outcome.trace.at(-1)).toEqual({ step: 'verification', result: 'info', detail: 'needs kyc, liveness' });
  });

  it("a step-up without its own max age uses the workflow's", () => {
    const outcome = policy.evaluate(ctx({ path: '/stepup', headers: { 'x-risky': '1' } }), USER, NOW);
    expect(outcome).toMatchObject({ kind: 'verify', needs: [{ workflow: 'liveness', maxAgeMs: 86_400_000 }] });
    expect(policy.evaluate(ctx({ path: '/stepup' }), USER, NOW).kind).toBe('allow');
  });

  it('allow short-circuits the remaining conditions and traces them as skipped', () => {
    const outcome = policy.evaluate(ctx({ path: '/short', sourceAddress: '192.0.2.5' }), USER, NOW);
    expect(outcome.kind).toBe('allow');
    expect(steps(outcome).map((s) => [s.step, s.result])).toEqual([
      ['condition:trusted-net', 'pass'],
      ['condition:country-check', 'skip'],
      ['condition:later', 'skip'],
    ]);
    expect(steps(outcome).map((s) => s.detail)).toEqual([
      'source address in the `in` list: allow (remaining conditions skipped)',
      'skipped: condition trusted-net allowed',
      'skipped: condition trusted-net allowed',
    ]);
  });

  it('without the allow, later conditions run in order and the first deny stops', () => {
    const outcome = policy.evaluate(ctx({ path: '/short', sourceAddress: '198.51.100.5' }), USER, NOW);
    expect(outcome).toMatchObject({ kind: 'deny', code: 'country_denied' });
    expect(steps(outcome).map((s) => [s.step, s.result])).toEqual([
      ['condition:trusted-net', 'pass'],
      ['condition:country-check', 'fail'],
    ]);
  });

  it('conditions run after identity: an anonymous caller gets 401 before any condition', () => {
    const outcome = policy.evaluate(ctx({ path: '/short', sourceAddress: '198.51.100.5' }), ANON, NOW);
    expect(outcome).toMatchObject({ kind: 'deny', status: 401, code: 'token_missing' });
    expect(steps(outcome)).toEqual([]);
  });

  it('conditions apply to public routes too', () => {
    expect(policy.evaluate(ctx({ path: '/pub', headers: { 'x-geo-country': 'KP' } }), ANON, NOW)).toMatchObject({ kind: 'deny', code: 'country_denied' });
    expect(policy.evaluate(ctx({ path: '/pub', headers: { 'x-geo-country': 'ES' } }), ANON, NOW).kind).toBe('allow');
  });
});

describe('risk', () => {
  const policy = policyOf(`
    - id: banded
      match: { prefix: /banded }
      risk:
        - { atLeast: 40, then: { stepUp: liveness, maxAge: 15m } }
        - { atLeast: 70, then: deny }
        - { atLeast: 20, then: allow }
    - id: risk-condition
      match: { prefix: /riskcond }
      conditions:
        - { name: risky, when: { risk: { scoreAtLeast: 50 } }, then: { deny: risk_denied, message: "too risky" } }
    - id: risk-cel
      match: { prefix: /riskcel }
      conditions:
        - { name: new-device, when: { cel: '"new_device" in risk.signals' }, then: { stepUp: liveness } }
    - id: plain
      match: { prefix: /plain }
    - id: cel-no-risk
      match: { prefix: /celnorisk }
      conditions:
        - { name: m, when: { cel: 'request.method == "GET"' }, then: allow }
`);

  const assessment = (score: number, names: RiskAssessment['signals'][number]['name'][] = []): RiskAssessment => ({
    score,
    signals: names.map((name) => ({ name, weight: 10, detail: 'x' })),
  });

  it.each([
    ['score below every band', 10, 'allow', undefined],
    ['band 20 (allow)', 25, 'allow', undefined],
    ['band 40 steps up', 40, 'verify', undefined],
    ['band 70 denies: the highest matching band wins', 95, 'deny', 'risk_denied'],
  ] as const)('bands: %s', (_name, score, kind, code) => {
    const outcome = policy.evaluate(ctx({ path: '/banded' }), USER, NOW, assessment(score));
    expect(outcome.kind).toBe(kind);
    if (code !== undefined) expect(outcome).toMatchObject({ status: 403, code, message: 'this request was denied by the risk policy' });
  });

  it('bands are skipped without an assessment', () => {
    const outcome = policy.evaluate(ctx({ path: '/banded' }), USER, NOW);
    expect(outcome.kind).toBe('allow');
    expect(steps(outcome, 'risk')).toEqual([{ step: 'risk', result: 'skip', detail: 'no risk assessment for this request; risk bands skipped' }]);
  });

  it('an allow band traces its score and passes', () => {
    const outcome = policy.evaluate(ctx({ path: '/banded' }), USER, NOW, assessment(25));
    expect(steps(outcome, 'risk')).toEqual([{ step: 'risk', result: 'pass', detail: 'score 25 reaches band 20: allow' }]);
  });

  it('the band trace names the score and the signals', () => {
    const outcome = policy.evaluate(ctx({ path: '/banded' }), USER, NOW, assessment(45, ['new_device', 'velocity']));
    expect(steps(outcome, 'risk')[0]).toEqual({ step: 'risk', result: 'info', detail: 'score 45 (new_device, velocity) reaches band 40: step-up liveness (within 900s)' });
  });

  it.each([
    ['score at threshold denies', 50, 'deny'],
    ['score below passes', 49, 'allow'],
    ['no assessment skips the test', undefined, 'allow'],
  ] as const)('risk condition: %s', (_name, score, kind) => {
    const outcome = policy.evaluate(ctx({ path: '/riskcond' }), USER, NOW, score === undefined ? undefined : assessment(score));
    expect(outcome.kind).toBe(kind);
    if (kind === 'deny') expect(outcome).toMatchObject({ code: 'risk_denied', message: 'too risky' });
  });

  it('CEL sees risk.signals', () => {
    expect(policy.evaluate(ctx({ path: '/riskcel' }), USER, NOW, assessment(30, ['new_device'])).kind).toBe('verify');
    expect(policy.evaluate(ctx({ path: '/riskcel' }), USER, NOW, assessment(30, ['velocity'])).kind).toBe('allow');
  });

  it.each([
    ['/banded', true],
    ['/riskcond', true],
    ['/riskcel', true],
    ['/plain', false],
    ['/celnorisk', false],
    ['/nowhere', false],
  ] as const)('needsRisk(%s) = %s and matches the route flag', (path, expected) => {
    expect(policy.needsRisk(ctx({ path }))).toBe(expected);
    const route = policy.matchRoute(ctx({ path }))?.route;
    if (route !== undefined) expect(route.usesRisk).toBe(expected);
  });
});

describe('evaluate never throws', () => {
  const policy = policyOf(`
    - id: everything
      match: { prefix: / }
      conditions:
        - { name: net, when: { sourceIp: { in: [0.0.0.0/0, "::/0"] } }, then: { stepUp: liveness } }
        - { name: geo, when: { country: { notIn: [ES] } }, then: { stepUp: kyc } }
        - name: hours
          when: { time: { outside: { hours: "22:00-06:00", timeZone: Asia/Kathmandu } } }
          then: { stepUp: kyc }
        - { name: os, when: { device: { claim: os.v, atLeast: "1.2" } }, then: { stepUp: kyc } }
        - { name: hdr, when: { device: { header: x-d, oneOf: [a, 1, true] } }, then: { stepUp: kyc } }
        - { name: cel, when: { cel: 'has(claims.x) && claims.x.size() > 2 && request.headers["x-a"] == "b"' }, then: { stepUp: kyc } }
      risk: [{ atLeast: 1, then: { stepUp: liveness } }]
`);

  const oddClaims: Record<string, unknown>[] = [
    {},
    { os: null },
    { os: { v: [1, 2] } },
    { x: 5 },
    { x: { a: 1 } },
    { x: 'abc', os: { v: '0.0.0.0.0.0.1' } },
    { x: [null, {}, []] },
  ];
  const oddContexts: Partial<RequestContext>[] = [
    { sourceAddress: '' },
    { sourceAddress: '[::1]:80' },
    { sourceAddress: '::ffff:1.2.3.4', headers: { 'x-forwarded-for': ',,,, ,' } },
    { headers: { 'x-geo-country': '' } },
    { headers: { 'x-geo-country': '🇪🇸', 'x-a': 'b', 'x-d': 'TRUE' } },
    { headers: { 'x-a': 'x'.repeat(100_000) } },
    { receivedAt: Number.NaN },
  ];

  it.each(oddClaims.flatMap((claims) => oddContexts.map((c) => [JSON.stringify(claims).slice(0, 40), c, claims] as const)))(
    'claims %s',
    (_label, over, claims) => {
      for (const now of [NOW, 0, -1, Number.MAX_SAFE_INTEGER, Number.NaN]) {
        let outcome: Outcome | undefined;
        expect(() => {
          outcome = policy.evaluate(ctx(over), verified(claims), now, { score: 5, signals: [] });
        }).not.toThrow();
        expect(['allow', 'deny', 'verify']).toContain(outcome?.kind);
        // Odd input is a decision (allow, step-up, a condition deny, or a malformed trusted context
        // header refused), never an internal fault.
        if (outcome?.kind === 'deny') expect(['condition_denied', 'country_denied', 'device_denied']).toContain(outcome.code);
      }
    },
  );
});
