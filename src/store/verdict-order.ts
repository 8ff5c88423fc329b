import type { SessionStatus, Verdict } from '../verification/verdict.js';
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
