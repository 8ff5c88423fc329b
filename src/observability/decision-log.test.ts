import { describe, expect, it } from 'vitest';
import { createLogger } from './create-logger.js';
import { createDecisionLog, MAX_TRACE_STEPS, type DecisionLogEntry } from './decision-log.js';

function setup(allowSampleRate: number, random?: () => number) {
  const chunks: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (c: string) => void chunks.push(c) } });
  const log = createDecisionLog({ logger, allowSampleRate, ...(random === undefined ? {} : { random }) });
  const lines = (): Record<string, unknown>[] =>
    chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, raw: () => chunks.join('') };
}

const base: DecisionLogEntry = {
  requestId: 'req-1',
  routeId: 'payments',
  subject: 'corp:user-1',
  outcome: 'deny',
  code: 'token_missing',
  status: 401,
  method: 'GET',
  host: 'api.example.com',
  path: '/v1/payments',
  sourceAddress: '198.51.100.1',
  durationMs: 0.12,
};

describe('createDecisionLog', () => {
  it.each([
    ['deny → info', { outcome: 'deny', code: 'claims_mismatch', status: 403 }, 30],
    ['step_up → info', { outcome: 'step_up', code: 'verification_required', status: 401 }, 30],
    ['dependency failure → error', { outcome: 'deny', code: 'dependency_unavailable', status: 503 }, 50],
    ['internal error → error', { outcome: 'deny', code: 'internal_error', status: 503 }, 50],
    ['deadline → error', { outcome: 'deny', code: 'deadline_exceeded', status: 503 }, 50],
    ['rate limited 429 → info', { outcome: 'deny', code: 'verification_loop', status: 429 }, 30],
  ] as const)('%s', (_desc, overrides, level) => {
    const { log, lines } = setup(0);
    log.record({ ...base, ...overrides });
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ level, msg: 'decision', component: 'decision', ...overrides });
  });

  it('writes the documented fields only, never stray properties such as headers or tokens', () => {
    const { log, lines, raw } = setup(1);
    const entry = { ...base, headers: { authorization: 'Bearer SECRET-1' }, token: 'SECRET-2', query: 'a=SECRET-3' };
    log.record(entry);
    expect(raw()).not.toContain('SECRET-');
    const line = lines()[0]!;
    expect(Object.keys(line).sort()).toEqual(
      ['code', 'component', 'durationMs', 'hostname', 'host', 'level', 'method', 'msg', 'outcome', 'path', 'pid', 'requestId', 'routeId', 'sourceAddress', 'status', 'subject', 'time'].sort(),
    );
  });

  it('samples allows with the injected random source', () => {
    const values = [0.1, 0.5, 0.24, 0.9];
    const { log, lines } = setup(0.25, () => values.shift() ?? 1);
    for (let i = 0; i < 4; i++) log.record({ ...base, outcome: 'allow', requestId: `r${i}` });
    expect(lines().map((l) => l['requestId'])).toEqual(['r0', 'r2']);
  });

  it('drops every allow at rate 0 and keeps every allow at rate 1', () => {
    const none = setup(0, () => 0);
    none.log.record({ ...base, outcome: 'allow' });
    expect(none.lines()).toHaveLength(0);
    const all = setup(1, () => 0.999);
    all.log.record({ ...base, outcome: 'allow' });
    expect(all.lines()).toHaveLength(1);
  });

  it('always writes shadow decisions and fail-open allows', () => {
    const { log, lines } = setup(0);
    log.record({ ...base, outcome: 'deny', shadow: true, requestId: 'shadow' });
    log.record({ ...base, outcome: 'allow', shadow: true, requestId: 'shadow-allow' });
    log.record({ ...base, outcome: 'allow', code: 'dependency_unavailable', requestId: 'fail-open' });
    expect(lines().map((l) => [l['requestId'], l['level'], l['shadow']])).toEqual([
      ['shadow', 30, true],
      ['shadow-allow', 30, true],
      ['fail-open', 50, undefined],
    ]);
  });

  it('bounds the trace', () => {
    const { log, lines } = setup(1);
    const trace = Array.from({ length: MAX_TRACE_STEPS + 5 }, (_, i) => ({
      step: `s${i}`,
      result: 'pass' as const,
      detail: 'x'.repeat(500),
    }));
    log.record({ ...base, trace });
    const logged = lines()[0]!['trace'] as { step: string; detail: string }[];
    expect(logged).toHaveLength(MAX_TRACE_STEPS + 1);
    expect(logged[0]!.detail.length).toBeLessThanOrEqual(201);
    expect(logged.at(-1)!.detail).toBe('5 more steps omitted');
  });

  it.each([-0.1, 1.5, Number.NaN])('rejects sample rate %s', (rate) => {
    expect(() => setup(rate)).toThrow(TypeError);
  });
});

