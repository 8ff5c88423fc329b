import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseConfig } from '../src/config/parse-config.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { testRequestContext } from '../src/core/test-request-context.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { runExplain } from '../src/app/run-explain.js';
import pino from 'pino';

/**
 * Workload identity (issue 14): the caller's SPIFFE ID (`RequestContext.sourcePrincipal`, Envoy's
 * `source.principal`) in route match, `principal` conditions and CEL's `request.principal`.
 */
const NOW = 1_700_000_000_000;
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const SHOP_WORKER = 'spiffe://cluster.local/ns/shop/sa/worker';
const SHOPX = 'spiffe://cluster.local/ns/shopx/sa/web';

const YAML = `issuers:
  - { name: corp, issuer: https://corp.example, audiences: [api], jwksUri: https://corp.example/jwks }
didit: { mode: sandbox }
policy:
  routes:
    - id: orders-web
      match: { prefix: /orders, principals: [${WEB}] }
      public: true
    - id: orders-shop
      match: { prefix: /orders, principals: ["spiffe://cluster.local/ns/shop/*"] }
      deny: true
    - id: admin
      match: { prefix: /admin }
      public: true
      conditions:
        - name: shop-only
          when: { principal: { notIn: ["spiffe://cluster.local/ns/shop/*"] } }
          then: deny
    - id: reports
      match: { prefix: /reports }
      public: true
      conditions:
        - name: web-skips-rest
          when: { principal: { in: [${WEB}] } }
          then: allow
        - name: others-deny
          when: { cel: "true" }
          then: { deny: route_denied, message: only the web workload }
    - id: cel
      match: { prefix: /cel }
      public: true
      conditions:
        - name: not-web
          when: { cel: "request.principal != '${WEB}'" }
          then: deny
`;

const config = parseConfig(YAML, { sourceName: 't.yaml', env: {} });
const policy = compilePolicy(config);
const anonymous: AuthResult = { kind: 'anonymous' };
const decide = (path: string, sourcePrincipal: string) => policy.evaluate(testRequestContext({ path, rawPath: path, sourcePrincipal }), anonymous, NOW);

describe('match.principals', () => {
  it('selects a route only for a listed workload, then a prefix entry by whole segments', () => {
    expect(policy.matchRoute(testRequestContext({ path: '/orders', sourcePrincipal: WEB }))?.route.config.id).toBe('orders-web');
    expect(policy.matchRoute(testRequestContext({ path: '/orders', sourcePrincipal: SHOP_WORKER }))?.route.config.id).toBe('orders-shop');
    expect(policy.matchRoute(testRequestContext({ path: '/orders', sourcePrincipal: SHOPX }))).toBeUndefined();
    expect(policy.matchRoute(testRequestContext({ path: '/orders', sourcePrincipal: '' }))).toBeUndefined();
  });

  it('allows the listed workload and denies others with no route (fail closed)', () => {
    const allowed = decide('/orders', WEB);
    expect(allowed).toMatchObject({ kind: 'allow' });
    expect(allowed.trace[0]).toEqual({ step: 'route', result: 'info', detail: 'route orders-web (public) selected by host/path/method/principal' });
    expect(decide('/orders', SHOPX)).toMatchObject({ kind: 'deny', status: 403, code: 'no_route' });
    expect(decide('/orders', '')).toMatchObject({ kind: 'deny', status: 403, code: 'no_route' });
  });

  it('keeps the parsed list on the route (deduplicated)', () => {
    const c = parseConfig(YAML.replace(`principals: [${WEB}]`, `principals: [${WEB}, ${WEB}]`), { sourceName: 't.yaml', env: {} });
    expect(c.policy.routes[0]?.match.principals).toEqual([WEB]);
    expect(c.policy.routes[2]?.match.principals).toBeUndefined();
  });
});

