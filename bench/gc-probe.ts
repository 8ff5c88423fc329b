/**
 * A bench-only preload (`node --expose-gc --import …/gc-probe.js`, see MEMORY_PROBE_FLAGS in targets.ts):
 * on SIGUSR2 it forces a full garbage collection and prints `process.memoryUsage()` as one JSON line on
 * stderr, so the harness reads RSS and heap *after GC* of a running idgate without touching `src/`. A heap
 * figure taken without a GC mostly measures how long ago the last major GC ran.
 *
 * Loaded only into bench targets; it never handles anything but the signal. No exports: importing it
 * anywhere else would install the handler there (`probe-memory.ts` parses the line).
 */
import { writeSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice: the first full GC runs finalizers whose garbage only the second one collects.
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  // Committed bytes per V8 heap space (new, old, code, large object …): where heapTotal sits after GC.
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
  // One synchronous write of one line, so it cannot interleave with the target's own log lines mid-line.
  writeSync(2, `${JSON.stringify({ msg: 'bench-memory', gc: gc !== undefined, ...usage, spaces })}\n`);
});
