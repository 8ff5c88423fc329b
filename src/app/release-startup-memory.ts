import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc` extension function with options (see `src/extensions/gc-extension.cc`). */
type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Hands back to the OS the memory that starting up grew into and no longer uses (issue 15 §3). Loading the
 * roles allocates enough to grow V8's young generation to its cap (64 MiB committed with a 32 MiB semi-space,
 * 32 with the image's 16 MiB), and the pages V8 frees afterwards stay in its page pool, resident: a forced
 * `gc()` does not return them, only a memory-reducing GC does — and V8's memory reducer, which would run one,
 * waits for a quiet allocation rate. One such GC right after start took an idle `authz` from ~114 to ~94 MiB
 * RSS (bench/README.md, "Where the RSS of a loaded authz goes"). Under load the young generation grows back
 * to what the traffic needs; this only stops a quiet replica from carrying its startup peak.
 *
 * V8 offers a memory-reducing GC only through its `gc` extension, so the extension is enabled just long
 * enough to take the function from a fresh context, then disabled again: `gc` is never exposed to
 * idgate's own global object or to any later context.
 * @returns the milliseconds the collection paused the process (one pause, ~30–250 ms, at startup only), or
 *   undefined when the runtime offers no gc extension (nothing was done).
 */
export function releaseStartupMemory(): number | undefined {
  // Started with --expose-gc (the bench's memory probe): use that one and leave the flag as it was.
  const gc = (globalThis as { gc?: GcFunction }).gc ?? gcFromFreshContext();
  // A runtime without the extension only keeps its startup memory: never a reason to fail a start.
  if (typeof gc !== 'function') return undefined;
  const started = performance.now();
  // `last-resort`: the full GC V8 runs before giving up on an allocation — it shrinks the young generation
  // and releases the pooled pages, which a regular major GC keeps.
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return performance.now() - started;
}

function gcFromFreshContext(): GcFunction | undefined {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('globalThis.gc') as GcFunction | undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
