import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DiditError } from '../src/didit/didit-error.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createVerificationGate } from '../src/verification/create-verification-gate.js';
import type { Principal } from '../src/core/principal.js';
import { requestContextWith } from './support/tokens.js';

/**
 * Regression (found by test/e2e/fault-didit.test.ts): every failed session creation during a Didit outage
 * counted against the caller's step-up budget, so a user who retried a few times while Didit was down (or
 * the client's circuit was open) was locked out with 429 `verification_loop` for an hour after Didit came
 * back. Now a failed creation returns its slot; the cap still holds for sessions actually created.
 */
const WORKFLOW = { name: 'kyc', workflowId: '11111111-2222-4333-8444-0000000000e1', maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false };
const NEED = { workflow: 'kyc', maxAgeMs: WORKFLOW.maxAgeMs, onInReview: 'deny' as const, onDeclined: 'deny' as const };

function principal(sub: string): Principal {
  return { issuerName: 'test', issuer: 'https://issuer.example', sub, subject: `test:${sub}`, claims: {}, source: 'header', tokenId: sub };
}

function setup(failFirst: number) {
  let now = 1_700_000_000_000;
  const store = createMemoryStore({ logger: pino({ level: 'silent' }), clock: () => now });
  let calls = 0;
  let created = 0;
  const gate = createVerificationGate(
    {
      store,
      logger: pino({ level: 'silent' }),
      clock: () => now,
      didit: {
        async createSession() {
          calls += 1;
          if (calls <= failFirst) throw new DiditError('unavailable', 'Didit circuit is open');
          created += 1;
          return { sessionId: `00000000-0000-4000-8000-${String(created).padStart(12, '0')}`, url: `https://didit.example/session/${created}` };
        },
      },
    },
    { workflows: { kyc: WORKFLOW }, callbackUrl: 'https://idgate.example/verification/callback', maxStepUps: 3 },
  );
  const attempt = (sub: string) =>
    // The gate may answer synchronously; the async wrapper makes every attempt a promise, a throw a rejection.
    (async () => gate.check({ ctx: requestContextWith(), principal: principal(sub), needs: [NEED], routeId: 'payments', now, deadlineAt: now + 1_000 }))().then(
      (r) => (r.kind === 'deny' ? r.code : r.kind),
      (e: unknown) => (e instanceof DiditError ? `throws:${e.code}` : `throws:${String(e)}`),
    );
  return { store, attempt, advance: (ms: number) => (now += ms), created: () => created };
}

describe('step-up budget under Didit faults', () => {
  it('20 failed creations do not use up the budget: the first attempt after recovery gets its session', async () => {
    const { attempt } = setup(20);
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) outcomes.push(await attempt('alice'));
    expect(outcomes.every((o) => o === 'throws:unavailable')).toBe(true);
    expect(await attempt('alice')).toBe('step_up');
    console.log('[scorecard] stepup-budget: 20 failed creations during an outage → 0 budget used; first attempt after recovery → step_up');
  });

  it('still caps sessions actually created at maxStepUps per window', async () => {
    const { store, attempt, created } = setup(0);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await attempt('bob'));
      // The user abandons the session: without a pending session the next Check creates a new one.
      await store.deletePending('test:bob', 'kyc');
    }
    expect(outcomes).toEqual(['step_up', 'step_up', 'step_up', 'verification_loop', 'verification_loop']);
    expect(created()).toBe(3);
  });

  it('a returned slot expires with the window', async () => {
    const { store, attempt, advance } = setup(1);
    expect(await attempt('carol')).toBe('throws:unavailable');
    advance(2 * 3_600_000);
    for (let i = 0; i < 3; i++) {
      expect(await attempt('carol')).toBe('step_up');
      await store.deletePending('test:carol', 'kyc');
    }
    expect(await attempt('carol')).toBe('verification_loop');
  });
});
