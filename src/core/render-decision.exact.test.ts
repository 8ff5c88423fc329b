import { describe, expect, it } from 'vitest';
import type { Decision, DenyDecision, StepUpDecision } from './decision.js';
import { compileRenderOptions, renderDecision, type RenderedVerdict } from './render-decision.js';
import { testRequestContext } from './test-request-context.js';

/**
 * The exact output of renderDecision (every header, metadata key and body member) where render-decision.test.ts
 * checks only parts of it (found by mutation testing, `make mutation`): defaults of the options, which headers
 * are removed and how often, the Bearer challenge parameters, Retry-After bounds, the fail-closed fallbacks, and
 * the redirect-target checks.
 */
const context = testRequestContext;

type Denied = Extract<RenderedVerdict, { allow: false }>;
type Allowed = Extract<RenderedVerdict, { allow: true }>;

function denied(verdict: RenderedVerdict): Denied {
  if (verdict.allow) throw new Error('expected a deny');
  return verdict;
}

function allowed(verdict: RenderedVerdict): Allowed {
  if (!verdict.allow) throw new Error('expected an allow');
  return verdict;
}

function deny(overrides: Partial<DenyDecision>): DenyDecision {
  return { kind: 'deny', status: 403, code: 'route_denied', message: 'denied', ...overrides };
}

function challengeOf(verdict: RenderedVerdict): string | undefined {
  return denied(verdict).headers.find(([n]) => n === 'www-authenticate')?.[1];
}

const PROBLEM_HEADERS = [
  ['content-type', 'application/problem+json'],
  ['cache-control', 'no-store'],
];

describe('compileRenderOptions', () => {
  it('compiles the defaults', () => {
    const compiled = compileRenderOptions();
    expect(compiled.compiled).toBe(true);
    expect(compiled.prefix).toBe('x-idgate-');
    expect(compiled.reasonHeader).toBe('x-idgate-reason');
    expect(compiled.alwaysRemove).toEqual(['x-idgate-subject', 'x-idgate-issuer', 'x-idgate-verified']);
    expect(compiled.realm).toBe('idgate');
    expect(compiled.problemTypeBase).toBe('urn:idgate:problem:');
    expect(compiled.defaultRetryAfterSeconds).toBe(1);
  });

  it('uses the given values over the defaults', () => {
    const compiled = compileRenderOptions({
      identityHeaderPrefix: 'x-id-',
      realm: 'corp',
      problemTypeBase: 'https://errors.example/',
      defaultRetryAfterSeconds: 2.5,
      removeAuthorization: false,
      stripHeaders: ['x-user'],
    });
    expect(compiled.reasonHeader).toBe('x-id-reason');
    expect(compiled.alwaysRemove).toEqual(['x-id-subject', 'x-id-issuer', 'x-id-verified', 'x-user']);
    expect(compiled.realm).toBe('corp');
    expect(compiled.problemTypeBase).toBe('https://errors.example/');
    expect(compiled.defaultRetryAfterSeconds).toBe(3);
  });

  it('explains which option is wrong', () => {
    expect(() => compileRenderOptions({ identityHeaderPrefix: 'X-Bad ' })).toThrow(
      new TypeError('identityHeaderPrefix "X-Bad " is not a lower-case header name'),
    );
    expect(() => compileRenderOptions({ stripHeaders: ['ok', 'Bad'] })).toThrow(
      new TypeError('strip header "Bad" is not a lower-case header name'),
    );
    expect(() => compileRenderOptions({ defaultRetryAfterSeconds: -1 })).toThrow(
      new TypeError('defaultRetryAfterSeconds must be a non-negative number'),
    );
    expect(() => compileRenderOptions({ defaultRetryAfterSeconds: Number.NaN })).toThrow(TypeError);
  });

  it('accepts 0 as the default Retry-After', () => {
    const verdict = denied(renderDecision(deny({ status: 503, code: 'dependency_unavailable' }), context(), { defaultRetryAfterSeconds: 0 }));
    expect(verdict.headers).toContainEqual(['retry-after', '0']);
  });
});

