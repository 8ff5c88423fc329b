import { SESSION_STATUSES } from '../core/verdict.js';
import type { PendingSession, SessionRecord, SessionStatus, Verdict, VerdictFacts } from '../core/verdict.js';
import { escapeKeyPart } from './store-keys.js';
import type { Revocation, RevocationReason } from './verdict-store.js';

const STATUSES: ReadonlySet<string> = new Set(SESSION_STATUSES);

type Json = Record<string, unknown>;

function parseObject(raw: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function factsOf(v: unknown): VerdictFacts | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Json;
  const facts: { minAgeMet?: boolean; minAgeChecked?: number; amlClear?: boolean; documentValid?: boolean } = {};
  for (const name of ['minAgeMet', 'amlClear', 'documentValid'] as const) {
    const fact = o[name];
    if (fact === undefined) continue;
    if (typeof fact !== 'boolean') return undefined;
    facts[name] = fact;
  }
  const checked = o['minAgeChecked'];
  if (checked !== undefined) {
    if (typeof checked !== 'number' || !Number.isSafeInteger(checked) || checked < 0 || checked > 200) return undefined;
    facts.minAgeChecked = checked;
  }
  return facts;
}

/**
 * Checks an untrusted value as a {@link Verdict} and returns a fresh object with only the verdict fields
 * (extra properties are dropped), or `undefined` when any field is missing or of the wrong type.
 */
export function toVerdict(value: unknown): Verdict | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Json;
  const facts = factsOf(o['facts']);
  const { subject, workflow, sessionId, status, eventAt, decidedAt } = o;
  if (!isText(subject) || !isText(workflow) || !isText(sessionId)) return undefined;
  if (typeof status !== 'string' || !STATUSES.has(status) || !isTime(eventAt) || facts === undefined) {
    return undefined;
  }
  if (decidedAt !== undefined && !isTime(decidedAt)) return undefined;
  return {
    subject,
    workflow,
    sessionId,
    status: status as SessionStatus,
    eventAt,
    ...(decidedAt !== undefined ? { decidedAt } : {}),
    facts,
  };
}

/**
 * Compact JSON of a verdict with only its own fields, so no payload data can ride along into the store.
 * @throws TypeError when `v` is not a valid verdict (a programming error upstream).
 */
export function encodeVerdict(v: Verdict): string {
  return encodeChecked(toVerdict(v), 'putVerdict: not a valid Verdict');
}

/** Parses a stored verdict; `undefined` when unparsable or not for `subject`/`workflow`. */
export function decodeVerdict(raw: string, subject: string, workflow: string): Verdict | undefined {
  return ownedBy(toVerdict(parseObject(raw)), subject, workflow);
}

/** JSON of a value its checker accepted. @throws TypeError with `message` when it did not. */
function encodeChecked(clean: object | undefined, message: string): string {
  if (clean === undefined) throw new TypeError(message);
  return JSON.stringify(clean);
}

/** `value` when it belongs to `subject`/`workflow` (a stored value under a foreign key is treated as absent). */
function ownedBy<T extends { readonly subject: string; readonly workflow: string }>(
  value: T | undefined,
  subject: string,
  workflow: string,
): T | undefined {
  return value !== undefined && value.subject === subject && value.workflow === workflow ? value : undefined;
}

function toPending(o: Json | undefined): PendingSession | undefined {
  if (o === undefined) return undefined;
  const { subject, workflow, sessionId, url, createdAt } = o;
  if (!isText(subject) || !isText(workflow) || !isText(sessionId) || !isText(url) || !isTime(createdAt)) {
    return undefined;
  }
  return { subject, workflow, sessionId, url, createdAt };
}

/** @throws TypeError when `p` is not a valid pending session. */
export function encodePending(p: PendingSession): string {
  return encodeChecked(toPending(p as unknown as Json), 'putPending: not a valid PendingSession');
}

/** Parses a stored pending session; `undefined` when unparsable or not for `subject`/`workflow`. */
export function decodePending(raw: string, subject: string, workflow: string): PendingSession | undefined {
  return ownedBy(toPending(parseObject(raw)), subject, workflow);
}

/**
 * Parses a stored verdict or pending session of `subject` whose workflow is read from the value itself
 * (a revocation or a listing walks every workflow of the subject); `undefined` when unparsable or foreign.
 */
