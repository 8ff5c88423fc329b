/**
 * Splits a V8 CPU profile (`--cpu-prof`) by who spent the time: idgate's own modules (by `src/` folder),
 * grpc-js, other libraries, node's own JavaScript (by internal module), native/program, GC and idle.
 * Self time of the innermost frame of each sample, optionally only over a window at the end of the profile
 * (`--last-ms`, `--skip-end-ms`), so start-up and warm-up can be left out of a paced run's split.
 *
 * `node dist/bench/profile-split.js --profile FILE.cpuprofile [--last-ms 10000] [--skip-end-ms 300] [--top 25] [--functions]`
 * (`--functions`: the top functions by self time instead of groups.)
 */
import { readFileSync } from 'node:fs';
import { isMainModule } from './bench-grpc-server.js';
import { parseFlags } from './parse-flags.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The group a frame's self time is counted in. */
export function frameGroup(functionName: string, url: string): string {
  if (url === '') {
    if (functionName === '(idle)' || functionName === '(garbage collector)' || functionName === '(program)') return functionName;
    return '(native)';
  }
  const src = /\/dist\/(?:base\/dist\/)?src\/([^/]+)\//.exec(url) ?? /\/dist\/(?:base\/dist\/)?src\/([^/]+\.js)$/.exec(url);
  if (src !== null) return `idgate ${src[1] as string}`;
  const lib = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (lib !== null) return `lib ${lib[1] as string}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node ').replace(/^node:/, 'node ');
  return `other ${url}`;
}

/**
 * Self time per group (or, with `byFunction`, per function: `name url:line`) over the window: the last
 * `lastMs` before `skipEndMs` before the profile's end (default the whole profile).
 */
export function splitProfile(profile: CpuProfile, options: { lastMs?: number; skipEndMs?: number; byFunction?: boolean }): { group: string; ms: number }[] {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const endUs = profile.endTime - (options.skipEndMs ?? 0) * 1000;
  const startUs = options.lastMs !== undefined ? endUs - options.lastMs * 1000 : profile.startTime;
  const totals = new Map<string, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < startUs || t > endUs) continue;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined) continue;
    // The delta after a sample is the time it stood for.
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const { functionName, url, lineNumber } = node.callFrame;
    const group = options.byFunction === true
      ? `${functionName || '(anonymous)'} ${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}`
      : frameGroup(functionName, url);
    totals.set(group, (totals.get(group) ?? 0) + dt);
  }
  return [...totals].map(([group, ms]) => ({ group, ms })).sort((a, b) => b.ms - a.ms);
}

function main(): void {
  const flags = parseFlags(process.argv.slice(2), { profile: 'string', 'last-ms': 'string', 'skip-end-ms': 'string', top: 'string', functions: 'boolean' });
  if (flags.profile === undefined) throw new TypeError('--profile FILE is required');
  const profile = JSON.parse(readFileSync(flags.profile, 'utf8')) as CpuProfile;
  const rows = splitProfile(profile, {
    ...(flags['last-ms'] !== undefined ? { lastMs: Number(flags['last-ms']) } : {}),
    ...(flags['skip-end-ms'] !== undefined ? { skipEndMs: Number(flags['skip-end-ms']) } : {}),
    byFunction: flags.functions === true,
  });
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const busy = total - (rows.find((r) => r.group === '(idle)')?.ms ?? 0);
  const lines = [`window ${total.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (${((busy / total) * 100).toFixed(1)} %)`, '| group | ms | % of window | % of busy |', '|---|---:|---:|---:|'];
  const sums = new Map<string, number>();
  for (const r of rows) {
    const family = r.group.startsWith('idgate ') ? 'idgate (all)' : r.group.startsWith('node ') ? 'node JS (all)' : r.group === 'lib @grpc/grpc-js' ? 'grpc-js' : r.group.startsWith('lib ') ? 'other libs (all)' : r.group;
    sums.set(family, (sums.get(family) ?? 0) + r.ms);
  }
  for (const [group, ms] of [...sums].sort((a, b) => b[1] - a[1])) {
    lines.push(`| **${group}** | ${ms.toFixed(1)} | ${((ms / total) * 100).toFixed(1)} | ${group === '(idle)' ? '' : ((ms / busy) * 100).toFixed(1)} |`);
  }
  for (const r of rows.slice(0, Number(flags.top ?? 25))) {
    lines.push(`| ${r.group} | ${r.ms.toFixed(1)} | ${((r.ms / total) * 100).toFixed(1)} | ${r.group === '(idle)' ? '' : ((r.ms / busy) * 100).toFixed(1)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (isMainModule(import.meta.url)) main();
