import type { Decision } from '../core/decision.js';
import { isBrowserNavigation } from '../core/browser-navigation.js';
import type { RequestContext } from '../core/request-context.js';
import type { DecisionObserver, ObservedDetails } from '../core/stages.js';
import type { Outcome } from '../core/outcome.js';
import type { DecisionLog, DecisionLogEntry } from './decision-log.js';
import type { CheckMode, IdgateMetrics } from './metrics.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Metrics + decision log for one front end (`mode`). A shadow decision is counted in the checks metric as
 * the allow it was, and logged with `shadow: true` and the outcome, code and status it would have had.
 * `decisionLog` is read per decision, so a reload of `logging.allowSampleRate` (and of the revision and
 * replay settings the log carries) applies at once. Each line names the decision's id, the revision that
 * decided (`outcome.decidedBy`, else the log's platform revision) and, with replay on and when the policy
 * ran, a replay record built from the request, the identity result, the risk assessment and the clock.
 */
export function createDecisionObserver(
  deps: { metrics: Pick<IdgateMetrics, 'recordCheck' | 'shadowDecisionsTotal'>; decisionLog: () => DecisionLog },
  mode: CheckMode,
): DecisionObserver {
  const { metrics } = deps;
  const codeOf = (d: Decision) => (d.kind === 'deny' ? d.code : d.kind === 'step_up' ? 'verification_required' : undefined);
  return {
    observe(ctx: RequestContext, decision: Decision, outcome: Outcome | undefined, durationMs: number, details?: ObservedDetails) {
      metrics.recordCheck(decision.kind, codeOf(decision), decision.routeId, mode, durationMs / 1000);
      const decisionLog = deps.decisionLog();
      const wouldBe = decision.shadow ? details?.wouldBe : undefined;
      if (wouldBe !== undefined) metrics.shadowDecisionsTotal.inc({ would: wouldBe.kind });
      const logged: Decision = wouldBe ?? decision;
      const kind = logged.kind;
      // Hot path: most allows are not logged; skip building their entry at all.
      const sampled = kind === 'allow' && !decision.shadow;
      if (sampled && !decisionLog.sampleAllow()) return;
      const code = codeOf(logged);
      const decidedBy = outcome?.decidedBy;
      const revision = decidedBy?.revision ?? decisionLog.revision;
      const replay = decisionLog.replay !== undefined && details?.auth !== undefined && details.evaluatedAt !== undefined
        ? decisionLog.replay(ctx, details.auth, details.risk, details.evaluatedAt)
        : undefined;
      // Built field by field rather than with a spread temporary per optional one: every step-up and deny
      // passes here. decision-log copies the fields it documents, so nothing else can reach the line.
      const entry: Mutable<DecisionLogEntry> = { requestId: ctx.requestId, outcome: kind, method: ctx.method, host: ctx.host, path: ctx.path, sourceAddress: ctx.sourceAddress, durationMs };
      if (decision.decisionId !== undefined) entry.decisionId = decision.decisionId;
      if (revision !== '') entry.revision = revision;
      if (decidedBy !== undefined) {
        entry.layer = decidedBy.layer;
        entry.rule = decidedBy.id;
      }
      if (decision.routeId !== undefined) entry.routeId = decision.routeId;
      if (decision.subject !== undefined) entry.subject = decision.subject;
      if (code !== undefined) entry.code = code;
      // What the client got: a step-up is a 302 only for a browser navigation, a 401 for API clients.
      if (kind === 'deny') entry.status = logged.status;
      else if (kind === 'step_up') entry.status = isBrowserNavigation(ctx) ? 302 : 401;
      if (decision.shadow) entry.shadow = true;
      if (outcome && kind !== 'allow') entry.trace = outcome.trace;
      if (sampled) entry.sampled = true;
      if (replay !== undefined) entry.replay = replay;
      decisionLog.record(entry);
    },
  };
}