describe('principal conditions', () => {
  it('notIn with a prefix: the namespace passes, a look-alike namespace and no principal are denied', () => {
    expect(decide('/admin', WEB)).toMatchObject({ kind: 'allow' });
    expect(decide('/admin', SHOP_WORKER)).toMatchObject({ kind: 'allow' });
    const denied = decide('/admin', SHOPX);
    expect(denied).toMatchObject({ kind: 'deny', status: 403, code: 'condition_denied' });
    expect(denied.trace.at(-1)).toEqual({ step: 'condition:shop-only', result: 'fail', detail: 'workload principal not in the `notIn` list: deny condition_denied' });
    expect(decide('/admin', '').trace.at(-1)).toEqual({ step: 'condition:shop-only', result: 'fail', detail: 'workload principal unknown not in the `notIn` list: deny condition_denied' });
  });

  it('in + allow skips the remaining conditions; others reach the deny', () => {
    const allowed = decide('/reports', WEB);
    expect(allowed.kind).toBe('allow');
    expect(allowed.trace.map((s) => s.step)).toContain('condition:others-deny');
    expect(allowed.trace.find((s) => s.step === 'condition:others-deny')?.result).toBe('skip');
    expect(decide('/reports', SHOP_WORKER)).toMatchObject({ kind: 'deny', code: 'route_denied', message: 'only the web workload' });
    expect(decide('/reports', '')).toMatchObject({ kind: 'deny', code: 'route_denied' });
  });

  it('never puts the principal into the trace', () => {
    for (const path of ['/admin', '/reports', '/cel', '/orders']) {
      expect(JSON.stringify(decide(path, SHOPX).trace)).not.toContain('shopx');
    }
  });
});

describe('request.principal in CEL', () => {
  it('is the caller workload, or empty when none', () => {
    expect(decide('/cel', WEB).kind).toBe('allow');
    expect(decide('/cel', SHOP_WORKER)).toMatchObject({ kind: 'deny', code: 'condition_denied' });
    expect(decide('/cel', '')).toMatchObject({ kind: 'deny', code: 'condition_denied' });
  });

  it('is typed as a string by the load-time probe', () => {
    const bad = YAML.replace(`request.principal != '${WEB}'`, 'request.principal > 1');
    expect(() => parseConfig(bad, { sourceName: 't.yaml', env: {} })).toThrow(/CEL type error/);
    const typo = YAML.replace(`request.principal != '${WEB}'`, `request.principals == ''`);
    expect(() => parseConfig(typo, { sourceName: 't.yaml', env: {} })).toThrow(/request has no field "principals".*did you mean "principal"/);
  });
});

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, { sourceName: 't.yaml', env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('load errors name file:line:col and the rule', () => {
  it.each([
    ['a route principal with upper case in the trust domain', `principals: [${WEB}]`, 'principals: [spiffe://Cluster.local/ns/a]', 'policy.routes[0].match.principals[0]', /trust domain may hold only lower-case/],
    ['a route principal with a ".." segment', `principals: [${WEB}]`, 'principals: [spiffe://cluster.local/ns/../a]', 'policy.routes[0].match.principals[0]', /"\." or "\.\." segment/],
    ['a route principal with a mid-path "*"', `principals: [${WEB}]`, `principals: [${WEB}, "spiffe://cluster.local/*/sa/web"]`, 'policy.routes[0].match.principals[1]', /"\*" is allowed only as the whole last segment/],
    ['an empty principals list', `principals: [${WEB}]`, 'principals: []', 'policy.routes[0].match.principals', /list at least one SPIFFE ID/],
    ['a condition entry with a query', `notIn: ["spiffe://cluster.local/ns/shop/*"]`, 'notIn: ["spiffe://cluster.local/ns/shop?x=1"]', 'policy.routes[2].conditions[0].when.principal.notIn[0]', /no query or fragment/],
    ['a condition entry that is not spiffe', `in: [${WEB}]`, 'in: [https://cluster.local/ns/shop]', 'policy.routes[3].conditions[0].when.principal.in[0]', /must start with "spiffe:\/\/"/],
  ])('%s', (_name, from, to, path, message) => {
    const text = YAML.replace(from, to);
    const line = text.split('\n').findIndex((l) => l.includes(to)) + 1;
    const issue = errorOf(text).issues.find((i) => i.path === path);
    expect(issue?.message).toMatch(message);
    expect(issue?.line).toBe(line);
    expect(issue?.column).toBeGreaterThan(1);
    expect(errorOf(text).format()).toContain(`t.yaml:${line}:${issue?.column} ${path}: `);
  });
});

describe('idgate explain', () => {
  it('reads sourcePrincipal from the request file', async () => {
    const logger = pino({ level: 'silent' });
    const web = await runExplain({ logger }, config, { request: { path: '/orders', sourcePrincipal: WEB } });
    expect(web.exitCode).toBe(0);
    expect(web.text).toContain('orders-web');
    const other = await runExplain({ logger }, config, { request: { path: '/orders', sourcePrincipal: SHOPX } });
    expect(other.exitCode).toBe(4);
    expect(await runExplain({ logger }, config, { request: { path: '/orders' } })).toMatchObject({ exitCode: 4 });
  });
});
