import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { RequestContext } from '../src/core/request-context.js';
import type { AuthResult } from '../src/core/auth-result.js';
import { createCelCompiler, type CelBindings } from '../src/cel/compile-cel.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import type { Outcome } from '../src/core/outcome.js';

const cel = createCelCompiler();

const EMPTY: CelBindings = { request: {}, claims: {}, context: {}, verification: {}, risk: {} };

describe('compiling expressions', () => {
  it.each([
    ['a comparison', 'request.method == "GET"'],
    ['membership in a claim list', '"admin" in claims.roles'],
    ['a macro over a claim', 'claims.roles.exists(r, r.startsWith("adm"))'],
    ['two nested comprehensions', 'claims.a.all(x, claims.b.exists(y, x == y))'],
    ['has() on a map key', 'has(claims.email) && claims.email.endsWith("@corp.example")'],
    ['a ternary of bools', 'request.method == "GET" ? true : claims.admin == true'],
    ['a type name as an identifier', 'type(claims.x) == string'],
    ['a bool field of risk', 'risk.assessed'],
    ['a macro variable that shadows a variable name', 'claims.roles.exists(request, request == "a")'],
    ['a regex', 'request.path.matches("^/api/v[0-9]+/")'],
    ['every variable', 'request.method != "" && size(claims) >= 0 && size(context) >= 0 && size(verification) >= 0 && risk.score >= 0'],
  ])('accepts %s', (_name, expression) => {
    const r = cel.compile(expression);
    expect(r.ok, r.ok ? '' : r.message).toBe(true);
  });

  it.each([
    ['a syntax error, with its position', 'request.method ==', /^CEL syntax error at 1:16: /],
    ['a syntax error on a later line', 'request.method == "GET" &&\n  claims.x +', /^CEL syntax error at 2:\d+: /],
    ['an unknown variable, with a suggestion', 'claim.sub == "x"', 'unknown variable "claim" (did you mean "claims"?) (variables: request, claims, context, verification, risk)'],
    ['an unknown variable inside a macro', 'claims.roles.exists(r, x == r)', /^unknown variable "x"/],
    ['an unknown function', 'lower(request.method) == "get"', 'unknown function "lower"'],
    ['an unknown request field, with a suggestion', 'request.metod == "GET"', 'request has no field "metod" (did you mean "method"?) (fields: method, host, path, query, scheme, headers, sourceIp, country, principal)'],
    ['an unknown risk field inside has()', 'has(risk.level)', /^risk has no field "level"/],
    ['a string result', 'request.method', 'the expression must evaluate to a bool (true/false)'],
    ['arithmetic', 'risk.score + 1', 'the expression must evaluate to a bool (true/false)'],
    ['a list literal', '[true]', 'the expression must evaluate to a bool (true/false)'],
    ['a bare variable (a map)', 'claims', 'the expression must evaluate to a bool (true/false)'],
    ['a ternary of strings', 'true ? "a" : "b"', 'the expression must evaluate to a bool (true/false)'],
    ['map() over a list', 'claims.roles.map(r, r == "a")', 'the expression must evaluate to a bool (true/false)'],
    ['an invalid regex', 'request.path.matches("[")', /^invalid regular expression: /],
    ['an invalid regex in the function form', 'matches(request.path, "(")', /^invalid regular expression: /],
    ['three nested comprehensions', 'claims.a.all(x, claims.b.all(y, claims.c.all(z, x == y && y == z)))', /at most 2 nested comprehensions/],
    ['message construction', 'google.protobuf.Duration{seconds: 1} == duration("1s")', /message construction/],
    ['an empty expression', '   ', 'the expression is empty'],
    ['a huge expression', `true${' && true'.repeat(1000)}`, /expression too long/],
  ])('rejects %s', (_name, expression, message) => {
    const r = cel.compile(expression);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      if (typeof message === 'string') expect(r.message).toBe(message);
      else expect(r.message).toMatch(message);
    }
  });

  it('reports the parser position separately', () => {
    const r = cel.compile('a ==');
    expect(r).toMatchObject({ ok: false, line: 1, column: 3 });
  });

  it('records which variables an expression reads', () => {
    const r = cel.compile('"x" in risk.signals || claims.sub == "u"');
    expect(r.ok && [...r.program.variables].sort()).toEqual(['claims', 'risk']);
    const local = cel.compile('claims.roles.exists(risk, risk == "a")');
    expect(local.ok && [...local.program.variables]).toEqual(['claims']);
  });
});

