import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchIssuer } from './bench-issuer.js';
import { sampleCheck } from './check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { isMainModule } from './bench-grpc-server.js';
import { runH2load, type ChildRegistry } from './h2load.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW, renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';
import { probeMemory, type MemoryAfterGc } from './probe-memory.js';
import { clockTicksPerSecond, cpuMicrosPerCall, pinProcess, sampleUsage } from './proc-stats.js';
import { startRedis, type RedisProcess } from './redis-process.js';
import { seedApprovedVerdicts } from './seed-verdict.js';
import { NODE_RUNTIME_ENV, NODE_RUNTIME_FLAGS, splitRuntimeSettings, startTarget, type LaunchContext } from './targets.js';
import { verdictWord } from './report.js';

/** The name `run.js --scenario` knows the memory report by. */
export const MEMORY_REPORT = 'memory';

/** Issue 15 §3: the `authz` role, memory and Redis store, after a forced GC. */
export const MEMORY_GOALS = { idleRssMiB: 80, loadedRssMiB: 128 } as const;

/**
 * Seconds of the 1,000 checks/s phase: a full run reads the steady state from the second half of 60 s (RSS
 * climbs between mark-compacts, and a 10 s window missed it: bench/README.md, "The soak, tenth round");
 * `--quick` only checks that the report works.
 */
export const MEMORY_LOAD_SECONDS = { full: 60, quick: 10 } as const;

/** The roles the memory report starts, each as its own `idgate` process. */
export type MemoryRole = 'authz (memory store)' | 'authz (Redis store)' | 'webhook' | 'serve';

/** What the memory report measured for one role. */
export interface RoleMemory {
  readonly role: MemoryRole;
  /** After `ready`, 5 s idle, then a forced GC. */
  readonly idle?: MemoryAfterGc;
  /** authz roles: after the 1,000 checks/s phase, then a forced GC. */
  readonly loaded?: MemoryAfterGc;
  /** authz roles: VmRSS at the end of the load phase, before the GC, MiB. */
  readonly loadedRssBeforeGcMiB?: number;
  /** authz roles: VmRSS sampled every second over the second half of the load phase (its steady state). */
  readonly steadyRss?: SteadyRss;
  /** authz roles: checks/s completed in the load phase and failed calls. */
  readonly loadThroughput?: number;
  readonly loadErrors?: number;
  /**
   * authz roles: the server's CPU (utime + stime) per completed Check over the load phase, µs — the other
   * side of a runtime flag's memory trade (a smaller heap costs more GC per Check).
   */
  readonly loadCpuUsPerCheck?: number;
  /** The run of this role was aborted (did not start, wrong verdict, no probe answer). */
  readonly error?: string;
}

/** One RSS sample of a load phase (the memory report's, the soak's). */
export interface RssSample {
  /** Seconds since the load started. */
  readonly atSeconds: number;
  readonly rssMiB: number;
}

/** VmRSS over the second half of a load phase, sampled every second. */
export interface SteadyRss {
  /** Seconds since the load started: the window the samples come from. */
  readonly fromSeconds: number;
  readonly toSeconds: number;
  readonly samples: number;
  readonly peakMiB: number;
  readonly meanMiB: number;
}

/**
 * The steady state of a load phase: the samples of its second half (the first half is where caches, the young
 * generation and the old generation's first growth settle), their peak and mean.
 * @param samples in time order.
 * @returns undefined when the second half holds fewer than 2 samples.
 */
export function steadyRssOf(samples: readonly RssSample[], loadSeconds: number): SteadyRss | undefined {
  const half = samples.filter((s) => s.atSeconds >= loadSeconds / 2);
  if (half.length < 2) return undefined;
  const values = half.map((s) => s.rssMiB);
  return {
    fromSeconds: (half[0] as RssSample).atSeconds,
    toSeconds: (half[half.length - 1] as RssSample).atSeconds,
    samples: half.length,
    peakMiB: Math.max(...values),
    meanMiB: values.reduce((a, b) => a + b, 0) / values.length,
  };
}

/** One memory goal and the figure that decides it. */
export interface MemoryCheck {
  readonly label: string;
  readonly figure: string;
  readonly pass: boolean | undefined;
}

interface RoleDef {
  readonly role: MemoryRole;
  readonly command: 'authz' | 'webhook' | 'serve';
  readonly store: 'memory' | 'redis';
  /** Load it at the offered rate after the idle probe (the `authz` roles the goals are about). */
  readonly load: boolean;
}

