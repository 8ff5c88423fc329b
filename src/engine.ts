import type { Decision, DenyDecision } from './core/decision.js';
import type { Decider } from './core/decider.js';
import type { RequestContext } from './core/request-context.js';
import type { Principal } from './core/principal.js';
import type { AuthResult, Authenticator } from './identity/auth-result.js';
import type { Outcome, VerificationNeed } from './policy/outcome.js';
import type { RiskAssessment } from './risk/risk-assessment.js';

/** The compiled policy as the engine uses it (implemented by `compilePolicy()` in policy/). */
export interface PolicyEvaluator {
  evaluate(ctx: RequestContext, auth: AuthResult, now: number, risk?: RiskAssessment): Outcome;
}

/** The verification stage's answer for a set of needs. */
export type VerificationResult =
  | { readonly kind: 'satisfied'; readonly workflows: readonly string[] }
  | { readonly kind: 'step_up'; readonly workflow: string; readonly verificationUrl: string; readonly sessionId: string }
  | Pick<DenyDecision, 'status' | 'code' | 'message' | 'retryAfter' | 'extra'> & { readonly kind: 'deny' };

/** Looks up verdicts and orchestrates step-up (implemented in verification/). */
export interface VerificationGate {
  check(input: {
    readonly ctx: RequestContext;
    readonly principal: Principal;
    readonly needs: readonly VerificationNeed[];
    readonly routeId: string;
    readonly now: number;
    readonly deadlineAt: number;
  }): Promise<VerificationResult>;
}

/** Continuous-verification signals (implemented in risk/); optional. */
export interface RiskEvaluator {
  assess(ctx: RequestContext, principal: Principal, now: number): Promise<RiskAssessment>;
}

/** What the engine reports about every decision (implemented by observability/). */
export interface DecisionObserver {
  observe(ctx: RequestContext, decision: Decision, outcome: Outcome | undefined, durationMs: number): void;
}

export interface EngineDeps {
  readonly authenticator: Authenticator;
  /** Returns the current policy; called once per request so a hot reload swaps it atomically. */
  readonly policy: () => PolicyEvaluator;
  readonly verification?: VerificationGate;
  readonly risk?: RiskEvaluator;
  readonly observer?: DecisionObserver;
  readonly clock?: () => number;
  /** Reports unexpected faults (the decision is already a fail-closed deny). */
  readonly onFault?: (err: unknown, ctx: RequestContext) => void;
}

export interface EngineOptions {
  /** Prefix of the identity headers (default `x-idgate-`). */
  readonly headerPrefix: string;
}

/**
 * The decision pipeline: identity → (risk) → policy → verification → Decision.
 *
 * Stage rules: identity never rejects (a bad token is a `failed` result the policy turns into 401);
 * policy is pure; verification consults the store and Didit. Any thrown fault is caught here and becomes
 * a fail-closed deny (503 `dependency_unavailable` for coded dependency errors, else `internal_error`),
 * unless the matched route opted into `failOpen` for dependency faults.
 */