describe('renderDecision allow: exact headers and metadata', () => {
  it('removes exactly the well-known identity headers by default, each once', () => {
    const verdict = allowed(
      renderDecision(
        { kind: 'allow', headers: {}, metadata: {} },
        context({ headers: { 'x-idgate-subject': 'forged', 'x-idgate-roles': 'admin', authorization: 'Bearer t' } }),
      ),
    );
    expect(verdict.removeHeaders).toEqual(['x-idgate-subject', 'x-idgate-issuer', 'x-idgate-verified', 'x-idgate-roles']);
    expect(verdict.upstreamHeaders).toEqual([]);
    expect(verdict.metadata).toEqual({ decision: 'allow' });
  });

  it('removes authorization only when asked', () => {
    const verdict = allowed(renderDecision({ kind: 'allow', headers: {}, metadata: {} }, context(), { removeAuthorization: true }));
    expect(verdict.removeHeaders).toEqual(['x-idgate-subject', 'x-idgate-issuer', 'x-idgate-verified', 'authorization']);
  });

  it('skips header values that are not strings instead of crashing', () => {
    const headers = { 'x-a': 1, 'x-b': 'two', 'x-c': undefined } as unknown as Record<string, string>;
    const verdict = allowed(renderDecision({ kind: 'allow', headers, metadata: {} }, context()));
    expect(verdict.upstreamHeaders).toEqual([['x-b', 'two']]);
  });

  it('copies defined metadata only, and the route, the encoded subject and the shadow flag', () => {
    const verdict = allowed(
      renderDecision(
        { kind: 'allow', headers: {}, metadata: { a: 1, b: undefined as unknown as string, c: false }, routeId: 'r1', subject: 'José', shadow: true },
        context(),
      ),
    );
    expect(verdict.metadata).toStrictEqual({ decision: 'allow', route_id: 'r1', subject: 'Jos%C3%A9', shadow: true, a: 1, c: false });
    expect('b' in verdict.metadata).toBe(false);
  });

  it('writes an unrepresentable subject header-safe, and no shadow key unless shadow is true', () => {
    const verdict = allowed(
      renderDecision({ kind: 'allow', headers: {}, metadata: {}, subject: 'a\nb', shadow: false }, context()),
    );
    expect(verdict.metadata).toStrictEqual({ decision: 'allow', subject: 'a%0Ab' });
  });
});

