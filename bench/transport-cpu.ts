import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchIssuer } from './bench-issuer.js';
import { sampleCheck } from './check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { isMainModule } from './bench-grpc-server.js';
import { runH2load, type ChildRegistry } from './h2load.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW, renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';
import { clockTicksPerSecond, pinProcess, sampleUsage, type UsageSample } from './proc-stats.js';
import { startRedis } from './redis-process.js';
import { seedApprovedVerdicts } from './seed-verdict.js';
import { startTarget, type TargetName } from './targets.js';

/** One measurement of one target. */
export interface TransportSample {
  readonly target: TargetName;
  readonly pair: number;
  /** Server CPU (utime+stime of its process tree) per answered Check, µs. */
  readonly cpuUsPerCheck: number;
  readonly checks: number;
  readonly rssMiB: number;
  /** 1-minute load average when the measurement started. */
  readonly load: number;
}

/** Server CPU µs per Check between two samples. */
export function cpuUsPerCheck(before: UsageSample, after: UsageSample, checks: number, ticksPerSecond: number): number {
  let ticks = 0;
  for (const [pid, t] of after.cpuTicksByPid) ticks += t - (before.cpuTicksByPid.get(pid) ?? 0);
  return checks > 0 ? (ticks / ticksPerSecond / checks) * 1e6 : Number.NaN;
}

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The transport A/B of bench/README.md "node:http2 transport": server CPU per Check — the figure a shared
 * machine cannot distort much, unlike throughput — of the grpc-js floor, the lower bound of a cached allow
 * (bound-server.ts), idgate on grpc-js and idgate on node:http2, in the `hot` scenario (Redis store,
 * verdict in the local cache), measured in rounds floor → h2floor (node:http2 alone, `h2-floor-server.ts`) → bound → idgate → idgate-h2 repeated `--pairs`
 * times (default 3) so load drifts hit all five alike.
 * Each measurement: start the target pinned to core 0, one verified Check, a warm-up, then `--checks`
 * Checks (default 20,000) with h2load (8 connections × 32 streams, core 1), CPU from /proc.
 */
async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { pairs: 'string', checks: 'string' });
  const pairs = Number(flags.pairs ?? 3);
  const checks = Number(flags.checks ?? 20_000);
  const pinned = pinProcess(process.pid, '1');
  const children: ChildRegistry = new Set();
  const workDir = mkdtempSync(join(tmpdir(), 'idgate-bench-transport-'));
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  });
  const issuer = new BenchIssuer();
  await issuer.listen();
  const codec = loadUpstreamCheckCodec();
  const redis = await startRedis({ ...(pinned ? { cpus: '1' } : {}), children, tempRoot: workDir });
  await seedApprovedVerdicts(redis.url, [`${BENCH_ISSUER_NAME}:user-0`], BENCH_WORKFLOW, Date.now());
  const body = encodeCheckRequest(codec, { token: await issuer.mint('RS256', { sub: 'user-0' }) });
  const bodyFile = join(workDir, 'hot.bin');
  writeFileSync(bodyFile, body);
  const ctx = {
    configYaml: renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, redisUrl: redis.url, localCacheTtlMs: 60_000, routes: 1, celConditions: false }),
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    extraArgs: [],
    command: 'authz' as const,
  };
  const ticks = clockTicksPerSecond();
  const samples: TransportSample[] = [];
  const load = (requests: number, port: number) =>
    runH2load({ port, bodyFile, logFile: join(workDir, 'h2load.log'), clients: 8, streams: 32, requests, ...(pinned ? { cpus: '1' } : {}), timeoutMs: 300_000 }, children);
  for (let pair = 1; pair <= pairs; pair += 1) {
    for (const name of ['floor', 'h2floor', 'bound', 'idgate', 'idgate-h2'] as const) {
      const target = await startTarget(name, ctx, { ...(pinned ? { cpus: '0' } : {}), children, tempRoot: workDir });
      try {
        // A cold target may fail closed (503) on its very first Check; ask again a few times, as run.ts does.
        let { verdict } = await sampleCheck(target.grpcPort, body, codec);
        for (let i = 0; i < 5 && verdict !== 'allow'; i += 1) ({ verdict } = await sampleCheck(target.grpcPort, body, codec));
        if (verdict !== 'allow') throw new Error(`${name} answered ${verdict}, not allow`);
        await load(5_000, target.grpcPort);
        const startLoad = loadavg()[0] ?? 0;
        const before = sampleUsage(target.pid);
        const r = await load(checks, target.grpcPort);
        const after = sampleUsage(target.pid);
        const answered = r.summary.status2xx;
        if (answered < checks * 0.99) throw new Error(`${name}: only ${answered}/${checks} Checks answered`);
        const sample = { target: name, pair, cpuUsPerCheck: cpuUsPerCheck(before, after, answered, ticks), checks: answered, rssMiB: after.rssKiB / 1024, load: startLoad };
        samples.push(sample);
        process.stderr.write(`pair ${pair} ${name}: ${sample.cpuUsPerCheck.toFixed(1)} µs/Check, RSS ${sample.rssMiB.toFixed(1)} MiB, load ${startLoad.toFixed(2)}\n`);
      } finally {
        await target.stop();
      }
    }
  }
  await redis.stop();
  const lines = ['| target | server CPU µs/Check (median) | per round | RSS MiB (median) | load at start |', '|---|---:|---|---:|---|'];
  for (const name of ['floor', 'h2floor', 'bound', 'idgate', 'idgate-h2'] as const) {
    const mine = samples.filter((s) => s.target === name);
    lines.push(
      `| ${name} | ${median(mine.map((s) => s.cpuUsPerCheck)).toFixed(1)} | ${mine.map((s) => s.cpuUsPerCheck.toFixed(1)).join(', ')} | ${median(mine.map((s) => s.rssMiB)).toFixed(1)} | ${mine.map((s) => s.load.toFixed(1)).join(', ')} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exit(0);
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`transport-cpu: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
