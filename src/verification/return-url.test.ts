import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../core/request-context.js';
import { isBrowserNavigation } from '../core/browser-navigation.js';
import { originalUrl, validateReturnUrl } from './return-url.js';

const base: RequestContext = {
  method: 'GET', scheme: 'https', host: 'shop.example.com', path: '/payments', rawPath: '/payments?x=1', query: 'x=1',
  headers: { accept: 'text/html,application/xhtml+xml' }, sourceAddress: '203.0.113.9', sourcePrincipal: '',
  contextExtensions: {}, metadata: {}, requestId: 'r1', protocol: 'HTTP/1.1', receivedAt: 0,
};

describe('originalUrl', () => {
  it('rebuilds the browser URL', () => {
    expect(originalUrl(base)).toBe('https://shop.example.com/payments?x=1');
    expect(originalUrl({ ...base, scheme: 'http', port: 8080 })).toBe('http://shop.example.com:8080/payments?x=1');
  });
  it('is undefined for API clients and odd hosts', () => {
    expect(originalUrl({ ...base, headers: { accept: 'application/json' } })).toBeUndefined();
    expect(originalUrl({ ...base, method: 'POST' })).toBeUndefined();
    expect(originalUrl({ ...base, host: 'evil.com/@x' })).toBeUndefined();
  });
  it('never produces a scheme-relative target', () => {
    expect(originalUrl({ ...base, rawPath: '//evil.com/x' })).toBe('https://shop.example.com/');
  });
  it('detects browser navigations', () => {
    expect(isBrowserNavigation(base)).toBe(true);
    expect(isBrowserNavigation({ ...base, headers: {} })).toBe(false);
  });
});

describe('validateReturnUrl (open-redirect guard)', () => {
  const baseUrl = 'https://idgate.example.com';
  it.each<[string, string | undefined, string[], boolean]>([
    ['same host', 'https://idgate.example.com/x', [], true],
    ['same site subdomain', 'https://shop.example.com/payments', [], true],
    ['parent domain itself', 'https://example.com/', [], true],
    ['other site', 'https://evil.com/', [], false],
    ['look-alike suffix', 'https://evilexample.com/', [], false],
    ['suffix trick', 'https://example.com.evil.com/', [], false],
    ['credentials in URL', 'https://user:pw@shop.example.com/', [], false],
    ['javascript scheme', 'javascript:alert(1)', [], false],
    ['data scheme', 'data:text/html,hi', [], false],
    ['relative', '/payments', [], false],
    ['scheme-relative', '//evil.com', [], false],
    ['undefined', undefined, [], false],
    ['allowlisted origin', 'https://partner.net/back', ['https://partner.net'], true],
    ['allowlist is origin-exact', 'http://partner.net/back', ['https://partner.net'], false],
    ['allowlist is origin-exact: port', 'https://partner.net:8443/back', ['https://partner.net'], false],
    ['explicit default port is the same origin', 'https://shop.example.com:443/x', [], true],
    // Same host (or site) but another origin: another service on that host, or a downgrade to cleartext.
    ['same host, other port', 'https://idgate.example.com:8443/x', [], false],
    ['same host, http', 'http://idgate.example.com/x', [], false],
    ['same site, other port', 'https://shop.example.com:8443/x', [], false],
    ['same site, http', 'http://shop.example.com/x', [], false],
    ['same site, http on 443', 'http://shop.example.com:443/x', [], false],
  ])('%s', (_name, candidate, allow, ok) => {
    const result = validateReturnUrl(candidate, baseUrl, allow);
    if (ok) expect(result).toBeDefined();
    else expect(result).toBeUndefined();
  });
  it('treats localhost bases as exact-origin only: another port needs an allowlist entry', () => {
    expect(validateReturnUrl('http://localhost:8080/x', 'http://localhost:8080', [])).toBe('http://localhost:8080/x');
    expect(validateReturnUrl('http://localhost:10000/x', 'http://localhost:8080', [])).toBeUndefined();
    expect(validateReturnUrl('http://localhost:10000/x', 'http://localhost:8080', ['http://localhost:10000'])).toBe('http://localhost:10000/x');
    expect(validateReturnUrl('http://127.0.0.2/x', 'http://127.0.0.1:8080', [])).toBeUndefined();
  });
});
