/**
 * A bench-only preload that runs V8's sampling heap profiler inside a bench target for a window of its life
 * (`IDGATE_BENCH_NODE_FLAGS="--import=<abs>/dist/bench/alloc-probe.js"`, which `targets.ts` passes to the
 * idgate and h2floor targets):
 *
 * - `IDGATE_BENCH_ALLOC_WINDOW=<startMs>,<durationMs>` — when to sample, from the process's start;
 * - `IDGATE_BENCH_ALLOC_OUT=<prefix>` — writes `<prefix>-<pid>.heapprofile` (DevTools' Memory tab) and
 *   `<prefix>-<pid>.txt` (the top sites and caller chains, per 1,000 sampled bytes… see alloc-sampler.ts);
 * - `IDGATE_BENCH_ALLOC_SURVIVORS=1` — leave out what minor GCs collected: where the objects that outlive
 *   the young generation (promoted, or still live) are allocated, i.e. what drives old-space growth.
 *
 * Loaded only into bench targets; no exports.
 */
import { writeFileSync } from 'node:fs';
import { renderAllocationProfile, sampleAllocations, writeHeapProfile } from './alloc-sampler.js';

const window = (process.env.IDGATE_BENCH_ALLOC_WINDOW ?? '').split(',').map(Number);
const out = process.env.IDGATE_BENCH_ALLOC_OUT;
const [startMs, durationMs] = window;
if (out !== undefined && startMs !== undefined && durationMs !== undefined && Number.isFinite(startMs) && Number.isFinite(durationMs)) {
  setTimeout(() => {
    sampleAllocations(() => new Promise((resolve) => setTimeout(resolve, durationMs).unref()), 256, { survivorsOnly: process.env.IDGATE_BENCH_ALLOC_SURVIVORS === '1' })
      .then((profile) => {
        writeHeapProfile(profile, `${out}-${process.pid}.heapprofile`);
        // Per 1 MB of sampled allocation, so the sites read as shares; the window's Check count is the harness's.
        writeFileSync(`${out}-${process.pid}.txt`, renderAllocationProfile(profile, Math.max(1, profile.totalBytes / 1_000_000), { top: 40, stacks: true }));
      })
      .catch((err: unknown) => process.stderr.write(`alloc-probe: ${String(err)}\n`));
  }, startMs).unref();
}
