/**
 * A bench-only preload (`node --import …/stall-probe.js`, see `paced-tail.ts`) that records, with wall-clock
 * timestamps, what can hold a paced Check back inside the target: every GC (kind, start, duration, from
 * `perf_hooks` `gc` entries) and every event-loop stall (a 1 ms interval timer that fired ≥ 2 ms late:
 * the loop, or the core, was busy with something else for that long). On SIGUSR2 it prints both as one JSON
 * line on stderr and starts over, so the harness can ask for exactly the paced window.
 *
 * The 1 ms timer is itself a wake-up per millisecond; at 1,000 Checks/s the loop wakes that often anyway, and
 * the floor carries the same probe, so the two stay comparable (`IDGATE_BENCH_STALL_INTERVAL_MS=0`: GC only). Never loaded outside the bench; no exports.
 */
import { writeSync } from 'node:fs';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const GC_KIND: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Wall-clock ms of a `performance.now()` reading (the clock h2load's log uses). */
const wallMs = (perfMs: number): number => performance.timeOrigin + perfMs;

/** Bytes used outside the young generation: what only a major GC frees. */
const oldBytes = (): number => getHeapSpaceStatistics().reduce((n, s) => (s.space_name === 'new_space' || s.space_name === 'new_large_object_space' ? n : n + s.space_used_size), 0);

let gcs: Array<{ atMs: number; ms: number; kind: string; oldBytes: number }> = [];
let stalls: Array<{ atMs: number; lateMs: number; busyMs: number }> = [];

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e.toJSON() as { detail?: { kind?: number } }).detail?.kind ?? -1;
    // oldBytes is read when the observer runs, just after the GC: its growth between two minor GCs is what
    // the old generation gained (promotion and direct old-space allocation) towards the next major GC.
    if (gcs.length < 100_000) gcs.push({ atMs: wallMs(e.startTime), ms: e.duration, kind: GC_KIND[kind] ?? String(kind), oldBytes: oldBytes() });
  }
}).observe({ entryTypes: ['gc'] });

// IDGATE_BENCH_STALL_INTERVAL_MS=0 leaves the timer out (GC entries only, no extra wake-ups).
const INTERVAL_MS = Number(process.env.IDGATE_BENCH_STALL_INTERVAL_MS ?? '1');
let last = performance.now();
let lastCpu = process.threadCpuUsage();
if (INTERVAL_MS > 0) setInterval(() => {
  const now = performance.now();
  const cpu = process.threadCpuUsage();
  const late = now - last - INTERVAL_MS;
  // A timer that fired late by ≥ 2 ms: the stall ended at `now` and began about `late` ms earlier. `busyMs`
  // is the main thread's own CPU time since the previous tick: close to `lateMs` when the thread itself was
  // busy (JavaScript, a GC pause), far below it when the thread was runnable but the core ran something else.
  if (late >= 2 && stalls.length < 100_000) {
    const busyMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    stalls.push({ atMs: wallMs(now - late), lateMs: late, busyMs });
  }
  last = now;
  lastCpu = cpu;
}, INTERVAL_MS).unref();

// SIGWINCH: one forced full GC (needs --expose-gc), timed by `--trace-gc-nvp` when the target has it: what a
// major GC of the heap as it stands costs, phase by phase.
process.on('SIGWINCH', () => {
  (globalThis as { gc?: () => void }).gc?.();
});

process.on('SIGUSR2', () => {
  writeSync(2, `${JSON.stringify({ msg: 'bench-stalls', gcs, stalls })}\n`);
  gcs = [];
  stalls = [];
});
