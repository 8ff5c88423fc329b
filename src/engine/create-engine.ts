import { DependencyError, isDependencyOutage } from '../core/dependency-error.js';
import type { Decision, DenyDecision } from '../core/decision.js';
import { encodeIdentityValue, toHeaderSafe } from '../core/encode-identity-value.js';
import type { Decider } from '../core/decider.js';
import type { RequestContext } from '../core/request-context.js';
import type { Principal } from '../core/principal.js';
import type { AuthResult } from '../core/auth-result.js';
import { AllowPartsCache, type AllowParts } from './allow-parts-cache.js';
import { newDecisionId } from './new-decision-id.js';
import type { Outcome } from '../core/outcome.js';
import type { RiskAssessment } from '../core/risk-assessment.js';
import type {
  Authenticator,
  DecisionObserver,
  ObservedDetails,
  PolicyEvaluator,
  RiskEvaluator,
  VerificationGate,
  VerificationResult,
} from '../core/stages.js';

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
 * Risk (only when `deps.risk` is given, i.e. `risk.enabled`; never for a request the policy does not
 * `admit`, which it denies before any route): for a verified caller on a route whose
 * policy `needsRisk`, the assessment is awaited and handed to the policy, and a risk-store fault fails
 * closed (503 `dependency_unavailable`); on any other route the request is only recorded, fire and
 * forget, so a risk-store fault never denies a route that does not use risk.
 *
 * Stage rules: identity never rejects (a bad token is a `failed` result the policy turns into 401);
 * policy is pure; verification consults the store and Didit. Any thrown fault is caught here and becomes
 * a fail-closed deny (503 `dependency_unavailable` for a `DependencyError`, else `internal_error`),
 * unless the matched route opted into `failOpen` and the fault is a real outage
 * (`DependencyError.outage`: network error, timeout, 5xx, 429, open circuit — never a 4xx to our own
 * request or a corrupt stored value).
 *
 * Shadow mode (route `shadow` or `policy.shadow`): every deny or step-up decided after the policy ran —
 * including a verification dependency fault — is answered as an allow carrying
 * `<prefix>shadow-decision: deny:<code>` / `step_up:<workflow>`; the observer gets the real decision as
 * `wouldBe`. Faults before the policy ran (identity, risk store) still fail closed: the route is unknown.
 *
 * Every decision carries a fresh `decisionId` (log line, proxy metadata, problem body); the observer also
 * gets the identity result and the clock the policy ran at, from which a replay record is built.
 */
