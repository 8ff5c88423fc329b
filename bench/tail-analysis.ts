/**
 * The analysis of one paced window for `paced-tail.ts`: h2load's per-Check log set against the GCs and
 * event-loop stalls the stall probe (`stall-probe.ts`) recorded in the target over the same wall-clock time.
 * Pure functions; the tool does the I/O.
 */
import { summarizeLatencies } from './percentiles.js';

/** One Check from h2load's log: start and end in ms since the epoch. */
export interface Call {
  readonly startMs: number;
  readonly endMs: number;
}
export interface Gc {
  readonly atMs: number;
  readonly ms: number;
  readonly kind: string;
  /** Heap bytes used outside the young generation, read just after the GC. */
  readonly oldBytes: number;
}
export interface Stall {
  readonly atMs: number;
  readonly lateMs: number;
  /** The main thread's CPU time over the stall's tick: ≈ lateMs when the thread itself was busy. */
  readonly busyMs: number;
}

/**
 * Reads an h2load `--log-file` (start µs since the epoch, status, elapsed µs) into calls sorted by start;
 * failed streams (status -1) and malformed lines are left out.
 */
export function parseCalls(text: string): Call[] {
  const calls: Call[] = [];
  for (const line of text.split('\n')) {
    const [start, status, elapsed] = line.split('\t').map(Number);
    if (start === undefined || elapsed === undefined || status === undefined || status === -1 || !Number.isFinite(elapsed)) continue;
    calls.push({ startMs: start / 1000, endMs: (start + elapsed) / 1000 });
  }
  return calls.sort((a, b) => a.startMs - b.startMs);
}

const overlaps = (c: Call, from: number, to: number): boolean => c.startMs < to && c.endMs > from;

/** A stall in which the main thread ran for at least half of it: the target's own work, not the core's. */
export const isOwnStall = (s: Stall): boolean => s.busyMs >= s.lateMs / 2;

/**
 * Groups items sorted by `at` into runs whose consecutive members (`from: 'previous'`) or whose first member
 * (`from: 'first'`) lie within `gapMs`.
 */
export function groupWithin<T>(items: readonly T[], at: (item: T) => number, gapMs: number, from: 'first' | 'previous'): T[][] {
  const groups: T[][] = [];
  for (const item of items) {
    const group = groups[groups.length - 1];
    const ref = group === undefined ? undefined : from === 'first' ? group[0] : group[group.length - 1];
    if (group !== undefined && ref !== undefined && at(item) - at(ref) < gapMs) group.push(item);
    else groups.push([item]);
  }
  return groups;
}

/**
 * Old-generation growth per Check: the growth of `oldBytes` between consecutive minor GCs (a major GC in
 * between resets the old generation, so such pairs are skipped), divided by the Checks in those spans.
 * @returns NaN when no two consecutive minor GCs were seen.
 */
export function oldGrowthPerCheck(gcs: readonly Gc[], checksPerMs: number): number {
  let grown = 0;
  let spanMs = 0;
  for (let i = 1; i < gcs.length; i++) {
    const a = gcs[i - 1] as Gc;
    const b = gcs[i] as Gc;
    if (a.kind !== 'minor' || b.kind !== 'minor') continue;
    grown += b.oldBytes - a.oldBytes;
    spanMs += b.atMs - a.atMs;
  }
  return spanMs > 0 ? grown / (spanMs * checksPerMs) : Number.NaN;
}

