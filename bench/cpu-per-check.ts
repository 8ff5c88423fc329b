/**
 * Server CPU per Check, A/B between builds — the measure that survives a shared machine (issue 15 §2).
 * Throughput on 2 cores shared with other engineers' builds is noise; the CPU the server process itself
 * spent (utime + stime from /proc) divided by the Checks it answered is not, as long as the server has
 * its core most of the time.
 *
 * `node dist/bench/cpu-per-check.js --scenario hot --builds /path/to/base/dist,dist [--pairs 3] [--calls N] [--rate N]
 *   [--idle-ms N] [--threads] [--gc] [--flag-sets "A|B"] [--concurrency N] [--grpc-timeout 200m]`
 *
 * A build written `floor:<dist>` runs that build's transport floor (`floor-server.js`) instead of idgate,
 * so the floor can be measured the same way, in the same rounds; `h2floor:<dist>` its node:http2 transport floor
 * (`h2-floor-server.js`) and `h2:<dist>` idgate on its node:http2 transport (`idgate-h2`); `bound:<dist>` runs its lower bound of a
 * cached allow (`bound-server.js`), and `bound+ctx+id:<dist>` the bound with those of idgate's stages
 * added (bound-server.ts `BOUND_STAGES`). `--idle-ms N` also measures each server
 * idle for N ms, 3 s after its warm-up (so V8's post-load GCs are over): millicores, and wake-ups per second
 * (the main thread's voluntary context switches: timers and other work that runs with no traffic). `--threads` prints each run's
 * CPU per Check split by thread (the main thread's user and kernel time, V8's and libuv's helpers). `--gc`
 * preloads the stall probe (`stall-probe.ts`, GC entries only) and prints each run's GCs in the measured phase:
 * major and minor counts, their pause time per Check, and the old generation after the last GC — counts that
 * survive a loaded machine where the µs do not. `--flag-sets "A|B"` (as `run.js --runtime-flags-matrix`:
 * `|`-separated sets of node flags, `none` = Node's defaults) runs every build under every set, alternating,
 * each set instead of the image's flags. `--grpc-timeout V` adds that `grpc-timeout` header to every h2load request, as
 * Envoy's ext_authz filter sends its `timeout` (h2load scenarios only; by default the bench sends none).
 *
 * Each build is a compiled `dist/` (a copy of the base build kept inside the repository, so its imports
 * resolve to the same node_modules); every build is started with its own `bench/targets.js`, so the
 * command line and node flags are the ones `run.js` would use. Builds run alternately (A B A B …), each
 * started fresh, pinned to core 0, checked to answer the scenario's verdict, warmed up, then loaded at
 * saturation (or at `--rate` Checks/s) with the scenario's generator; the report gives the median µs of server CPU per Check, the
 * RSS after the phase and the load average at each run.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openAbSession } from './ab-session.js';
import { sampleWarmVerdict } from './check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { runGrpcLoad } from './grpc-load.js';
import { runH2load } from './h2load.js';
import { parseRuntimeFlagSets } from './flags-matrix.js';
import { parseFlags } from './parse-flags.js';
import { clockTicksPerSecond, mainThreadWakeups, sampleThreads, sampleUsage, syscallCounts, type ThreadTicks } from './proc-stats.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';
import type { BuildTargets, TargetName } from './targets.js';

/** The target prefix of a `--builds` entry: `floor:`, `h2floor:`, `h2:`, `bound:` or `bound+stage+…:` (none = idgate). */
const BUILD_TARGET = /^(floor|h2floor|h2|bound(?:\+[a-z]+)*):/;

interface Measured {
  readonly build: string;
  readonly usPerCheck: number;
  readonly checks: number;
  readonly rssMiB: number;
  readonly load1: number;
  /** Idle CPU after warm-up, millicores (with `--idle-ms`). */
  readonly idleMillicores?: number;
  /** Idle main-thread wake-ups per second (with `--idle-ms`). */
  readonly idleWakeups?: number;
  /** GCs in the measured phase (with `--gc`). */
  readonly gc?: GcCounts;
}

