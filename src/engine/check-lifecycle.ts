import type { Logger } from 'pino';
import type { Decider } from '../core/decider.js';
import type { Decision, DenyDecision } from '../core/decision.js';
import type { RequestContext } from '../core/request-context.js';

/** The fail-closed answer to a decider that threw or rejected (and a front end's render fallback). */
export const INTERNAL_ERROR_DENY: DenyDecision = Object.freeze({
  kind: 'deny',
  status: 503,
  code: 'internal_error',
  message: 'internal error',
});

/** The answer when no decision is ready by the deadline; a later decision is dropped. */
export const DEADLINE_DENY: DenyDecision = Object.freeze({
  kind: 'deny',
  status: 503,
  code: 'deadline_exceeded',
  message: 'the authorization decision took too long',
});

/**
 * How a front end answers one Check: render `decision` for `target` (the gRPC callback, the HTTP response…)
 * and send it. Called at most once per Check, from a promise callback or a timer, so it must not throw:
 * it is the front end's own last resort for a render or write fault.
 */
export type AnswerCheck<T> = (target: T, ctx: RequestContext, decision: Decision) => void;

/** Options of {@link CheckLifecycle}; fixed per front end. */
export interface CheckLifecycleOptions<T> {
  readonly decider: Decider;
  /** Decider faults are logged here (with the request id, never the request). */
  readonly logger: Logger;
  /** The longest a decision may take, ms. */
  readonly decisionTimeoutMs: number;
  /** How long before the proxy's own deadline the deadline deny is sent, ms. */
  readonly deadlineMarginMs: number;
  readonly answer: AnswerCheck<T>;
  /**
   * Whether a decider fault that arrives after the Check was already answered (by the deadline deny) is
   * still logged. The gRPC front end never did (false); HTTP mode always did (true). Either way the late
   * fault changes no answer.
   */
  readonly logLateFaults: boolean;
}

/**
 * The lifecycle of one Check, the same for every front end once it holds a {@link RequestContext}: the
 * decision budget is `min(proxy deadline − margin, now + decisionTimeoutMs)`; the decider races a timer
 * for it; the first to finish answers and the other is dropped. It always answers exactly once: the
 * decider's decision, {@link DEADLINE_DENY} (budget already spent, or the timer won), or
 * {@link INTERNAL_ERROR_DENY} when the decider throws or rejects (logged as `decider failed; denying`).
 *
 * Built once per front end; per Check it allocates one small state object, two promise callbacks and the
 * timer — no promise of its own — and none of them when the decider answers synchronously.
 */
export class CheckLifecycle<T> {
  readonly #decider: Decider;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #marginMs: number;
  readonly #answer: AnswerCheck<T>;
  readonly #logLateFaults: boolean;

  constructor(options: CheckLifecycleOptions<T>) {
    this.#decider = options.decider;
    this.#logger = options.logger;
    this.#timeoutMs = options.decisionTimeoutMs;
    this.#marginMs = options.deadlineMarginMs;
    this.#answer = options.answer;
    this.#logLateFaults = options.logLateFaults;
  }

  /**
   * Decides `ctx` within its budget and answers `target` through the front end's `answer`.
   * @param now epoch ms when the Check arrived.
   * @param proxyDeadlineAt epoch ms at which the proxy gives up on this Check (`Infinity` when it did not
   *   say); the deadline deny is sent `deadlineMarginMs` before it.
   */
  run(ctx: RequestContext, now: number, proxyDeadlineAt: number, target: T): void {
    const deadlineAt = Math.min(proxyDeadlineAt - this.#marginMs, now + this.#timeoutMs);
    // Also true for NaN (a garbled proxy deadline): fail closed.
    if (!(deadlineAt > now)) {
      this.#answer(target, ctx, DEADLINE_DENY);
      return;
    }
    let decided: Decision | Promise<Decision>;
    try {
      decided = this.#decider.decide(ctx, deadlineAt);
    } catch (err) {
      this.#logger.error({ err, requestId: ctx.requestId }, 'decider failed; denying');
      this.#answer(target, ctx, INTERNAL_ERROR_DENY);
      return;
    }
    // A decision made synchronously (everything the Check needs was cached) is answered at once: nothing
    // can have run out its budget, so there is no timer to race.
    if (!(decided instanceof Promise)) {
      this.#answer(target, ctx, decided);
      return;
    }
    const check = new PendingCheck(this, ctx, target);
    check.timer = setTimeout(onDeadline<T>, deadlineAt - now, check);
    decided.then(
      (decision) => this.settle(check, decision),
      (err: unknown) => this.fault(check, err),
    );
  }

  /** Answers with `decision` unless the Check is already answered. Internal (the deadline timer's); front ends call {@link run}. */
  settle(check: PendingCheck<T>, decision: Decision): void {
    if (check.settled) return;
    check.settled = true;
    clearTimeout(check.timer);
    this.#answer(check.target, check.ctx, decision);
  }

  private fault(check: PendingCheck<T>, err: unknown): void {
    if (check.settled && !this.#logLateFaults) return;
    this.#logger.error({ err, requestId: check.ctx.requestId }, 'decider failed; denying');
    this.settle(check, INTERNAL_ERROR_DENY);
  }
}

/** The state of one Check in flight. */
class PendingCheck<T> {
  settled = false;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    readonly lifecycle: CheckLifecycle<T>,
    readonly ctx: RequestContext,
    readonly target: T,
  ) {}
}

/** The timer's callback: a module function with the Check as argument, so no closure per Check. */
function onDeadline<T>(check: PendingCheck<T>): void {
  check.lifecycle.settle(check, DEADLINE_DENY);
}
