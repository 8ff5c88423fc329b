import type { SessionStatus, Verdict } from '../core/verdict.js';
import type { PutVerdictResult } from './verdict-store.js';

/**
 * Precedence of statuses for two events with the same `eventAt` (higher wins), so replays in any order
 * converge on one verdict: the terminal refusals (`Declined`, `Kyc Expired`, `Expired`, `Abandoned`) beat
 * `Approved`, which beats `In Review`, which beats the pending statuses. Every status has its own rank so
 * the order is total. The Redis Lua script carries the same table (a unit test keeps them equal).
 */
export const STATUS_PRECEDENCE: Readonly<Record<SessionStatus, number>> = {
  'Not Started': 1,
  'In Progress': 2,
  'Awaiting User': 3,
  Resubmitted: 4,
  'In Review': 5,
  Approved: 6,
  Abandoned: 7,
  Expired: 8,
  'Kyc Expired': 9,
  Declined: 10,
};

/** Statuses whose verdict expires after the settled-verdict TTL instead of living forever. */
export const EXPIRING_STATUSES: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Expired', 'Abandoned']);

/** Default TTL of an `Expired`/`Abandoned` verdict: 30 days (they only mean "step up again"). */
export const DEFAULT_SETTLED_VERDICT_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Compares two strings by their UTF-8 bytes (what Lua's byte loop does), -1 / 0 / 1. */
export function compareUtf8(a: string, b: string): number {
  return Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/**
 * Pure ordering rule of a verdict write against the stored verdict:
 * - no stored verdict → `written`;
 * - newer `eventAt` → `written`, older → `stale`;
 * - equal `eventAt`, same status and session → `duplicate`;
 * - equal `eventAt` otherwise → the higher {@link STATUS_PRECEDENCE} wins, then the byte-wise greater
 *   session id; the loser is `stale`.
 */
export function orderVerdictWrite(stored: Verdict | undefined, incoming: Verdict): PutVerdictResult {
  if (stored === undefined) return 'written';
  if (incoming.eventAt > stored.eventAt) return 'written';
  if (incoming.eventAt < stored.eventAt) return 'stale';
  if (incoming.status === stored.status && incoming.sessionId === stored.sessionId) return 'duplicate';
  const byRank = STATUS_PRECEDENCE[incoming.status] - STATUS_PRECEDENCE[stored.status];
  if (byRank !== 0) return byRank > 0 ? 'written' : 'stale';
  return compareUtf8(incoming.sessionId, stored.sessionId) > 0 ? 'written' : 'stale';
}

/**
 * Refusal statuses: an `Approved` verdict replaced by one of these is a Didit status regression and
 * leaves a revocation watermark (the Redis Lua script carries the same list; a unit test keeps them equal).
 */
export const REFUSAL_STATUSES: ReadonlySet<SessionStatus> = new Set<SessionStatus>(['Declined', 'Kyc Expired', 'Expired', 'Abandoned']);

/** Whether writing `incoming` over `stored` takes an approval away (see {@link REFUSAL_STATUSES}). */
export function isStatusRegression(stored: Verdict | undefined, incoming: Verdict): boolean {
  return stored?.status === 'Approved' && REFUSAL_STATUSES.has(incoming.status);
}

/**
 * The revocation rule, pure: with a watermark (the latest revocation time of the subject or workflow),
 * a session created at or before it, or whose creation time is unknown, may not write a verdict.
 * Equal times are refused: which came first cannot be told, so the revocation wins.
 */
export function isRevokedSession(watermark: number | undefined, sessionCreatedAt: number | undefined): boolean {
  if (watermark === undefined) return false;
  return sessionCreatedAt === undefined || !Number.isFinite(sessionCreatedAt) || sessionCreatedAt <= watermark;
}
