import type { Logger } from 'pino';
import type { WorkflowConfig } from '../config/types.js';
import type { VerificationGate, VerificationResult } from '../core/stages.js';
import type { VerificationNeed } from '../core/outcome.js';
import { evaluateVerdict } from './evaluate-verdict.js';
import { originalUrl } from './return-url.js';
import { createSessionStarter, type SessionCreator, type SessionStarter, type StarterStore, type StartResult } from './create-session-starter.js';
import type { StartTickets } from './start-ticket.js';
import type { CheckState, CheckStateRead, VerdictStore } from '../store/verdict-store.js';
import type { Verdict } from '../core/verdict.js';

export type { SessionCreator } from './create-session-starter.js';

/**
 * The store operations the gate needs: the verdict read of every Check (with the pending sessions in the
 * same step when the store offers `readCheckState`), plus what starting a session needs (never the audit
 * log, revocations or risk state).
 */
export interface GateStore extends Pick<VerdictStore, 'getVerdicts'>, Partial<CheckStateRead>, StarterStore {}

export interface VerificationGateOptions {
  /** The workflows, or a function returning the current ones (read per check, so a config reload applies). */
  readonly workflows: Readonly<Record<string, WorkflowConfig>> | (() => Readonly<Record<string, WorkflowConfig>>);
  /** Absolute URL of idgate's `/verification/callback` (Didit appends its query parameters). */
  readonly callbackUrl: string;
  /** Cap on session creations per subject+workflow within {@link stepUpWindowMs} (loop protection). */
  readonly maxStepUps: number;
  readonly stepUpWindowMs?: number;
  /** How long a created session is reused for the same subject+workflow (default 24 h). */
  readonly pendingTtlMs?: number;
  /** How long a session record (for the callback) lives (default 7 d). */
  readonly sessionTtlMs?: number;
  /**
   * idgate's own start URL (`<baseUrl>/verification/start/<ticket>`). When set, a Check never waits for
   * Didit beyond its budget: if the session is not ready by then, the step-up points at this URL and the
   * creation goes on in the background. Unset: the Check waits (up to its deadline) as before.
   */
  readonly startUrl?: { readonly baseUrl: string; readonly tickets: StartTickets };
  /** Headroom kept before the Check's deadline when racing the session creation, ms (default 10). */
  readonly answerMarginMs?: number;
  /**
   * With `startUrl`: the longest a Check waits for Didit's session creation before answering with the
   * start URL, ms (default 50). A local or very fast Didit still gets its URL handed out directly; the
   * real Didit (300 ms – 1 s away) never holds a Check.
   */
  readonly stepUpWaitMs?: number;
}

/** Counters the gate reports (implemented by observability/metrics). */
export interface GateMetrics {
  /** A step-up was answered with idgate's start URL because Didit was not ready within the budget. */
  startUrlIssued?(): void;
  /** A session creation that ran on after its Check was answered failed. */
  backgroundFailure?(): void;
}

const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * The workflow names of a needs list, and the `satisfied` answer naming them, built once per list: a route's
 * own needs are the same array on every Check (the policy builds them at compile time). Read-only (frozen),
 * so the verdict read and every satisfied answer can share them; a list built per Check (step-ups merged in)
 * is simply collected with its entry.
 */
const workflowNames = new WeakMap<readonly VerificationNeed[], { readonly names: readonly string[]; readonly satisfied: VerificationResult }>();

function namesEntry(needs: readonly VerificationNeed[]): { readonly names: readonly string[]; readonly satisfied: VerificationResult } {
  let entry = workflowNames.get(needs);
  if (entry === undefined) {
    const names = Object.freeze(needs.map((n) => n.workflow));
    entry = { names, satisfied: Object.freeze({ kind: 'satisfied', workflows: names }) };
    workflowNames.set(needs, entry);
  }
  return entry;
}

function namesOf(needs: readonly VerificationNeed[]): readonly string[] {
  return namesEntry(needs).names;
}

