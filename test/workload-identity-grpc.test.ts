import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequest, isAllow, problemOf } from './support/check-requests.js';
import { testConfigYaml } from './support/config-yaml.js';
import { createEnvoyClient, type EnvoyClient } from './support/envoy-client.js';
import { startIdgate, type IdgateProcess } from './support/idgate-process.js';
import { startJwksServer, type JwksServer } from './support/jwks-server.js';
import { createTestKey, jwksOf } from './support/tokens.js';

/**
 * Workload identity end to end: a real `idgate serve` answers gRPC Checks whose `source.principal` (what
 * Envoy reports for an Istio mTLS peer) selects a route, passes or fails a `principal` condition, and is
 * named in the decision log by route and condition — never by its value.
 */
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const OTHER = 'spiffe://cluster.local/ns/billing/sa/batch';

const ROUTES = `    - id: mesh-orders
      match: { prefix: /mesh/orders, principals: [${WEB}] }
      public: true
    - id: mesh-admin
      match: { prefix: /mesh/admin }
      public: true
      conditions:
        - name: shop-only
          when: { principal: { notIn: ["spiffe://cluster.local/ns/shop/*"] } }
          then: deny
    - id: mesh-cel
      match: { prefix: /mesh/cel }
      public: true
      conditions:
        - name: web-by-cel
          when: { cel: 'request.principal != "${WEB}"' }
          then: deny
`;

/**
 * Every header a client (or a proxy that passes them on) could use to claim a workload identity: Envoy's
 * XFCC in both the `By`/`URI` and `Subject` forms, ad-hoc SPIFFE headers, and names that look like
 * Envoy's own attributes. None may set the principal: only the CheckRequest's `source.principal` does.
 */
const FORGED: Readonly<Record<string, string>> = {
  'x-forwarded-client-cert': `By=${WEB};Hash=abc;Subject="CN=web";URI=${WEB}`,
  'x-spiffe-id': WEB,
  'x-client-principal': WEB,
  'x-envoy-peer-principal': WEB,
  'x-source-principal': WEB,
  'x-istio-attributes': WEB,
  'ssl-client-subject-dn': `URI=${WEB}`,
  principal: WEB,
};


/** The servers of this suite, closed in reverse order of start. */
let suite: { readonly jwks: JwksServer; readonly idgate: IdgateProcess; readonly client: EnvoyClient } | undefined;

beforeAll(async () => {
  const jwks = await startJwksServer({ keys: jwksOf(await createTestKey('ES256', 'wl-es')) });
  const configYaml = testConfigYaml({ issuer: jwks.url, jwksUri: jwks.jwksUrl, extraRoutes: ROUTES, allowSampleRate: 1 });
  const idgate = await startIdgate({ configYaml });
  suite = { jwks, idgate, client: createEnvoyClient(`127.0.0.1:${idgate.ports.grpc}`) };
}, 30_000);

afterAll(async () => {
  if (suite === undefined) return;
  suite.client.close();
  await suite.idgate.stop();
  await suite.jwks.close();
});

function started(): NonNullable<typeof suite> {
  if (suite === undefined) throw new Error('the suite did not start');
  return suite;
}

const check = (path: string, sourcePrincipal?: string, headers?: Readonly<Record<string, string>>) =>
  started().client.check(checkRequest({ path, ...(sourcePrincipal !== undefined ? { sourcePrincipal } : {}), ...(headers ? { headers } : {}) }));

const decisionLine = (path: string, outcome: string) =>
  started().idgate.waitForLog((l) => l.msg === 'decision' && l.path === path && l.outcome === outcome);

describe('source.principal over gRPC', () => {
  it('match.principals: the listed workload is allowed, another and none find no route', async () => {
    expect(isAllow(await check('/mesh/orders', WEB))).toBe(true);
    expect(await decisionLine('/mesh/orders', 'allow')).toMatchObject({ routeId: 'mesh-orders' });

    const other = await check('/mesh/orders/1', OTHER);
    expect(isAllow(other)).toBe(false);
    expect(problemOf(other).code).toBe('no_route');
    expect(problemOf(await check('/mesh/orders/2')).code).toBe('no_route');
  });

  it('a principal condition denies another workload, and the decision log names the rule', async () => {
    expect(isAllow(await check('/mesh/admin/ok', WEB))).toBe(true);

    const denied = await check('/mesh/admin/users', OTHER);
    expect(isAllow(denied)).toBe(false);
    expect(problemOf(denied).code).toBe('condition_denied');
    const line = await decisionLine('/mesh/admin/users', 'deny');
    expect(line).toMatchObject({ routeId: 'mesh-admin', code: 'condition_denied', status: 403 });
    expect(line.trace).toContainEqual(expect.objectContaining({ step: 'condition:shop-only', result: 'fail' }));
    expect(JSON.stringify(line)).not.toContain('billing');
  });
});

describe('principal forgery (security review): no header sets the caller workload', () => {
  const paths = ['/mesh/orders', '/mesh/admin/x', '/mesh/cel'];

  it('gRPC: forged identity headers without source.principal match no principals, no principal condition, no CEL', async () => {
    // Control: the genuine source.principal passes all three.
    for (const path of paths) expect(isAllow(await check(path, WEB)), path).toBe(true);
    expect(problemOf(await check('/mesh/orders', undefined, FORGED)).code).toBe('no_route');
    expect(problemOf(await check('/mesh/admin/x', undefined, FORGED)).code).toBe('condition_denied');
    expect(problemOf(await check('/mesh/cel', undefined, FORGED)).code).toBe('condition_denied');
  });

  it('gRPC: forged headers naming the allowed workload do not override another source.principal', async () => {
    expect(problemOf(await check('/mesh/orders', OTHER, FORGED)).code).toBe('no_route');
    expect(problemOf(await check('/mesh/admin/x', OTHER, FORGED)).code).toBe('condition_denied');
    expect(problemOf(await check('/mesh/cel', OTHER, FORGED)).code).toBe('condition_denied');
  });

  it('HTTP authz mode has no workload principal at all, whatever the headers (XFCC included)', async () => {
    const codes: Record<string, unknown> = {};
    for (const path of paths) {
      const res = await fetch(`http://127.0.0.1:${started().idgate.ports.http}/check${path}`, {
        headers: { ...FORGED, accept: 'application/json' },
        signal: AbortSignal.timeout(5_000),
      });
      codes[path] = res.status === 200 ? 'allow' : ((await res.json()) as { code?: unknown }).code;
    }
    expect(codes).toEqual({ '/mesh/orders': 'no_route', '/mesh/admin/x': 'condition_denied', '/mesh/cel': 'condition_denied' });
  });
});