/** The report of one paced window: latencies, slow Checks against GCs and stalls, arrivals, episodes. */
export function renderTailAnalysis(calls: readonly Call[], gcs: readonly Gc[], stalls: readonly Stall[], slowMs: number, episodesShown: number): string {
  const lat = summarizeLatencies(calls.map((c) => (c.endMs - c.startMs) * 1000));
  const t0 = calls[0]?.startMs ?? 0;
  const t1 = calls[calls.length - 1]?.startMs ?? 0;
  const slow = calls.filter((c) => c.endMs - c.startMs >= slowMs);
  const pauses = gcs.filter((g) => g.ms >= 1);
  const withGc = slow.filter((c) => pauses.some((g) => overlaps(c, g.atMs, g.atMs + g.ms)));
  const withStall = slow.filter((c) => stalls.some((s) => overlaps(c, s.atMs, s.atMs + s.lateMs)));
  const own = stalls.filter(isOwnStall);
  const withOwnStall = slow.filter((c) => own.some((s) => overlaps(c, s.atMs, s.atMs + s.lateMs)));
  // The target's own stalls of ≥ 5 ms that no GC overlaps: JavaScript work (periodic tasks, a burst of Checks).
  const ownNoGc = own.filter((s) => s.lateMs >= 5 && !gcs.some((g) => g.atMs < s.atMs + s.lateMs && g.atMs + g.ms > s.atMs));
  const majors = gcs.filter((g) => g.kind === 'major');
  const firstSecond = slow.filter((c) => c.startMs - t0 < 1000).length;
  const ms = (v: number): string => (v / 1000).toFixed(2);
  const out = [
    `  ${calls.length} Checks over ${((t1 - t0) / 1000).toFixed(1)} s: p50 ${ms(lat.p50)} p90 ${ms(lat.p90)} p99 ${ms(lat.p99)} p99.9 ${ms(lat.p999)} max ${ms(lat.max)} ms`,
    `  ≥ ${slowMs} ms: ${slow.length} Checks (${firstSecond} in the first second); overlapping a GC pause ≥ 1 ms: ${withGc.length}; a loop stall: ${withStall.length} (one where the target itself was busy: ${withOwnStall.length})`,
    `  own stalls ≥ 5 ms without a GC: ${ownNoGc.length} (longest ${Math.max(0, ...ownNoGc.map((s) => s.lateMs)).toFixed(1)} ms); major GCs: ${majors.map((g) => `${g.ms.toFixed(1)} ms`).join(', ') || 'none'}`,
    `  target: ${gcs.length} GCs (${gcs.filter((g) => g.kind === 'major').length} major, longest ${Math.max(0, ...gcs.map((g) => g.ms)).toFixed(1)} ms, total ${gcs.reduce((a, g) => a + g.ms, 0).toFixed(0)} ms), ${stalls.length} stalls ≥ 2 ms (longest ${Math.max(0, ...stalls.map((s) => s.lateMs)).toFixed(1)} ms, total ${stalls.reduce((a, s) => a + s.lateMs, 0).toFixed(0)} ms, main thread busy in them ${stalls.reduce((a, s) => a + s.busyMs, 0).toFixed(0)} ms; ${own.length} busy ≥ half, longest ${Math.max(0, ...own.map((s) => s.lateMs)).toFixed(1)} ms)`,
  ];
  const checksPerMs = calls.length / Math.max(1, t1 - t0);
  const growth = (from: readonly Gc[]): string => {
    const g = oldGrowthPerCheck(from, checksPerMs);
    return Number.isNaN(g) ? '–' : `+${g.toFixed(0)}`;
  };
  // Split at the first major GC: does the old generation grow faster once one has run?
  const firstMajor = gcs.findIndex((g) => g.kind === 'major');
  const split = firstMajor < 0 ? '' : `; before the first major GC ${growth(gcs.slice(0, firstMajor))}, after it ${growth(gcs.slice(firstMajor + 1))}`;
  out.push(`  old generation: ${growth(gcs)} bytes per Check between minor GCs${split}; after the last GC ${((gcs[gcs.length - 1]?.oldBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`);
  // h2load paces with a timer of at least 10 ms (nghttp2 1.52: max(0.01, 1 / rps) per client), so at
  // 1,000/s over 2 connections the Checks arrive in bursts; a Check's latency includes the burst ahead of it.
  const bursts = groupWithin(calls, (c) => c.startMs, 2, 'first');
  const sizes = bursts.map((b) => b.length).sort((a, b) => a - b);
  const firsts = summarizeLatencies(bursts.map((b) => ((b[0] as Call).endMs - (b[0] as Call).startMs) * 1000));
  // How long a burst takes from its first arrival to its last answer: the latency every Check of it sees
  // when the server answers a burst's Checks together (node:http2 flushes a session's frames once per turn).
  const spans = summarizeLatencies(bursts.map((b) => (Math.max(...b.map((c) => c.endMs)) - (b[0] as Call).startMs) * 1000));
  out.push(`  arrivals: ${bursts.length} bursts (start within 2 ms), size median ${sizes[sizes.length >> 1] ?? 0}, max ${sizes[sizes.length - 1] ?? 0}; first Check of a burst: p50 ${ms(firsts.p50)} p99 ${ms(firsts.p99)} ms; first arrival to last answer: p50 ${ms(spans.p50)} p90 ${ms(spans.p90)} ms`);
  // Per second of the phase: slow Checks, so a start-up or a periodic pattern shows.
  const perSecond: number[] = [];
  for (const c of slow) perSecond[Math.floor((c.startMs - t0) / 1000)] = (perSecond[Math.floor((c.startMs - t0) / 1000)] ?? 0) + 1;
  out.push(`  slow Checks per second of the phase: ${Array.from(perSecond, (n) => n ?? 0).join(' ')}`);
  // Episodes: slow Checks within 20 ms of each other.
  const episodes = groupWithin(slow, (c) => c.startMs, 20, 'previous');
  episodes.sort((a, b) => b.length - a.length);
  for (const e of episodes.slice(0, episodesShown)) {
    const from = Math.min(...e.map((c) => c.startMs));
    const to = Math.max(...e.map((c) => c.endMs));
    const worst = Math.max(...e.map((c) => c.endMs - c.startMs));
    const g = gcs.filter((x) => x.atMs < to && x.atMs + x.ms > from - 5).map((x) => `${x.kind} ${x.ms.toFixed(1)} ms @${(x.atMs - from).toFixed(1)}`);
    const s = stalls.filter((x) => x.atMs < to && x.atMs + x.lateMs > from - 5).map((x) => `${x.lateMs.toFixed(1)} ms (busy ${x.busyMs.toFixed(1)}) @${(x.atMs - from).toFixed(1)}`);
    out.push(`    +${((from - t0) / 1000).toFixed(3)} s: ${e.length} slow, worst ${worst.toFixed(1)} ms, span ${(to - from).toFixed(1)} ms; GC [${g.join(', ')}]; stalls [${s.join(', ')}]`);
  }
  return out.join('\n');
}
