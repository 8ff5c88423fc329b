import { readFileSync } from 'node:fs';
import { parseStatusKiB } from './proc-stats.js';
import type { RunningTarget } from './targets.js';

/** A target's memory after a forced GC, as printed by the GC probe (`gc-probe.ts`). */
export interface MemoryAfterGc {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  /** Memory of C++ objects bound to JS objects (Buffers included). */
  readonly externalMiB: number;
  /**
   * VmRSS split as `/proc/<pid>/status` reads it right after the probe line (absent when it could not be
   * read): file-backed pages (mostly the `node` binary's code and data, shared and reclaimable) and the
   * process's own anonymous memory (V8 heap, V8's pooled pages, malloc).
   */
  readonly rssFileMiB?: number;
  readonly rssAnonMiB?: number;
}

const MiB = 1024 * 1024;

/**
 * Parses one line of the GC probe (`{"msg":"bench-memory","gc":true,"rss":…,"heapUsed":…}`).
 * @returns the figures in MiB, or undefined for any other line, or a probe line whose GC did not run
 *   (node started without `--expose-gc`: its heap figure would not be "after GC").
 */
export function parseMemoryProbeLine(line: string): MemoryAfterGc | undefined {
  if (!line.includes('"bench-memory"')) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { msg, gc, rss, heapUsed, heapTotal, external } = parsed;
  if (msg !== 'bench-memory' || gc !== true) return undefined;
  if (typeof rss !== 'number' || typeof heapUsed !== 'number' || typeof heapTotal !== 'number' || typeof external !== 'number') return undefined;
  return { rssMiB: rss / MiB, heapUsedMiB: heapUsed / MiB, heapTotalMiB: heapTotal / MiB, externalMiB: external / MiB };
}

/**
 * Asks a target started with `memoryProbe: true` for its memory after a forced GC: sends SIGUSR2 and waits
 * for the probe's line. Never send this to a target without the probe: SIGUSR2's default action ends it.
 * @throws Error when no probe line arrives within `timeoutMs` (default 10 s).
 */
export async function probeMemory(target: Pick<RunningTarget, 'pid' | 'onLine' | 'name'>, timeoutMs = 10_000): Promise<MemoryAfterGc> {
  let unsubscribe = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<MemoryAfterGc>((resolve, reject) => {
      const off = target.onLine((line) => {
        const usage = parseMemoryProbeLine(line);
        if (usage !== undefined) resolve({ ...usage, ...rssSplit(target.pid) });
      });
      unsubscribe = () => {
        off();
      };
      timer = setTimeout(() => reject(new Error(`${target.name}: no GC probe answer within ${timeoutMs} ms (started without memoryProbe?)`)), timeoutMs);
      process.kill(target.pid, 'SIGUSR2');
    });
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

function rssSplit(pid: number): Pick<MemoryAfterGc, 'rssFileMiB' | 'rssAnonMiB'> {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return {};
  }
  return { rssFileMiB: parseStatusKiB(status, 'RssFile') / 1024, rssAnonMiB: parseStatusKiB(status, 'RssAnon') / 1024 };
}
