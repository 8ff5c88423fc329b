import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../core/request-context.js';
import { effectiveMethod } from './method-override.js';

function ctx(method: string, headers: Record<string, string> = {}, query = ''): RequestContext {
  return {
    method,
    scheme: 'https',
    host: 'app.example.com',
    path: '/orders',
    rawPath: `/orders${query === '' ? '' : `?${query}`}`,
    query,
    headers,
    sourceAddress: '',
    sourcePrincipal: '',
    contextExtensions: {},
    metadata: {},
    requestId: '',
    protocol: 'HTTP/1.1',
    receivedAt: 0,
  };
}

describe('effectiveMethod', () => {
  it.each([
    ['no override', ctx('POST'), 'deny', 'POST'],
    ['no override, honour', ctx('POST'), 'honor', 'POST'],
    ['override equal to the method (any case)', ctx('POST', { 'x-http-method-override': ' post ' }), 'deny', 'POST'],
    ['empty override ignored', ctx('POST', { 'x-http-method': '' }), 'deny', 'POST'],
    ['honoured header', ctx('POST', { 'x-method-override': 'delete' }), 'honor', 'DELETE'],
    ['honoured query', ctx('POST', {}, 'a=1&_method=PATCH'), 'honor', 'PATCH'],
    ['honoured, all agree', ctx('POST', { 'x-http-method-override': 'DELETE', 'x-http-method': 'delete' }, '_method=Delete'), 'honor', 'DELETE'],
    ['an unrelated parameter', ctx('POST', {}, 'method=DELETE&x_method=PUT'), 'deny', 'POST'],
  ] as const)('%s', (_name, c, mode, expected) => {
    expect(effectiveMethod(c, mode)).toEqual({ ok: true, method: expected });
  });

  it.each([
    ['X-HTTP-Method-Override', ctx('POST', { 'x-http-method-override': 'DELETE' }), 'deny'],
    ['X-HTTP-Method', ctx('GET', { 'x-http-method': 'PUT' }), 'deny'],
    ['X-Method-Override', ctx('POST', { 'x-method-override': 'DELETE' }), 'deny'],
    ['a repeated header with one differing value', ctx('POST', { 'x-http-method-override': 'POST,DELETE' }), 'deny'],
    ['_method', ctx('POST', {}, '_method=DELETE'), 'deny'],
    ['_method with + and spaces', ctx('POST', {}, '_method=+DELETE+'), 'deny'],
    ['percent-encoded name', ctx('POST', {}, '%5f%6Dethod=DELETE'), 'deny'],
    ['upper-case name', ctx('POST', {}, '_METHOD=DELETE'), 'deny'],
    ['semicolon separator', ctx('POST', {}, 'a=1;_method=DELETE'), 'deny'],
    ['undecodable value', ctx('POST', {}, '_method=%E0%A4%A'), 'deny'],
    ['honoured, but disagreeing', ctx('POST', { 'x-http-method-override': 'DELETE' }, '_method=GET'), 'honor'],
    ['honoured, but not a method', ctx('POST', { 'x-http-method-override': 'DE LETE' }), 'honor'],
    ['honoured, but undecodable', ctx('POST', {}, '_method=%zz'), 'honor'],
  ] as const)('refuses %s', (_name, c, mode) => {
    expect(effectiveMethod(c, mode)).toMatchObject({ ok: false });
  });
});

describe('effectiveMethod: the no-override fast path', () => {
  it('answers the request method when nothing can ask for another, and still finds every spelling that can', () => {
    for (const mode of ['deny', 'honor'] as const) {
      for (const query of ['', 'page=2', 'a=b&c=d']) expect(effectiveMethod(ctx('GET', {}, query), mode)).toEqual({ ok: true, method: 'GET' });
      expect(effectiveMethod(ctx('GET', { 'x-http-method': '' }), mode)).toEqual({ ok: true, method: 'GET' });
    }
    expect(effectiveMethod(ctx('POST', {}, '_METHOD=delete'), 'honor')).toEqual({ ok: true, method: 'DELETE' });
    expect(effectiveMethod(ctx('POST', {}, '%5Fmethod=PUT'), 'honor')).toEqual({ ok: true, method: 'PUT' });
    expect(effectiveMethod(ctx('POST', { 'x-method-override': 'PATCH' }), 'honor')).toEqual({ ok: true, method: 'PATCH' });
    expect(effectiveMethod(ctx('POST', { 'x-http-method-override': 'PATCH' }), 'deny').ok).toBe(false);
  });
});
