import type { WorkflowConfig } from '../config/types.js';
import type { SessionStatus, Verdict, VerdictFacts } from '../core/verdict.js';
import { DiditError } from './didit-error.js';
import type { DiditAmlHit, DiditDecision, DiditFeatureItem, DiditWebhookPayload } from './types.js';

/** Statuses that carry a decision (a result was reached, even if later revisable). */
const DECIDED: ReadonlySet<SessionStatus> = new Set<SessionStatus>([
  'Approved',
  'Declined',
  'In Review',
  'Abandoned',
  'Expired',
  'Kyc Expired',
]);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Warning risks that by themselves mean the age requirement failed. */
const AGE_FAILURE_RISKS = new Set(['MINIMUM_AGE_NOT_MET', 'AGE_BELOW_MINIMUM']);
/** Values a hit's review-status field may take when a reviewer dismissed it (the key is unconfirmed). */
const FALSE_POSITIVE = new Set(['false positive', 'false_positive', 'falsepositive']);

/**
 * Derives the boolean facts policy needs from a Didit decision, dropping everything personal. Pure.
 *
 * - `minAgeMet` (only when `workflow.minAge` is set): the lowest age among the documents (`age`, else
 *   `date_of_birth` computed against `now` in UTC), else — when no document gave one — the floor of the
 *   lowest liveness `age_estimation`; compared with `minAge`. No age evidence, or a
 *   `MINIMUM_AGE_NOT_MET`/`AGE_BELOW_MINIMUM` warning from Didit, gives `false`.
 * - `amlClear` (only when AML ran): every screening is `Approved` with `total_hits` 0 and no hit left that
 *   is not explicitly marked false positive. Didit's key for a hit's review status is unconfirmed, so any
 *   count above zero is treated as not clear.
 * - `documentValid` (only when a document was read): every document has an `expiration_date`
 *   (`YYYY-MM-DD`) on or after today (UTC), and no `DOCUMENT_EXPIRED` warning. A missing or unreadable
 *   expiry date counts as not valid (fail closed).
 */
export function deriveVerdictFacts(decision: DiditDecision, workflow: WorkflowConfig, now: number): VerdictFacts {
  const documents = itemsOf(decision.id_verifications);
  const liveness = itemsOf(decision.liveness_checks);
  const screenings = itemsOf(decision.aml_screenings);
  const facts: { minAgeMet?: boolean; minAgeChecked?: number; amlClear?: boolean; documentValid?: boolean } = {};

  if (workflow.minAge !== undefined) {
    facts.minAgeMet = minAgeMet(documents, liveness, workflow.minAge, now);
    facts.minAgeChecked = workflow.minAge;
  }
  if (screenings.length > 0) {
    facts.amlClear = screenings.every(screeningIsClear);
  }
  if (documents.length > 0) {
    const today = utcDate(now);
    facts.documentValid = documents.every((doc) => {
      if (hasRisk(doc, 'DOCUMENT_EXPIRED')) return false;
      const expiry = doc.expiration_date;
      return typeof expiry === 'string' && DATE.test(expiry) && expiry >= today;
    });
  }
  return facts;
}

function itemsOf<T extends DiditFeatureItem>(value: readonly T[] | null | undefined): readonly T[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is T => typeof item === 'object' && item !== null);
}

function hasRisk(item: DiditFeatureItem, ...risks: readonly string[]): boolean {
  const warnings = item.warnings;
  if (!Array.isArray(warnings)) return false;
  return warnings.some((w) => typeof w === 'object' && w !== null && typeof w.risk === 'string' && risks.includes(w.risk));
}

function minAgeMet(
  documents: readonly DiditFeatureItem[],
  liveness: readonly DiditFeatureItem[],
  minAge: number,
  now: number,
): boolean {
  if ([...documents, ...liveness].some((item) => hasRisk(item, ...AGE_FAILURE_RISKS))) return false;
  const documentAges: number[] = [];
  for (const doc of documents) {
    const age = doc.age;
    if (typeof age === 'number' && Number.isFinite(age) && age >= 0) {
      documentAges.push(Math.floor(age));
      continue;
    }
    const fromBirth = typeof doc.date_of_birth === 'string' ? ageOn(doc.date_of_birth, now) : undefined;
    if (fromBirth !== undefined) documentAges.push(fromBirth);
  }
  if (documentAges.length > 0) return Math.min(...documentAges) >= minAge;
  const estimates = liveness
    .map((check) => check.age_estimation)
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (estimates.length > 0) return Math.floor(Math.min(...estimates)) >= minAge;
  return false;
}