describe('evaluating programs', () => {
  const program = (expression: string) => {
    const r = cel.compile(expression);
    if (!r.ok) throw new Error(r.message);
    return r.program;
  };

  it.each([
    ['true', 'claims.n >= 18', { ...EMPTY, claims: { n: 18 } }, { ok: true, value: true }],
    ['false', 'claims.n >= 18', { ...EMPTY, claims: { n: 17.5 } }, { ok: true, value: false }],
    ['missing key is an error', 'claims.n >= 18', EMPTY, { ok: false, reason: 'evaluation error' }],
    ['no matching overload is an error', 'claims.n > 1', { ...EMPTY, claims: { n: 'abc' } }, { ok: false, reason: 'evaluation error' }],
    ['a data-dependent non-bool result is an error', 'claims.flag', { ...EMPTY, claims: { flag: 'yes' } }, { ok: false, reason: 'evaluation error: the result is not a bool' }],
    ['a data-dependent bool result is fine', 'claims.flag', { ...EMPTY, claims: { flag: true } }, { ok: true, value: true }],
    ['&& absorbs an error when the other side is false', 'has(claims.x) && claims.x > 1', EMPTY, { ok: true, value: false }],
  ] as const)('%s', (_name, expression, bindings, expected) => {
    expect(program(expression).evaluate(bindings as CelBindings)).toEqual(expected);
  });

  it('never leaks data through the error reason', () => {
    const r = program('int(claims.secret) > 1').evaluate({ ...EMPTY, claims: { secret: 'hunter2' } });
    expect(r).toEqual({ ok: false, reason: 'evaluation error' });
  });
});

const NOW = Date.UTC(2026, 0, 7, 12, 0);

