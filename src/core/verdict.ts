/** Didit session statuses, exactly as the API spells them (case-sensitive, with spaces; `Kyc`, not `KYC`). */
export const SESSION_STATUSES = [
  'Not Started',
  'In Progress',
  'In Review',
  'Approved',
  'Declined',
  'Awaiting User',
  'Resubmitted',
  'Expired',
  'Abandoned',
  'Kyc Expired',
] as const;

export type SessionStatus = (typeof SESSION_STATUSES)[number];

/**
 * Facts derived from a Didit decision when the verdict is written — booleans only, so the store never holds
 * names, document numbers, birth dates, images or raw decision JSON.
 */
export interface VerdictFacts {
  /** The workflow's `minAge` is met (document `age`, else liveness `age_estimation`); absent if no minAge. */
  readonly minAgeMet?: boolean;
  /**
   * The `minAge` that `minAgeMet` was checked against. A reload may raise or lower `minAge`: a verdict
   * checked against another threshold answers only what it implies (met at 21 ⇒ met at 18; not met at 18 ⇒
   * not met at 21); anything else needs a new verification. Absent on verdicts written before it existed.
   */
  readonly minAgeChecked?: number;
  /** No unresolved AML hits (every screening Approved with no open hits); absent if no AML ran. */
  readonly amlClear?: boolean;
  /** The identity document was not expired at decision time; absent if no document was read. */
  readonly documentValid?: boolean;
}

/**
 * The verification verdict for one subject and one policy workflow: what policy needs, nothing more.
 * Stored at `idgate:v1:{<subject>}:verdict:<workflow>`.
 */
export interface Verdict {
  /** `<issuer name>:<sub>` (Didit `vendor_data`). */
  readonly subject: string;
  /** The policy workflow name (key of `workflows` in config), not the Didit workflow UUID. */
  readonly workflow: string;
  readonly sessionId: string;
  readonly status: SessionStatus;
  /**
   * Time of the Didit event this verdict comes from (webhook `timestamp`, or the fetch time of a decision),
   * epoch ms. Writes are ordered by it: an event older than the stored one never replaces it.
   */
  readonly eventAt: number;
  /** When a decision (Approved/Declined/In Review/…) was reached, epoch ms; used for `maxAge`. */
  readonly decidedAt?: number;
  readonly facts: VerdictFacts;
}

/** A Didit session created for a subject+workflow and not settled yet; reused instead of creating another. */
export interface PendingSession {
  readonly subject: string;
  readonly workflow: string;
  readonly sessionId: string;
  /** The hosted verification URL the caller is sent to. */
  readonly url: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** What idgate remembers about a session it created: who it is for and where the browser returns to. */
export interface SessionRecord {
  readonly sessionId: string;
  readonly subject: string;
  readonly workflow: string;
  /** Validated absolute URL the callback redirects to once the session settles. */
  readonly returnTo?: string;
  readonly createdAt: number;
}
