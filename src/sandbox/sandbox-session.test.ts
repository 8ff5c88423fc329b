import { describe, expect, it } from 'vitest';
import { SESSION_STATUSES, type SessionStatus } from '../core/verdict.js';
import { buildSandboxDecision, SANDBOX_NODES } from './build-sandbox-decision.js';
import {
  hostedPageView,
  isReusable,
  openSession,
  reuseSession,
  setSessionStatus,
  startSession,
  submitSession,
  UPDATABLE_TO,
  updateSessionStatus,
  type SandboxSession,
  type SessionSteps,
  type SessionTransition,
} from './sandbox-session.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY = 86_400_000;
const WF = '9f1e0000-0000-4000-8000-0000000000AA';

function fresh(now = T0): SandboxSession {
  return startSession(
    {
      sessionId: 's-1',
      sessionNumber: 7,
      sessionToken: 'abcdefghjkmn',
      url: 'http://sandbox.test/session/abcdefghjkmn',
      workflowId: WF,
      workflowVersion: 1,
      vendorData: 'user-1',
      callback: 'https://app.test/cb',
      callbackMethod: 'initiator',
      metadata: { plan: 'gold' },
      contactDetails: null,
      expectedDetails: null,
    },
    now,
  );
}

function inStatus(status: SessionStatus, extra: Partial<SandboxSession> = {}): SandboxSession {
  return { ...fresh(), status, ...extra };
}

function expectOk(t: SessionTransition): SessionSteps {
  if (!t.ok) throw new Error(`refused: ${t.refusal} ${t.detail}`);
  return t;
}

const UNFINISHED_FOR_FORM: readonly SessionStatus[] = ['Not Started', 'In Progress', 'Resubmitted'];
const FINISHED_FOR_FORM = SESSION_STATUSES.filter((s) => !UNFINISHED_FOR_FORM.includes(s));
const UPDATABLE_FROM: readonly SessionStatus[] = ['Approved', 'Declined', 'In Review', 'Kyc Expired', 'Abandoned', 'Resubmitted'];

describe('startSession', () => {
  it('starts Not Started at the time passed in, with no scenario, capture or resubmission', () => {
    const s = fresh(T0 + 5);
    expect(s.status).toBe('Not Started');
    expect(s.createdAt).toBe(T0 + 5);
    expect(s.capturedAt).toBeUndefined();
    expect(s.scenario).toEqual({});
    expect(s.clearedNodes).toEqual([]);
    expect(s.resubmitInfo).toBeUndefined();
  });

  it('copies metadata, so the caller’s object cannot change the session later', () => {
    const metadata = { plan: 'gold' };
    const s = startSession({ ...fresh(), metadata }, T0);
    metadata.plan = 'changed';
    expect(s.metadata).toEqual({ plan: 'gold' });
  });
});

describe('vendor_data reuse', () => {
  it('reuses an unfinished session of the same vendor data and workflow version (workflow id case-insensitive)', () => {
    for (const status of ['Not Started', 'In Progress', 'Resubmitted', 'Awaiting User'] as const) {
      expect(isReusable(inStatus(status), 'user-1', WF.toLowerCase(), 1)).toBe(true);
    }
  });

  it('never reuses a finished session, another vendor, workflow or version', () => {
    for (const status of ['Approved', 'Declined', 'In Review', 'Expired', 'Abandoned', 'Kyc Expired'] as const) {
      expect(isReusable(inStatus(status), 'user-1', WF, 1)).toBe(false);
    }
    expect(isReusable(fresh(), 'user-2', WF, 1)).toBe(false);
    expect(isReusable(fresh(), 'user-1', '9f1e0000-0000-4000-8000-0000000000bb', 1)).toBe(false);
    expect(isReusable(fresh(), 'user-1', WF, 2)).toBe(false);
  });

  it('takes the new callback and a copy of the new metadata, keeping status and identity', () => {
    const metadata = { n: 1 };
    const reused = reuseSession(inStatus('In Progress'), null, metadata);
    metadata.n = 2;
    expect(reused).toMatchObject({ sessionId: 's-1', status: 'In Progress', callback: null, metadata: { n: 1 } });
  });
});

