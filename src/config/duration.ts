const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** The longest duration accepted anywhere in the configuration (10 years), to keep arithmetic exact. */
export const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * Parses a configuration duration into milliseconds.
 *
 * Accepts `250ms`, `30s`, `5m`, `1h`, `7d` (decimals allowed, e.g. `1.5h`) or a number, read in
 * `numberUnit` (`s` by default: `30` = 30 seconds; `ms` for the `…Ms` spellings of a key).
 *
 * @returns the duration in whole milliseconds, or a string describing why the value is not a duration.
 */
export function parseDuration(value: unknown, numberUnit: 's' | 'ms' = 's'): number | string {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return `invalid duration ${String(value)}: must be a non-negative number`;
    ms = numberUnit === 's' ? value * 1000 : value;
  } else if (typeof value === 'string') {
    const m = DURATION_RE.exec(value.trim());
    if (m === null) {
      return `invalid duration ${JSON.stringify(value)} (use 250ms, 30s, 5m, 1h, 7d or a number of ${numberUnit === 's' ? 'seconds' : 'milliseconds'})`;
    }
    ms = Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  } else {
    return `expected a duration (250ms, 30s, 5m, 1h, 7d or a number), got ${describeType(value)}`;
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) return `duration too long (at most 3650d)`;
  return ms;
}

/** A short name for the JSON type of `value`, for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}