export function decodeAnyWorkflow<T>(
  decode: (raw: string, subject: string, workflow: string) => T | undefined,
  raw: string,
  subject: string,
): T | undefined {
  const workflow = parseObject(raw)?.['workflow'];
  return typeof workflow === 'string' ? decode(raw, subject, workflow) : undefined;
}

function toSession(o: Json | undefined): SessionRecord | undefined {
  if (o === undefined) return undefined;
  const { sessionId, subject, workflow, returnTo, createdAt } = o;
  if (!isText(sessionId) || !isText(subject) || !isText(workflow) || !isTime(createdAt)) return undefined;
  if (returnTo !== undefined && typeof returnTo !== 'string') return undefined;
  return { sessionId, subject, workflow, ...(returnTo !== undefined ? { returnTo } : {}), createdAt };
}

/** @throws TypeError when `rec` is not a valid session record. */
export function encodeSession(rec: SessionRecord): string {
  return encodeChecked(toSession(rec as unknown as Json), 'putSession: not a valid SessionRecord');
}

/** Parses a stored session record; `undefined` when unparsable or not for `sessionId`. */
export function decodeSession(raw: string, sessionId: string): SessionRecord | undefined {
  const rec = toSession(parseObject(raw));
  return rec !== undefined && rec.sessionId === sessionId ? rec : undefined;
}

/** The pending-index member naming one subject+workflow (a JSON pair, so any string round-trips). */
export function encodeIndexMember(subject: string, workflow: string): string {
  return JSON.stringify([subject, workflow]);
}

/** Parses a pending-index member; `undefined` when malformed. */
export function decodeIndexMember(raw: string): { subject: string; workflow: string } | undefined {
  try {
    const pair: unknown = JSON.parse(raw);
    if (Array.isArray(pair) && pair.length === 2 && isText(pair[0]) && isText(pair[1])) {
      return { subject: pair[0], workflow: pair[1] };
    }
  } catch {
    // fall through: a malformed member is skipped
  }
  return undefined;
}

/** An invalidation message: `{"s":subject}` or `{"s":subject,"w":workflow}`. */
export function encodeInvalidation(subject: string, workflow?: string): string {
  return JSON.stringify(workflow === undefined ? { s: subject } : { s: subject, w: workflow });
}

/** Parses an invalidation message; `undefined` when malformed. */
export function decodeInvalidation(raw: string): { subject: string; workflow?: string } | undefined {
  const o = parseObject(raw);
  if (o === undefined || !isText(o['s'])) return undefined;
  const w = o['w'];
  if (w === undefined) return { subject: o['s'] };
  return isText(w) ? { subject: o['s'], workflow: w } : undefined;
}

const REVOCATION_REASONS: ReadonlySet<string> = new Set<RevocationReason>(['admin', 'didit_status_regression']);

/**
 * The revocations-hash field of a scope: `*` for the whole subject, `w:<escaped workflow>` for one
 * workflow (the prefix keeps a workflow named `*` apart; the escaping keeps lone surrogates apart).
 */
export function revocationField(workflow: string | undefined): string {
  return workflow === undefined ? '*' : `w:${escapeKeyPart(workflow)}`;
}

/** @throws TypeError when `r` is not a valid revocation. */
export function encodeRevocation(r: Revocation): string {
  const clean = decodeRevocation(JSON.stringify(r));
  if (clean === undefined) throw new TypeError('not a valid Revocation');
  return JSON.stringify(clean);
}

/** Parses a stored revocation watermark; `undefined` when unparsable (the stores then fail closed). */
export function decodeRevocation(raw: string): Revocation | undefined {
  const o = parseObject(raw);
  if (o === undefined) return undefined;
  const { at, reason, workflow } = o;
  if (!isTime(at) || typeof reason !== 'string' || !REVOCATION_REASONS.has(reason)) return undefined;
  if (workflow !== undefined && !isText(workflow)) return undefined;
  return { at, reason: reason as RevocationReason, ...(workflow !== undefined ? { workflow } : {}) };
}

/** Subject-wide watermark first, then by workflow name. */
export function sortRevocations(list: Revocation[]): Revocation[] {
  return list.sort((a, b) => {
    if (a.workflow === b.workflow) return 0;
    if (a.workflow === undefined) return -1;
    if (b.workflow === undefined) return 1;
    return a.workflow < b.workflow ? -1 : 1;
  });
}
