import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiditSandbox, type DiditSandbox } from '../src/sandbox/index.js';

const API_KEY = 'sbx_test_key_0123456789';
const SECRET = 'sbx_webhook_secret';
const WF = '9f1e0000-0000-4000-8000-0000000000aa';
const WF2 = '9f1e0000-0000-4000-8000-0000000000bb';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let now = Date.UTC(2026, 0, 15, 12, 0, 0);
let sandbox: DiditSandbox;
let base: string;

beforeAll(async () => {
  sandbox = createDiditSandbox({
    logger: pino({ level: 'silent' }),
    apiKey: API_KEY,
    webhookSecret: SECRET,
    clock: () => now,
  });
  await sandbox.listen();
  base = sandbox.url;
});

afterAll(async () => {
  await sandbox.close();
});

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(base + path, {
    method,
    redirect: 'manual',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, json, text };
}

async function createSession(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = await call('POST', '/v3/session/', body);
  expect(answer.status).toBe(201);
  return answer.json;
}

describe('authentication', () => {
  it.each([
    ['missing key', {}],
    ['wrong key', { 'x-api-key': 'nope' }],
    ['key of the wrong length', { 'x-api-key': API_KEY + 'x' }],
  ])('%s → 403 with Didit’s detail', async (_name, headers) => {
    const response = await fetch(`${base}/v3/session/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ workflow_id: WF }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ detail: 'You do not have permission to perform this action.' });
  });

  it('decision endpoint needs the key too', async () => {
    const created = await createSession({ workflow_id: WF });
    const answer = await call('GET', `/v3/session/${String(created.session_id)}/decision/`, undefined, { 'x-api-key': '' });
    expect(answer.status).toBe(403);
  });
});

describe('create session', () => {
  it('answers 201 with the documented shape', async () => {
    const body = await createSession({
      workflow_id: WF,
      vendor_data: 'corp:alice',
      callback: 'https://app.example.com/done?x=1',
      metadata: { tenant: 'acme' },
      language: 'de',
    });
    expect(Object.keys(body).sort()).toEqual(
      ['callback', 'metadata', 'session_id', 'session_kind', 'session_number', 'session_token', 'status', 'url', 'vendor_data', 'workflow_id', 'workflow_version'].sort(),
    );
    expect(body.session_id).toMatch(UUID_V4);
    expect(body.session_token).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(body.url).toBe(`${base}/session/${String(body.session_token)}`);
    expect(body).toMatchObject({
      status: 'Not Started',
      workflow_id: WF,
      workflow_version: 1,
      vendor_data: 'corp:alice',
      callback: 'https://app.example.com/done?x=1',
      metadata: { tenant: 'acme' },
    });
    expect(typeof body.session_number).toBe('number');
  });

  it('tolerates unknown fields', async () => {
    const body = await createSession({ workflow_id: WF, something_new: { a: 1 }, contact_details: { email: 'a@example.com' } });
    expect(body.status).toBe('Not Started');
  });

  it.each([
    ['missing workflow_id', { vendor_data: 'x' }, { workflow_id: ['This field is required.'] }],
    ['workflow_id not a UUID', { workflow_id: 'wf-age' }, { workflow_id: ['Must be a valid UUID.'] }],
    ['workflow_id not a string', { workflow_id: 42 }, { workflow_id: ['Must be a valid UUID.'] }],
    ['callback not a URL', { workflow_id: WF, callback: 'javascript:alert(1)' }, { callback: ['Enter a valid URL.'] }],
    ['vendor_data not a string', { workflow_id: WF, vendor_data: 7 }, { vendor_data: ['Not a valid string.'] }],
    ['language not allowed', { workflow_id: WF, language: 'xx' }, { language: ['"xx" is not a valid choice.'] }],
    ['several errors at once', { callback: 'nope', callback_method: 'all' }, {
      workflow_id: ['This field is required.'],
      callback: ['Enter a valid URL.'],
      callback_method: ['"all" is not a valid choice.'],
    }],
  ])('%s → 400 with field errors', async (_name, body, errors) => {
    const answer = await call('POST', '/v3/session/', body);
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual(errors);
  });

  it('rejects malformed JSON with 400', async () => {
    const answer = await call('POST', '/v3/session/', '{"workflow_id":');
    expect(answer.status).toBe(400);
    expect(String(answer.json.detail)).toMatch(/^JSON parse error/);
  });

  it('rejects a JSON array body with 400', async () => {
    const answer = await call('POST', '/v3/session/', '[]');
    expect(answer.status).toBe(400);
    expect(answer.json).toHaveProperty('non_field_errors');
  });

  it('rejects a non-JSON content type with 415', async () => {
    const answer = await call('POST', '/v3/session/', 'workflow_id=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(answer.status).toBe(415);
  });

  it('answers an oversized body with 413 and Didit’s detail (the client still reads the answer)', async () => {
    const small = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, maxBodyBytes: 1024 });
    await small.listen();
    try {
      const response = await fetch(`${small.url}/v3/session/`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ workflow_id: WF, vendor_data: 'x'.repeat(256 * 1024) }),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({ detail: 'Request body too large.' });
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(small.sessions()).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('redirects a path without trailing slash (and the redirect target is the slashed path)', async () => {
    const answer = await call('POST', '/v3/session', { workflow_id: WF });
    expect(answer.status).toBe(301);
    expect(answer.headers.get('location')).toBe('/v3/session/');
  });

  it('answers 405 for a wrong method on a known path', async () => {
    const answer = await call('GET', '/v3/session/');
    expect(answer.status).toBe(405);
  });

  it('answers 404 for an unknown API path', async () => {
    const answer = await call('GET', '/v3/nothing/');
    expect(answer.status).toBe(404);
  });
});

describe('vendor_data idempotency', () => {
  it('returns the open session again with callback and metadata overwritten', async () => {
    const first = await createSession({ workflow_id: WF, vendor_data: 'corp:idem', callback: 'https://a.example/one', metadata: { n: 1 } });
    const second = await createSession({ workflow_id: WF, vendor_data: 'corp:idem', callback: 'https://a.example/two', metadata: { n: 2 } });
    expect(second.session_id).toBe(first.session_id);
    expect(second.session_token).toBe(first.session_token);
    expect(second).toMatchObject({ callback: 'https://a.example/two', metadata: { n: 2 } });
    const stored = sandbox.sessions().find((s) => s.sessionId === first.session_id);
    expect(stored).toMatchObject({ callback: 'https://a.example/two', metadata: { n: 2 } });
  });

  it('reuses an In Progress session too', async () => {
    const first = await createSession({ workflow_id: WF, vendor_data: 'corp:inprog' });
    await fetch(String(first.url));
    expect(sandbox.sessions().find((s) => s.sessionId === first.session_id)?.status).toBe('In Progress');
    const second = await createSession({ workflow_id: WF, vendor_data: 'corp:inprog' });
    expect(second.session_id).toBe(first.session_id);
    expect(second.status).toBe('In Progress');
  });

  it('does not reuse across workflows', async () => {
    const a = await createSession({ workflow_id: WF, vendor_data: 'corp:two-wf' });
    const b = await createSession({ workflow_id: WF2, vendor_data: 'corp:two-wf' });
    expect(b.session_id).not.toBe(a.session_id);
  });

  it.each(['Approved', 'Declined', 'In Review', 'Expired', 'Abandoned', 'Kyc Expired'] as const)(
    'never reuses a %s session',
    async (status) => {
      const vendorData = `corp:done-${status}`;
      const first = await createSession({ workflow_id: WF, vendor_data: vendorData });
      await sandbox.decide(String(first.session_id), status);
      const second = await createSession({ workflow_id: WF, vendor_data: vendorData });
      expect(second.session_id).not.toBe(first.session_id);
      expect(second.status).toBe('Not Started');
    },
  );

  it('does not reuse a session of an older workflow version', async () => {
    const wf = '9f1e0000-0000-4000-8000-0000000000cc';
    const first = await createSession({ workflow_id: wf, vendor_data: 'corp:ver' });
    expect(sandbox.publishWorkflow(wf)).toBe(2);
    const second = await createSession({ workflow_id: wf, vendor_data: 'corp:ver' });
    expect(second.session_id).not.toBe(first.session_id);
    expect(second.workflow_version).toBe(2);
  });

  it('without vendor_data every call creates a session', async () => {
    const a = await createSession({ workflow_id: WF });
    const b = await createSession({ workflow_id: WF });
    expect(b.session_id).not.toBe(a.session_id);
  });
});

describe('decision', () => {
  it('before any step: documented keys, feature blocks null', async () => {
    const created = await createSession({ workflow_id: WF, vendor_data: 'corp:dec0', metadata: { t: 1 } });
    const answer = await call('GET', `/v3/session/${String(created.session_id)}/decision/`);
    expect(answer.status).toBe(200);
    const d = answer.json;
    for (const key of ['session_id', 'session_kind', 'session_number', 'session_url', 'status', 'environment', 'workflow_id', 'features', 'vendor_data', 'metadata', 'callback', 'reviews']) {
      expect(d).toHaveProperty(key);
    }
    expect(d).toMatchObject({ status: 'Not Started', environment: 'sandbox', session_kind: 'user', vendor_data: 'corp:dec0', metadata: { t: 1 } });
    for (const key of ['id_verifications', 'liveness_checks', 'face_matches', 'aml_screenings', 'nfc_verifications', 'poa_verifications', 'phone_verifications', 'email_verifications', 'ip_analyses', 'database_validations']) {
      expect(d[key]).toBeNull();
    }
  });

  it('after approval: feature arrays with the fake person', async () => {
    const created = await createSession({ workflow_id: WF, vendor_data: 'corp:dec1' });
    await sandbox.decide(String(created.session_id), 'Approved');
    const { json: d } = await call('GET', `/v3/session/${String(created.session_id)}/decision/`);
    expect(d.status).toBe('Approved');
    const id = (d.id_verifications as Record<string, unknown>[])[0];
    expect(id).toMatchObject({ node_id: 'feature_ocr_1', status: 'Approved', full_name: 'José Müller', date_of_birth: '1990-05-17', age: 35 });
    expect(String(id?.expiration_date) > '2026-01-15').toBe(true);
    expect((d.liveness_checks as Record<string, unknown>[])[0]).toMatchObject({ status: 'Approved', age_estimation: 35.4 });
    expect((d.face_matches as Record<string, unknown>[])[0]).toMatchObject({ status: 'Approved' });
    expect((d.aml_screenings as Record<string, unknown>[])[0]).toMatchObject({ status: 'Approved', total_hits: 0, hits: [] });
    expect(d.nfc_verifications).toBeNull();
  });

  it('scenario: minor, AML hit and expired document', async () => {
    const created = await createSession({ workflow_id: WF, vendor_data: 'corp:dec2' });
    await sandbox.decide(String(created.session_id), 'Declined', { dateOfBirth: '2010-06-01', amlHit: true, documentExpired: true });
    const { json: d } = await call('GET', `/v3/session/${String(created.session_id)}/decision/`);
    const id = (d.id_verifications as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(id.age).toBe(15);
    expect(id.status).toBe('Declined');
    expect(String(id.expiration_date) < '2026-01-15').toBe(true);
    expect((id.warnings as { risk: string }[]).map((w) => w.risk)).toContain('DOCUMENT_EXPIRED');
    const aml = (d.aml_screenings as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(aml).toMatchObject({ status: 'In Review', total_hits: 1 });
    expect((aml.hits as unknown[]).length).toBe(1);
  });

  it('unknown session → 404', async () => {
    const answer = await call('GET', '/v3/session/00000000-0000-4000-8000-000000000000/decision/');
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ detail: 'Not found.' });
  });
});

describe('update-status', () => {
  async function inStatus(status: Parameters<DiditSandbox['decide']>[1] | 'Not Started'): Promise<string> {
    const created = await createSession({ workflow_id: WF });
    const id = String(created.session_id);
    if (status !== 'Not Started') await sandbox.decide(id, status);
    return id;
  }

  it.each(['Not Started', 'In Progress', 'Awaiting User', 'Expired'] as const)('from %s → 400', async (from) => {
    const id = await inStatus(from);
    const answer = await call('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Approved' });
    expect(answer.status).toBe(400);
    expect(sandbox.sessions().find((s) => s.sessionId === id)?.status).toBe(from);
  });

  it.each([
    ['In Review', 'Approved'],
    ['In Review', 'Declined'],
    ['Approved', 'Declined'],
    ['Declined', 'Approved'],
    ['Kyc Expired', 'Approved'],
    ['Abandoned', 'Resubmitted'],
  ] as const)('from %s to %s → 200', async (from, to) => {
    const id = await inStatus(from);
    const answer = await call('PATCH', `/v3/session/${id}/update-status/`, { new_status: to, comment: 'checked' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ session_id: id, session_kind: 'user' });
    expect(sandbox.sessions().find((s) => s.sessionId === id)?.status).toBe(to);
  });

  it('same status → 400', async () => {
    const id = await inStatus('Approved');
    expect((await call('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Approved' })).status).toBe(400);
  });

  it.each([
    ['missing new_status', {}],
    ['not an allowed target', { new_status: 'In Review' }],
    ['send_email without address', { new_status: 'Declined', send_email: true }],
    ['nodes_to_resubmit with Approved', { new_status: 'Declined', nodes_to_resubmit: ['feature_ocr_1'] }],
  ])('%s → 400', async (_name, body) => {
    const id = await inStatus('In Review');
    expect((await call('PATCH', `/v3/session/${id}/update-status/`, body)).status).toBe(400);
  });

  it('Resubmitted clears the chosen step, makes the URL usable again and is reused by vendor_data', async () => {
    const created = await createSession({ workflow_id: WF, vendor_data: 'corp:resub' });
    const id = String(created.session_id);
    await sandbox.decide(id, 'Declined');
    const answer = await call('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Resubmitted', nodes_to_resubmit: ['feature_ocr_1'], comment: 'blurry' });
    expect(answer.status).toBe(200);
    const { json: d } = await call('GET', `/v3/session/${id}/decision/`);
    expect(d.status).toBe('Resubmitted');
    expect(d.id_verifications).toBeNull();
    expect(d.liveness_checks).not.toBeNull();
    const again = await createSession({ workflow_id: WF, vendor_data: 'corp:resub' });
    expect(again.session_id).toBe(id);
    const page = await fetch(String(created.url));
    expect(page.status).toBe(200);
    expect(sandbox.sessions().find((s) => s.sessionId === id)?.status).toBe('In Progress');
  });

  it('unknown session → 404', async () => {
    expect((await call('PATCH', '/v3/session/00000000-0000-4000-8000-000000000000/update-status/', { new_status: 'Approved' })).status).toBe(404);
  });
});

describe('delete', () => {
  it('204, then the session is gone', async () => {
    const created = await createSession({ workflow_id: WF });
    const id = String(created.session_id);
    expect((await call('DELETE', `/v3/session/${id}/delete/`)).status).toBe(204);
    expect((await call('GET', `/v3/session/${id}/decision/`)).status).toBe(404);
  });
});

describe('hosted page', () => {
  it('is accessible HTML, not cached, without secrets, and moves the session to In Progress', async () => {
    const created = await createSession({ workflow_id: WF, vendor_data: 'corp:page-secret-subject' });
    const response = await fetch(String(created.url));
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toMatch(/<title>[^<]+<\/title>/);
    for (const name of ['Approve', 'Decline', 'Send to review']) {
      expect(html).toMatch(new RegExp(`<button type="submit" name="decision" value="\\w+"[^>]*>${name}</button>`));
    }
    for (const id of ['date_of_birth', 'age_estimation', 'aml_hit', 'document_expired']) {
      expect(html).toContain(`<label for="${id}">`);
      expect(html).toContain(`id="${id}"`);
    }
    expect(html).toContain(`action="/session/${String(created.session_token)}/decide"`);
    expect(html).toContain('method="post"');
    expect(html).not.toContain(API_KEY);
    expect(html).not.toContain(SECRET);
    expect(html).not.toContain('page-secret-subject');
    expect(sandbox.sessions().find((s) => s.sessionId === created.session_id)?.status).toBe('In Progress');
  });

  it('accepts the locale-prefixed path', async () => {
    const created = await createSession({ workflow_id: WF });
    const response = await fetch(`${base}/en/session/${String(created.session_token)}`);
    expect(response.status).toBe(200);
  });

  async function submit(token: string, form: Record<string, string>): Promise<Response> {
    return fetch(`${base}/session/${token}/decide`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }

  it.each([
    ['approve', 'Approved', 'https://app.example.com/kyc/done', 'https://app.example.com/kyc/done?verificationSessionId=ID&status=Approved'],
    ['review', 'In Review', 'https://app.example.com/cb?return_to=%2Fa%20b&x=1#frag', 'https://app.example.com/cb?return_to=%2Fa%20b&x=1&verificationSessionId=ID&status=In%20Review#frag'],
    ['decline', 'Declined', 'https://app.example.com/cb?', 'https://app.example.com/cb?verificationSessionId=ID&status=Declined'],
  ])('%s redirects to the callback with id and status', async (button, status, callback, expected) => {
    const created = await createSession({ workflow_id: WF, callback });
    await fetch(String(created.url));
    const response = await submit(String(created.session_token), { decision: button, date_of_birth: '1990-05-17' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(expected.replace('ID', String(created.session_id)));
    expect(sandbox.sessions().find((s) => s.sessionId === created.session_id)?.status).toBe(status);
  });

  it('applies the scenario inputs', async () => {
    const created = await createSession({ workflow_id: WF });
    await submit(String(created.session_token), { decision: 'approve', date_of_birth: '2012-02-29', aml_hit: 'on', age_estimation: '13.5', no_document: 'on' });
    const session = sandbox.sessions().find((s) => s.sessionId === created.session_id);
    expect(session?.scenario).toEqual({ dateOfBirth: '2012-02-29', amlHit: true, ageEstimation: 13.5, withoutDocument: true });
    const { json: d } = await call('GET', `/v3/session/${String(created.session_id)}/decision/`);
    expect(d.id_verifications).toBeNull();
    expect((d.liveness_checks as Record<string, unknown>[])[0]?.age_estimation).toBe(13.5);
  });

  it('without a callback shows a done page', async () => {
    const created = await createSession({ workflow_id: WF });
    const response = await submit(String(created.session_token), { decision: 'approve' });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Approved');
  });

  it('a second submission is refused with 409', async () => {
    const created = await createSession({ workflow_id: WF });
    await submit(String(created.session_token), { decision: 'approve' });
    const again = await submit(String(created.session_token), { decision: 'decline' });
    expect(again.status).toBe(409);
    expect(sandbox.sessions().find((s) => s.sessionId === created.session_id)?.status).toBe('Approved');
  });

  it.each([
    ['unknown button', { decision: 'hack' }],
    ['bad date', { decision: 'approve', date_of_birth: '2001-02-30' }],
    ['bad estimate', { decision: 'approve', age_estimation: 'old' }],
  ])('%s → 400', async (_name, form) => {
    const created = await createSession({ workflow_id: WF });
    expect((await submit(String(created.session_token), form)).status).toBe(400);
  });

  it('an oversized form → 413 page, and the session stays undecided', async () => {
    const created = await createSession({ workflow_id: WF });
    const response = await submit(String(created.session_token), { decision: 'approve', date_of_birth: 'x'.repeat(64 * 1024) });
    expect(response.status).toBe(413);
    expect(await response.text()).toContain('The form data is too large.');
    expect(sandbox.sessions().find((s) => s.sessionId === created.session_id)?.status).toBe('Not Started');
  });

  it('every page carries the CSP, no-sniff and no-referrer headers', async () => {
    const created = await createSession({ workflow_id: WF });
    for (const url of [String(created.url), `${base}/session/ZZZZZZZZZZZZ`, `${base}/nowhere`]) {
      const response = await fetch(url);
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('unknown token → 404', async () => {
    expect((await fetch(`${base}/session/AAAAAAAAAAAA`)).status).toBe(404);
  });

  it('an expired session shows an expired page', async () => {
    const created = await createSession({ workflow_id: WF });
    await sandbox.decide(String(created.session_id), 'Expired');
    expect((await fetch(String(created.url))).status).toBe(410);
  });
});

describe('faults and rate limits', () => {
  it('injected 500 answers with a non-JSON body, then service resumes', async () => {
    sandbox.injectApiFaults({ status: 500, count: 1 });
    const failed = await call('POST', '/v3/session/', { workflow_id: WF });
    expect(failed.status).toBe(500);
    expect(() => JSON.parse(failed.text) as unknown).toThrow();
    expect((await call('POST', '/v3/session/', { workflow_id: WF })).status).toBe(201);
  });

  it('injected 429 carries Retry-After', async () => {
    sandbox.injectApiFaults({ status: 429, retryAfter: 7, count: 1 });
    const answer = await call('POST', '/v3/session/', { workflow_id: WF });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
  });

  it('rate limits per key over a 60 s sliding window with Didit headers', async () => {
    const limited = createDiditSandbox({
      logger: pino({ level: 'silent' }),
      apiKey: API_KEY,
      webhookSecret: SECRET,
      clock: () => now,
      rateLimits: { create: 3, decision: 2 },
    });
    await limited.listen();
    try {
      const post = () =>
        fetch(`${limited.url}/v3/session/`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ workflow_id: WF }) });
      const first = await post();
      expect(first.status).toBe(201);
      expect(first.headers.get('x-ratelimit-limit')).toBe('3');
      expect(first.headers.get('x-ratelimit-remaining')).toBe('2');
      const { session_id: id } = (await first.json()) as { session_id: string };
      now += 10_000;
      expect((await post()).status).toBe(201);
      expect((await post()).status).toBe(201);
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('x-ratelimit-limit')).toBe('3');
      expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
      // The oldest request (at t0) leaves the window at t0 + 60 s.
      expect(Number(refused.headers.get('x-ratelimit-reset'))).toBe(Math.ceil((now - 10_000 + 60_000) / 1000));
      expect(Number(refused.headers.get('retry-after'))).toBe(50);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/throttled/);

      const decision = () => fetch(`${limited.url}/v3/session/${id}/decision/`, { headers: { 'x-api-key': API_KEY } });
      expect((await decision()).status).toBe(200);
      expect((await decision()).status).toBe(200);
      expect((await decision()).status).toBe(429);

      now += 50_001;
      expect((await post()).status).toBe(201);
    } finally {
      await limited.close();
    }
  });

  it('an unknown workflow is 404 when workflows are configured', async () => {
    const strict = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, workflows: { [WF]: { version: 3 } } });
    await strict.listen();
    try {
      const post = (wf: string) =>
        fetch(`${strict.url}/v3/session/`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ workflow_id: wf }) });
      const ok = await post(WF);
      expect(ok.status).toBe(201);
      expect(((await ok.json()) as { workflow_version: number }).workflow_version).toBe(3);
      expect((await post(WF2)).status).toBe(404);
    } finally {
      await strict.close();
    }
  });
});
