import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { contextHeadersOf, identityHeadersOf, loadExampleConfig } from './support/example-policy.js';

/**
 * examples/traefik/idgate-forwardauth.yaml, exactly as shipped, checked at schema level against Traefik's
 * dynamic-configuration keys (ForwardAuth and Headers middlewares, routers, services) and against the
 * example policy: every identity header it can set must be copied back (authResponseHeaders), like the
 * nginx file's auth_request_set list, and every context header must be cleared at the edge.
 */
const FILE = 'examples/traefik/idgate-forwardauth.yaml';
const doc = parse(readFileSync(FILE, 'utf8')) as { http: Record<string, Record<string, Record<string, unknown>>> };
const policy = loadExampleConfig();

// Traefik v3 ForwardAuth options (doc.traefik.io/traefik/middlewares/http/forwardauth/).
const FORWARD_AUTH_KEYS = new Set([
  'address', 'tls', 'trustForwardHeader', 'authResponseHeaders', 'authResponseHeadersRegex', 'authRequestHeaders',
  'addAuthCookiesToResponse', 'forwardBody', 'maxBodySize', 'headerField', 'preserveLocationHeader', 'preserveRequestMethod', 'maxResponseBodySize',
]);
const HTTP_KEYS = new Set(['routers', 'services', 'middlewares', 'serversTransports']);

describe('examples/traefik ForwardAuth', () => {
  const middlewares = doc.http.middlewares ?? {};
  const forwardAuth = (middlewares.idgate?.forwardAuth ?? {}) as Record<string, unknown>;

  it('uses only known Traefik keys, one kind per middleware', () => {
    for (const key of Object.keys(doc)) expect(key).toBe('http');
    for (const key of Object.keys(doc.http)) expect(HTTP_KEYS.has(key), key).toBe(true);
    for (const [name, mw] of Object.entries(middlewares)) expect(Object.keys(mw), name).toHaveLength(1);
    for (const key of Object.keys(forwardAuth)) expect(FORWARD_AUTH_KEYS.has(key), key).toBe(true);
  });

  it('asks idgate\'s HTTP mode, trusts no client X-Forwarded-*, sends no body and forwards every request header', () => {
    const address = new URL(String(forwardAuth.address));
    expect(address.protocol).toBe('http:');
    expect(Number(address.port)).toBe(policy.server.httpAuthz.port);
    expect(address.pathname).toBe(policy.server.httpAuthz.pathPrefix);
    expect(forwardAuth.trustForwardHeader).toBe(false);
    expect(forwardAuth.forwardBody ?? false).toBe(false); // Traefik's default: no body
    // authRequestHeaders would restrict what idgate sees: without it the token (Authorization, cookies) arrives.
    expect(forwardAuth.authRequestHeaders).toBeUndefined();
  });

  it('copies back every identity header the example policy can set, and nothing else', () => {
    const copied = (forwardAuth.authResponseHeaders as string[]).map((h) => h.toLowerCase()).sort();
    expect(copied).toEqual(identityHeadersOf(policy));
    expect(forwardAuth.authResponseHeadersRegex).toBeUndefined();
  });

  it('clears every trusted context header before idgate sees the request', () => {
    const custom = ((middlewares['idgate-context']?.headers ?? {}) as { customRequestHeaders?: Record<string, string> }).customRequestHeaders ?? {};
    expect(Object.keys(custom).map((h) => h.toLowerCase()).sort()).toEqual(contextHeadersOf(policy));
    for (const value of Object.values(custom)) expect(value).toBe('');
  });

  it('routes the app through the context clean-up first, then idgate, to a defined service', () => {
    const router = doc.http.routers?.app as { middlewares: string[]; service: string };
    expect(router.middlewares).toEqual(['idgate-context', 'idgate']);
    expect(doc.http.services?.[router.service]).toBeDefined();
  });
});
