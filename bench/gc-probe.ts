/**
 * A bench-only preload (`node --expose-gc --import …/gc-probe.js`, see MEMORY_PROBE_FLAGS in targets.ts):
 * on SIGUSR2 it forces a full garbage collection and prints `process.memoryUsage()` as one JSON line on
 * stderr, so the harness reads RSS and heap *after GC* of a running idgate without touching `src/`. A heap
 * figure taken without a GC mostly measures how long ago the last major GC ran.
 *
 * With `IDGATE_BENCH_SMAPS_DIR=<dir>` each probe also writes `<dir>/<pid>-<n>.json`: the resident KiB of
 * `/proc/self/smaps` by kind of mapping and V8's committed, used and resident bytes per heap space, taken
 * after the same GC — the breakdown "Memory and the paced tail, seventh round" reads the loaded RSS with.
 *
 * Loaded only into bench targets; it never handles anything but the signal. No exports: importing it
 * anywhere else would install the handler there (`probe-memory.ts` parses the line).
 */
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';

let probes = 0;

/** Resident KiB of this process by mapping kind: file-backed, malloc's `[heap]`, stacks, other anonymous. */
function smapsRssKiB(): Record<string, number> {
  const kinds: Record<string, number> = { file: 0, heap: 0, stack: 0, anon: 0, anon256k: 0, other: 0 };
  let kind = 'other';
  let sizeKiB = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const path = header[1] ?? '';
      kind = path.startsWith('/') ? 'file' : path === '[heap]' ? 'heap' : path.startsWith('[stack') ? 'stack' : path === '' ? 'anon' : 'other';
      continue;
    }
    if (line.startsWith('Size:')) sizeKiB = Number(line.split(/\s+/)[1]);
    if (!line.startsWith('Rss:')) continue;
    const rss = Number(line.split(/\s+/)[1]);
    kinds[kind] = (kinds[kind] ?? 0) + rss;
    // V8's heap pages are 256 KiB anonymous mappings: split them from malloc's arenas and thread stacks.
    if (kind === 'anon' && sizeKiB === 256) kinds.anon256k = (kinds.anon256k ?? 0) + rss;
  }
  return kinds;
}

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice: the first full GC runs finalizers whose garbage only the second one collects.
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  const stats = getHeapSpaceStatistics();
  // Committed bytes per V8 heap space (new, old, code, large object …): where heapTotal sits after GC.
  const spaces = Object.fromEntries(stats.map((s) => [s.space_name, s.space_size]));
  const dir = process.env.IDGATE_BENCH_SMAPS_DIR;
  if (dir !== undefined && dir !== '') {
    probes += 1;
    const heapSpaces = Object.fromEntries(stats.map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }]));
    // Written before the line below: a harness that sees the line can read the file.
    writeFileSync(join(dir, `${process.pid}-${probes}.json`), `${JSON.stringify({ rss: usage.rss, heapTotal: usage.heapTotal, heapUsed: usage.heapUsed, smapsRssKiB: smapsRssKiB(), heapSpaces })}\n`);
  }
  // One synchronous write of one line, so it cannot interleave with the target's own log lines mid-line.
  writeSync(2, `${JSON.stringify({ msg: 'bench-memory', gc: gc !== undefined, ...usage, spaces })}\n`);
});
