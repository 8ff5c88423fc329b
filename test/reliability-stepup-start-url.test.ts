import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DiditError } from '../src/didit/didit-error.js';
import type { Principal } from '../src/core/principal.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createVerificationGate } from '../src/verification/create-verification-gate.js';
import { createStartTickets } from '../src/verification/start-ticket.js';
import { requestContextWith } from './support/tokens.js';

/**
 * Regression for issue 13: with Didit answering session creation slower than the Check's budget, the first
 * Check of a new subject waited for Didit and was answered 503 `deadline_exceeded`. Now the Check answers
 * a step-up with idgate's own start URL and the creation finishes in the background. Didit here is a
 * scripted creator that answers only when the test releases it (no timing).
 */
const WORKFLOW = { name: 'kyc', workflowId: '11111111-2222-4333-8444-0000000000e1', maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false };
const NEED = { workflow: 'kyc', maxAgeMs: WORKFLOW.maxAgeMs, onInReview: 'deny' as const, onDeclined: 'deny' as const };
const TICKET_KEY = 'unit-test-ticket-key-0123456789';

function principal(sub: string): Principal {
  return { issuerName: 'test', issuer: 'https://issuer.example', sub, subject: `test:${sub}`, claims: {}, source: 'header', tokenId: sub };
}

function setup(mode: 'hang' | 'fail-later') {
  const now = 1_700_000_000_000;
  const store = createMemoryStore({ logger: pino({ level: 'silent' }), clock: () => now });
  const releases: Array<() => void> = [];
  let calls = 0;
  let backgroundFailures = 0;
  let issued = 0;
  const tickets = createStartTickets({ clock: () => now }, { secrets: [TICKET_KEY] });
  const gate = createVerificationGate(
    {
      store,
      logger: pino({ level: 'silent' }),
      clock: () => now,
      metrics: { startUrlIssued: () => (issued += 1), backgroundFailure: () => (backgroundFailures += 1) },
      didit: {
        createSession() {
          calls += 1;
          const n = calls;
          return new Promise((resolve, reject) => {
            releases.push(() =>
              mode === 'hang'
                ? resolve({ sessionId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, url: `https://didit.example/session/${n}` })
                : reject(new DiditError('unavailable', 'Didit is down')),
            );
          });
        },
      },
    },
    {
      workflows: { kyc: WORKFLOW },
      callbackUrl: 'https://idgate.example/verification/callback',
      maxStepUps: 3,
      startUrl: { baseUrl: 'https://idgate.example', tickets },
    },
  );
  // A 40 ms budget in real time: the creator never answers within it unless released.
  const check = (sub: string) =>
    gate.check({ ctx: requestContextWith({ accept: 'text/html' }), principal: principal(sub), needs: [NEED], routeId: 'payments', now, deadlineAt: now + 50 });
  return { store, check, tickets, releases, calls: () => calls, backgroundFailures: () => backgroundFailures, issued: () => issued };
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setImmediate(r));
  }
}

describe('step-up when Didit is slower than the Check budget', () => {
  it('answers at once with a start URL (no session id), creates one session in the background, then answers Didit directly', async () => {
    const h = setup('hang');
    const burst = await Promise.all(Array.from({ length: 10 }, () => h.check('alice')));
    for (const r of burst) {
      expect(r.kind).toBe('step_up');
      if (r.kind !== 'step_up') continue;
      expect(r.verificationUrl.startsWith('https://idgate.example/verification/start/')).toBe(true);
      expect(r.sessionId).toBeUndefined();
      const ticket = h.tickets.verify(r.verificationUrl.slice('https://idgate.example/verification/start/'.length));
      expect(ticket).toMatchObject({ ok: true, claims: { subject: 'test:alice', workflow: 'kyc', returnTo: 'https://app.example.com/' } });
    }
    expect(h.calls()).toBe(1);
    expect(h.issued()).toBe(10);
    h.releases[0]?.();
    await until(async () => (await h.store.getPending('test:alice', 'kyc')) !== undefined);
    const next = await h.check('alice');
    expect(next).toEqual({ kind: 'step_up', workflow: 'kyc', verificationUrl: 'https://didit.example/session/1', sessionId: '00000000-0000-4000-8000-000000000001' });
    expect(h.calls()).toBe(1);
  });

  it('a background creation that fails later is counted, uses no step-up budget, and the next Check tries again', async () => {
    const h = setup('fail-later');
    expect((await h.check('bob')).kind).toBe('step_up');
    h.releases[0]?.();
    await until(() => h.backgroundFailures() === 1);
    expect(await h.store.getPending('test:bob', 'kyc')).toBeUndefined();
    // Four more failed rounds: with maxStepUps 3 a budget leak would turn these into verification_loop.
    for (let i = 1; i <= 4; i++) {
      expect((await h.check('bob')).kind).toBe('step_up');
      h.releases[i]?.();
      await until(() => h.backgroundFailures() === i + 1);
    }
    expect(h.calls()).toBe(5);
  });
});
