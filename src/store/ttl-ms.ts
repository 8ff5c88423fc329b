/**
 * A TTL argument as both backends take it: whole ms, rounded up (Redis `PX` wants an integer, and rounding
 * down could make a 0.5 ms TTL mean "no TTL").
 * @throws TypeError when `ttlMs` is not a positive finite number (a programming error upstream).
 */
export function ttlMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`${what} must be a positive number of ms`);
  return Math.ceil(ms);
}