describe('openSession (the hosted page is opened)', () => {
  it.each(['Not Started', 'Resubmitted'] as const)('%s → In Progress, announced once', (status) => {
    const before = inStatus(status);
    const { session, steps } = openSession(before);
    expect(session.status).toBe('In Progress');
    expect(steps.map((s) => s.status)).toEqual(['In Progress']);
    expect(before.status).toBe(status);
  });

  it.each(SESSION_STATUSES.filter((s) => s !== 'Not Started' && s !== 'Resubmitted'))('%s stays, nothing announced', (status) => {
    const before = inStatus(status);
    const { session, steps } = openSession(before);
    expect(session).toBe(before);
    expect(steps).toEqual([]);
  });

  it('shows the form only In Progress, 410 once Expired, "finished" otherwise', () => {
    const views = Object.fromEntries(SESSION_STATUSES.map((s) => [s, hostedPageView(s)]));
    expect(views).toEqual({
      'Not Started': 'finished',
      'In Progress': 'form',
      'In Review': 'finished',
      Approved: 'finished',
      Declined: 'finished',
      'Awaiting User': 'finished',
      Resubmitted: 'finished',
      Expired: 'expired',
      Abandoned: 'finished',
      'Kyc Expired': 'finished',
    });
  });
});

describe('submitSession (the hosted form is posted)', () => {
  it.each(['Approved', 'Declined', 'In Review'] as const)('In Progress → %s: one step, data captured at the time passed in', (decision) => {
    const { session, steps } = expectOk(submitSession(inStatus('In Progress'), decision, { amlHit: true }, T0 + DAY));
    expect(steps.map((s) => s.status)).toEqual([decision]);
    expect(session).toBe(steps[0]);
    expect(session).toMatchObject({ status: decision, capturedAt: T0 + DAY, scenario: { amlHit: true }, clearedNodes: [] });
  });

  it.each(['Not Started', 'Resubmitted'] as const)('%s passes through In Progress first (two webhooks, as for a user who opened the page)', (status) => {
    const before = inStatus(status, {
      clearedNodes: ['feature_ocr_1'],
      resubmitInfo: { nodes_to_resubmit: ['feature_ocr_1'], reasons: { feature_ocr_1: 'again' } },
    });
    const { session, steps } = expectOk(submitSession(before, 'Approved', {}, T0 + 1));
    expect(steps.map((s) => s.status)).toEqual(['In Progress', 'Approved']);
    expect(session.resubmitInfo).toBeUndefined();
    expect(session.clearedNodes).toEqual([]);
    expect(before.status).toBe(status);
  });

  it.each(FINISHED_FOR_FORM)('refused from %s (409 "finished"), nothing changes', (status) => {
    const result = submitSession(inStatus(status), 'Approved', {}, T0);
    expect(result).toEqual({ ok: false, refusal: 'finished', detail: `This verification is already finished (status: ${status}).` });
  });
});

describe('updateSessionStatus (a reviewer’s update-status)', () => {
  const legal = UPDATABLE_FROM.flatMap((from) => UPDATABLE_TO.filter((to) => to !== from).map((to) => [from, to] as const));

  it.each(legal)('%s → %s is allowed and announced once', (from, to) => {
    const { session, steps } = expectOk(updateSessionStatus(inStatus(from), to));
    expect(session.status).toBe(to);
    expect(steps).toEqual([session]);
  });

  it.each(SESSION_STATUSES.filter((s) => !UPDATABLE_FROM.includes(s)))('refused from %s (not decided yet, or expired)', (status) => {
    for (const to of UPDATABLE_TO) {
      expect(updateSessionStatus(inStatus(status), to)).toEqual({
        ok: false,
        refusal: 'not_updatable',
        detail: `Cannot update the status of a session in status "${status}".`,
      });
    }
  });

  it.each(UPDATABLE_TO)('refused to the status the session already has (%s)', (status) => {
    expect(updateSessionStatus(inStatus(status), status)).toEqual({ ok: false, refusal: 'unchanged', detail: `The session is already "${status}".` });
  });

  it('Resubmitted clears the named nodes (adding to earlier ones) and records the comment as the reason', () => {
    const before = inStatus('Declined', { clearedNodes: ['feature_aml_1'], capturedAt: T0 });
    const { session } = expectOk(updateSessionStatus(before, 'Resubmitted', { nodes: ['feature_ocr_1'], comment: 'Blurry photo' }));
    expect(session.clearedNodes).toEqual(['feature_aml_1', 'feature_ocr_1']);
    expect(session.resubmitInfo).toEqual({ nodes_to_resubmit: ['feature_ocr_1'], reasons: { feature_ocr_1: 'Blurry photo' } });
    expect(session.capturedAt).toBe(T0);
  });

  it('Resubmitted without nodes or comment clears every node with the default reason', () => {
    const { session } = expectOk(updateSessionStatus(inStatus('Approved'), 'Resubmitted', { nodes: [], comment: '' }));
    expect(session.clearedNodes).toEqual(SANDBOX_NODES);
    expect(Object.values(session.resubmitInfo?.reasons ?? {})).toEqual(SANDBOX_NODES.map(() => 'Please repeat this step.'));
  });

  it('Approved after Resubmitted drops the resubmission but captures nothing new (Didit keeps its data)', () => {
    const before = inStatus('Resubmitted', {
      capturedAt: T0,
      clearedNodes: ['feature_ocr_1'],
      resubmitInfo: { nodes_to_resubmit: ['feature_ocr_1'], reasons: { feature_ocr_1: 'x' } },
    });
    const { session } = expectOk(updateSessionStatus(before, 'Approved'));
    expect(session.resubmitInfo).toBeUndefined();
    expect(session.capturedAt).toBe(T0);
    expect(session.clearedNodes).toEqual(['feature_ocr_1']);
  });
});