describe('renderDecision deny: challenge and Retry-After', () => {
  it('gives a 401 without credentials only the realm, other 401s the error and the message', () => {
    expect(challengeOf(renderDecision(deny({ status: 401, code: 'token_missing', message: 'no token' }), context()))).toBe(
      'Bearer realm="idgate"',
    );
    expect(challengeOf(renderDecision(deny({ status: 401, code: 'token_invalid', message: 'bad ~ sig' }), context()))).toBe(
      'Bearer realm="idgate", error="invalid_token", error_description="bad ~ sig"',
    );
    expect(
      challengeOf(renderDecision(deny({ status: 401, code: 'token_invalid', message: 'm' }), context(), { realm: 'corp~1' })),
    ).toBe('Bearer realm="corp~1", error="invalid_token", error_description="m"');
  });

  it('never lets challenge parameters override realm/error/error_description/error_uri, and skips non-strings', () => {
    const challenge = {
      realm: 'evil',
      error: 'insufficient_scope',
      error_description: 'need more',
      error_uri: 'https://evil.example/',
      scope: 'read write',
      n: 5,
      'bad key': 'x',
    } as unknown as Record<string, string>;
    expect(challengeOf(renderDecision(deny({ status: 401, code: 'claims_mismatch', challenge }), context()))).toBe(
      'Bearer realm="idgate", error="insufficient_scope", error_description="need more", scope="read write"',
    );
  });

  it('adds the challenge to a 403 only when the policy gave an error, and never to other statuses', () => {
    expect(challengeOf(renderDecision(deny({ status: 403, challenge: { error: 'insufficient_scope', scope: 'a' } }), context()))).toBe(
      'Bearer realm="idgate", error="insufficient_scope", error_description="denied", scope="a"',
    );
    expect(challengeOf(renderDecision(deny({ status: 403, challenge: { scope: 'a' } }), context()))).toBeUndefined();
    expect(challengeOf(renderDecision(deny({ status: 403 }), context()))).toBeUndefined();
    expect(
      challengeOf(renderDecision(deny({ status: 429, code: 'verification_loop', challenge: { error: 'x' } }), context())),
    ).toBeUndefined();
    expect(
      challengeOf(renderDecision(deny({ status: 400, code: 'request_invalid', challenge: { error: 'x' } }), context())),
    ).toBeUndefined();
  });

  it.each<[number | undefined, string]>([
    [undefined, '1'],
    [0, '0'],
    [1.2, '2'],
    [7, '7'],
    [-1, '1'],
    [Number.NaN, '1'],
    [Infinity, '1'],
  ])('Retry-After for retryAfter %s is %s', (retryAfter, expected) => {
    const decision = deny({ status: 503, code: 'dependency_unavailable', ...(retryAfter !== undefined ? { retryAfter } : {}) });
    expect(denied(renderDecision(decision, context())).headers).toContainEqual(['retry-after', expected]);
  });

  it('renders the exact header list and metadata of a deny', () => {
    const verdict = denied(renderDecision(deny({ routeId: 'r', subject: 's', shadow: true }), context(), { identityHeaderPrefix: 'x-g-' }));
    expect(verdict.headers).toEqual([...PROBLEM_HEADERS, ['x-g-reason', 'route_denied']]);
    expect(verdict.metadata).toStrictEqual({ decision: 'deny', code: 'route_denied', status: 403, route_id: 'r', subject: 's', shadow: true });
  });

  it('names the deciding layer and rule in the metadata of a deny, not in its body', () => {
    const decidedBy = { layer: 'guardrail', id: 'embargo', revision: 'platform@0123456789ab' } as const;
    const verdict = denied(renderDecision(deny({ routeId: 'payments/refunds', decidedBy }), context()));
    expect(verdict.metadata).toStrictEqual({ decision: 'deny', code: 'route_denied', status: 403, route_id: 'payments/refunds', layer: 'guardrail', rule: 'embargo' });
    expect(verdict.body).not.toContain('embargo');
  });

  it('carries the decision id in the metadata and the problem body, where extra cannot replace it', () => {
    const verdict = denied(renderDecision(deny({ routeId: 'r', decisionId: 'd-1', extra: { decision_id: 'forged' } }), context()));
    expect(verdict.metadata).toStrictEqual({ decision: 'deny', code: 'route_denied', status: 403, decision_id: 'd-1', route_id: 'r' });
    expect(JSON.parse(verdict.body)).toStrictEqual({
      type: 'urn:idgate:problem:route_denied',
      title: 'Access denied',
      status: 403,
      detail: 'denied',
      code: 'route_denied',
      instance: 'req-1',
      decision_id: 'd-1',
    });
    const allow = allowed(renderDecision({ kind: 'allow', headers: {}, metadata: {}, decisionId: 'd-2' }, context()));
    expect(allow.metadata).toStrictEqual({ decision: 'allow', decision_id: 'd-2' });
    const stepUp = denied(renderDecision({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://v.example/s', decisionId: 'd-3' }, context()));
    expect(stepUp.metadata['decision_id']).toBe('d-3');
    expect(JSON.parse(stepUp.body)).toMatchObject({ decision_id: 'd-3' });
    const badUrl = denied(renderDecision({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'ftp://x', decisionId: 'd-4' }, context()));
    expect(JSON.parse(badUrl.body)).toMatchObject({ code: 'internal_error', decision_id: 'd-4' });
  });

  it('falls back to a generic title and keeps reserved problem members', () => {
    const verdict = denied(
      renderDecision(
        deny({ code: 'made_up' as DenyDecision['code'], extra: { type: 'x', title: 'x', status: 1, detail: 'x', code: 'x', instance: 'x', hint: 'h' } }),
        context(),
        { problemTypeBase: 'https://e.example/' },
      ),
    );
    expect(JSON.parse(verdict.body)).toStrictEqual({
      type: 'https://e.example/made_up',
      title: 'Access denied',
      status: 403,
      detail: 'denied',
      code: 'made_up',
      instance: 'req-1',
      hint: 'h',
    });
  });

  it('fails closed with a 503 internal_error for a decision kind it does not know', () => {
    const verdict = denied(renderDecision({ kind: 'maybe' } as unknown as Decision, context()));
    expect(verdict.status).toBe(503);
    expect(verdict.code).toBe('internal_error');
    expect(JSON.parse(verdict.body)).toMatchObject({ status: 503, code: 'internal_error', detail: 'unknown decision' });
    expect(verdict.headers).toContainEqual(['retry-after', '1']);
  });
});

describe('renderDecision step_up: exact verdicts', () => {
  const base: StepUpDecision = { kind: 'step_up', workflow: 'kyc', verificationUrl: 'http://verify.example/s?x=1' };
  const browser = context({ headers: { accept: 'text/html' } });

  it('redirects a browser to an http(s) URL with exactly location, no-store and the reason', () => {
    const verdict = denied(renderDecision({ ...base, routeId: 'r', subject: 'José', shadow: true }, browser));
    expect(verdict.status).toBe(302);
    expect(verdict.headers).toEqual([
      ['location', 'http://verify.example/s?x=1'],
      ['cache-control', 'no-store'],
      ['x-idgate-reason', 'verification_required'],
    ]);
    expect(verdict.body).toBe('');
    expect(verdict.metadata).toStrictEqual({
      decision: 'step_up',
      code: 'verification_required',
      workflow: 'kyc',
      route_id: 'r',
      subject: 'Jos%C3%A9',
      shadow: true,
      status: 302,
    });
  });

  it('answers an API client with exactly the problem headers, the challenge and the body', () => {
    const verdict = denied(renderDecision(base, context()));
    expect(verdict.status).toBe(401);
    expect(verdict.headers).toEqual([
      ...PROBLEM_HEADERS,
      ['x-idgate-reason', 'verification_required'],
      [
        'www-authenticate',
        'Bearer realm="idgate", error="insufficient_user_authentication", error_description="identity verification required"',
      ],
    ]);
    expect(verdict.metadata).toStrictEqual({ decision: 'step_up', code: 'verification_required', workflow: 'kyc', status: 401 });
    expect(JSON.parse(verdict.body)).toStrictEqual({
      type: 'urn:idgate:problem:verification_required',
      title: 'Identity verification required',
      status: 401,
      detail: 'identity verification required',
      code: 'verification_required',
      instance: 'req-1',
      verification_url: 'http://verify.example/s?x=1',
      workflow: 'kyc',
    });
  });

  it('includes the session id only when there is one', () => {
    const verdict = denied(renderDecision({ ...base, sessionId: 'sess-9' }, context()));
    expect(verdict.metadata['session_id']).toBe('sess-9');
    expect(JSON.parse(verdict.body).session_id).toBe('sess-9');
    const none = denied(renderDecision(base, context()));
    expect('session_id' in none.metadata).toBe(false);
    expect('session_id' in JSON.parse(none.body)).toBe(false);
  });

  it.each(['ftp://verify.example/s', 'https://user@verify.example/s', 'https://:pw@verify.example/s', 'https://u:p@verify.example/s'])(
    'refuses to redirect to %s and fails closed with 503 internal_error',
    (verificationUrl) => {
      const verdict = denied(renderDecision({ ...base, verificationUrl, routeId: 'r', subject: 's' }, browser));
      expect(verdict.status).toBe(503);
      expect(verdict.code).toBe('internal_error');
      expect(JSON.parse(verdict.body).detail).toBe('the verification session could not be offered');
      expect(verdict.metadata).toStrictEqual({ decision: 'deny', code: 'internal_error', status: 503, route_id: 'r', subject: 's' });
    },
  );

  it('carries no route or subject into that fallback when the decision had none', () => {
    const verdict = denied(renderDecision({ ...base, verificationUrl: 'nope' }, browser));
    expect(verdict.metadata).toStrictEqual({ decision: 'deny', code: 'internal_error', status: 503 });
  });
});

describe('renderDecision step_up: byte-identical to the renderer before its URL cache', () => {
  // Rendered by the build before verification URLs were cached (f26f0ac), as JSON: header order, body bytes
  // and metadata keys included. Each case is rendered three times — the first parses the URL, the others
  // answer from the cache — for a browser navigation and an API client, with and without a session id, a
  // URL that needs percent-encoding or normalising, and the two refusals.
  const ACCEPT = { browser: 'text/html,application/xhtml+xml,*/*;q=0.8', api: 'application/json, text/plain, */*' };
  const cases: [url: string, client: keyof typeof ACCEPT, sessionId: string | undefined, rendered: string][] = [
    ["http://127.0.0.1:8099/session/b7c1d2e3?x=1", 'browser', 'sess-1', "{\"allow\":false,\"status\":302,\"code\":\"verification_required\",\"headers\":[[\"location\",\"http://127.0.0.1:8099/session/b7c1d2e3?x=1\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"]],\"body\":\"\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"session_id\":\"sess-1\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":302}}"],
    ["http://127.0.0.1:8099/session/b7c1d2e3?x=1", 'api', 'sess-1', "{\"allow\":false,\"status\":401,\"code\":\"verification_required\",\"headers\":[[\"content-type\",\"application/problem+json\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"],[\"www-authenticate\",\"Bearer realm=\\\"idgate\\\", error=\\\"insufficient_user_authentication\\\", error_description=\\\"identity verification required\\\"\"]],\"body\":\"{\\\"type\\\":\\\"urn:idgate:problem:verification_required\\\",\\\"title\\\":\\\"Identity verification required\\\",\\\"status\\\":401,\\\"detail\\\":\\\"identity verification required\\\",\\\"code\\\":\\\"verification_required\\\",\\\"instance\\\":\\\"req-1\\\",\\\"decision_id\\\":\\\"d-1\\\",\\\"verification_url\\\":\\\"http://127.0.0.1:8099/session/b7c1d2e3?x=1\\\",\\\"session_id\\\":\\\"sess-1\\\",\\\"workflow\\\":\\\"kyc\\\"}\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"session_id\":\"sess-1\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":401}}"],
    ["http://127.0.0.1:8099/session/b7c1d2e3?x=1", 'api', undefined, "{\"allow\":false,\"status\":401,\"code\":\"verification_required\",\"headers\":[[\"content-type\",\"application/problem+json\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"],[\"www-authenticate\",\"Bearer realm=\\\"idgate\\\", error=\\\"insufficient_user_authentication\\\", error_description=\\\"identity verification required\\\"\"]],\"body\":\"{\\\"type\\\":\\\"urn:idgate:problem:verification_required\\\",\\\"title\\\":\\\"Identity verification required\\\",\\\"status\\\":401,\\\"detail\\\":\\\"identity verification required\\\",\\\"code\\\":\\\"verification_required\\\",\\\"instance\\\":\\\"req-1\\\",\\\"decision_id\\\":\\\"d-1\\\",\\\"verification_url\\\":\\\"http://127.0.0.1:8099/session/b7c1d2e3?x=1\\\",\\\"workflow\\\":\\\"kyc\\\"}\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":401}}"],
    ["https://verify.example/s/ä ö?q=a b#frag", 'browser', 'sess-2', "{\"allow\":false,\"status\":302,\"code\":\"verification_required\",\"headers\":[[\"location\",\"https://verify.example/s/%C3%A4%20%C3%B6?q=a%20b#frag\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"]],\"body\":\"\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"session_id\":\"sess-2\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":302}}"],
    ["https://verify.example/s/ä ö?q=a b#frag", 'api', 'sess-2', "{\"allow\":false,\"status\":401,\"code\":\"verification_required\",\"headers\":[[\"content-type\",\"application/problem+json\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"],[\"www-authenticate\",\"Bearer realm=\\\"idgate\\\", error=\\\"insufficient_user_authentication\\\", error_description=\\\"identity verification required\\\"\"]],\"body\":\"{\\\"type\\\":\\\"urn:idgate:problem:verification_required\\\",\\\"title\\\":\\\"Identity verification required\\\",\\\"status\\\":401,\\\"detail\\\":\\\"identity verification required\\\",\\\"code\\\":\\\"verification_required\\\",\\\"instance\\\":\\\"req-1\\\",\\\"decision_id\\\":\\\"d-1\\\",\\\"verification_url\\\":\\\"https://verify.example/s/%C3%A4%20%C3%B6?q=a%20b#frag\\\",\\\"session_id\\\":\\\"sess-2\\\",\\\"workflow\\\":\\\"kyc\\\"}\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"session_id\":\"sess-2\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":401}}"],
    ["HTTPS://Verify.EXAMPLE:443/%7e/x/../y", 'browser', undefined, "{\"allow\":false,\"status\":302,\"code\":\"verification_required\",\"headers\":[[\"location\",\"https://verify.example/%7e/y\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"verification_required\"]],\"body\":\"\",\"metadata\":{\"decision\":\"step_up\",\"code\":\"verification_required\",\"workflow\":\"kyc\",\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\",\"status\":302}}"],
    ["javascript:alert(1)", 'browser', 'sess-3', "{\"allow\":false,\"status\":503,\"code\":\"internal_error\",\"headers\":[[\"content-type\",\"application/problem+json\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"internal_error\"],[\"retry-after\",\"1\"]],\"body\":\"{\\\"type\\\":\\\"urn:idgate:problem:internal_error\\\",\\\"title\\\":\\\"Internal error\\\",\\\"status\\\":503,\\\"detail\\\":\\\"the verification session could not be offered\\\",\\\"code\\\":\\\"internal_error\\\",\\\"instance\\\":\\\"req-1\\\",\\\"decision_id\\\":\\\"d-1\\\"}\",\"metadata\":{\"decision\":\"deny\",\"code\":\"internal_error\",\"status\":503,\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\"}}"],
    ["https://u:p@x.example/", 'api', undefined, "{\"allow\":false,\"status\":503,\"code\":\"internal_error\",\"headers\":[[\"content-type\",\"application/problem+json\"],[\"cache-control\",\"no-store\"],[\"x-idgate-reason\",\"internal_error\"],[\"retry-after\",\"1\"]],\"body\":\"{\\\"type\\\":\\\"urn:idgate:problem:internal_error\\\",\\\"title\\\":\\\"Internal error\\\",\\\"status\\\":503,\\\"detail\\\":\\\"the verification session could not be offered\\\",\\\"code\\\":\\\"internal_error\\\",\\\"instance\\\":\\\"req-1\\\",\\\"decision_id\\\":\\\"d-1\\\"}\",\"metadata\":{\"decision\":\"deny\",\"code\":\"internal_error\",\"status\":503,\"decision_id\":\"d-1\",\"route_id\":\"payments\",\"subject\":\"bench:alice\"}}"],
  ];

  it.each(cases)('%s for %s (session %s)', (verificationUrl, client, sessionId, rendered) => {
    const decision: StepUpDecision = {
      kind: 'step_up',
      workflow: 'kyc',
      verificationUrl,
      ...(sessionId !== undefined ? { sessionId } : {}),
      routeId: 'payments',
      subject: 'bench:alice',
      decisionId: 'd-1',
    };
    const ctx = context({ headers: { accept: ACCEPT[client] } });
    const options = compileRenderOptions({});
    for (let i = 0; i < 3; i++) expect(JSON.stringify(renderDecision(decision, ctx, options))).toBe(rendered);
  });
});
