import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../core/request-context.js';
import { isBrowserNavigation, originalUrl, validateReturnUrl } from './return-url.js';

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
  ])('%s', (_name, candidate, allow, ok) => {
    const result = validateReturnUrl(candidate, baseUrl, allow);
    if (ok) expect(result).toBeDefined();
    else expect(result).toBeUndefined();
  });
  it('treats localhost bases as exact-host only', () => {
    expect(validateReturnUrl('http://localhost:10000/x', 'http://localhost:8080', [])).toBe('http://localhost:10000/x');
    expect(validateReturnUrl('http://127.0.0.2/x', 'http://127.0.0.1:8080', [])).toBeUndefined();
  });
});