/** What `--gc` reads from the stall probe's GC entries of one measured phase. */
interface GcCounts {
  readonly major: number;
  readonly minor: number;
  /** Summed pause (main thread) of the major and the minor GCs, ms. */
  readonly majorMs: number;
  readonly minorMs: number;
  /** Old generation (bytes outside the young generation) after the phase's last GC, MiB. */
  readonly oldMiB: number;
}

function countGcs(line: string | undefined): GcCounts | undefined {
  if (line === undefined) return undefined;
  const { gcs } = JSON.parse(line) as { gcs: Array<{ ms: number; kind: string; oldBytes: number }> };
  // `incremental` and `weakcb` entries are steps of a major GC, not GCs of their own.
  const major = gcs.filter((g) => g.kind === 'major');
  const minor = gcs.filter((g) => g.kind === 'minor');
  const sum = (list: typeof gcs): number => list.reduce((n, g) => n + g.ms, 0);
  return { major: major.length, minor: minor.length, majorMs: sum(major), minorMs: sum(minor), oldMiB: (gcs[gcs.length - 1]?.oldBytes ?? 0) / 2 ** 20 };
}

/** One run's µs per Check by thread group: `main user`, `main sys`, and each helper thread name. */
function threadSplit(before: Map<string, ThreadTicks>, after: Map<string, ThreadTicks>, ticks: number, checks: number): string {
  const us = (t: number): string => ((t / ticks) * 1e6 / checks).toFixed(1);
  const parts: string[] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { utime: 0, stime: 0 };
    if (name === 'main') {
      parts.push(`main user ${us(a.utime - b.utime)}`, `main sys ${us(a.stime - b.stime)}`);
    } else if (a.utime + a.stime - b.utime - b.stime > 0) {
      parts.push(`${name} ${us(a.utime + a.stime - b.utime - b.stime)}`);
    }
  }
  return parts.join(', ');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { scenario: 'string', builds: 'string', pairs: 'string', calls: 'string', rate: 'string', 'idle-ms': 'string', threads: 'boolean', gc: 'boolean', 'flag-sets': 'string', concurrency: 'string', 'grpc-timeout': 'string' });
  const name = (flags.scenario ?? 'hot') as ScenarioName;
  const def = SCENARIOS[name];
  if (def === undefined) throw new TypeError(`unknown scenario ${String(flags.scenario)}`);
  // `floor:<dist>` = that build's transport floor, `bound:<dist>` its lower bound and `bound+ctx+id:<dist>`
  // the bound with those stages added (bound-server.ts); the label keeps the prefix.
  const dists = String(flags.builds ?? 'dist').split(',').map((b) => {
    const target = BUILD_TARGET.exec(b)?.[0];
    return target !== undefined ? `${target}${resolve(b.slice(target.length))}` : resolve(b);
  });
  // With `--flag-sets`, each run is a build under a set: the label `<build> [<set>]` (the set after the build).
  const flagSets = flags['flag-sets'] !== undefined ? parseRuntimeFlagSets(flags['flag-sets']) : undefined;
  const setOf = new Map<string, readonly string[]>();
  const builds = flagSets === undefined ? dists : dists.flatMap((d) => flagSets.map((set) => {
    const label = `${d} [${set.label}]`;
    setOf.set(label, set.flags);
    return label;
  }));
  const gcProbe = flags.gc === true;
  // The probe's GC entries only: its 1 ms stall timer would add a wake-up per millisecond to the CPU measured.
  if (gcProbe) process.env.IDGATE_BENCH_STALL_INTERVAL_MS = '0';
  const targetOf = (build: string): { name: TargetName; boundStages?: string[] } => {
    const prefix = BUILD_TARGET.exec(build)?.[1];
    if (prefix === undefined) return { name: 'idgate' };
    const [name, ...boundStages] = prefix.split('+');
    if (name === 'bound') return { name, boundStages };
    return { name: name === 'h2' ? 'idgate-h2' : name === 'h2floor' ? 'h2floor' : 'floor' };
  };
  const distOf = (build: string): string => build.slice(BUILD_TARGET.exec(build)?.[0].length ?? 0).replace(/ \[.*\]$/, '');
  const idleMs = flags['idle-ms'] !== undefined ? Number(flags['idle-ms']) : undefined;
  const pairs = Number(flags.pairs ?? 3);
  const pool = def.tokens === 'pool';
  const calls = Number(flags.calls ?? (pool ? 6_000 : 40_000));
  const warmCalls = pool ? 1_000 : 5_000;
  // A fixed offered rate (calls/s) instead of saturation: per-Check CPU then does not depend on how many
  // Checks each event-loop turn happens to batch, which on a shared machine varies with the generator's
  // own share of its core.
  const rate = flags.rate !== undefined ? Number(flags.rate) : undefined;
  // The node generator's most calls in flight (default 256, as run.js): how deep the server's queue is at
  // saturation, i.e. how many Checks it holds read and unanswered at once.
  const concurrency = Number(flags.concurrency ?? 256);
  const session = await openAbSession(def, 'cpu');
  const { children, workDir, issuer, ctx } = session;
  try {
    const codec = loadUpstreamCheckCodec();
    const sub = def.subject === 'verified' ? 'user-0' : 'unverified-0';
    // Token pools: every run gets its own slice, so no build ever sees a token twice.
    const runs = pairs * builds.length;
    const perRun = warmCalls + calls;
    let bodies: Buffer[];
    if (pool) {
      process.stderr.write(`minting ${runs * perRun} ${def.algorithm} tokens…\n`);
      bodies = (await issuer.mintPool(def.algorithm, runs * perRun, { subjects: 1 })).map((token) => encodeCheckRequest(codec, { token }));
    } else {
      bodies = [encodeCheckRequest(codec, { token: await issuer.mint(def.algorithm, { sub }) })];
    }
    const bodyFile = join(workDir, 'body.bin');
    writeFileSync(bodyFile, bodies[0] as Buffer);
    const ticks = clockTicksPerSecond();
    const starters = new Map<string, BuildTargets>();
    for (const build of builds) {
      const mod = (await import(pathToFileURL(join(distOf(build), 'bench', 'targets.js')).href)) as BuildTargets;
      starters.set(build, mod);
    }
    // This harness's probe, preloaded into every build alike (as paced-tail.ts does).
    const probeFlags = gcProbe ? ['--import', new URL('./stall-probe.js', import.meta.url).href] : [];
    const results: Measured[] = [];
    let slice = 0;
    for (let pair = 0; pair < pairs; pair++) {
      for (const build of builds) {
        const mine = pool ? bodies.slice(slice * perRun, (slice + 1) * perRun) : bodies;
        slice += 1;
        const { name: targetName, boundStages } = targetOf(build);
        const starter = starters.get(build) as BuildTargets;
        // A build's own flags for this target: a baseline's differ from idgate's (builds before the eleventh
        // round have no runtimeFlagsOf and ran every target with NODE_RUNTIME_FLAGS).
        const runtimeFlags = setOf.get(build) ?? starter.runtimeFlagsOf?.(targetName) ?? starter.NODE_RUNTIME_FLAGS;
        const target = await starter.startTarget(targetName, { ...ctx, ...(boundStages !== undefined ? { boundStages } : {}) }, {
          cpus: '0',
          children,
          tempRoot: workDir,
          ...(gcProbe || setOf.has(build) ? { runtimeFlags: [...runtimeFlags, ...probeFlags] } : {}),
        });
        const gcLines: string[] = [];
        // With IDGATE_BENCH_GC_LOG=<prefix> (and e.g. IDGATE_BENCH_NODE_FLAGS=--trace-gc-verbose), V8's own lines
        // of each run go to `<prefix>-<run>.log`: the heap controller's factor and old-generation limit per GC.
        // Start-up's lines (the last 200 the target printed before `ready`) first: the start-up GCs set the limit.
        const v8Lines: string[] = process.env.IDGATE_BENCH_GC_LOG !== undefined ? target.output().split('\n').filter((l) => l !== '' && !l.startsWith('{')) : [];
        const off = target.onLine((line) => {
          if (line.includes('"bench-stalls"')) {
            gcLines.push(line);
            // Where the measured phase starts and ends among V8's lines.
            if (process.env.IDGATE_BENCH_GC_LOG !== undefined) v8Lines.push('--- bench: phase boundary ---');
          } else if (process.env.IDGATE_BENCH_GC_LOG !== undefined && !line.startsWith('{') && v8Lines.length < 200_000) v8Lines.push(line);
        });
        try {
          const sample = await sampleWarmVerdict(target.grpcPort, mine[mine.length - 1] as Buffer, codec);
          if (sample.verdict !== def.expected) throw new Error(`${build}: expected ${def.expected}, got ${sample.verdict} ${sample.body ?? ''}`);
          const load = async (n: number, from: number, perSecond: number | undefined): Promise<number> => {
            const clients = perSecond === undefined ? 8 : Math.min(8, Math.max(1, Math.ceil(perSecond / 500)));
            if (def.generator === 'h2load') {
              const r = await runH2load({
                port: target.grpcPort,
                bodyFile,
                logFile: join(workDir, 'h2load.log'),
                clients,
                streams: 32,
                requests: n,
                ...(perSecond !== undefined ? { rpsPerClient: perSecond / clients } : {}),
                cpus: '1',
                timeoutMs: 300_000,
                ...(flags['grpc-timeout'] !== undefined ? { grpcTimeout: String(flags['grpc-timeout']) } : {}),
              }, children);
              return r.summary.succeeded;
            }
            const r = await runGrpcLoad({
              port: target.grpcPort,
              bodies: pool ? mine.slice(from, from + n) : mine,
              connections: clients,
              concurrency,
              total: n,
              ...(perSecond !== undefined ? { ratePerSecond: perSecond } : {}),
              maxDurationMs: 300_000,
            });
            // A Check the generator gave up on (its 1 s timeout) still cost the server its work, and the CPU
            // is divided by answered Checks only: say so, with where the latencies were.
            const l = r.latency;
            if (flags.threads === true || r.completed < r.sent) {
              process.stderr.write(
                `  ${r.completed} of ${r.sent} answered, ${r.transportErrors} transport errors, statuses ${JSON.stringify(r.grpcStatusCounts)}; ` +
                  `latency ms p50 ${(l.p50 / 1000).toFixed(1)} p99 ${(l.p99 / 1000).toFixed(1)} max ${(l.max / 1000).toFixed(1)}\n`,
              );
            }
            return r.completed;
          };
          await load(warmCalls, 0, undefined);
          let idleMillicores: number | undefined;
          let idleWakeups: number | undefined;
          if (idleMs !== undefined) {
            await new Promise((r) => setTimeout(r, 3_000));
            const idleBefore = sampleUsage(target.pid);
            const switchesBefore = mainThreadWakeups(target.pid);
            await new Promise((r) => setTimeout(r, idleMs));
            const idleAfter = sampleUsage(target.pid);
            idleWakeups = (mainThreadWakeups(target.pid) - switchesBefore) / ((idleAfter.atMs - idleBefore.atMs) / 1000);
            let idleTicks = 0;
            for (const [pid, t] of idleAfter.cpuTicksByPid) idleTicks += t - (idleBefore.cpuTicksByPid.get(pid) ?? 0);
            idleMillicores = (idleTicks / ticks) * 1000 / ((idleAfter.atMs - idleBefore.atMs) / 1000);
          }
          // The probe's window starts with the phase (SIGUSR2 prints and empties its lists).
          if (gcProbe) process.kill(target.pid, 'SIGUSR2');
          const threadsBefore = sampleThreads(target.pid);
          const syscallsBefore = syscallCounts(target.pid);
          const wakeupsBefore = mainThreadWakeups(target.pid);
          const before = sampleUsage(target.pid);
          const done = await load(calls, warmCalls, rate);
          const after = sampleUsage(target.pid);
          const threadsAfter = sampleThreads(target.pid);
          const syscallsAfter = syscallCounts(target.pid);
          const wakeupsAfter = mainThreadWakeups(target.pid);
          let gc: GcCounts | undefined;
          if (gcProbe) {
            const seen = gcLines.length;
            process.kill(target.pid, 'SIGUSR2');
            for (let i = 0; i < 50 && gcLines.length <= seen; i++) await new Promise((r) => setTimeout(r, 20));
            gc = countGcs(gcLines.length > seen ? gcLines[gcLines.length - 1] : undefined);
          }
          let cpuTicks = 0;
          for (const [pid, t] of after.cpuTicksByPid) cpuTicks += t - (before.cpuTicksByPid.get(pid) ?? 0);
          const m: Measured = {
            build,
            usPerCheck: (cpuTicks / ticks) * 1e6 / done,
            checks: done,
            rssMiB: after.rssKiB / 1024,
            load1: loadavg()[0] ?? 0,
            ...(idleMillicores !== undefined ? { idleMillicores } : {}),
            ...(idleWakeups !== undefined ? { idleWakeups } : {}),
            ...(gc !== undefined ? { gc } : {}),
          };
          results.push(m);
          const idle = idleMillicores !== undefined ? `, idle ${idleMillicores.toFixed(1)} m, ${(idleWakeups ?? Number.NaN).toFixed(0)} wake-ups/s` : '';
          process.stderr.write(`pair ${pair + 1} ${build}: ${m.usPerCheck.toFixed(1)} µs/Check (${done} Checks), RSS ${m.rssMiB.toFixed(1)} MiB, load ${m.load1.toFixed(2)}${idle}\n`);
          if (flags.threads === true) {
            // Per Check and load-independent: how many reads and writes (syscalls) and main-thread wake-ups
            // the server needed, i.e. how well it batched.
            const per = (n: number): string => (n / done).toFixed(3);
            process.stderr.write(
              `  by thread, µs/Check: ${threadSplit(threadsBefore, threadsAfter, ticks, done)}; per Check: ` +
                `${per(syscallsAfter.reads - syscallsBefore.reads)} read and ${per(syscallsAfter.writes - syscallsBefore.writes)} write syscalls, ` +
                `${per(wakeupsAfter - wakeupsBefore)} main-thread wake-ups\n`,
            );
          }
          if (gcProbe) process.stderr.write(gc === undefined ? '  GCs: no probe output\n' : `  GCs: ${gc.major} major (${(gc.majorMs * 1000 / done).toFixed(1)} µs/Check), ${gc.minor} minor (${(gc.minorMs * 1000 / done).toFixed(1)} µs/Check), old generation after the last ${gc.oldMiB.toFixed(1)} MiB\n`);
        } finally {
          off();
          await target.stop();
          if (v8Lines.length > 0) writeFileSync(`${process.env.IDGATE_BENCH_GC_LOG}-${slice}.log`, `${v8Lines.join('\n')}\n`);
        }
      }
    }
    const lines = [`scenario ${name}, ${pairs} pairs, ${calls} Checks per run ${rate !== undefined ? `at ${rate}/s` : 'at saturation'} (after ${warmCalls} warm-up)`, `| build | µs CPU per Check (runs) | median | RSS MiB (median) | load (1 min) |${idleMs !== undefined ? ' idle millicores (runs) | idle wake-ups/s (runs) |' : ''}${gcProbe ? ' major GCs (runs) | major GC ms (runs) | minor GCs (runs) |' : ''}`, `|---|---|---:|---:|---|${idleMs !== undefined ? '---|---|' : ''}${gcProbe ? '---|---|---|' : ''}`];
    for (const build of builds) {
      const mine = results.filter((r) => r.build === build);
      lines.push(`| ${build} | ${mine.map((r) => r.usPerCheck.toFixed(1)).join(', ')} | ${median(mine.map((r) => r.usPerCheck)).toFixed(1)} | ${median(mine.map((r) => r.rssMiB)).toFixed(1)} | ${mine.map((r) => r.load1.toFixed(1)).join(', ')} |${idleMs !== undefined ? ` ${mine.map((r) => (r.idleMillicores ?? Number.NaN).toFixed(1)).join(', ')} | ${mine.map((r) => (r.idleWakeups ?? Number.NaN).toFixed(0)).join(', ')} |` : ''}${gcProbe ? ` ${mine.map((r) => r.gc?.major ?? '—').join(', ')} | ${mine.map((r) => (r.gc?.majorMs ?? Number.NaN).toFixed(0)).join(', ')} | ${mine.map((r) => r.gc?.minor ?? '—').join(', ')} |` : ''}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await session.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