describe('createDecisionLog: the exact line', () => {
  // Every field, a stray header and token, JWTs in request data and a trace, a bounded trace and a replay
  // record with credentials and personal data nested in it: the lines as the build before the decision log
  // lost its spread temporaries (f26f0ac) wrote them, byte for byte but the time.
  const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
  const trace = Array.from({ length: 18 }, (_, i) => ({ step: `s${i}`, result: i === 3 ? 'fail' : 'pass', detail: i === 1 ? `token ${JWT} seen` : i === 2 ? 'y'.repeat(250) : `detail ${i}` }));
  const entries = [
    {
      requestId: `req-${JWT}`, decisionId: 'd-1', revision: 'tenant@r7', layer: 'route', rule: 'payments', routeId: 'payments', subject: `corp:${JWT}`,
      outcome: 'step_up', code: 'verification_required', status: 302, method: 'GET', host: 'shop.example.com', path: `/pay/${JWT}`,
      sourceAddress: '198.51.100.7', durationMs: 0.25, shadow: true, trace,
      replay: { v: 1, at: 5, request: { method: 'GET', scheme: 'https', host: 'shop.example.com', path: '/pay', sourceAddress: '198.51.100.7', headers: { authorization: `Bearer ${JWT}`, cookie: 'a=b', 'x-signature-v2': 'sig', accept: 'text/html' } }, auth: { kind: 'verified', claims: { sub: 's', email: 'a@example.com', Name: 'N', nested: { password: 'p', list: [{ token: 't' }, `x ${JWT}`] } } } },
      headers: { authorization: `Bearer ${JWT}` }, token: 'SECRET',
    },
    { requestId: 'r2', revision: '', outcome: 'deny', code: 'dependency_unavailable', status: 503, method: 'POST', host: 'h', path: '/', sourceAddress: '::1', durationMs: 3 },
    { requestId: 'r3', outcome: 'allow', sampled: true, method: 'GET', host: 'h', path: '/a', sourceAddress: '10.0.0.1', durationMs: 0, trace: [] },
  ] as unknown as DecisionLogEntry[];
  const expected = [
    "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"req-[redacted-jwt]\",\"decisionId\":\"d-1\",\"revision\":\"tenant@r7\",\"layer\":\"route\",\"rule\":\"payments\",\"outcome\":\"step_up\",\"method\":\"GET\",\"host\":\"shop.example.com\",\"path\":\"/pay/[redacted-jwt]\",\"sourceAddress\":\"198.51.100.7\",\"durationMs\":0.25,\"routeId\":\"payments\",\"subject\":\"corp:[redacted-jwt]\",\"code\":\"verification_required\",\"status\":302,\"shadow\":true,\"trace\":[{\"step\":\"s0\",\"result\":\"pass\",\"detail\":\"detail 0\"},{\"step\":\"s1\",\"result\":\"pass\",\"detail\":\"token [redacted-jwt] seen\"},{\"step\":\"s2\",\"result\":\"pass\",\"detail\":\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\u2026\"},{\"step\":\"s3\",\"result\":\"fail\",\"detail\":\"detail 3\"},{\"step\":\"s4\",\"result\":\"pass\",\"detail\":\"detail 4\"},{\"step\":\"s5\",\"result\":\"pass\",\"detail\":\"detail 5\"},{\"step\":\"s6\",\"result\":\"pass\",\"detail\":\"detail 6\"},{\"step\":\"s7\",\"result\":\"pass\",\"detail\":\"detail 7\"},{\"step\":\"s8\",\"result\":\"pass\",\"detail\":\"detail 8\"},{\"step\":\"s9\",\"result\":\"pass\",\"detail\":\"detail 9\"},{\"step\":\"s10\",\"result\":\"pass\",\"detail\":\"detail 10\"},{\"step\":\"s11\",\"result\":\"pass\",\"detail\":\"detail 11\"},{\"step\":\"s12\",\"result\":\"pass\",\"detail\":\"detail 12\"},{\"step\":\"s13\",\"result\":\"pass\",\"detail\":\"detail 13\"},{\"step\":\"s14\",\"result\":\"pass\",\"detail\":\"detail 14\"},{\"step\":\"s15\",\"result\":\"pass\",\"detail\":\"detail 15\"},{\"step\":\"trace\",\"result\":\"info\",\"detail\":\"2 more steps omitted\"}],\"replay\":{\"v\":1,\"at\":5,\"request\":{\"method\":\"GET\",\"scheme\":\"https\",\"host\":\"shop.example.com\",\"path\":\"/pay\",\"sourceAddress\":\"198.51.100.7\",\"headers\":{\"authorization\":\"[redacted]\",\"cookie\":\"[redacted]\",\"x-signature-v2\":\"[redacted]\",\"accept\":\"text/html\"}},\"auth\":{\"kind\":\"verified\",\"claims\":{\"sub\":\"s\",\"email\":\"[redacted]\",\"Name\":\"[redacted]\",\"nested\":{\"password\":\"[redacted]\",\"list\":[{\"token\":\"[redacted]\"},\"x [redacted-jwt]\"]}}}},\"msg\":\"decision\"}\n",
    "{\"level\":50,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r2\",\"outcome\":\"deny\",\"method\":\"POST\",\"host\":\"h\",\"path\":\"/\",\"sourceAddress\":\"::1\",\"durationMs\":3,\"code\":\"dependency_unavailable\",\"status\":503,\"msg\":\"decision\"}\n",
    "{\"level\":30,\"pid\":1,\"hostname\":\"h\",\"component\":\"decision\",\"requestId\":\"r3\",\"outcome\":\"allow\",\"method\":\"GET\",\"host\":\"h\",\"path\":\"/a\",\"sourceAddress\":\"10.0.0.1\",\"durationMs\":0,\"msg\":\"decision\"}\n",
  ];

  it('scrubs JWTs from every string of a line without a replay record (the line that skips the walk)', () => {
    const chunks: string[] = [];
    const logger = createLogger({ level: 'info', base: { pid: 1, hostname: 'h' }, destination: { write: (c: string) => void chunks.push(c) } });
    const log = createDecisionLog({ logger, allowSampleRate: 0 });
    const fields = ['requestId', 'decisionId', 'revision', 'layer', 'rule', 'method', 'host', 'path', 'sourceAddress', 'routeId', 'subject'] as const;
    for (const field of fields) {
      log.record({ ...base, outcome: 'step_up', code: 'verification_required', [field]: `a ${JWT} b`, trace: [{ step: 'route', result: 'info', detail: 'd' }] } as DecisionLogEntry);
    }
    log.record({ ...base, outcome: 'step_up', trace: [{ step: `s ${JWT}`, result: 'pass', detail: `${JWT}` }] } as DecisionLogEntry);
    // A stray object where a string belongs (never by the types): formatted, so its secrets are censored.
    log.record({ ...base, outcome: 'deny', host: { authorization: 'Bearer SECRET', token: 'SECRET' } } as unknown as DecisionLogEntry);
    expect(chunks).toHaveLength(fields.length + 2);
    expect(chunks.join('')).not.toMatch(/eyJ|SECRET/);
    expect(chunks.join('').match(/\[redacted-jwt\]/g)).toHaveLength(fields.length + 2);
    expect(chunks.at(-1)).toContain('"host":{"authorization":"[redacted]","token":"[redacted]"}');
  });

  it('keeps every field, its order and its redaction', () => {
    const chunks: string[] = [];
    const logger = createLogger({ level: 'info', base: { pid: 1, hostname: 'h' }, destination: { write: (c: string) => void chunks.push(c) } });
    const log = createDecisionLog({ logger, allowSampleRate: 0 });
    for (const entry of entries) log.record(entry);
    expect(chunks.map((c) => c.replace(/"time":\d+,/, ''))).toEqual(expected);
    expect(chunks.join('')).not.toMatch(/eyJ|SECRET|Bearer|a@example\.com/);
  });
});