export function createEngine(deps: EngineDeps, options: EngineOptions): Decider {
  const clock = deps.clock ?? Date.now;
  const subjectHeader = `${options.headerPrefix}subject`;
  const issuerHeader = `${options.headerPrefix}issuer`;
  const verifiedHeader = `${options.headerPrefix}verified`;
  const shadowHeader = `${options.headerPrefix}shadow-decision`;

  /**
   * The upstream headers (claim headers, then subject, issuer and verified) and the metadata of an allow:
   * a pure function of its arguments and the header prefix, so {@link AllowPartsCache} can share them.
   */
  function buildParts(
    claimHeaders: Readonly<Record<string, string>>,
    routeId: string | undefined,
    principal: Principal | undefined,
    verified: readonly string[] | undefined,
  ): AllowParts {
    const headers: Record<string, string> = { ...claimHeaders };
    const metadata: Record<string, string | number | boolean> = {};
    if (routeId !== undefined) metadata.route = routeId;
    if (principal) {
      // The identity encoding (percent-encoded UTF-8 outside visible ASCII), the same in headers and
      // metadata and from both front ends; identity/ only admits representable subjects.
      const subject = identityValue(principal.subject);
      const issuer = identityValue(principal.issuerName);
      headers[subjectHeader] = subject;
      headers[issuerHeader] = issuer;
      metadata.subject = subject;
      metadata.issuer = issuer;
    }
    if (verified && verified.length > 0) {
      headers[verifiedHeader] = verified.join(',');
      metadata.verified = verified.join(',');
    }
    return { headers, metadata };
  }
  // A cached token's allow on a route is the same Check after Check: its parts are built once and shared.
  const allowParts = new AllowPartsCache(buildParts);

  function allowFrom(
    outcome: Extract<Outcome, { kind: 'allow' | 'verify' }>,
    principal: Principal | undefined,
    verified: readonly string[] | undefined,
    decisionId: string,
  ): Decision {
    const { headers, metadata } = principal === undefined
      ? buildParts(outcome.headers, outcome.routeId, undefined, verified)
      : allowParts.partsOf(outcome.headers, outcome.routeId, principal, verified);
    // With its id already: `done` then answers this object itself instead of a copy.
    return { kind: 'allow', headers, metadata, routeId: outcome.routeId, subject: principal?.subject, decisionId };
  }

  /** Shadow mode: keep the would-be decision visible (log, header) but let the request through. */
  function applyShadow(decision: Exclude<Decision, { kind: 'allow' }>, outcome: Outcome): Decision {
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

  /**
   * One Check in the engine: what `decide` started with, what identity answered and the clock the policy ran
   * at (the replay record's facts), and the outcome and risk assessment the decision came from. It is also
   * the {@link ObservedDetails} the observer is told (`wouldBe`, `risk`, `auth`, `evaluatedAt`: the same
   * fields, under the same conditions, that a details object built per Check would hold), so a Check
   * allocates neither a details object nor a tuple to carry the outcome and risk between the stages.
   */
  interface CheckState {
    readonly ctx: RequestContext;
    readonly started: number;
    readonly decisionId: string;
    auth: AuthResult | undefined;
    /** The clock the policy ran at; set together with `auth`. */
    evaluatedAt: number | undefined;
    outcome: Outcome | undefined;
    risk: RiskAssessment | undefined;
    /** Shadow mode: the decision the route would have answered (set by `done` only). */
    wouldBe: Exclude<Decision, { kind: 'allow' }> | undefined;
  }

  /**
   * The decision before shadow mode, with the outcome and the risk assessment. A dependency fault after
   * the policy ran is returned as a 503 deny (so shadow mode can downgrade it) and reported to `onFault`;
   * any other fault throws or rejects. Synchronous as long as every stage answers synchronously (a cached
   * token, no awaited risk, verdicts in the local cache): a fully cached Check needs no promise; each stage
   * that returns one continues in its callback.
   */
  function run(ctx: RequestContext, deadlineAt: number, check: CheckState): Decision | Promise<Decision> {
    const now = clock();
    const auth = deps.authenticator.authenticate(ctx, now);
    return auth instanceof Promise ? auth.then((a) => afterAuth(ctx, deadlineAt, check, now, a)) : afterAuth(ctx, deadlineAt, check, now, auth);
  }

  function afterAuth(ctx: RequestContext, deadlineAt: number, check: CheckState, now: number, auth: AuthResult): Decision | Promise<Decision> {
    check.auth = auth;
    check.evaluatedAt = now;
    const principal = auth.kind === 'verified' ? auth.principal : undefined;
    const policy = deps.policy();
    // A request the policy refuses before any route (e.g. a malformed trusted country or device header) is
    // never recorded: else anyone holding a token could make a device "known" or move the last country with
    // requests that are denied anyway.
    if (principal !== undefined && deps.risk !== undefined && policy.admits?.(ctx) !== false) {
      // Only routes that use the score wait for (and depend on) the risk store; every other authenticated
      // request is still recorded, in the background, so velocity and travel signals see all traffic.
      if (policy.needsRisk?.(ctx) === true) {
        return deps.risk.assess(ctx, principal, now).then((risk) => evaluate(check, deadlineAt, now, auth, principal, policy, risk));
      }
      deps.risk.record?.(ctx, principal, now);
    }
    return evaluate(check, deadlineAt, now, auth, principal, policy, undefined);
  }

  function evaluate(
    check: CheckState,
    deadlineAt: number,
    now: number,
    auth: AuthResult,
    principal: Principal | undefined,
    policy: PolicyEvaluator,
    risk: RiskAssessment | undefined,
  ): Decision | Promise<Decision> {
    const { ctx, decisionId } = check;
    const outcome = policy.evaluate(ctx, auth, now, risk);
    check.outcome = outcome;
    check.risk = risk;
    switch (outcome.kind) {
      case 'allow':
        return allowFrom(outcome, principal, undefined, decisionId);
      case 'deny':
        return {
            kind: 'deny',
            status: outcome.status,
            code: outcome.code,
            message: outcome.message,
            challenge: outcome.challenge,
            retryAfter: outcome.status === 503 ? 5 : undefined,
            routeId: outcome.routeId,
            subject: principal?.subject,
            ...(outcome.decidedBy !== undefined ? { decidedBy: outcome.decidedBy } : {}),
          };
      case 'verify': {
        if (!principal || !deps.verification) {
          return {
            kind: 'deny',
            status: 503,
            code: 'dependency_unavailable',
            message: 'identity verification is not available',
            retryAfter: 5,
            routeId: outcome.routeId,
          };
        }
        let result: VerificationResult | Promise<VerificationResult>;
        try {
          result = deps.verification.check({ ctx, principal, needs: outcome.needs, routeId: outcome.routeId, now, deadlineAt });
        } catch (err) {
          return fromVerificationFault(check, outcome, principal, err);
        }
        if (!(result instanceof Promise)) return fromVerification(outcome, principal, result, decisionId);
        return result.then(
          (r) => fromVerification(outcome, principal, r, decisionId),
          (err: unknown) => fromVerificationFault(check, outcome, principal, err),
        );
      }
      default:
        return assertNever(outcome);
    }
  }

  function fromVerification(
    outcome: Extract<Outcome, { kind: 'verify' }>,
    principal: Principal,
    result: VerificationResult,
    decisionId: string,
  ): Decision {
    switch (result.kind) {
      case 'satisfied':
        return allowFrom(outcome, principal, result.workflows, decisionId);
      case 'step_up':
        return { ...result, routeId: outcome.routeId, subject: principal.subject };
      case 'deny':
        return { ...result, routeId: outcome.routeId, subject: principal.subject };
      default:
        return assertNever(result);
    }
  }

  /** A verification fault: a non-dependency fault throws on; a dependency outage may fail open. */
  function fromVerificationFault(
    check: CheckState,
    outcome: Extract<Outcome, { kind: 'verify' }>,
    principal: Principal,
    err: unknown,
  ): Decision {
    if (!(err instanceof DependencyError)) throw err;
    // Only a real outage may fail open: a fault of our own making (Didit refusing our request as
    // `bad_request`, a corrupt stored value) would otherwise turn a bug into an allow.
    if (outcome.failOpen && isDependencyOutage(err)) return allowFrom(outcome, principal, [], check.decisionId);
    deps.onFault?.(err, check.ctx);
    return { ...DEPENDENCY_DENY, routeId: outcome.routeId, subject: principal.subject };
  }

  /**
   * The decision `run` produced (its outcome and risk on `check`), with its id, observed once; the observer
   * is told `check` itself as the details (see {@link CheckState}). An observer fault is the front end's concern.
   */
  function done(check: CheckState, real: Decision): Decision {
    const out = check.outcome as Outcome;
    const { decisionId } = check;
    let decision: Decision;
    try {
      if (real.kind !== 'allow' && out.shadow) {
        decision = { ...applyShadow(real, out), decisionId };
        check.wouldBe = { ...real, decisionId };
      } else {
        // An allow is built with its id (allowFrom): no copy of it per Check.
        decision = real.decisionId === decisionId ? real : { ...real, decisionId };
      }
    } catch (err) {
      return failed(check, err, out);
    }
    deps.observer?.observe(check.ctx, decision, out, performance.now() - check.started, check);
    return decision;
  }

  /** The fail-closed answer to a fault (503 `dependency_unavailable` or `internal_error`), observed once. */
  function failed(check: CheckState, err: unknown, outcome?: Outcome): Decision {
    deps.onFault?.(err, check.ctx);
    const { decisionId } = check;
    const decision: Decision = err instanceof DependencyError
      ? { ...DEPENDENCY_DENY, decisionId }
      : { kind: 'deny', status: 503, code: 'internal_error', message: 'internal error', retryAfter: 5, decisionId };
    deps.observer?.observe(check.ctx, decision, outcome, performance.now() - check.started, undefined);
    return decision;
  }

  return {
    // Not async: a Check every stage answers synchronously is decided without a promise (the front end's
    // lifecycle then answers at once); otherwise the decision resolves when the last stage does.
    decide(ctx, deadlineAt) {
      // Every answer, faults included, carries its id: the log line, the metadata and the problem body agree.
      const check: CheckState = {
        ctx,
        started: performance.now(),
        decisionId: newDecisionId(),
        auth: undefined,
        evaluatedAt: undefined,
        outcome: undefined,
        risk: undefined,
        wouldBe: undefined,
      };
      let ran: Decision | Promise<Decision>;
      try {
        ran = run(ctx, deadlineAt, check);
      } catch (err) {
        return failed(check, err);
      }
      if (!(ran instanceof Promise)) return done(check, ran);
      return ran.then(
        (r) => done(check, r),
        (err: unknown) => failed(check, err),
      );
    },
  };
}

const DEPENDENCY_DENY: DenyDecision = {
  kind: 'deny',
  status: 503,
  code: 'dependency_unavailable',
  message: 'a dependency of this route is unavailable; retry shortly',
  retryAfter: 5,
};

/** The identity encoding of a value identity/ has already checked; the header-safe form as a backstop. */
export function identityValue(value: string): string {
  return encodeIdentityValue(value) ?? toHeaderSafe(value);
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