describe('setSessionStatus (test hooks set any status)', () => {
  it.each(SESSION_STATUSES)('accepts %s from any status', (status) => {
    for (const from of SESSION_STATUSES) expect(setSessionStatus(inStatus(from), status, undefined, T0).status).toBe(status);
  });

  it.each(['Approved', 'Declined', 'In Review', 'Kyc Expired'] as const)('%s captures data at the time passed in and restores every node', (status) => {
    const s = setSessionStatus(inStatus('In Progress', { clearedNodes: ['feature_ocr_1'] }), status, undefined, T0 + 3 * DAY);
    expect(s.capturedAt).toBe(T0 + 3 * DAY);
    expect(s.clearedNodes).toEqual([]);
  });

  it.each(['Expired', 'Abandoned', 'Not Started', 'In Progress', 'Awaiting User', 'Resubmitted'] as const)('%s captures nothing', (status) => {
    const s = setSessionStatus(inStatus('Approved', { capturedAt: T0, clearedNodes: ['feature_aml_1'] }), status, undefined, T0 + DAY);
    expect(s.capturedAt).toBe(T0);
    expect(s.clearedNodes).toEqual(['feature_aml_1']);
  });

  it('replaces the scenario only when one is given, and keeps resubmit info only while Resubmitted', () => {
    const resubmitInfo = { nodes_to_resubmit: ['feature_ocr_1'], reasons: { feature_ocr_1: 'x' } };
    const before = inStatus('Resubmitted', { scenario: { amlHit: true }, resubmitInfo });
    expect(setSessionStatus(before, 'Resubmitted', undefined, T0)).toMatchObject({ scenario: { amlHit: true }, resubmitInfo });
    const after = setSessionStatus(before, 'Declined', { documentExpired: true }, T0);
    expect(after.scenario).toEqual({ documentExpired: true });
    expect(after.resubmitInfo).toBeUndefined();
    expect(before.scenario).toEqual({ amlHit: true });
  });
});

describe('time: expiry and age follow the capture time passed in', () => {
  function idStep(session: SandboxSession): Record<string, unknown> {
    const decision = buildSandboxDecision(session) as { id_verifications: Record<string, unknown>[] | null };
    const step = decision.id_verifications?.[0];
    if (step === undefined) throw new Error('no ID step');
    return step;
  }

  it('an expired document expired 30 days before the capture, a valid one expires 5 years after it', () => {
    const now = Date.UTC(2026, 2, 31);
    const expired = setSessionStatus(fresh(), 'Declined', { documentExpired: true }, now);
    expect(idStep(expired).expiration_date).toBe('2026-03-01');
    expect(idStep(expired).status).toBe('Declined');
    const valid = setSessionStatus(fresh(), 'Approved', {}, now);
    expect(idStep(valid).expiration_date).toBe('2031-03-31');
  });

  it('deciding again later moves the capture, and with it the age and the expiry date', () => {
    const scenario = { dateOfBirth: '2008-06-01' };
    const first = setSessionStatus(fresh(), 'Approved', scenario, Date.UTC(2026, 4, 31));
    const later = setSessionStatus(first, 'Approved', undefined, Date.UTC(2026, 5, 1));
    expect(idStep(first).age).toBe(17);
    expect(idStep(later).age).toBe(18);
    expect(idStep(later).expiration_date).toBe('2031-06-01');
  });

  it('nothing is captured before a decision, whatever the time', () => {
    const decision = buildSandboxDecision(openSession(fresh()).session) as Record<string, unknown>;
    expect(decision.id_verifications).toBeNull();
  });

  it('an Expired session is final for the user and the reviewer: no form, no submission, no update', () => {
    const expired = setSessionStatus(inStatus('In Progress'), 'Expired', undefined, T0 + 30 * DAY);
    expect(hostedPageView(expired.status)).toBe('expired');
    expect(openSession(expired).steps).toEqual([]);
    expect(submitSession(expired, 'Approved', {}, T0 + 31 * DAY).ok).toBe(false);
    expect(updateSessionStatus(expired, 'Approved').ok).toBe(false);
  });
});
