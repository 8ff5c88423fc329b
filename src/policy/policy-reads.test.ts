import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/parse-config.js';
import { policyReads } from './policy-reads.js';

const read = (policy: string, extra = '') =>
  policyReads(
    parseConfig(
      `
issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks, sources: [{ type: header, name: x-token }] }
${extra}policy:
  roleClaims: [realm_access.roles]
${policy.replace(/^\n/, '')}`,
      { sourceName: 't.yaml', env: {} },
    ),
  );

describe('policyReads', () => {
  it('a plain policy reads only the method-override headers and its role claims', () => {
    expect(read('  routes: [{ id: a, match: { prefix: /a }, public: true }]\n')).toEqual({
      headers: ['x-http-method', 'x-http-method-override', 'x-method-override'],
      claims: ['realm_access.roles'],
      query: false,
      dynamic: [],
    });
  });

  it('collects what requirements, claim headers, context, device and CEL conditions reference', () => {
    const reads = read(
      `  sensitivity:
    high: { maxTokenAge: 1h }
  routes:
    - id: pay
      match: { prefix: /pay }
      sensitivity: high
      require: { scopes: [pay], mfa: { amr: [otp] }, claims: { org.id: { present: true } } }
      claimHeaders: { x-idgate-tier: tier }
      conditions:
        - { name: laptop, when: { device: { header: X-Managed, equals: "true" } }, then: allow }
        - { name: patched, when: { device: { claim: os_version, atLeast: "14" } }, then: deny }
        - { name: cel, when: { cel: "claims.dept == 'x' && claims['cost-center'] != '' && request.headers['x-trust'] == '1' && request.query != ''" }, then: deny }
        - { name: any-claim, when: { cel: "claims.exists(k, k == 'beta')" }, then: deny }
`,
      'context: { countryHeader: x-geo-country, deviceHeaders: [x-device-id] }\nnetwork: { trustedProxies: [10.0.0.0/8] }\n',
    );
    expect(reads.headers).toEqual(['x-device-id', 'x-forwarded-for', 'x-geo-country', 'x-http-method', 'x-http-method-override', 'x-managed', 'x-method-override', 'x-trust']);
    expect(reads.claims).toEqual(['amr', 'auth_time', 'cost-center', 'dept', 'org.id', 'os_version', 'realm_access.roles', 'scope', 'scp', 'tier']);
    expect(reads.query).toBe(true);
    expect(reads.dynamic).toEqual(['pay condition any-claim: claims read by a computed key']);
  });

  it('never lists a credential header, even one a CEL condition names', () => {
    const reads = read(`  routes:
    - id: a
      match: { prefix: /a }
      require: { scopes: [a] }
      conditions: [{ name: c, when: { cel: "request.headers['x-token'] == '' && request.headers['cookie'] == ''" }, then: deny }]
`);
    expect(reads.headers).not.toContain('x-token');
    expect(reads.headers).not.toContain('cookie');
  });
});
