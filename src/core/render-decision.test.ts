import { describe, expect, it } from 'vitest';
import type { Decision, DenyDecision } from './decision.js';
import { compileRenderOptions, renderDecision, type RenderedVerdict } from './render-decision.js';
import type { RequestContext } from './request-context.js';
import { testRequestContext } from './test-request-context.js';
import { originalUrl } from '../verification/return-url.js';

const context = testRequestContext;

const options = compileRenderOptions();

function denied(verdict: RenderedVerdict): Extract<RenderedVerdict, { allow: false }> {
  if (verdict.allow) throw new Error('expected a deny');
  return verdict;
}

function header(verdict: RenderedVerdict, name: string): string | undefined {
  const list = verdict.allow ? verdict.upstreamHeaders : verdict.headers;
  return list.find(([n]) => n === name)?.[1];
}

function deny(overrides: Partial<DenyDecision>): DenyDecision {
  return { kind: 'deny', status: 403, code: 'route_denied', message: 'denied', ...overrides };
}

describe('renderDecision: allow', () => {
  it('sets the decision headers and removes forged identity headers', () => {
    const verdict = renderDecision(
      {
        kind: 'allow',
        headers: { 'x-idgate-subject': 'corp:alice', 'x-idgate-issuer': 'corp', 'x-team': 'blue' },
        metadata: { subject: 'corp:alice', verified: 'kyc' },
        routeId: 'api',
      },
      context({
        headers: {
          'x-idgate-subject': 'corp:mallory',
          'x-idgate-verified': 'kyc,age',
          'x-idgate-custom': 'forged',
          authorization: 'Bearer t',
          accept: '*/*',
        },
      }),
      options,
    );
    expect(verdict.allow).toBe(true);
    if (!verdict.allow) return;
    expect(verdict.upstreamHeaders).toEqual([
      ['x-idgate-subject', 'corp:alice'],
      ['x-idgate-issuer', 'corp'],
      ['x-team', 'blue'],
    ]);
    expect(verdict.removeHeaders).toContain('x-idgate-verified');
    expect(verdict.removeHeaders).toContain('x-idgate-custom');
    expect(verdict.removeHeaders).not.toContain('x-idgate-subject');
    expect(verdict.removeHeaders).not.toContain('x-idgate-issuer');
    expect(verdict.removeHeaders).not.toContain('authorization');
    expect(new Set(verdict.removeHeaders).size).toBe(verdict.removeHeaders.length);
    expect(verdict.metadata).toEqual({ decision: 'allow', route_id: 'api', subject: 'corp:alice', verified: 'kyc' });
  });

  it('lists well-known identity headers for removal even when the proxy did not show them', () => {
    const verdict = renderDecision({ kind: 'allow', headers: {}, metadata: {} }, context(), options);
    if (!verdict.allow) throw new Error('expected allow');
    expect(verdict.removeHeaders).toEqual(
      expect.arrayContaining(['x-idgate-subject', 'x-idgate-issuer', 'x-idgate-verified']),
    );
  });

  it('honours a custom prefix, strip names and removeAuthorization', () => {
    const compiled = compileRenderOptions({
      identityHeaderPrefix: 'x-id-',
      stripHeaders: ['x-user', 'x-email'],
      removeAuthorization: true,
    });
    const verdict = renderDecision(
      { kind: 'allow', headers: { 'x-email': 'a@example.com' }, metadata: {} },
      context({ headers: { 'x-id-role': 'admin', 'x-idgate-subject': 'x', authorization: 'Bearer t' } }),
      compiled,
    );
    if (!verdict.allow) throw new Error('expected allow');
    expect(verdict.removeHeaders).toEqual(
      expect.arrayContaining(['x-id-role', 'x-user', 'authorization', 'x-id-subject']),
    );
    // Being set by us wins over the strip list; the default prefix is no longer special.
    expect(verdict.removeHeaders).not.toContain('x-email');
    expect(verdict.removeHeaders).not.toContain('x-idgate-subject');
  });

  it('removes every underscore spelling of an identity header the client sent (regression: issue 11)', () => {
    // WSGI/CGI/Rack read x-idgate_roles and x_idgate_roles as HTTP_X_IDGATE_ROLES, the real header.
    const compiled = compileRenderOptions({ stripHeaders: ['x-user'] });
    const forged = ['x-idgate_roles', 'x_idgate_email', 'x_idgate_subject', 'x_user', 'x-idgate_verified'];
    const verdict = renderDecision(
      { kind: 'allow', headers: { 'x-idgate-subject': 'corp:alice' }, metadata: {} },
      context({ headers: { ...Object.fromEntries(forged.map((n) => [n, 'admin'])), 'x_other': 'kept', 'x-idgatex': 'kept' } }),
      compiled,
    );
    if (!verdict.allow) throw new Error('expected allow');
    expect(verdict.removeHeaders).toEqual(expect.arrayContaining(forged));
    expect(verdict.removeHeaders).not.toContain('x_other');
    expect(verdict.removeHeaders).not.toContain('x-idgatex');
    expect(verdict.removeHeaders).not.toContain('x-idgate-subject');
  });

  it('drops invalid header names and percent-encodes CR/LF in values', () => {
    const verdict = renderDecision(
      {
        kind: 'allow',
        headers: { 'X-Mixed': 'ok', 'bad name': 'x', ':path': '/evil', 'x-inject': 'a\r\nx-evil: 1' },
        metadata: {},
      },
      context(),
      options,
    );
    if (!verdict.allow) throw new Error('expected allow');
    expect(verdict.upstreamHeaders).toEqual([
      ['x-mixed', 'ok'],
      ['x-inject', 'a%0D%0Ax-evil: 1'],
    ]);
  });

  it('accepts raw (uncompiled) options', () => {
    const verdict = renderDecision({ kind: 'allow', headers: {}, metadata: {} }, context(), { removeAuthorization: true });
    if (!verdict.allow) throw new Error('expected allow');
    expect(verdict.removeHeaders).toContain('authorization');
  });
});