/** Whole years between a `YYYY-MM-DD` birth date and `now` (UTC), or undefined if the date is invalid. */
function ageOn(dateOfBirth: string, now: number): number | undefined {
  const m = DATE.exec(dateOfBirth);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const birth = new Date(Date.UTC(year, month - 1, day));
  if (birth.getUTCFullYear() !== year || birth.getUTCMonth() !== month - 1 || birth.getUTCDate() !== day) return undefined;
  const today = new Date(now);
  let age = today.getUTCFullYear() - year;
  const beforeBirthday =
    today.getUTCMonth() + 1 < month || (today.getUTCMonth() + 1 === month && today.getUTCDate() < day);
  if (beforeBirthday) age--;
  return age >= 0 ? age : undefined;
}

function utcDate(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function screeningIsClear(screening: DiditFeatureItem): boolean {
  if (screening.status !== 'Approved') return false;
  if (screening.total_hits !== 0) return false;
  const hits = screening.hits;
  if (hits === undefined || hits === null) return true;
  if (!Array.isArray(hits)) return false;
  return (hits as readonly unknown[]).every((hit) => isFalsePositive(hit));
}

function isFalsePositive(hit: unknown): boolean {
  if (typeof hit !== 'object' || hit === null) return false;
  const record = hit as DiditAmlHit;
  for (const key of ['review_status', 'match_status', 'status']) {
    const v = record[key];
    if (typeof v === 'string' && FALSE_POSITIVE.has(v.trim().toLowerCase())) return true;
  }
  return false;
}

/**
 * Builds the verdict for a verified `status.updated` webhook. `subject` is the payload's `vendor_data`,
 * `eventAt` its `timestamp` in ms, `decidedAt` the same for a decided status (Approved, Declined, In Review,
 * Abandoned, Expired, Kyc Expired). Facts come from `decision` when the payload carries one; without it
 * (e.g. a Simple-signed delivery that must be re-fetched) they are derived from nothing, so a required
 * `minAge` reads as not met.
 *
 * @throws DiditError `bad_response` when the payload has no `vendor_data` (idgate always sets it, so the
 *   session was not created by idgate and cannot be attributed to a subject).
 */
export function verdictFromWebhook(
  payload: DiditWebhookPayload,
  workflowName: string,
  workflow: WorkflowConfig,
  now: number,
): Verdict {
  const subject = payload.vendor_data;
  if (typeof subject !== 'string' || subject === '') {
    throw new DiditError('bad_response', 'webhook payload has no vendor_data');
  }
  const eventAt = Math.round(payload.timestamp * 1000);
  const decision = payload.decision ?? {};
  return {
    subject,
    workflow: workflowName,
    sessionId: payload.session_id,
    status: payload.status,
    eventAt,
    ...(DECIDED.has(payload.status) ? { decidedAt: eventAt } : {}),
    facts: deriveVerdictFacts(decision, workflow, now),
  };
}

/**
 * Builds the verdict from a fetched decision (`GET /v3/session/{id}/decision/`); `eventAt` (and
 * `decidedAt` for a decided status) is the fetch time `now`, since the decision carries no event time.
 *
 * @throws DiditError `bad_response` when the decision lacks `session_id`, `status` or `vendor_data`.
 */
export function verdictFromDecision(
  decision: DiditDecision,
  workflowName: string,
  workflow: WorkflowConfig,
  now: number,
): Verdict {
  const { session_id: sessionId, status, vendor_data: subject } = decision;
  if (typeof sessionId !== 'string' || status === undefined) {
    throw new DiditError('bad_response', 'decision has no session_id or status');
  }
  if (typeof subject !== 'string' || subject === '') {
    throw new DiditError('bad_response', 'decision has no vendor_data');
  }
  return {
    subject,
    workflow: workflowName,
    sessionId,
    status,
    eventAt: now,
    ...(DECIDED.has(status) ? { decidedAt: now } : {}),
    facts: deriveVerdictFacts(decision, workflow, now),
  };
}
