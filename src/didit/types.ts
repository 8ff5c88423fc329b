import { SESSION_STATUSES, type SessionStatus } from '../core/verdict.js';

/**
 * Didit v3 wire types (verification API and webhooks). Didit's shapes vary between versions and
 * features, so everything beyond what idgate reads is optional and unknown fields are tolerated.
 */

/** Body of `POST /v3/session/`. */
export interface DiditCreateSessionRequest {
  readonly workflow_id: string;
  readonly vendor_data?: string;
  readonly callback?: string;
  readonly callback_method?: 'initiator' | 'completer' | 'both';
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly language?: string;
  readonly contact_details?: Readonly<Record<string, unknown>>;
  readonly expected_details?: Readonly<Record<string, unknown>>;
}

/** 201 body of `POST /v3/session/`. */
export interface DiditCreateSessionResponse {
  readonly session_id: string;
  readonly session_number?: number;
  /** Short opaque token (12 characters in Didit's examples), not a JWT. */
  readonly session_token?: string;
  /** The hosted verification URL. */
  readonly url: string;
  readonly vendor_data?: string | null;
  readonly metadata?: unknown;
  readonly status: SessionStatus;
  readonly workflow_id: string;
  readonly workflow_version?: number;
  readonly callback?: string | null;
  readonly session_kind?: 'user' | 'business';
}

/** Feature-level status, a separate enum from the session status. */
export type DiditFeatureStatus = 'Not Finished' | 'Approved' | 'Declined' | 'In Review';

/** One entry of a feature item's `warnings[]`. */
export interface DiditWarning {
  readonly feature?: string;
  /** Stable code such as `DOCUMENT_EXPIRED`, `MINIMUM_AGE_NOT_MET`, `POSSIBLE_MATCH_FOUND`. */
  readonly risk?: string;
  readonly additional_data?: unknown;
  readonly log_type?: 'information' | 'warning' | 'error' | string;
  readonly short_description?: string;
  readonly long_description?: string;
  readonly node_id?: string | null;
}

/** Fields every v3 feature item carries. */
export interface DiditFeatureItem {
  readonly node_id?: string | null;
  readonly status?: DiditFeatureStatus | string;
  readonly warnings?: readonly DiditWarning[] | null;
  readonly [key: string]: unknown;
}

/** `id_verifications[i]`: the fields idgate reads (others exist). */
export interface DiditIdVerification extends DiditFeatureItem {
  readonly document_type?: string | null;
  /** `YYYY-MM-DD`. */
  readonly date_of_birth?: string | null;
  /** Integer years. */
  readonly age?: number | null;
  /** `YYYY-MM-DD`. */
  readonly expiration_date?: string | null;
  readonly issuing_state?: string | null;
}

/** `liveness_checks[i]`. */
export interface DiditLivenessCheck extends DiditFeatureItem {
  readonly method?: string | null;
  readonly score?: number | null;
  /** Estimated age in years (float), or null when none could be estimated. */
  readonly age_estimation?: number | null;
}

/** `face_matches[i]`. */
export interface DiditFaceMatch extends DiditFeatureItem {
  readonly score?: number | null;
}

/** One `aml_screenings[i].hits[j]`. The key holding a hit's review status is unconfirmed. */
export interface DiditAmlHit {
  readonly id?: string;
  readonly caption?: string;
  readonly match_score?: number | null;
  readonly risk_score?: number | null;
  readonly [key: string]: unknown;
}

/** `aml_screenings[i]`. */
export interface DiditAmlScreening extends DiditFeatureItem {
  readonly total_hits?: number | null;
  readonly entity_type?: 'person' | 'company' | string;
  readonly score?: number | null;
  readonly hits?: readonly DiditAmlHit[] | null;
}

/** The v3 decision (`GET /v3/session/{id}/decision/`, and `decision` in webhooks). */
export interface DiditDecision {
  readonly session_id?: string;
  readonly session_kind?: 'user' | 'business';
  readonly session_number?: number;
  readonly session_url?: string;
  readonly status?: SessionStatus;
  readonly environment?: 'live' | 'sandbox';
  readonly workflow_id?: string;
  readonly features?: readonly string[];
  readonly vendor_data?: string | null;
  readonly metadata?: unknown;
  readonly callback?: string | null;
  readonly created_at?: string | number;
  /** A feature block is `null` until the workflow has run it. */
  readonly id_verifications?: readonly DiditIdVerification[] | null;
  readonly liveness_checks?: readonly DiditLivenessCheck[] | null;
  readonly face_matches?: readonly DiditFaceMatch[] | null;
  readonly aml_screenings?: readonly DiditAmlScreening[] | null;
  readonly reviews?: readonly unknown[];
  readonly [key: string]: unknown;
}

/** `resubmit_info`, sent instead of `decision` on `Resubmitted`. */
export interface DiditResubmitInfo {
  readonly nodes_to_resubmit?: readonly string[];
  readonly reasons?: Readonly<Record<string, string>>;
}

