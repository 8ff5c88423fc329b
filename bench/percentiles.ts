/** Latency summary of one measured run, in microseconds. */
export interface LatencySummary {
  /** Number of latency samples. */
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/**
 * The nearest-rank percentile of an ascending-sorted array: the smallest value such that at least `p` % of
 * the samples are ≤ it (rank `ceil(p/100 · n)`). No interpolation, so every reported figure is a latency
 * that was actually observed.
 * @returns the value, or NaN for an empty array.
 * @throws RangeError when `p` is outside (0, 100].
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // The epsilon keeps float noise (0.999 × 10 000 = 9990.000000000002) from pushing the rank up by one.
  const rank = Math.ceil((p * n) / 100 - 1e-9);
  return sorted[Math.min(n, Math.max(1, rank)) - 1] as number;
}

/**
 * Sorts a copy of the samples and returns p50/p90/p99/p99.9/max.
 * @returns NaN figures (count 0) when there are no samples.
 */
export function summarizeLatencies(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

/** What an h2load `--log-file` holds, reduced to what the report needs. */
export interface H2loadLog {
  /** Elapsed µs of every stream that got a response (any HTTP status), in file order. */
  readonly latenciesUs: number[];
  /** Streams with status -1 (failed: reset, refused, timed out). */
  readonly failed: number;
  /** Count per HTTP status (`200`: …); h2load cannot see the gRPC status, which is in the trailers. */
  readonly statusCounts: Readonly<Record<string, number>>;
  /** Earliest and latest stream start, µs since the epoch (0 when empty). */
  readonly firstStartUs: number;
  readonly lastStartUs: number;
}

/**
 * Parses an h2load `--log-file` (nghttp2 1.52): one line per stream, tab-separated: start time in µs since
 * the epoch, HTTP status (-1 for a failed stream), µs from start to the end of the response. Extra columns,
 * which h2load says may be added later, are ignored; blank lines are skipped.
 * @throws Error naming the line when a line does not have three numeric columns.
 */
export function parseH2loadLog(text: string): H2loadLog {
  const latenciesUs: number[] = [];
  const statusCounts: Record<string, number> = {};
  let failed = 0;
  let firstStartUs = Number.POSITIVE_INFINITY;
  let lastStartUs = 0;
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo += 1;
    if (line.trim() === '') continue;
    const cols = line.split('\t');
    const start = Number(cols[0]);
    const status = Number(cols[1]);
    const elapsed = Number(cols[2]);
    if (cols.length < 3 || !Number.isFinite(start) || !Number.isInteger(status) || !Number.isFinite(elapsed)) {
      throw new Error(`h2load log line ${lineNo} is not "start<TAB>status<TAB>elapsed": ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (start < firstStartUs) firstStartUs = start;
    if (start > lastStartUs) lastStartUs = start;
    if (status === -1) {
      failed += 1;
      continue;
    }
    statusCounts[String(status)] = (statusCounts[String(status)] ?? 0) + 1;
    latenciesUs.push(elapsed);
  }
  return {
    latenciesUs,
    failed,
    statusCounts,
    firstStartUs: Number.isFinite(firstStartUs) ? firstStartUs : 0,
    lastStartUs,
  };
}
