import type { DenyDecision } from './decision.js';

/** One line of the evaluation trace shown by `idgate explain` and (summarised) in the decision log. */
export interface TraceStep {
  /** What was checked, e.g. `route`, `token`, `claim:email_verified`, `scope`, `mfa`, `verification`. */
  readonly step: string;
  readonly result: 'pass' | 'fail' | 'skip' | 'info';
  /** Human explanation; never contains token material or claim values that are PII. */
  readonly detail: string;
}

/** A Didit workflow the route needs, with the route's overrides applied. */
export interface VerificationNeed {
  readonly workflow: string;
  /** Effective max age of an Approved verdict (route override or the workflow's). */
  readonly maxAgeMs: number;
  readonly onInReview: 'deny' | 'allow';
  readonly onDeclined: 'deny' | 'retry';
}

/** Which policy layer decided an outcome (issue #14's org-wide policy contract). */
export interface DecidedBy {
  readonly layer: 'platform' | 'guardrail' | 'tenant' | 'defaults' | 'default';
  /** Guardrail id, qualified route id (`payments/refunds`), platform route id, tenant name (policy_unavailable) or `default`. */
  readonly id: string;
  /** `platform@<rev>` or `platform@<rev> tenant/<name>@<rev>`; precomputed at compile time. */
  readonly revision: string;
}

/**
 * The pure policy evaluation's answer, before verification verdicts are looked up.
 * - `allow`: identity and context requirements hold; nothing else needed.
 * - `deny`: a requirement failed.
 * - `verify`: identity and context hold; the listed verifications must also be satisfied.
 */
export type Outcome =
  | {
      readonly kind: 'allow';
      readonly routeId?: string;
      /** Upstream headers from claim mappings (subject/issuer headers are added by the engine). */
      readonly headers: Readonly<Record<string, string>>;
      readonly shadow: boolean;
      readonly failOpen: boolean;
      readonly trace: readonly TraceStep[];
      readonly decidedBy?: DecidedBy;
    }
  | {
      readonly kind: 'deny';
      readonly routeId?: string;
      readonly status: DenyDecision['status'];
      readonly code: DenyDecision['code'];
      readonly message: string;
      readonly challenge?: Readonly<Record<string, string>>;
      /** Seconds for `Retry-After` (set on 503 `dependency_unavailable`). */
      readonly retryAfter?: number;
      readonly shadow: boolean;
      readonly trace: readonly TraceStep[];
      readonly decidedBy?: DecidedBy;
    }
  | {
      readonly kind: 'verify';
      readonly routeId: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly needs: readonly VerificationNeed[];
      readonly shadow: boolean;
      readonly failOpen: boolean;
      readonly trace: readonly TraceStep[];
      readonly decidedBy?: DecidedBy;
    };
