import type { Logger } from 'pino';
import type { IdgateConfig } from '../src/config/types.js';
import { compileRenderOptions, type CompiledRenderOptions } from '../src/core/render-decision.js';
import type { Decider } from '../src/core/decider.js';
import type { Authenticator, DecisionObserver } from '../src/core/stages.js';
import { createEngine } from '../src/engine/create-engine.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { createMemoryStore } from '../src/store/memory/create-memory-store.js';
import { createVerificationGate } from '../src/verification/create-verification-gate.js';

/**
 * idgate's decision engine as the server builds it, in-process, for the micro benches: the config's policy,
 * a verification gate over a memory store in which `subject` holds an approved `workflow` verdict (so its
 * Checks are allows), and the default render options. Didit is never reached (no step-up on that path).
 * `observer`, when given, is the engine's decision observer (the server always wires one: metrics and the
 * decision log).
 */
export async function createInProcessEngine(
  config: IdgateConfig,
  authenticator: Authenticator,
  logger: Logger,
  verdict: { readonly subject: string; readonly workflow: string },
  observer?: DecisionObserver,
): Promise<{ readonly engine: Decider; readonly render: CompiledRenderOptions }> {
  const store = createMemoryStore({ logger });
  const now = Date.now();
  await store.putVerdict({ ...verdict, sessionId: 's', status: 'Approved', eventAt: now, decidedAt: now, facts: {} });
  const gate = createVerificationGate(
    { store, didit: { createSession: () => Promise.reject(new Error('unused')) }, logger },
    { workflows: config.workflows, callbackUrl: 'http://127.0.0.1:8080/verification/callback', maxStepUps: 5 },
  );
  const policy = compilePolicy(config);
  const engine = createEngine({ authenticator, policy: () => policy, verification: gate, ...(observer !== undefined ? { observer } : {}) }, { headerPrefix: 'x-idgate-' });
  return { engine, render: compileRenderOptions({}) };
}