/** The webhook body (session events). */
export interface DiditWebhookPayload {
  readonly event_id?: string;
  /** `status.updated`, `data.updated`, … */
  readonly webhook_type?: string;
  /** Unix seconds. */
  readonly timestamp: number;
  /** Unix seconds. */
  readonly created_at?: number;
  readonly application_id?: string;
  readonly session_id: string;
  readonly status: SessionStatus;
  readonly workflow_id?: string;
  readonly workflow_version?: number;
  readonly vendor_data?: string;
  readonly metadata?: unknown;
  readonly environment?: 'live' | 'sandbox';
  /** Present for Approved, Declined, In Review and Abandoned. */
  readonly decision?: DiditDecision;
  readonly resubmit_info?: DiditResubmitInfo;
  readonly session_kind?: 'user' | 'business';
  readonly [key: string]: unknown;
}

/** A check that either yields a typed value or says why not. */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** True when `value` is one of Didit's session statuses, exactly spelled. */
export function isSessionStatus(value: unknown): value is SessionStatus {
  return typeof value === 'string' && (SESSION_STATUSES as readonly string[]).includes(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a parsed webhook body just as far as idgate relies on it: an object with a string
 * `session_id`, a finite numeric `timestamp`, a `status` from {@link SESSION_STATUSES}; if present,
 * `vendor_data`/`webhook_type`/`event_id`/`workflow_id` strings, `decision`/`resubmit_info` objects.
 * Unknown fields are kept.
 *
 * @returns `{ ok: true, value }` or `{ ok: false, reason }` naming the first offending field.
 */
export function parseWebhookPayload(json: unknown): ParseResult<DiditWebhookPayload> {
  if (!isRecord(json)) return { ok: false, reason: 'payload is not a JSON object' };
  if (typeof json.session_id !== 'string' || json.session_id === '') {
    return { ok: false, reason: 'session_id must be a non-empty string' };
  }
  if (typeof json.timestamp !== 'number' || !Number.isFinite(json.timestamp)) {
    return { ok: false, reason: 'timestamp must be a number' };
  }
  if (!isSessionStatus(json.status)) return { ok: false, reason: 'status is not a Didit session status' };
  for (const key of ['vendor_data', 'webhook_type', 'event_id', 'workflow_id'] as const) {
    const v = json[key];
    if (v !== undefined && v !== null && typeof v !== 'string') return { ok: false, reason: `${key} must be a string` };
  }
  for (const key of ['decision', 'resubmit_info'] as const) {
    const v = json[key];
    if (v !== undefined && v !== null && !isRecord(v)) return { ok: false, reason: `${key} must be an object` };
  }
  const decision = json.decision;
  if (isRecord(decision) && decision.status !== undefined && !isSessionStatus(decision.status)) {
    return { ok: false, reason: 'decision.status is not a Didit session status' };
  }
  return { ok: true, value: json as unknown as DiditWebhookPayload };
}

/**
 * Validates a decision document (from `GET /v3/session/{id}/decision/`): an object whose `status`, if
 * present, is a session status and whose feature blocks we read are arrays or null.
 */
export function parseDecision(json: unknown): ParseResult<DiditDecision> {
  if (!isRecord(json)) return { ok: false, reason: 'decision is not a JSON object' };
  if (json.status !== undefined && !isSessionStatus(json.status)) {
    return { ok: false, reason: 'status is not a Didit session status' };
  }
  if (json.session_id !== undefined && typeof json.session_id !== 'string') {
    return { ok: false, reason: 'session_id must be a string' };
  }
  for (const key of ['id_verifications', 'liveness_checks', 'face_matches', 'aml_screenings'] as const) {
    const v = json[key];
    if (v !== undefined && v !== null && !Array.isArray(v)) return { ok: false, reason: `${key} must be an array or null` };
  }
  return { ok: true, value: json as DiditDecision };
}

/**
 * Validates the 201 body of create-session: `session_id`, `url`, `workflow_id` strings and a known `status`
 * (Didit always answers `Not Started` for a fresh session, but a reused one may be further along).
 */
export function parseCreateSessionResponse(json: unknown): ParseResult<DiditCreateSessionResponse> {
  if (!isRecord(json)) return { ok: false, reason: 'response is not a JSON object' };
  for (const key of ['session_id', 'url'] as const) {
    if (typeof json[key] !== 'string' || json[key] === '') return { ok: false, reason: `${key} must be a non-empty string` };
  }
  if (!isSessionStatus(json.status)) return { ok: false, reason: 'status is not a Didit session status' };
  if (json.session_token !== undefined && json.session_token !== null && typeof json.session_token !== 'string') {
    return { ok: false, reason: 'session_token must be a string' };
  }
  if (json.workflow_id !== undefined && typeof json.workflow_id !== 'string') {
    return { ok: false, reason: 'workflow_id must be a string' };
  }
  return { ok: true, value: json as unknown as DiditCreateSessionResponse };
}
