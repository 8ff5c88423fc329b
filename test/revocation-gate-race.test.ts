import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createVerificationGate } from '../src/verification/create-verification-gate.js';
import type { Principal } from '../src/core/principal.js';
import { requestContextWith } from './support/tokens.js';

/**
 * A revocation that lands while the gate is creating a Didit session (after idgate asked Didit, before
 * it stored the pending session): that session was created before the revocation, so it must never be
 * handed out (it could never settle, or worse, would count as newer than the revocation). The next
 * attempt gets a session created after the revocation.
 */
const WORKFLOW = { name: 'kyc', workflowId: '11111111-2222-4333-8444-0000000000e1', maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false };
const NEED = { workflow: 'kyc', maxAgeMs: WORKFLOW.maxAgeMs, onInReview: 'deny' as const, onDeclined: 'deny' as const };
const principal: Principal = { issuerName: 'test', issuer: 'https://issuer.example', sub: 'alice', subject: 'test:alice', claims: {}, source: 'header', tokenId: 'alice' };

describe('a revocation racing a session creation', () => {
  it('does not hand out the session created before it; the next attempt gets a new one, recorded after it', async () => {
    let now = 1_700_000_000_000;
    const store = createMemoryStore({ logger: pino({ level: 'silent' }), clock: () => now });
    let created = 0;
    let revokeDuringCreation = true;
    const gate = createVerificationGate(
      {
        store,
        logger: pino({ level: 'silent' }),
        clock: () => now,
        didit: {
          async createSession() {
            created += 1;
            // Didit answers after a while; meanwhile an operator revokes the subject.
            now += 50;
            if (revokeDuringCreation) await store.revokeVerdicts('test:alice', undefined, { at: now, reason: 'admin' });
            now += 50;
            return { sessionId: `00000000-0000-4000-8000-${String(created).padStart(12, '0')}`, url: `https://didit.example/session/${created}` };
          },
        },
      },
      { workflows: { kyc: WORKFLOW }, callbackUrl: 'https://idgate.example/verification/callback', maxStepUps: 3 },
    );
    const attempt = () => gate.check({ ctx: requestContextWith(), principal, needs: [NEED], routeId: 'payments', now, deadlineAt: now + 1_000 });

    const first = await attempt();
    expect(first).toMatchObject({ kind: 'deny', status: 503, code: 'dependency_unavailable' });
    expect(await store.getPending('test:alice', 'kyc')).toBeUndefined();

    revokeDuringCreation = false;
    const second = await attempt();
    expect(second).toMatchObject({ kind: 'step_up', sessionId: '00000000-0000-4000-8000-000000000002' });
    const [revocation] = await store.getRevocations('test:alice');
    const pending = await store.getPending('test:alice', 'kyc');
    expect(pending?.createdAt).toBeGreaterThan(revocation!.at);
    // The racing session's slot was given back: two creations, one budget slot used.
    expect(await store.countStepUp('test:alice', 'kyc', 3_600_000)).toBe(2);
  });
});
