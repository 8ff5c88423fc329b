const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIMPLE_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
/** One or more `<number><unit>` parts with nothing between them: `1h30m`, `1m30s`, `1s500ms`. */
const COMPOUND_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest duration accepted anywhere in the configuration (10 years), to keep arithmetic exact. */
export const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * Parses a configuration duration into milliseconds.
 *
 * Accepts `250ms`, `30s`, `5m`, `1h`, `7d` (decimals allowed, e.g. `1.5h`), compound values written the
 * Go / Envoy / Kubernetes way (`1h30m`, `1m30s`, `1s500ms`: largest unit first, each unit once), or a number, read in
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
    const parsed = parseDurationString(value);
    if (parsed === undefined) {
      return `invalid duration ${JSON.stringify(value)} (use 250ms, 30s, 5m, 1h30m, 7d or a number of ${numberUnit === 's' ? 'seconds' : 'milliseconds'})`;
    }
    if (typeof parsed === 'string') return `invalid duration ${JSON.stringify(value)}: ${parsed}`;
    ms = parsed;
  } else {
    return `expected a duration (250ms, 30s, 5m, 1h30m, 7d or a number), got ${describeType(value)}`;
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) return `duration too long (at most 3650d)`;
  return ms;
}

/**
 * Milliseconds (unrounded) for a duration string; undefined when it has no duration shape at all, or a
 * reason when it has the shape but breaks a rule (units out of order or repeated).
 */
function parseDurationString(value: string): number | string | undefined {
  const trimmed = value.trim();
  const simple = SIMPLE_RE.exec(trimmed);
  if (simple !== null) return Number(simple[1]) * (UNIT_MS[simple[2] ?? ''] ?? Number.NaN);
  if (trimmed.length > 64 || !COMPOUND_RE.test(trimmed)) return undefined;
  let total = 0;
  let previous = Number.POSITIVE_INFINITY;
  const seen = new Set<string>();
  for (const [, amount, unit = ''] of trimmed.matchAll(PART_RE)) {
    const size = UNIT_MS[unit] ?? Number.NaN;
    if (seen.has(unit)) return `unit ${unit} appears twice`;
    if (size > previous) return `units must go from largest to smallest (write ${reorder(trimmed)})`;
    seen.add(unit);
    previous = size;
    total += Number(amount) * size;
  }
  return total;
}

/** The same parts sorted largest unit first, for the error message. */
function reorder(value: string): string {
  return [...value.matchAll(PART_RE)]
    .sort((a, b) => (UNIT_MS[b[2] ?? ''] ?? 0) - (UNIT_MS[a[2] ?? ''] ?? 0))
    .map((m) => m[0])
    .join('');
}

/** A short name for the JSON type of `value`, for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}
