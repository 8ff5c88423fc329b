import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * Where a stretch of code allocates: V8's sampling heap profiler over `fn`, counting the objects a minor or
 * major GC has already collected too (so short-lived garbage, which is what a Check mostly makes, is in the
 * figures, not just what survives). One sample per `intervalBytes` allocated on average; each sample is
 * attributed to the JavaScript frame that allocated it (built-ins and node's internals by their own frames).
 *
 * `bytesPerUnit` divides by `units` (e.g. Checks run inside `fn`); the figures are estimates with the
 * sampling's error (a site below a few samples is noise), good for finding sites, not for A/B totals — use
 * the micro's exact heap-used bytes for those.
 */
export interface AllocationSite {
  readonly functionName: string;
  /** `file:line:column`, the file relative to the working directory's `dist/` or node's `node:` name. */
  readonly where: string;
  readonly bytes: number;
  readonly samples: number;
}

export interface AllocationProfile {
  readonly totalBytes: number;
  /** Self allocation per frame, largest first. */
  readonly sites: readonly AllocationSite[];
  /** Self allocation per frame together with its caller chain (innermost first, up to 6 frames), largest first. */
  readonly stacks: readonly { readonly stack: string; readonly bytes: number; readonly samples: number }[];
  /** The raw profile, loadable in Chrome DevTools' Memory tab as a `.heapprofile`. */
  readonly raw: unknown;
}

interface SamplingNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  readonly selfSize: number;
  readonly id: number;
  readonly children: readonly SamplingNode[];
}

interface SamplingProfile {
  readonly head: SamplingNode;
  readonly samples: readonly { readonly size: number; readonly nodeId: number }[];
}

function frameLabel(frame: SamplingNode['callFrame']): string {
  const url = frame.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
  return `${frame.functionName || '(anonymous)'} ${url === '' ? '(native)' : `${url}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`}`;
}

/**
 * `survivorsOnly`: leave out what a minor GC collected, so the profile shows where the objects that survived
 * the young generation (were promoted, or are still live) were allocated — what makes old-space growth and
 * mark-compacts.
 */
export async function sampleAllocations(fn: () => Promise<void>, intervalBytes = 256, options: { survivorsOnly?: boolean } = {}): Promise<AllocationProfile> {
  let profile: SamplingProfile | undefined;
  await withSampling({ samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: options.survivorsOnly !== true }, async (session) => {
    await fn();
    profile = ((await session.post('HeapProfiler.stopSampling')) as unknown as { profile: SamplingProfile }).profile;
  });
  return summarize(profile as SamplingProfile);
}

/**
 * Where the objects still alive were allocated: V8's sampling heap profiler without the objects a GC has
 * collected, started now; `fn` gets `read()`, which returns the samples of the objects allocated since the
 * start that are alive at that moment (call `gc()` just before, so garbage not yet collected drops out) —
 * e.g. the state of the work in flight at that instant.
 */
export async function sampleLiveAllocations(fn: (read: () => Promise<AllocationProfile>) => Promise<void>, intervalBytes = 64): Promise<void> {
  await withSampling({ samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: false, includeObjectsCollectedByMinorGC: false }, async (session) => {
    await fn(async () => summarize(((await session.post('HeapProfiler.getSamplingProfile')) as unknown as { profile: SamplingProfile }).profile));
    await session.post('HeapProfiler.stopSampling');
  });
}

/** An inspector session with the sampling heap profiler started with `params` for `body`, then disabled. */
async function withSampling(
  params: { samplingInterval: number; includeObjectsCollectedByMajorGC: boolean; includeObjectsCollectedByMinorGC: boolean },
  body: (session: Session) => Promise<void>,
): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', params);
    await body(session);
    await session.post('HeapProfiler.disable');
  } finally {
    session.disconnect();
  }
}

function summarize(profile: SamplingProfile): AllocationProfile {
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s.nodeId, (counts.get(s.nodeId) ?? 0) + 1);
  const sites = new Map<string, { functionName: string; where: string; bytes: number; samples: number }>();
  const stacks = new Map<string, { stack: string; bytes: number; samples: number }>();
  let totalBytes = 0;
  const walk = (node: SamplingNode, path: readonly string[]): void => {
    const label = frameLabel(node.callFrame);
    const here = [label, ...path];
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      const site = sites.get(label) ?? { functionName: node.callFrame.functionName || '(anonymous)', where: label.slice(label.indexOf(' ') + 1), bytes: 0, samples: 0 };
      site.bytes += node.selfSize;
      site.samples += counts.get(node.id) ?? 0;
      sites.set(label, site);
      const key = here.slice(0, 6).join(' ← ');
      const stack = stacks.get(key) ?? { stack: key, bytes: 0, samples: 0 };
      stack.bytes += node.selfSize;
      stack.samples += counts.get(node.id) ?? 0;
      stacks.set(key, stack);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
  const byBytes = <T extends { bytes: number }>(a: T, b: T): number => b.bytes - a.bytes;
  return { totalBytes, sites: [...sites.values()].sort(byBytes), stacks: [...stacks.values()].sort(byBytes), raw: profile };
}

/** A printable table of the top sites (and, with `stacks`, of the top caller chains), per unit of work. */
export function renderAllocationProfile(profile: AllocationProfile, units: number, options: { top?: number; stacks?: boolean } = {}): string {
  const top = options.top ?? 25;
  const lines = [`sampled allocation ≈ ${(profile.totalBytes / units).toFixed(0)} bytes per unit over ${units} units (sampling estimate)`];
  for (const s of profile.sites.slice(0, top)) lines.push(`${(s.bytes / units).toFixed(0).padStart(7)} B  ${String(s.samples).padStart(6)} samples  ${s.functionName}  ${s.where}`);
  if (options.stacks === true) {
    lines.push('', 'top caller chains (innermost first):');
    for (const s of profile.stacks.slice(0, top)) lines.push(`${(s.bytes / units).toFixed(0).padStart(7)} B  ${s.stack}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes the raw profile for DevTools (Memory tab, "Load profile"). */
export function writeHeapProfile(profile: AllocationProfile, file: string): void {
  writeFileSync(file, JSON.stringify(profile.raw));
}
