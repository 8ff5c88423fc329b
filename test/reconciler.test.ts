import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowConfig } from '../src/config/types.js';
import { createDiditClient, type DiditClient } from '../src/didit/create-didit-client.js';
import { createDiditSandbox, type DiditSandbox } from '../src/sandbox/create-didit-sandbox.js';
import { createMemoryStore, type MemoryStore } from '../src/store/memory/create-memory-store.js';
import { createReconciler } from '../src/verification/create-reconciler.js';

/**
 * The reconciliation sweep against the Didit sandbox: sessions whose webhook never came are settled by a
 * decision fetch, and sessions the user never finished do not monopolise the sweep's per-run budget.
 */
const logger = pino({ level: 'silent' });
const KYC = '11111111-2222-4333-8444-00000000ee01';
const workflows: Record<string, WorkflowConfig> = {
  kyc: { name: 'kyc', workflowId: KYC, maxAgeMs: 365 * 86_400_000, requireAmlClear: false, requireDocumentValid: false },
};

let sandbox: DiditSandbox;
let didit: DiditClient;
let store: MemoryStore;
let now = Date.now();

beforeAll(async () => {
  sandbox = createDiditSandbox({ logger, apiKey: 'k', webhookSecret: 'webhook-secret-0123456789' });
  await sandbox.listen();
  didit = createDiditClient({ logger, baseUrl: sandbox.url, apiKey: 'k', timeoutMs: 2_000, maxRetries: 0 });
  store = createMemoryStore({ logger, clock: () => now });
});

afterAll(async () => {
  await didit?.close();
  await sandbox?.close();
});

async function pendingFor(subject: string, createdAt: number): Promise<string> {
  const s = await didit.createSession({ workflowId: KYC, vendorData: subject, callback: 'http://127.0.0.1/cb' });
  await store.putPending({ subject, workflow: 'kyc', sessionId: s.sessionId, url: s.url, createdAt }, 86_400_000);
  return s.sessionId;
}

describe('createReconciler', () => {
  it('takes other sessions first after one is found still open, and settles the one Didit decided', async () => {
    const base = now - 3_600_000;
    await pendingFor('t:never-opened-1', base);
    await pendingFor('t:never-opened-2', base + 1);
    const decided = await pendingFor('t:decided', base + 2);
    await sandbox.decide(decided, 'Approved');
    const reconciler = createReconciler(
      { store, didit, logger, clock: () => now },
      { workflows, reconcileAfterMs: 60_000, intervalMs: 60_000, maxPerSweep: 1 },
    );
    // One fetch per sweep; the two never-opened sessions are deferred in turn, then the decided one settles.
    const settledPerSweep: number[] = [];
    for (let i = 0; i < 3; i++) {
      now += 61_000; // the sweep lock expires and deferred sessions are not stale again yet
      settledPerSweep.push(await reconciler.sweepOnce());
    }
    expect(settledPerSweep).toEqual([0, 0, 1]);
    const [verdict] = await store.getVerdicts('t:decided', ['kyc']);
    expect(verdict?.status).toBe('Approved');
    expect(await store.getPending('t:decided', 'kyc')).toBeUndefined();
    expect(await store.getPending('t:never-opened-1', 'kyc')).toBeDefined();
  });

  it('reports the backlog its sweep found (idgate_reconcile_backlog), and none while another replica sweeps', async () => {
    now += 600_000;
    await pendingFor('t:backlog-1', now - 3_600_000);
    await pendingFor('t:backlog-2', now - 3_600_000);
    const reported: (number | undefined)[] = [];
    const make = () =>
      createReconciler(
        { store, didit, logger, clock: () => now, metrics: { backlog: (n) => reported.push(n) } },
        { workflows, reconcileAfterMs: 60_000, intervalMs: 60_000, maxPerSweep: 10 },
      );
    const [a, b] = [make(), make()];
    await a.sweepOnce();
    await b.sweepOnce(); // the lock is a's until it expires: b must drop its stale value
    expect(reported).toHaveLength(2);
    expect(reported[0]).toBeGreaterThanOrEqual(2);
    expect(reported[0]).toBeLessThanOrEqual(10);
    expect(reported[1]).toBeUndefined();
  });
});