describe('renderDecision: deny', () => {
  it.each<[string, DenyDecision, string | undefined]>([
    ['token_missing gets a bare realm', deny({ status: 401, code: 'token_missing', message: 'no token' }), 'Bearer realm="idgate"'],
    [
      'token_invalid gets error and description',
      deny({ status: 401, code: 'token_invalid', message: 'bad signature' }),
      'Bearer realm="idgate", error="invalid_token", error_description="bad signature"',
    ],
    [
      'challenge overrides and extra parameters',
      deny({
        status: 401,
        code: 'mfa_required',
        message: 'mfa',
        challenge: { error: 'insufficient_user_authentication', acr_values: 'mfa', 'bad key': 'x' },
      }),
      'Bearer realm="idgate", error="insufficient_user_authentication", error_description="mfa", acr_values="mfa"',
    ],
    [
      'quotes, backslashes, CR/LF and non-ASCII are made safe',
      deny({ status: 401, code: 'token_invalid', message: 'say "hi"\\\r\nx-evil: 1 é' }),
      'Bearer realm="idgate", error="invalid_token", error_description="say \\"hi\\"\\\\??x-evil: 1 ?"',
    ],
    ['403 has no challenge', deny({ status: 403, code: 'claims_mismatch' }), undefined],
  ])('www-authenticate: %s', (_name, decision, expected) => {
    const verdict = denied(renderDecision(decision, context(), options));
    expect(header(verdict, 'www-authenticate')).toBe(expected);
    for (const [, value] of verdict.headers) expect(value).not.toMatch(/[\r\n]/);
  });

  it('renders an RFC 9457 problem document with the standard headers', () => {
    const verdict = denied(
      renderDecision(
        deny({ status: 403, code: 'network_denied', message: 'network not allowed', extra: { network: 'corp', status: 999 }, routeId: 'r1' }),
        context(),
        options,
      ),
    );
    expect(verdict.status).toBe(403);
    expect(verdict.code).toBe('network_denied');
    expect(header(verdict, 'content-type')).toBe('application/problem+json');
    expect(header(verdict, 'cache-control')).toBe('no-store');
    expect(header(verdict, 'x-idgate-reason')).toBe('network_denied');
    expect(header(verdict, 'retry-after')).toBeUndefined();
    expect(JSON.parse(verdict.body)).toEqual({
      type: 'urn:idgate:problem:network_denied',
      title: 'Network not allowed',
      status: 403,
      detail: 'network not allowed',
      code: 'network_denied',
      instance: 'req-1',
      network: 'corp',
    });
    expect(verdict.metadata).toEqual({ decision: 'deny', code: 'network_denied', status: 403, route_id: 'r1' });
  });

  it('omits instance when there is no request id', () => {
    const verdict = denied(renderDecision(deny({}), context({ requestId: '' }), options));
    expect(JSON.parse(verdict.body)).not.toHaveProperty('instance');
  });

  it.each<[string, DenyDecision, string]>([
    ['503 with explicit retryAfter', deny({ status: 503, code: 'dependency_unavailable', retryAfter: 7.2 }), '8'],
    ['503 default', deny({ status: 503, code: 'internal_error' }), '1'],
    ['429', deny({ status: 429, code: 'verification_loop', retryAfter: 60 }), '60'],
    ['negative retryAfter falls back', deny({ status: 503, code: 'deadline_exceeded', retryAfter: -1 }), '1'],
  ])('retry-after: %s', (_name, decision, expected) => {
    expect(header(renderDecision(decision, context(), options), 'retry-after')).toBe(expected);
  });
});

