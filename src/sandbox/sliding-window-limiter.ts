/** One scope's answer from {@link SlidingWindowLimiter.take}. */
export interface ScopeState {
  readonly scope: string;
  readonly limit: number;
  /** Requests left in the window after this one (0 when refused). */
  readonly remaining: number;
  /** When the oldest counted request leaves the window, epoch ms. */
  readonly resetAt: number;
}

/** Result of {@link SlidingWindowLimiter.take}. */
export type TakeResult =
  | { readonly allowed: true; readonly tightest: ScopeState }
  /** `refused` is the first exhausted scope; nothing was counted. */
  | { readonly allowed: false; readonly refused: ScopeState };

/**
 * Per-identifier, per-scope request counters over a sliding window (Didit: 60 s), in the manner of Django
 * REST framework's throttles that Didit uses: a request is counted in every scope only if all of them
 * still have room; a refused request is not counted.
 */
export class SlidingWindowLimiter {
  private readonly history = new Map<string, number[]>();

  constructor(private readonly windowMs: number) {}

  /**
   * Counts one request from `identifier` against each `{ scope, limit }` at time `now` (epoch ms).
   * @returns the tightest scope when allowed, else the first refusing scope.
   */
  take(identifier: string, scopes: readonly { scope: string; limit: number }[], now: number): TakeResult {
    const states: { scope: string; limit: number; times: number[] }[] = [];
    for (const { scope, limit } of scopes) {
      const key = `${scope}\u0000${identifier}`;
      const times = (this.history.get(key) ?? []).filter((t) => t > now - this.windowMs);
      this.history.set(key, times);
      if (times.length >= limit) {
        const oldest = times[0] ?? now;
        return { allowed: false, refused: { scope, limit, remaining: 0, resetAt: oldest + this.windowMs } };
      }
      states.push({ scope, limit, times });
    }
    let tightest: ScopeState | undefined;
    for (const s of states) {
      s.times.push(now);
      const state = { scope: s.scope, limit: s.limit, remaining: s.limit - s.times.length, resetAt: (s.times[0] ?? now) + this.windowMs };
      if (tightest === undefined || state.remaining < tightest.remaining) tightest = state;
    }
    return { allowed: true, tightest: tightest ?? { scope: 'none', limit: 0, remaining: 0, resetAt: now } };
  }

  /** Forgets every counter. */
  reset(): void {
    this.history.clear();
  }
}