/**
 * The verification stage: looks up the subject's verdicts for every workflow the route needs (one store
 * round trip) and, for the first unmet one, sends the caller to a Didit session — reusing the pending
 * session when there is one, else creating exactly one even under a burst (in-process single-flight plus
 * a short Redis lock across replicas).
 *
 * Budget rule: with `startUrl`, the creation is raced against `stepUpWaitMs` and the Check's deadline
 * (minus `answerMarginMs`), whichever comes first; when Didit has not answered by then, the step-up carries idgate's start URL (a signed
 * ticket, no session id yet) and the creation finishes in the background, where the start URL finds it.
 *
 * Stage rule: every need must be satisfied (all must pass); the first final deny wins; store and Didit
 * faults that happen within the budget propagate as coded errors, which the engine turns into fail-closed
 * 503s. Step-ups are capped at `maxStepUps` session creations per subject+workflow and window
 * (`verification_loop`); an attempt whose creation failed does not use up the budget.
 */
export function createVerificationGate(
  deps: {
    store: GateStore;
    didit: SessionCreator;
    logger: Logger;
    clock?: () => number;
    sleep?: (ms: number) => Promise<void>;
    metrics?: GateMetrics;
    /** Share one starter with the start endpoint in the same process (default: a new one). */
    starter?: SessionStarter;
  },
  options: VerificationGateOptions,
): VerificationGate {
  const clock = deps.clock ?? Date.now;
  const workflowsOf = typeof options.workflows === 'function' ? options.workflows : () => options.workflows as Readonly<Record<string, WorkflowConfig>>;
  // The current workflows as a Map, rebuilt only when a reload hands over another record. Looking a name up
  // in the record itself (`workflows[need.workflow]`) sent V8's optimised `judge` into a deopt loop
  // ("unexpected name in keyed access", 64 deopts per 40,000 saturated Checks: bench/README.md, "GC sizing,
  // sixth round"), since the site sees one workflow name after another; and a Map holds only the
  // configured names, never a prototype's.
  let workflowsFrom: Readonly<Record<string, WorkflowConfig>> | undefined;
  let workflowMap: ReadonlyMap<string, WorkflowConfig> = new Map();
  const currentWorkflows = (): ReadonlyMap<string, WorkflowConfig> => {
    const workflows = workflowsOf();
    if (workflows !== workflowsFrom) {
      workflowMap = new Map(Object.entries(workflows));
      workflowsFrom = workflows;
    }
    return workflowMap;
  };
  const marginMs = options.answerMarginMs ?? 10;
  const stepUpWaitMs = options.stepUpWaitMs ?? 50;
  const starter = deps.starter ?? createSessionStarter(
    {
      store: deps.store,
      didit: deps.didit,
      logger: deps.logger,
      clock,
      ...(deps.sleep !== undefined ? { sleep: deps.sleep } : {}),
    },
    {
      callbackUrl: options.callbackUrl,
      maxStepUps: options.maxStepUps,
      ...(options.stepUpWindowMs !== undefined ? { stepUpWindowMs: options.stepUpWindowMs } : {}),
      ...(options.pendingTtlMs !== undefined ? { pendingTtlMs: options.pendingTtlMs } : {}),
      ...(options.sessionTtlMs !== undefined ? { sessionTtlMs: options.sessionTtlMs } : {}),
    },
  );
  const readState = deps.store.readCheckState?.bind(deps.store);
  const startUrl = options.startUrl;
  const startBase = startUrl ? `${startUrl.baseUrl.replace(/\/+$/, '')}/verification/start/` : '';

  function fromStart(result: StartResult, workflow: string): VerificationResult | undefined {
    switch (result.kind) {
      case 'session':
        return { kind: 'step_up', workflow, verificationUrl: result.pending.url, sessionId: result.pending.sessionId };
      case 'loop':
        return {
          kind: 'deny',
          status: 429,
          code: 'verification_loop',
          message: 'too many verification attempts; try again later',
          retryAfter: result.retryAfterSeconds,
          extra: { workflow },
        };
      case 'preparing':
        return undefined;
      case 'revoked':
        // A revocation landed while this session was being created: it can never settle and is not handed
        // out; the next attempt creates one after the revocation.
        return {
          kind: 'deny',
          status: 503,
          code: 'dependency_unavailable',
          message: 'verification was revoked while a session was being prepared; retry',
          retryAfter: 1,
        };
      default: {
        const never: never = result;
        throw new Error(`unexpected start result ${String(never)}`);
      }
    }
  }

  const PREPARING: VerificationResult = {
    kind: 'deny',
    status: 503,
    code: 'dependency_unavailable',
    message: 'a verification session is being prepared; retry shortly',
    retryAfter: 1,
  };

  async function stepUp(subject: string, workflow: WorkflowConfig, returnTo: string | undefined, deadlineAt: number): Promise<VerificationResult> {
    if (!startUrl) {
      const result = await starter.start({ subject, workflow, ...(returnTo !== undefined ? { returnTo } : {}), waitUntil: deadlineAt });
      return fromStart(result, workflow.name) ?? PREPARING;
    }
    // With a start URL, another replica's creation is waited for in the background, like our own.
    const flight = starter.start({
      subject,
      workflow,
      ...(returnTo !== undefined ? { returnTo } : {}),
      waitUntil: clock() + 15_000,
    });
    const now = clock();
    const budgetMs = Math.min(deadlineAt - marginMs, now + stepUpWaitMs) - now;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await (budgetMs > 0
      ? Promise.race([
          flight,
          new Promise<typeof TIMED_OUT>((resolve) => {
            timer = setTimeout(() => resolve(TIMED_OUT), budgetMs);
          }),
        ]).finally(() => clearTimeout(timer))
      : TIMED_OUT);
    if (outcome !== TIMED_OUT) {
      const answered = fromStart(outcome, workflow.name);
      if (answered !== undefined) return answered;
    } else {
      // The Check is answered now; the creation runs on. Its failure is counted, not logged per
      // Check (the Didit client reports its own state changes), and the start URL retries it.
      flight.catch(() => deps.metrics?.backgroundFailure?.());
    }
    deps.metrics?.startUrlIssued?.();
    const ticket = startUrl.tickets.issue({ subject, workflow: workflow.name, ...(returnTo !== undefined ? { returnTo } : {}) });
    return { kind: 'step_up', workflow: workflow.name, verificationUrl: startBase + ticket };
  }

  /**
   * The gate's answer once the verdicts are read: satisfied, the first final deny, or a step-up. `pending`:
   * the pending sessions read with the verdicts ({@link CheckState}), undefined when none were read.
   */
  function judge(
    verdicts: readonly (Verdict | undefined)[],
    pending: CheckState['pending'],
    { ctx, principal, needs, now, deadlineAt }: Parameters<VerificationGate['check']>[0],
  ): VerificationResult | Promise<VerificationResult> {
    const workflows = currentWorkflows();
    for (let i = 0; i < needs.length; i++) {
      const need = needs[i]!;
      const workflow = workflows.get(need.workflow);
      if (!workflow) {
        // Config validation makes this unreachable; fail closed if it ever is not.
        return { kind: 'deny', status: 503, code: 'internal_error', message: 'unknown workflow' };
      }
      const evaluation = evaluateVerdict(verdicts[i], need, workflow, now);
      if (evaluation.kind === 'satisfied') continue;
      if (evaluation.kind === 'deny') {
        return {
          kind: 'deny',
          status: 403,
          code: evaluation.code,
          message: evaluation.message,
          extra: { workflow: need.workflow },
        };
      }
      // No verdict and a session already pending, read in the same step as the verdicts: hand it out as the
      // session starter would, without its single-flight, a second read or a budget timer — nothing is left
      // to wait for. Anything else (nothing pending, a verdict that is stale or not approved, pending not
      // read) goes through the starter, which reads again and creates at most one session.
      const known = verdicts[i] === undefined ? pending?.[i] : undefined;
      if (known !== undefined) return { kind: 'step_up', workflow: workflow.name, verificationUrl: known.url, sessionId: known.sessionId };
      return stepUp(principal.subject, workflow, originalUrl(ctx), deadlineAt);
    }
    // Every need is satisfied: their workflows, in order (one frozen answer per needs list).
    return namesEntry(needs).satisfied;
  }

  return {
    // Not async: with every verdict in the local cache and none to step up, the answer is synchronous.
    check(input) {
      if (readState !== undefined) {
        const state = readState(input.principal.subject, namesOf(input.needs));
        return state instanceof Promise ? state.then((s) => judge(s.verdicts, s.pending, input)) : judge(state.verdicts, state.pending, input);
      }
      return deps.store.getVerdicts(input.principal.subject, namesOf(input.needs)).then((v) => judge(v, undefined, input));
    },
  };
}