describe('renderDecision: step_up', () => {
  const stepUp: Decision = {
    kind: 'step_up',
    workflow: 'kyc',
    verificationUrl: 'https://verify.didit.me/session/abc?x=a b',
    sessionId: 'sess-1',
    subject: 'corp:alice',
  };

  it.each<[string, Partial<RequestContext>, 302 | 401]>([
    ['browser GET', { method: 'GET', headers: { accept: 'text/html,application/xhtml+xml' } }, 302],
    ['browser HEAD', { method: 'HEAD', headers: { accept: 'TEXT/HTML' } }, 302],
    ['browser POST', { method: 'POST', headers: { accept: 'text/html' } }, 401],
    ['API client', { method: 'GET', headers: { accept: 'application/json' } }, 401],
    ['no accept header', { method: 'GET', headers: {} }, 401],
  ])('%s → %s', (_name, ctx, status) => {
    expect(denied(renderDecision(stepUp, context(ctx), options)).status).toBe(status);
  });

  it('redirects browsers with an encoded location and no-store', () => {
    const verdict = denied(renderDecision(stepUp, context({ headers: { accept: 'text/html' } }), options));
    expect(verdict.status).toBe(302);
    expect(header(verdict, 'location')).toBe('https://verify.didit.me/session/abc?x=a%20b');
    expect(header(verdict, 'cache-control')).toBe('no-store');
    expect(verdict.body).toBe('');
    expect(verdict.metadata).toMatchObject({ decision: 'step_up', code: 'verification_required', status: 302, session_id: 'sess-1' });
  });

  it('answers API clients with the RFC 9470 challenge and the URL in the body', () => {
    const verdict = denied(renderDecision(stepUp, context({ headers: { accept: 'application/json' } }), options));
    expect(header(verdict, 'www-authenticate')).toBe(
      'Bearer realm="idgate", error="insufficient_user_authentication", error_description="identity verification required"',
    );
    expect(JSON.parse(verdict.body)).toMatchObject({
      status: 401,
      code: 'verification_required',
      verification_url: 'https://verify.didit.me/session/abc?x=a%20b',
      session_id: 'sess-1',
      workflow: 'kyc',
      instance: 'req-1',
    });
  });

  it.each(['javascript:alert(1)', 'not a url', 'https://user:pw@evil.example/', '//evil.example/x'])(
    'fails closed on an unsafe verification URL %j',
    (url) => {
      const verdict = denied(
        renderDecision({ ...stepUp, verificationUrl: url }, context({ headers: { accept: 'text/html' } }), options),
      );
      expect(verdict.status).toBe(503);
      expect(verdict.code).toBe('internal_error');
      expect(header(verdict, 'location')).toBeUndefined();
    },
  );
});

describe('compileRenderOptions / header values', () => {
  it.each([{ identityHeaderPrefix: 'X-Bad ' }, { stripHeaders: ['ok', 'Bad'] }, { defaultRetryAfterSeconds: -1 }])(
    'rejects invalid options %j',
    (bad) => {
      expect(() => compileRenderOptions(bad)).toThrow(TypeError);
    },
  );

  it('writes every upstream header value as header-safe ASCII (controls, non-ASCII and lone surrogates encoded)', () => {
    const verdict = renderDecision(
      { kind: 'allow', headers: { 'x-idgate-a': 'a\tb é', 'x-idgate-b': 'a\u0000b\nc\u007f', 'x-idgate-c': '中\ud800' }, metadata: {} },
      context(),
    );
    expect(verdict.allow && Object.fromEntries(verdict.upstreamHeaders)).toEqual({
      'x-idgate-a': 'a\tb %C3%A9',
      'x-idgate-b': 'a%00b%0Ac%7F',
      'x-idgate-c': '%E4%B8%AD%EF%BF%BD',
    });
  });

  it('encodes the subject in the metadata of a deny and lists only valid names for removal', () => {
    const deny = renderDecision({ kind: 'deny', status: 403, code: 'claims_mismatch', message: 'no', subject: 'test:José' }, context());
    expect(deny.metadata['subject']).toBe('test:Jos%C3%A9');
    const allow = renderDecision({ kind: 'allow', headers: {}, metadata: {} }, context({ headers: { 'x-idgate-\ud800': 'x', 'x-idgate-ok': 'y' } }));
    expect(allow.allow && allow.removeHeaders).toContain('x-idgate-ok');
    expect(allow.allow && allow.removeHeaders.some((n) => n.includes('\ud800'))).toBe(false);
  });
});

describe('browser navigation: one rule for the redirect and the return URL', () => {
  const stepUp: Decision = { kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://verify.didit.me/s/1', sessionId: 'sess-1' };
  // Before one shared implementation, `Text/HTML` was redirected but no return URL was stored, so the
  // user verified and was stranded on idgate's page.
  it.each<[string, string | undefined, boolean]>([
    ['a browser', 'text/html,application/xhtml+xml,*/*;q=0.8', true],
    ['upper case', 'Text/HTML', true],
    ['all caps with spaces', ' TEXT/HTML ; charset=utf-8', true],
    ['text/html with a weight', 'application/json, text/html;q=0.5', true],
    ['text/html refused with q=0', 'text/html;q=0, application/json', false],
    ['an API client', 'application/json', false],
    ['a bare wildcard', '*/*', false],
    ['a look-alike media type', 'text/htmlx', false],
    ['no accept header', undefined, false],
  ])('%s (%s): redirected = %s, and a return URL exactly when redirected', (_name, accept, browser) => {
    const ctx = context({ headers: accept === undefined ? {} : { accept } });
    const verdict = renderDecision(stepUp, ctx, options);
    expect(verdict.allow ? 0 : verdict.status).toBe(browser ? 302 : 401);
    expect(originalUrl(ctx) !== undefined).toBe(browser);
  });
});