const ROLES: readonly RoleDef[] = [
  { role: 'authz (memory store)', command: 'authz', store: 'memory', load: true },
  { role: 'authz (Redis store)', command: 'authz', store: 'redis', load: true },
  { role: 'webhook', command: 'webhook', store: 'redis', load: false },
  { role: 'serve', command: 'serve', store: 'memory', load: false },
];

/** Options of {@link runMemoryReport}. */
export interface MemoryReportOptions {
  /** Seconds of the load phase (default 60: its second half is read as the steady state). */
  readonly loadSeconds?: number;
  /** Offered checks/s of the load phase (default 1,000). */
  readonly rate?: number;
  /** Seconds idle after `ready` before the idle probe (default 5). */
  readonly idleSeconds?: number;
  /** Pin idgate to core 0 and h2load, redis-server and the harness to core 1 (default: when ≥ 2 cores). */
  readonly pinned?: boolean;
  readonly children?: ChildRegistry;
  readonly log?: (line: string) => void;
  /** `server.grpc.transport` of every role (default the config's default; `http2` runs the `idgate-h2` target). */
  readonly transport?: 'grpcjs' | 'http2';
}

/**
 * Issue 15 §3's measurement: starts `idgate authz` (in-memory store, then Redis store with a local
 * redis-server), `idgate webhook` and `idgate serve`, each with the bench GC probe preloaded (`gc-probe.ts`),
 * and reads RSS and heap after a forced GC 5 s after `ready`; the `authz` roles then take `rate` checks/s for
 * `loadSeconds` (h2load, one token, like the `hot` scenario) and are probed again. Roles run one at a time.
 */
