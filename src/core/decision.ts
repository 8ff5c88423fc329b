import type { DenyCode } from './deny-code.js';
import type { DecidedBy } from './outcome.js';

/**
 * The engine's answer for one request: a tagged union, never an exception.
 *
 * - `allow`: let the request through; `headers` are set on the upstream request (overwriting), and
 *   `metadata` is returned to Envoy as dynamic metadata.
 * - `deny`: answer the client directly with `status` and a problem+json body carrying `code`.
 * - `step_up`: the caller must complete a Didit verification at `verificationUrl`; the front end turns it
 *   into a 302 (browsers) or a 401 `insufficient_user_authentication` challenge (API clients).
 */
export type Decision = AllowDecision | DenyDecision | StepUpDecision;

export interface DecisionCommon {
  /** The id of the policy route that decided, or undefined when none matched. */
  readonly routeId?: string;
  /** The subject (`<issuer>:<sub>`) when a caller was identified. */
  readonly subject?: string;
  /** True when the route (or the whole policy) is in shadow mode and this decision was downgraded to allow. */
  readonly shadow?: boolean;
  /**
   * The policy layer and rule that decided (a policy deny): Envoy dynamic metadata `layer`/`rule` and the
   * decision log. Not in the client's problem body, which does not name the route either.
   */
  readonly decidedBy?: DecidedBy;
  /**
   * The id of this decision (see `newDecisionId`): in the decision log, the proxy's dynamic metadata and a
   * deny's problem body, so a support ticket quoting it finds the log line. Set by the engine.
   */
  readonly decisionId?: string;
}

export interface AllowDecision extends DecisionCommon {
  readonly kind: 'allow';
  /** Headers to set on the upstream request (lower-case names; always overwrite). */
  readonly headers: Readonly<Record<string, string>>;
  /** Facts returned to Envoy as dynamic metadata (`envoy.filters.http.ext_authz` namespace). */
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
}

export interface DenyDecision extends DecisionCommon {
  readonly kind: 'deny';
  /** HTTP status for the client: 400, 401, 403 or 503 (always a value of Envoy's StatusCode enum). */
  readonly status: 400 | 401 | 403 | 429 | 503;
  readonly code: DenyCode;
  /** Human-readable, safe to show the client; never contains tokens or PII. */
  readonly message: string;
  /** Seconds for `Retry-After` (503/429). */
  readonly retryAfter?: number;
  /** Extra RFC 6750 parameters for the `WWW-Authenticate` challenge of a 401 (e.g. `error`, `scope`). */
  readonly challenge?: Readonly<Record<string, string>>;
  /** Extra members for the problem document (e.g. `workflow`). Never PII. */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

export interface StepUpDecision extends DecisionCommon {
  readonly kind: 'step_up';
  /** The policy's workflow name (not the Didit workflow id). */
  readonly workflow: string;
  /**
   * Where the caller goes: the Didit hosted session when it is known, else idgate's own start URL
   * (`<public.baseUrl>/verification/start/<ticket>`), which creates or reuses the session when opened.
   */
  readonly verificationUrl: string;
  /** The Didit session id, when the session already exists. */
  readonly sessionId?: string;
}
