import type { WorkflowConfig } from '../config/types.js';
import type { VerificationNeed } from '../core/outcome.js';
import type { Verdict } from '../core/verdict.js';

/**
 * What one stored verdict means for one route's need:
 * - `satisfied`: Approved, fresh enough, and every derived requirement of the workflow holds;
 * - `step_up`: no verdict, a pending/expired/abandoned one, a stale approval, or a declined one the route
 *   allows retrying — the caller must (re)do the verification;
 * - `deny`: a final answer for now (declined, in review, approved but insufficient).
 */
export type VerdictEvaluation =
  | { readonly kind: 'satisfied' }
  | { readonly kind: 'step_up'; readonly why: string }
  | {
      readonly kind: 'deny';
      readonly code: 'verification_declined' | 'verification_in_review' | 'verification_insufficient';
      readonly message: string;
    };

/** The one `satisfied` evaluation (frozen): nothing to build per Check. */
const SATISFIED: VerdictEvaluation = Object.freeze({ kind: 'satisfied' });

/** Pure: evaluates a verdict (or its absence) against a need and the workflow's derived requirements. */
export function evaluateVerdict(
  verdict: Verdict | undefined,
  need: VerificationNeed,
  workflow: WorkflowConfig,
  now: number,
): VerdictEvaluation {
  if (!verdict) return { kind: 'step_up', why: 'no verification on record' };
  switch (verdict.status) {
    case 'Approved': {
      const decidedAt = verdict.decidedAt ?? verdict.eventAt;
      if (now - decidedAt > need.maxAgeMs) return { kind: 'step_up', why: 'verification is older than allowed' };
      if (workflow.minAge !== undefined) {
        const age = minAgeAnswer(verdict, workflow.minAge);
        if (age === 'unknown') return { kind: 'step_up', why: 'minimum age changed since this verification' };
        if (age === 'not_met') return { kind: 'deny', code: 'verification_insufficient', message: 'minimum age requirement not met' };
      }
      if (workflow.requireAmlClear && verdict.facts.amlClear !== true) {
        return { kind: 'deny', code: 'verification_insufficient', message: 'AML screening not clear' };
      }
      if (workflow.requireDocumentValid && verdict.facts.documentValid !== true) {
        return { kind: 'deny', code: 'verification_insufficient', message: 'identity document not valid' };
      }
      return SATISFIED;
    }
    case 'In Review':
      return need.onInReview === 'allow'
        ? SATISFIED
        : { kind: 'deny', code: 'verification_in_review', message: 'verification is under review' };
    case 'Declined':
      return need.onDeclined === 'retry'
        ? { kind: 'step_up', why: 'previous verification declined; retry allowed' }
        : { kind: 'deny', code: 'verification_declined', message: 'verification was declined' };
    case 'Kyc Expired':
      return { kind: 'step_up', why: 'verified document has expired' };
    case 'Expired':
    case 'Abandoned':
      return { kind: 'step_up', why: 'previous verification session was not completed' };
    case 'Not Started':
    case 'In Progress':
    case 'Resubmitted':
    case 'Awaiting User':
      return { kind: 'step_up', why: 'verification in progress' };
    default: {
      const never: never = verdict.status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}

/**
 * What a stored age fact says about `minAge`. Met at a threshold T implies met at any M ≤ T; not met at T
 * implies not met at any M ≥ T; a fact checked against no threshold (the workflow had no `minAge` when the
 * verdict was written) or a threshold that implies nothing about M is `unknown`. Verdicts written before the
 * threshold was stored are read as checked against the current `minAge` (the behaviour they were written under).
 */
function minAgeAnswer(verdict: Verdict, minAge: number): 'met' | 'not_met' | 'unknown' {
  const met = verdict.facts.minAgeMet;
  if (met === undefined) return 'unknown';
  const checked = verdict.facts.minAgeChecked ?? minAge;
  if (met) return minAge <= checked ? 'met' : 'unknown';
  return minAge >= checked ? 'not_met' : 'unknown';
}