export async function runMemoryReport(options: MemoryReportOptions = {}): Promise<RoleMemory[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const loadSeconds = options.loadSeconds ?? MEMORY_LOAD_SECONDS.full;
  const rate = options.rate ?? 1_000;
  const idleMs = (options.idleSeconds ?? 5) * 1000;
  const pinned = options.pinned ?? false;
  const children: ChildRegistry = options.children ?? new Set();
  const workDir = mkdtempSync(join(tmpdir(), 'idgate-bench-memory-'));
  const ticksPerSecond = clockTicksPerSecond();
  const issuer = new BenchIssuer();
  let redis: RedisProcess | undefined;
  const results: RoleMemory[] = [];
  try {
    await issuer.listen();
    redis = await startRedis({ ...(pinned ? { cpus: '1' } : {}), children, tempRoot: workDir });
    await seedApprovedVerdicts(redis.url, [`${BENCH_ISSUER_NAME}:user-0`], BENCH_WORKFLOW, Date.now());
    const codec = loadUpstreamCheckCodec();
    const body = encodeCheckRequest(codec, { token: await issuer.mint('RS256', { sub: 'user-0' }) });
    const bodyFile = join(workDir, 'check.bin');
    writeFileSync(bodyFile, body);
    for (const def of ROLES) {
      log(`memory: ${def.role}`);
      const configYaml = renderBenchConfig({
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        audience: issuer.audience,
        ...(def.store === 'redis' ? { redisUrl: redis.url } : {}),
        localCacheTtlMs: 60_000,
        routes: 1,
        celConditions: false,
        requireVerification: def.store === 'redis',
      });
      const ctx: LaunchContext = { configYaml, issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, extraArgs: [], command: def.command };
      let target: Awaited<ReturnType<typeof startTarget>>;
      try {
        target = await startTarget(options.transport === 'http2' ? 'idgate-h2' : 'idgate', ctx, { ...(pinned ? { cpus: '0' } : {}), children, tempRoot: workDir, memoryProbe: true, grpc: def.command !== 'webhook' });
      } catch (err) {
        results.push({ role: def.role, error: (err instanceof Error ? err.message : String(err)).slice(0, 2_000) });
        continue;
      }
      try {
        await new Promise((r) => setTimeout(r, idleMs));
        const idle = await probeMemory(target);
        if (!def.load) {
          results.push({ role: def.role, idle });
          continue;
        }
        const sample = await sampleCheck(target.grpcPort, body, codec);
        if (sample.verdict !== 'allow') throw new Error(`expected allow but ${def.role} answered ${sample.verdict}: ${sample.body ?? ''}`);
        const clients = 2;
        const before = sampleUsage(target.pid);
        const rssSamples: RssSample[] = [];
        const sampler = setInterval(() => {
          const at = sampleUsage(target.pid);
          rssSamples.push({ atSeconds: (at.atMs - before.atMs) / 1000, rssMiB: at.rssKiB / 1024 });
        }, 1_000);
        const run = await runH2load(
          {
            port: target.grpcPort,
            bodyFile,
            logFile: join(workDir, 'h2load.log'),
            clients,
            streams: 32,
            requests: rate * loadSeconds,
            rpsPerClient: rate / clients,
            ...(pinned ? { cpus: '1' } : {}),
            timeoutMs: (loadSeconds + 60) * 1000,
          },
          children,
        ).finally(() => clearInterval(sampler));
        const usage = sampleUsage(target.pid);
        const steadyRss = steadyRssOf(rssSamples, loadSeconds);
        const loaded = await probeMemory(target);
        const s = run.summary;
        results.push({
          role: def.role,
          idle,
          loaded,
          loadedRssBeforeGcMiB: usage.rssKiB / 1024,
          ...(steadyRss !== undefined ? { steadyRss } : {}),
          loadThroughput: run.reqPerSec,
          loadErrors: s.failed + s.errored + s.timeout + (rate * loadSeconds - s.done),
          loadCpuUsPerCheck: cpuMicrosPerCall(before, usage, ticksPerSecond, s.succeeded),
        });
      } catch (err) {
        results.push({ role: def.role, error: (err instanceof Error ? err.message : String(err)).slice(0, 2_000) });
      } finally {
        await target.stop();
      }
    }
  } finally {
    await redis?.stop();
    await issuer.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  return results;
}

/**
 * The memory goals of issue 15 §3 against the results: each `authz` role ≤ 80 MiB RSS idle after a forced GC,
 * and ≤ 128 MiB at 1,000 checks/s twice over: the peak RSS of the load's second half (what a pod's limit has
 * to hold, no GC forced) and RSS after a forced GC at its end. `webhook` and `serve` are reported without a goal.
 */
export function evaluateMemory(results: readonly RoleMemory[]): MemoryCheck[] {
  const checks: MemoryCheck[] = [];
  for (const role of ['authz (memory store)', 'authz (Redis store)'] as const) {
    const r = results.find((x) => x.role === role);
    const missing = r?.error !== undefined ? 'aborted' : 'not measured';
    const check = (label: string, usage: MemoryAfterGc | undefined, max: number): MemoryCheck =>
      usage === undefined
        ? { label, figure: missing, pass: undefined }
        : { label, figure: `${usage.rssMiB.toFixed(1)} MiB (heap used ${usage.heapUsedMiB.toFixed(1)} MiB)`, pass: usage.rssMiB <= max };
    const steady = r?.steadyRss;
    const steadyLabel = `${role}: peak RSS at 1,000 checks/s in steady state ≤ ${MEMORY_GOALS.loadedRssMiB} MiB`;
    checks.push(
      check(`${role}: idle RSS after GC ≤ ${MEMORY_GOALS.idleRssMiB} MiB`, r?.idle, MEMORY_GOALS.idleRssMiB),
      steady === undefined
        ? { label: steadyLabel, figure: missing, pass: undefined }
        : {
            label: steadyLabel,
            figure: `${steady.peakMiB.toFixed(1)} MiB (mean ${steady.meanMiB.toFixed(1)} MiB, ${steady.samples} samples, ${steady.fromSeconds.toFixed(0)}–${steady.toSeconds.toFixed(0)} s)`,
            pass: steady.peakMiB <= MEMORY_GOALS.loadedRssMiB,
          },
      check(`${role}: RSS after GC at 1,000 checks/s ≤ ${MEMORY_GOALS.loadedRssMiB} MiB`, r?.loaded, MEMORY_GOALS.loadedRssMiB),
    );
  }
  return checks;
}

function mib(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(1);
}

/** Renders the memory report: one row per role and state, then the goals. */
export function renderMemoryReport(results: readonly RoleMemory[], options: { rate: number; loadSeconds: number }): string {
  const runtime = splitRuntimeSettings(NODE_RUNTIME_FLAGS);
  const out = [
    '## Memory per role (issue 15 §3)',
    '',
    `Each role is its own \`idgate\` process with the node flags \`${runtime.flags.join(' ') || '(none)'}\` and the environment \`${Object.entries({ ...NODE_RUNTIME_ENV, ...runtime.env }).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}\` (the image's unless \`IDGATE_BENCH_RUNTIME_FLAGS\` (node flags and \`NAME=value\` environment) / \`IDGATE_BENCH_MALLOC_ARENA_MAX\` say otherwise), plus \`--expose-gc\` and the bench GC probe; "after GC" = RSS and heap read right after a forced full GC. Idle = 5 s after \`ready\`; load = ${options.rate} checks/s for ${options.loadSeconds} s (h2load, one RS256 token). \`authz (memory store)\` runs a policy without the \`kyc\` verification (that role has no store a verdict could come from); the others are the \`hot\` scenario's config.`,
    '',
    'RSS file = pages of files (mostly the `node` binary: shared, reclaimable), RSS anon = the process\'s own (V8 heap, pooled V8 pages, malloc). CPU/Check = server utime + stime ÷ completed Checks of the load phase.',
    '',
    '| role | state | RSS after GC (MiB) | RSS file | RSS anon | heap used | heap total | external | RSS before GC | steady RSS, peak / mean | checks/s | CPU/Check (µs) | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    if (r.error !== undefined && r.idle === undefined) {
      out.push(`| ${r.role} | aborted: ${r.error.replace(/\|/g, '\\|').split('\n')[0] ?? ''} | | | | | | | | | | | |`);
      continue;
    }
    for (const [state, usage] of [['idle', r.idle], [`${options.rate}/s`, r.loaded]] as const) {
      if (usage === undefined) continue;
      const loaded = state !== 'idle';
      out.push(
        `| ${r.role} | ${state} | ${mib(usage.rssMiB)} | ${mib(usage.rssFileMiB)} | ${mib(usage.rssAnonMiB)} | ${mib(usage.heapUsedMiB)} | ${mib(usage.heapTotalMiB)} | ${mib(usage.externalMiB)} | ${loaded ? mib(r.loadedRssBeforeGcMiB) : '—'} | ${loaded && r.steadyRss !== undefined ? `${mib(r.steadyRss.peakMiB)} / ${mib(r.steadyRss.meanMiB)}` : '—'} | ${loaded ? (r.loadThroughput ?? 0).toFixed(0) : '—'} | ${loaded ? mib(r.loadCpuUsPerCheck) : '—'} | ${loaded ? String(r.loadErrors ?? '—') : '—'} |`,
      );
    }
    if (r.error !== undefined) out.push(`| ${r.role} | aborted: ${r.error.replace(/\|/g, '\\|').split('\n')[0] ?? ''} | | | | | | | | | | | |`);
  }
  out.push('', '| goal | measured | |', '|---|---|---|');
  for (const check of evaluateMemory(results)) out.push(`| ${check.label} | ${check.figure} | ${verdictWord(check.pass)} |`);
  // The steady state is the load's second half; a window shorter than a minute does not reach it (tenth round).
  out.push(
    '',
    options.loadSeconds >= MEMORY_LOAD_SECONDS.full
      ? `Steady state = VmRSS sampled every second over the second half of ${options.loadSeconds} s at ${options.rate}/s, no GC forced; the soak (\`make soak\`) runs the same for minutes.`
      : `The load ran ${options.loadSeconds} s at ${options.rate}/s, shorter than the ${MEMORY_LOAD_SECONDS.full} s a full run reads the steady state from: these figures do not show it (bench/README.md, "The soak, tenth round").`,
  );
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flags = parseFlags(argv, { quick: 'boolean', seconds: 'string', rate: 'string', transport: 'string' });
  const loadSeconds = Number(flags.seconds ?? (flags.quick === true ? MEMORY_LOAD_SECONDS.quick : MEMORY_LOAD_SECONDS.full));
  const rate = Number(flags.rate ?? '1000');
  if (!(loadSeconds > 0 && loadSeconds <= 600)) throw new TypeError('--seconds must be in (0, 600]');
  if (!(Number.isInteger(rate) && rate > 0 && rate <= 20_000)) throw new TypeError('--rate must be in 1..20000');
  const transport = flags.transport;
  if (transport !== undefined && transport !== 'grpcjs' && transport !== 'http2') throw new TypeError('--transport must be grpcjs or http2');
  const children: ChildRegistry = new Set();
  const killAll = (): void => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  const pinned = pinProcess(process.pid, '1');
  const results = await runMemoryReport({ loadSeconds, rate, pinned, children, ...(transport !== undefined ? { transport } : {}) });
  process.stdout.write(`# idgate memory per role — ${new Date().toISOString().slice(0, 10)} on ${hostname()}\n\n- command: \`node dist/bench/memory.js${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\`; node ${process.version}\n\n`);
  process.stdout.write(renderMemoryReport(results, { rate, loadSeconds }));
  process.exitCode = results.some((r) => r.error !== undefined) ? 1 : 0;
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`memory: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