export function createEngine(deps: EngineDeps, options: EngineOptions): Decider {
  const clock = deps.clock ?? Date.now;
  const subjectHeader = `${options.headerPrefix}subject`;
  const issuerHeader = `${options.headerPrefix}issuer`;
  const verifiedHeader = `${options.headerPrefix}verified`;
  const shadowHeader = `${options.headerPrefix}shadow-decision`;

  function allowFrom(
    outcome: Extract<Outcome, { kind: 'allow' | 'verify' }>,
    principal: Principal | undefined,
    verified: readonly string[] | undefined,
  ): Decision {
    const headers: Record<string, string> = { ...outcome.headers };
    const metadata: Record<string, string | number | boolean> = {};
    if (outcome.routeId !== undefined) metadata.route = outcome.routeId;
    if (principal) {
      headers[subjectHeader] = principal.subject;
      headers[issuerHeader] = principal.issuerName;
      metadata.subject = principal.subject;
      metadata.issuer = principal.issuerName;
    }
    if (verified && verified.length > 0) {
      headers[verifiedHeader] = verified.join(',');
      metadata.verified = verified.join(',');
    }
    return { kind: 'allow', headers, metadata, routeId: outcome.routeId, subject: principal?.subject };
  }

  /** Shadow mode: keep the would-be decision visible (log, header) but let the request through. */
  function applyShadow(decision: Decision, outcome: Outcome): Decision {
    if (!outcome.shadow || decision.kind === 'allow') return decision;
    const would = decision.kind === 'deny' ? `deny:${decision.code}` : `step_up:${decision.workflow}`;
    return {
      kind: 'allow',
      headers: { [shadowHeader]: would },
      metadata: { shadow: would, ...(outcome.routeId !== undefined ? { route: outcome.routeId } : {}) },
      routeId: outcome.routeId,
      subject: decision.subject,
      shadow: true,
    };
  }

  async function run(ctx: RequestContext, deadlineAt: number): Promise<[Decision, Outcome | undefined]> {
    const now = clock();
    const auth = await deps.authenticator.authenticate(ctx, now);
    const principal = auth.kind === 'verified' ? auth.principal : undefined;
    const risk = principal && deps.risk ? await deps.risk.assess(ctx, principal, now) : undefined;
    const outcome = deps.policy().evaluate(ctx, auth, now, risk);
    switch (outcome.kind) {
      case 'allow':
        return [allowFrom(outcome, principal, undefined), outcome];
      case 'deny':
        return [
          applyShadow(
            {
              kind: 'deny',
              status: outcome.status,
              code: outcome.code,
              message: outcome.message,
              challenge: outcome.challenge,
              retryAfter: outcome.status === 503 ? 5 : undefined,
              routeId: outcome.routeId,
              subject: principal?.subject,
            },
            outcome,
          ),
          outcome,
        ];
      case 'verify': {
        if (!principal || !deps.verification) {
          return [
            {
              kind: 'deny',
              status: 503,
              code: 'dependency_unavailable',
              message: 'identity verification is not available',
              retryAfter: 5,
              routeId: outcome.routeId,
            },
            outcome,
          ];
        }
        let result: VerificationResult;
        try {
          result = await deps.verification.check({
            ctx,
            principal,
            needs: outcome.needs,
            routeId: outcome.routeId,
            now,
            deadlineAt,
          });
        } catch (err) {
          if (outcome.failOpen && isDependencyFault(err)) {
            return [allowFrom(outcome, principal, []), outcome];
          }
          throw err;
        }
        const common = { routeId: outcome.routeId, subject: principal.subject };
        switch (result.kind) {
          case 'satisfied':
            return [allowFrom(outcome, principal, result.workflows), outcome];
          case 'step_up':
            return [applyShadow({ ...result, ...common }, outcome), outcome];
          case 'deny':
            return [applyShadow({ ...result, ...common }, outcome), outcome];
          default:
            return assertNever(result);
        }
      }
      default:
        return assertNever(outcome);
    }
  }

  return {
    async decide(ctx, deadlineAt) {
      const started = performance.now();
      let decision: Decision;
      let outcome: Outcome | undefined;
      try {
        [decision, outcome] = await run(ctx, deadlineAt);
      } catch (err) {
        deps.onFault?.(err, ctx);
        decision = isDependencyFault(err)
          ? {
              kind: 'deny',
              status: 503,
              code: 'dependency_unavailable',
              message: 'a dependency of this route is unavailable; retry shortly',
              retryAfter: 5,
            }
          : { kind: 'deny', status: 503, code: 'internal_error', message: 'internal error', retryAfter: 5 };
      }
      deps.observer?.observe(ctx, decision, outcome, performance.now() - started);
      return decision;
    },
  };
}

/** True for coded infrastructure errors (store, Didit, JWKS) that a route may choose to fail open on. */
export function isDependencyFault(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const name = (err as { name?: unknown }).name;
  return name === 'StoreError' || name === 'DiditError' || name === 'DependencyError';
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
