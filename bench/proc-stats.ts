import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';

/** Resource usage of a process tree at one instant, read from /proc. */
export interface UsageSample {
  /** When the sample was taken, ms (monotonic, `performance.now()`). */
  readonly atMs: number;
  /** utime + stime of every process in the tree, clock ticks, by pid. */
  readonly cpuTicksByPid: ReadonlyMap<number, number>;
  /** Sum of VmRSS over the tree, KiB. */
  readonly rssKiB: number;
  /** Sum of VmHWM (peak RSS) over the tree, KiB. */
  readonly hwmKiB: number;
}

/** The kernel's clock-tick rate (`getconf CLK_TCK`), 100 when it cannot be read. */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

/**
 * Parses the fields of `/proc/<pid>/stat` that matter here. The command name (field 2) is in parentheses
 * and may itself contain spaces and parentheses, so fields are counted from the last `)`.
 * @returns ppid and utime+stime in ticks, or undefined when the line is malformed.
 */
export function parseProcStat(line: string): { ppid: number; cpuTicks: number } | undefined {
  const close = line.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") ": field 3 (state) is index 0, so ppid (field 4) is 1, utime (14) is 11, stime (15) is 12.
  const rest = line.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { ppid, cpuTicks: utime + stime };
}

/**
 * Reads a `…:   1234 kB` line from `/proc/<pid>/status`; 0 when absent. `RssFile` is the file-backed part
 * of VmRSS (mostly pages of the `node` binary: shared between processes and reclaimable), `RssAnon` the
 * process's own memory (V8 heap, malloc).
 */
export function parseStatusKiB(status: string, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? 0 : Number(match[1]);
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The pid and every descendant of it (e.g. `serve --workers 2`'s worker processes), found by scanning
 * /proc for parent links. Processes that exit during the scan are skipped.
 */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOrUndefined(`/proc/${entry}/stat`);
    const parsed = stat === undefined ? undefined : parseProcStat(stat);
    if (parsed === undefined) continue;
    const list = children.get(parsed.ppid);
    if (list === undefined) children.set(parsed.ppid, [Number(entry)]);
    else list.push(Number(entry));
  }
  const tree: number[] = [];
  const queue = [rootPid];
  // Bounded: a pid tree cannot be deeper or wider than /proc, and each pid is visited once.
  while (queue.length > 0 && tree.length < 10_000) {
    const pid = queue.shift() as number;
    tree.push(pid);
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  return tree;
}

/** Samples CPU ticks, RSS and peak RSS of `rootPid` and its descendants. */
export function sampleUsage(rootPid: number): UsageSample {
  const cpuTicksByPid = new Map<number, number>();
  let rssKiB = 0;
  let hwmKiB = 0;
  for (const pid of processTree(rootPid)) {
    const stat = readOrUndefined(`/proc/${pid}/stat`);
    const status = readOrUndefined(`/proc/${pid}/status`);
    const parsed = stat === undefined ? undefined : parseProcStat(stat);
    if (parsed === undefined || status === undefined) continue;
    cpuTicksByPid.set(pid, parsed.cpuTicks);
    rssKiB += parseStatusKiB(status, 'VmRSS');
    hwmKiB += parseStatusKiB(status, 'VmHWM');
  }
  return { atMs: performance.now(), cpuTicksByPid, rssKiB, hwmKiB };
}

/**
 * CPU seconds (utime + stime) the tree used between two samples. Processes that appeared in between count
 * from zero; processes that vanished are not counted (their last ticks are unknown).
 */
export function cpuSeconds(before: UsageSample, after: UsageSample, ticksPerSecond: number): number {
  let ticks = 0;
  for (const [pid, t] of after.cpuTicksByPid) ticks += t - (before.cpuTicksByPid.get(pid) ?? 0);
  return ticks / ticksPerSecond;
}

/** CPU used between two samples in millicores (1000 = one core fully busy); see {@link cpuSeconds}. */
export function cpuMillicores(before: UsageSample, after: UsageSample, ticksPerSecond: number): number {
  const wallSeconds = (after.atMs - before.atMs) / 1000;
  if (wallSeconds <= 0) return Number.NaN;
  return (cpuSeconds(before, after, ticksPerSecond) / wallSeconds) * 1000;
}

/**
 * Server CPU per call between two samples, µs: the measure that survives a shared machine (throughput
 * there is noise, the CPU a server spends on each answered call much less so). NaN without calls.
 */
export function cpuMicrosPerCall(before: UsageSample, after: UsageSample, ticksPerSecond: number, calls: number): number {
  return calls > 0 ? (cpuSeconds(before, after, ticksPerSecond) * 1e6) / calls : Number.NaN;
}

/**
 * Pins every thread of a running process to `cpuList` (`taskset -a -p -c`), so a load generator never
 * lands on the server's core. Does nothing on a machine with fewer than 2 cores.
 * @returns whether the process is now pinned.
 */
export function pinProcess(pid: number, cpuList: string): boolean {
  if (cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** utime and stime of one thread group, clock ticks. */
export interface ThreadTicks {
  readonly utime: number;
  readonly stime: number;
}

/**
 * utime and stime of every thread of `pid` (`/proc/<pid>/task/<tid>/stat`), summed by thread name
 * (`comm`: `node` is the main thread; `V8Worker`, `libuv-worker`, … the helpers), so a per-Check CPU
 * figure can be split between the event loop (user / kernel) and V8's and libuv's other threads.
 * Threads that exit during the scan are skipped.
 */
export function sampleThreads(pid: number): Map<string, ThreadTicks> {
  const byName = new Map<string, ThreadTicks>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    const stat = readOrUndefined(`/proc/${pid}/task/${tid}/stat`);
    if (stat === undefined) continue;
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (open < 0 || close < open) continue;
    // The main thread's tid is the pid; the helpers carry their own names.
    const name = tid === String(pid) ? 'main' : stat.slice(open + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) continue;
    const prev = byName.get(name);
    byName.set(name, { utime: (prev?.utime ?? 0) + utime, stime: (prev?.stime ?? 0) + stime });
  }
  return byName;
}

/**
 * The main thread's voluntary context switches so far (`/proc/<pid>/status`): each is the event loop going
 * to sleep in epoll, so the difference over an idle interval counts its wake-ups (timers, I/O). 0 when the
 * process is gone.
 */
export function mainThreadWakeups(pid: number): number {
  const status = readOrUndefined(`/proc/${pid}/status`);
  const match = status === undefined ? null : /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status);
  return match === null ? 0 : Number(match[1]);
}

/**
 * Read- and write-type system calls the process (all its threads) has made so far (`/proc/<pid>/io`
 * `syscr`/`syscw`): per Check, a count no load on the machine changes, unlike CPU time.
 * @returns zeros when the file cannot be read.
 */
export function syscallCounts(pid: number): { reads: number; writes: number } {
  const io = readOrUndefined(`/proc/${pid}/io`) ?? '';
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return { reads: field('syscr'), writes: field('syscw') };
}
