import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import { diffPolicies, type PolicyChange } from './diff-policies.js';

// One issuer pair and two workflows, flow style: enough for every requirement kind below.
const HEAD = [
  'issuers: [{ name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks },',
  '          { name: partner, issuer: https://partner.example, audiences: [api], jwksUri: https://partner.example/jwks }]',
  'workflows: { kyc: { workflowId: wf-kyc, maxAge: 30d }, age: { workflowId: wf-age, minAge: 18 } }',
  'didit: { mode: sandbox }',
  'context: { countryHeader: x-geo-country }',
  '',
].join('\n');

function config(policy: string) {
  return parseConfig(`${HEAD}policy:\n${policy.replace(/^\n/, '').replace(/^/gm, '  ')}`, { sourceName: 'test.yaml', env: {} });
}

/** The changes as `direction scope kind` strings, the shape the assertions read. */
function diff(from: string, to: string): string[] {
  return diffPolicies(config(from), config(to)).map((c: PolicyChange) => `${c.direction} ${c.scope} ${c.kind}`);
}

const ROUTE = (require: string, extra = '') => `
routes:
  - id: pay
    match: { prefix: /pay }
    require: ${require}
${extra}`;

describe('diffPolicies', () => {
  it('reports nothing for the same policy', () => {
    expect(diff(ROUTE('{ scopes: [pay] }'), ROUTE('{ scopes: [pay] }'))).toEqual([]);
  });

  // One per line: from require | to require | the one change expected.
  const REQUIREMENT_CASES = `
{ scopes: [pay] } | { scopes: [pay, refund] } | stricter route pay scopes
{ scopes: [pay, refund] } | { scopes: [pay] } | looser route pay scopes
{ roles: [admin] } | { roles: [admin, staff] } | looser route pay anyRoles
{ roles: [admin, staff] } | { roles: [admin] } | stricter route pay anyRoles
{ scopes: [a] } | { scopes: [a], roles: [admin] } | stricter route pay anyRoles
{ issuers: [corp, partner] } | { issuers: [corp] } | stricter route pay issuers
{ issuers: [corp] } | { issuers: [corp, partner] } | looser route pay issuers
{ issuers: [corp] } | { scopes: [] } | looser route pay issuers
{ issuers: [corp] } | { issuers: [partner] } | looser route pay issuers
{ maxTokenAge: 1h } | { maxTokenAge: 5m } | stricter route pay maxTokenAge
{ maxTokenAge: 5m } | { maxTokenAge: 1h } | looser route pay maxTokenAge
{ maxTokenAge: 5m } | { scopes: [] } | looser route pay maxTokenAge
{ verification: [kyc] } | { verification: [kyc], verificationMaxAge: 1d } | stricter route pay verification kyc max age
{ verification: [kyc] } | { verification: [kyc, age] } | stricter route pay verification
{ verification: [kyc] } | { scopes: [] } | looser route pay verification
{ scopes: [] } | { mfa: { amr: [otp] } } | stricter route pay mfa.amr
{ claims: { tier: { oneOf: [gold, silver] } } } | { claims: { tier: gold } } | stricter route pay claims
{ claims: { tier: gold } } | { claims: { tier: { oneOf: [gold, silver] } } } | looser route pay claims
{ claims: { tier: gold } } | { scopes: [] } | looser route pay claims
{ verification: [kyc] } | { verification: [kyc], onInReview: allow } | looser route pay onInReview
`.trim().split('\n').map((line) => line.split(' | ') as [string, string, string]);

  it.each(REQUIREMENT_CASES)('require %s → %s: %s', (from, to, expected) => {
    expect(diff(ROUTE(from), ROUTE(to))).toEqual([expected]);
  });

  it('action: public < require < deny; route added and removed by what they do', () => {
    expect(diff(ROUTE('{ scopes: [pay] }'), `
routes:
  - { id: pay, match: { prefix: /pay }, public: true }`)).toEqual(['looser route pay action']);
    expect(diff(ROUTE('{ scopes: [pay] }'), `
routes:
  - { id: pay, match: { prefix: /pay }, deny: true }`)).toEqual(['stricter route pay action']);
    const base = ROUTE('{ scopes: [pay] }');
    expect(diff(base, `${base}  - { id: open, match: { prefix: /open }, public: true }\n`)).toEqual(['looser route open route']);
    expect(diff(base, `${base}  - { id: shut, match: { prefix: /shut }, deny: true }\n`)).toEqual(['stricter route shut route']);
    expect(diff(`${base}  - { id: shut, match: { prefix: /shut }, deny: true }\n`, base)).toEqual(['looser route shut route']);
  });

  it('matches widened or narrowed, best-effort by action', () => {
    const pub = (m: string) => `
routes:
  - { id: open, match: ${m}, public: true }`;
    expect(diff(pub('{ prefix: /a }'), pub('{ paths: [{ prefix: /a }, { prefix: /b }] }'))).toEqual(['looser route open match.paths']);
    expect(diff(pub('{ prefix: /a, methods: [GET] }'), pub('{ prefix: /a }'))).toEqual(['looser route open match.methods']);
    expect(diff(pub('{ host: a.example }'), pub('{ hosts: [a.example, b.example] }'))).toEqual(['looser route open match.hosts']);
    const deny = (m: string) => `
routes:
  - { id: shut, match: ${m}, deny: true }`;
    expect(diff(deny('{ prefix: /a }'), deny('{ paths: [{ prefix: /a }, { prefix: /b }] }'))).toEqual(['stricter route shut match.paths']);
    expect(diff(ROUTE('{ scopes: [a] }').replace('{ prefix: /pay }', '{ prefix: /p }'), ROUTE('{ scopes: [a] }'))).toEqual(['changed route pay match.paths']);
  });

  it('conditions: a deny added is stricter, removed looser; an allow the other way round; policy-wide switches', () => {
    const cond = (then: string) => ROUTE('{ scopes: [a] }', `    conditions:\n      - { name: geo, when: { country: { in: [KP] } }, then: ${then} }`);
    expect(diff(ROUTE('{ scopes: [a] }'), cond('deny'))).toEqual(['stricter route pay condition']);
    expect(diff(cond('deny'), ROUTE('{ scopes: [a] }'))).toEqual(['looser route pay condition']);
    expect(diff(ROUTE('{ scopes: [a] }'), cond('allow'))).toEqual(['looser route pay condition']);
    expect(diff(cond('deny'), cond('{ stepUp: kyc }'))).toEqual(['changed route pay condition']);
    expect(diff(`default: deny\n${ROUTE('{ scopes: [a] }')}`, `default: allow\n${ROUTE('{ scopes: [a] }')}`)).toEqual(['looser policy default']);
    expect(diff(ROUTE('{ scopes: [a] }'), `shadow: true\n${ROUTE('{ scopes: [a] }')}`)).toEqual(['looser policy shadow']);
  });

  it('a sensitivity level change reaches every route of that level', () => {
    const level = (req: string) => `sensitivity:\n  high: ${req}\nroutes:\n  - { id: pay, match: { prefix: /pay }, sensitivity: high, require: { scopes: [a] } }\n`;
    expect(diff(level('{ roles: [staff] }'), level('{ roles: [staff], mfa: true }'))).toEqual(expect.arrayContaining(['stricter route pay mfa.amr']));
    expect(diff(level('{ roles: [staff], mfa: true }'), level('{ roles: [staff] }'))).toEqual(expect.arrayContaining(['looser route pay mfa.amr']));
  });

  it('compares tenant routes by their qualified ids and reports ownership changes (layers from the org-wide loader)', () => {
    const base = config(ROUTE('{ scopes: [a] }'));
    const route = base.policy.routes[0];
    if (route === undefined) throw new Error('no route');
    const withTenant = (prefixes: readonly string[], scopes: readonly string[]) => ({
      ...base,
      policy: {
        ...base.policy,
        tenants: [{ name: 'payments', owns: { hosts: ['pay.example.com'], prefixes }, files: [], status: 'ok' as const, revision: '0123456789ab', routes: [{ ...route, id: 'payments/refunds', require: { ...route.require, scopes } }] }],
      },
    });
    const changes = diffPolicies(withTenant(['/'], ['a']), withTenant(['/refunds'], ['a', 'b'])).map((c) => `${c.direction} ${c.scope} ${c.kind}`);
    expect(changes).toEqual(['changed tenant payments owns', 'stricter tenant route payments/refunds scopes']);
    expect(diffPolicies(base, withTenant(['/'], ['a'])).map((c) => `${c.direction} ${c.scope} ${c.kind}`)).toEqual([
      'changed tenant payments tenant',
      'changed tenant route payments/refunds route',
    ]);
  });
});
