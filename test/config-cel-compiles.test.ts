import { describe, expect, it } from 'vitest';
import { celCompileCount } from '../src/cel/compile-cel.js';
import { parseConfig } from '../src/config/parse-config.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import type { RequestContext } from '../src/core/request-context.js';

const HEAD = `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
didit: { mode: sandbox }
risk: { enabled: true }
policy:
  routes:
`;

/** A config whose routes hold `n` distinct CEL expressions (one reads `risk`, so the cross-check needs it). */
function configWith(n: number): string {
  const routes = Array.from({ length: n }, (_, i) => `    - id: r${i}
      match: { prefix: /r${i} }
      conditions:
        - { name: c${i}, when: { cel: '${i === 0 ? 'risk.score > 10' : `request.path.size() > ${i}`}' }, then: deny }
`);
  return HEAD + routes.join('');
}

const ctx = (path: string): RequestContext =>
  ({ method: 'GET', host: 'api.example.com', path, rawPath: path, query: '', headers: {}, contextExtensions: {}, sourceAddress: '' }) as unknown as RequestContext;

describe('CEL compiles per load', () => {
  it.each([1, 3, 7])('compiles each of %i expressions once across parsing, cross-checks and policy compilation', (n) => {
    const before = celCompileCount();
    const config = parseConfig(configWith(n), { sourceName: 't.yaml', env: {} });
    const policy = compilePolicy(config);
    expect(celCompileCount() - before).toBe(n);
    // The programs the loader recorded are the ones the policy runs: r0 reads risk.
    expect(policy.routes.map((r) => r.usesRisk)).toEqual(Array.from({ length: n }, (_, i) => i === 0));
    expect(policy.matchRoute(ctx('/r0'))?.route.config.id).toBe('r0');
  });

  it('a hand-built configuration without recorded programs is compiled by the policy compiler', () => {
    const config = parseConfig(configWith(2), { sourceName: 't.yaml', env: {} });
    const copy = JSON.parse(JSON.stringify(config)) as typeof config;
    const before = celCompileCount();
    const policy = compilePolicy(copy);
    expect(celCompileCount() - before).toBe(2);
    expect(policy.routes[0]?.usesRisk).toBe(true);
  });
});