describe('CEL conditions in a policy', () => {
  const policy = compilePolicy(
    parseConfig(
      `
issuers:
  - name: corp
    issuer: https://corp.example
    audiences: [api]
    jwksUri: https://corp.example/jwks
    sources: [{ type: header, name: x-token }]
workflows: { liveness: { workflowId: wf-live } }
didit: { mode: sandbox }
context: { countryHeader: x-geo-country }
risk: { enabled: true }
network: { trustedProxies: [10.0.0.0/8] }
policy:
  routes:
    - id: admin
      match: { prefix: /admin }
      conditions:
        - name: delete-needs-admin
          when: { cel: 'request.method == "DELETE" && !("admin" in claims.roles)' }
          then: { deny: claims_mismatch, message: "only admins may delete" }
    - id: probe
      match: { prefix: /probe }
      conditions:
        - name: probe
          when: { cel: 'request.headers[request.query] == "yes"' }
          then: allow
        - { name: fallback, when: { cel: "true" }, then: deny }
    - id: bindings
      match: { prefix: /bindings }
      conditions:
        - name: everything
          when:
            cel: >-
              request.method == "POST" && request.host == "app.example.com" && request.path == "/bindings/x" &&
              request.query == "a=1" && request.scheme == "https" && request.sourceIp == "192.0.2.9" &&
              request.country == "ES" && context.tenant == "t1" && claims.sub == "u1" && size(verification) == 0 &&
              risk.assessed && risk.score == 42.0 && "velocity" in risk.signals
          then: { stepUp: liveness }
    - id: errors
      match: { prefix: /errors }
      conditions:
        - { name: allow-on-error, when: { cel: 'claims.missing == "x"' }, then: allow }
        - { name: stepup-on-error, when: { cel: 'claims.other == "x"' }, then: { stepUp: liveness } }
`,
      { sourceName: 't.yaml', env: {} },
    ),
  );

  const ctx = (over: Partial<RequestContext>): RequestContext => ({
    method: 'GET', scheme: 'https', host: 'app.example.com', path: '/', rawPath: '/', query: '', headers: {}, sourceAddress: '192.0.2.9',
    sourcePrincipal: '', contextExtensions: {}, metadata: {}, requestId: 'r', protocol: 'HTTP/2', receivedAt: NOW, ...over,
  });
  const user = (claims: Record<string, unknown>): AuthResult => ({
    kind: 'verified',
    principal: { issuerName: 'corp', issuer: 'https://corp.example', sub: 'u1', subject: 'corp:u1', claims: { sub: 'u1', ...claims }, source: 'header', tokenId: 't' },
  });

  it.each([
    ['DELETE without the admin role is denied', 'DELETE', { roles: ['user'] }, 'deny'],
    ['DELETE with the admin role passes', 'DELETE', { roles: ['admin'] }, 'allow'],
    ['GET without the admin role passes (&& short-circuits)', 'GET', { roles: ['user'] }, 'allow'],
    ['DELETE without any roles claim: evaluation error, fails closed', 'DELETE', {}, 'error'],
  ] as const)('%s', (_name, method, claims, expected) => {
    const outcome = policy.evaluate(ctx({ method, path: '/admin/users/1' }), user(claims), NOW);
    if (expected === 'allow') expect(outcome.kind).toBe('allow');
    else if (expected === 'deny') expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: 'claims_mismatch', message: 'only admins may delete' });
    else {
      expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: 'condition_denied' });
      expect(outcome.trace.at(-1)).toEqual({ step: 'condition:delete-needs-admin', result: 'fail', detail: 'evaluation error' });
    }
  });

  it('binds every variable', () => {
    const outcome = policy.evaluate(
      ctx({
        method: 'POST',
        path: '/bindings/x',
        query: 'a=1',
        headers: { 'x-geo-country': 'es', 'x-forwarded-for': '192.0.2.9' },
        sourceAddress: '10.0.0.5',
        contextExtensions: { tenant: 't1' },
      }),
      user({}),
      NOW,
      { score: 42, signals: [{ name: 'velocity', weight: 42, detail: 'many requests' }] },
    );
    expect(outcome.kind).toBe('verify');
  });

  it('without an assessment, risk.assessed is false and the score 0', () => {
    const outcome = policy.evaluate(ctx({ method: 'POST', path: '/bindings/x', query: 'a=1', headers: { 'x-geo-country': 'ES' }, contextExtensions: { tenant: 't1' } }), user({}), NOW);
    expect(outcome.kind).toBe('allow');
  });

  const probe = (header: string, value: string): Outcome =>
    policy.evaluate(ctx({ path: '/probe', query: header, headers: { [header]: value } }), user({}), NOW);

  it.each([
    ['an ordinary header is bound', 'x-custom', 'yes', 'allow'],
    ['authorization is not bound', 'authorization', 'yes', 'condition_denied'],
    ['cookie is not bound', 'cookie', 'yes', 'condition_denied'],
    ["an issuer's token header is not bound", 'x-token', 'yes', 'condition_denied'],
    ['an oversized header value is not bound', 'x-big', 'yes'.padEnd(5000, ' '), 'condition_denied'],
  ] as const)('request.headers: %s', (_name, header, value, expected) => {
    const outcome = probe(header, value);
    if (expected === 'allow') expect(outcome.kind).toBe('allow');
    else expect(outcome).toMatchObject({ kind: 'deny', code: expected });
  });

  it('a runtime error denies even when the effect is allow or step-up', () => {
    const outcome = policy.evaluate(ctx({ path: '/errors' }), user({}), NOW);
    expect(outcome).toMatchObject({ kind: 'deny', status: 403, code: 'condition_denied', message: 'a policy condition denied this request' });
  });
});
