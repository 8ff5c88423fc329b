import type { AuthResult } from './auth-result.js';
import type { Decision, DenyDecision } from './decision.js';
import type { Outcome, VerificationNeed } from './outcome.js';
import type { Principal } from './principal.js';
import type { RequestContext } from './request-context.js';
import type { RiskAssessment } from './risk-assessment.js';

/*
 * The interfaces of the decision pipeline's stages, in pipeline order: identity → (risk) → policy →
 * verification, then the observer. The engine (`engine/create-engine.ts`) depends on these alone; each is
 * implemented in its own folder, which the engine never imports (the composition root wires them in).
 * The pipeline as a whole is the `Decider` (decider.ts).
 */

/** Verifies the caller's token. Implemented by `createAuthenticator()` in identity/. */
export interface Authenticator {
  /**
   * @param now epoch ms (injected clock). Never rejects: faults become `failed`. May answer synchronously
   * when nothing has to be fetched or verified (no credential, a cached token): the engine then decides a
   * fully cached Check without a promise.
   */
  authenticate(ctx: RequestContext, now: number): AuthResult | Promise<AuthResult>;
}

/** The compiled policy as the engine uses it (implemented by `compilePolicy()` in policy/). */
export interface PolicyEvaluator {
  evaluate(ctx: RequestContext, auth: AuthResult, now: number, risk?: RiskAssessment): Outcome;
  /**
   * Whether the route this request selects uses the risk score (risk bands or a risk condition). When
   * absent, no route is treated as using risk.
   */
  needsRisk?(ctx: RequestContext): boolean;
  /**
   * False when `evaluate` refuses the request before choosing a route, whatever the caller (an unsafe path,
   * no method, a refused method override, a trusted context header that is not one well-formed value). The
   * engine then records nothing about it — no risk sighting — so denied requests cannot write a subject's
   * risk history. When absent, every request is admitted.
   */
  admits?(ctx: RequestContext): boolean;
}

/** The verification stage's answer for a set of needs. */
export type VerificationResult =
  | { readonly kind: 'satisfied'; readonly workflows: readonly string[] }
  | { readonly kind: 'step_up'; readonly workflow: string; readonly verificationUrl: string; readonly sessionId?: string }
  | Pick<DenyDecision, 'status' | 'code' | 'message' | 'retryAfter' | 'extra'> & { readonly kind: 'deny' };

/**
 * Looks up verdicts and orchestrates step-up (implemented in verification/). Answers synchronously when
 * every verdict is in the local cache and no step-up is needed; a store fault may throw or reject.
 */
export interface VerificationGate {
  check(input: {
    readonly ctx: RequestContext;
    readonly principal: Principal;
    readonly needs: readonly VerificationNeed[];
    readonly routeId: string;
    readonly now: number;
    readonly deadlineAt: number;
  }): VerificationResult | Promise<VerificationResult>;
}

/** Continuous-verification signals (implemented in risk/); optional. */
export interface RiskEvaluator {
  /** Records the request and assesses it; rejects on a store fault (the engine then fails closed). */
  assess(ctx: RequestContext, principal: Principal, now: number): Promise<RiskAssessment>;
  /**
   * Records the request in the background without assessing it (for routes that do not use risk);
   * never throws and never delays the decision.
   */
  record?(ctx: RequestContext, principal: Principal, now: number): void;
}

/** What the engine reports about every decision (implemented by observability/). */
export interface DecisionObserver {
  /**
   * @param decision what was answered.
   * @param outcome the policy's outcome, when the policy ran.
   * @param details `wouldBe`: for a shadow decision (`decision.shadow`), the deny or step-up that was
   *   downgraded to allow; `risk`: the assessment when the route used risk.
   */
  observe(
    ctx: RequestContext,
    decision: Decision,
    outcome: Outcome | undefined,
    durationMs: number,
    details?: ObservedDetails,
  ): void;
}

/** Extra facts about one decision for the observer. */
export interface ObservedDetails {
  readonly wouldBe?: Exclude<Decision, { kind: 'allow' }>;
  readonly risk?: RiskAssessment;
  /** The identity stage's answer, when the policy ran (for replay records). */
  readonly auth?: AuthResult;
  /** The clock the policy evaluated at (epoch ms), when it ran (for replay records). */
  readonly evaluatedAt?: number;
}
