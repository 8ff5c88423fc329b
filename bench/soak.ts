import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchIssuer } from './bench-issuer.js';
import { sampleCheck } from './check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { runGrpcLoad } from './grpc-load.js';
import type { ChildRegistry } from './h2load.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW, renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';
import { pinProcess, sampleUsage } from './proc-stats.js';
import { startRedis } from './redis-process.js';
import { MEMORY_GOALS, steadyRssOf, type RssSample, type SteadyRss } from './memory.js';
import { probeMemory, type MemoryAfterGc } from './probe-memory.js';
import { seedApprovedVerdicts } from './seed-verdict.js';
import { startTarget, type TargetName } from './targets.js';


/** Whether memory stayed flat, and the figures that decided it. */
export interface FlatnessVerdict {
  readonly flat: boolean;
  /** Least-squares slope of RSS over the second half of the samples, MiB per minute. */
  readonly slopeMiBPerMinute: number;
  /** RSS at the middle sample and at the last one. */
  readonly midMiB: number;
  readonly endMiB: number;
}

/**
 * Judges an RSS series: caches fill during the first half, so only the second half counts. Flat = RSS grew
 * by at most max(8 MiB, 10 %) from the middle sample to the last; the slope is reported for the reader.
 * @returns flat false with NaN figures when there are fewer than 4 samples.
 */
export function assessFlatness(samples: readonly RssSample[]): FlatnessVerdict {
  if (samples.length < 4) return { flat: false, slopeMiBPerMinute: Number.NaN, midMiB: Number.NaN, endMiB: Number.NaN };
  const half = samples.slice(Math.floor(samples.length / 2));
  const n = half.length;
  const meanX = half.reduce((a, s) => a + s.atSeconds, 0) / n;
  const meanY = half.reduce((a, s) => a + s.rssMiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of half) {
    num += (s.atSeconds - meanX) * (s.rssMiB - meanY);
    den += (s.atSeconds - meanX) ** 2;
  }
  const slopeMiBPerMinute = den === 0 ? 0 : (num / den) * 60;
  const midMiB = (half[0] as RssSample).rssMiB;
  const endMiB = (half[n - 1] as RssSample).rssMiB;
  return { flat: endMiB - midMiB <= Math.max(8, midMiB * 0.1), slopeMiBPerMinute, midMiB, endMiB };
}

/**
 * The soak's reading of issue 15 §3: the peak RSS of the load's second half (no GC forced) against the
 * ≤ 128 MiB goal at 1,000 checks/s. With many subjects the bounded caches fill, which the line says.
 */
export function soakSteadyStateLine(steady: SteadyRss | undefined, subjects: number): string {
  if (steady === undefined) return '- steady state: too few samples to read';
  const met = steady.peakMiB <= MEMORY_GOALS.loadedRssMiB;
  const caches = subjects > 1 ? ` (${subjects} distinct subjects: the token, verdict and allow caches fill to their bounds, set by \`caches\` and \`store.localCacheMaxEntries\`; bench/README.md, "Cache memory per active subject, twelfth round")` : '';
  return `- steady state (second half, no GC forced): peak RSS ${steady.peakMiB.toFixed(1)} MiB, mean ${steady.meanMiB.toFixed(1)} MiB; issue 15 §3's ≤ ${MEMORY_GOALS.loadedRssMiB} MiB at 1,000 checks/s ${met ? 'met ✓' : 'NOT met ✗'}${caches}`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flags = parseFlags(argv, {
    seconds: 'string',
    subjects: 'string',
    rate: 'string',
    target: 'string',
    'cache-entries': 'string',
    'verdict-ttl-ms': 'string',
    'no-write': 'boolean',
  });
  const seconds = Number(flags.seconds ?? '300');
  const subjects = Number(flags.subjects ?? '100000');
  const rate = Number(flags.rate ?? '1000');
  const target = (flags.target ?? 'idgate') as TargetName;
  const cacheEntries = flags['cache-entries'] === undefined ? undefined : Number(flags['cache-entries']);
  // idgate's default verdict-cache TTL (`store.localCacheTtl`), as a deployment runs it.
  const verdictTtlMs = Number(flags['verdict-ttl-ms'] ?? '5000');
  if (cacheEntries !== undefined && !(Number.isInteger(cacheEntries) && cacheEntries > 0)) throw new TypeError('--cache-entries must be a positive integer');
  if (!(Number.isInteger(verdictTtlMs) && verdictTtlMs >= 0)) throw new TypeError('--verdict-ttl-ms must be an integer >= 0');
  if (!(seconds > 0 && seconds <= 3_600)) throw new TypeError('--seconds must be in (0, 3600]');
  if (!(Number.isInteger(subjects) && subjects > 0 && subjects <= 1_000_000)) throw new TypeError('--subjects must be in 1..1000000');
  if (!(Number.isInteger(rate) && rate > 0 && rate <= 20_000)) throw new TypeError('--rate must be in 1..20000');
  if (!['noop', 'standin', 'idgate'].includes(target)) throw new TypeError('--target must be noop, standin or idgate');

  const children: ChildRegistry = new Set();
  const workDir = mkdtempSync(join(tmpdir(), 'idgate-soak-'));
  const killAll = (): void => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }

  pinProcess(process.pid, '1');
  const issuer = new BenchIssuer();
  await issuer.listen();
  const redis = await startRedis({ cpus: '1', children, tempRoot: workDir });
  try {
    const names = Array.from({ length: subjects }, (_, i) => `soak-${i}`);
    process.stderr.write(`seeding ${subjects} verdicts and minting ${subjects} ES256 tokens…\n`);
    await seedApprovedVerdicts(redis.url, names.map((n) => `${BENCH_ISSUER_NAME}:${n}`), BENCH_WORKFLOW, Date.now());
    const codec = loadUpstreamCheckCodec();
    const bodies: Buffer[] = [];
    for (const sub of names) bodies.push(encodeCheckRequest(codec, { token: await issuer.mint('ES256', { sub }, seconds + 3_600) }));
    const configYaml = renderBenchConfig({
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      redisUrl: redis.url,
      localCacheTtlMs: verdictTtlMs,
      routes: 1,
      celConditions: false,
      ...(cacheEntries !== undefined ? { cacheEntries } : {}),
    });
    const server = await startTarget(
      target,
      { configYaml, issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, extraArgs: [] },
      // The GC probe: RSS and heap after a forced GC before and after the load (issue 15 §3).
      { cpus: '0', children, tempRoot: workDir, memoryProbe: true },
    );
    try {
      const sample = await sampleCheck(server.grpcPort, bodies[0] as Buffer, codec);
      if (sample.verdict !== 'allow') throw new Error(`expected allow but ${target} answered ${sample.verdict}: ${sample.body ?? ''}`);
      const beforeLoad = await probeMemory(server);
      const samples: RssSample[] = [];
      const t0 = performance.now();
      const take = (): void => {
        const usage = sampleUsage(server.pid);
        samples.push({ atSeconds: (performance.now() - t0) / 1000, rssMiB: usage.rssKiB / 1024 });
      };
      take();
      const sampler = setInterval(take, 5_000);
      process.stderr.write(`soak: ${rate}/s for ${seconds} s over ${subjects} subjects against ${target}\n`);
      const result = await runGrpcLoad({
        port: server.grpcPort,
        bodies,
        connections: 4,
        concurrency: 256,
        total: rate * seconds,
        ratePerSecond: rate,
        maxDurationMs: (seconds + 60) * 1000,
      });
      clearInterval(sampler);
      take();
      const afterLoad = await probeMemory(server);
      const afterGc = (label: string, m: MemoryAfterGc): string =>
        `${label}: RSS ${m.rssMiB.toFixed(1)} MiB, heap used ${m.heapUsedMiB.toFixed(1)} MiB of ${m.heapTotalMiB.toFixed(1)} MiB, external ${m.externalMiB.toFixed(1)} MiB`;
      const verdict = assessFlatness(samples);
      const steady = steadyRssOf(samples, seconds);
      const lines = [
        `# idgate soak — ${new Date().toISOString().slice(0, 10)} on ${hostname()}`,
        '',
        `- command: \`node dist/bench/soak.js${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\`; target \`${target}\`, server pinned to core 0`,
        `- ${result.completed} checks in ${result.seconds.toFixed(0)} s (${result.reqPerSec.toFixed(0)}/s), ${subjects} distinct subjects and tokens, taken in turn; caches ${cacheEntries === undefined ? "at idgate's defaults (2,000 tokens, 2,000 allows, 2,000 subjects' verdicts)" : `at ${cacheEntries} entries each`}, verdict-cache TTL ${verdictTtlMs} ms; grpc-status ${JSON.stringify(result.grpcStatusCounts)}, ${result.transportErrors} transport errors`,
        `- latency p50 ${(result.latency.p50 / 1000).toFixed(3)} ms, p99 ${(result.latency.p99 / 1000).toFixed(3)} ms, p99.9 ${(result.latency.p999 / 1000).toFixed(3)} ms`,
        `- memory ${verdict.flat ? 'stayed flat ✓' : 'did NOT stay flat ✗'}: second-half slope ${verdict.slopeMiBPerMinute.toFixed(2)} MiB/min, ${verdict.midMiB.toFixed(1)} → ${verdict.endMiB.toFixed(1)} MiB`,
        soakSteadyStateLine(steady, subjects),
        `- after a forced GC (bench GC probe), ${afterGc('before the load', beforeLoad)}; ${afterGc('after it', afterLoad)}`,
        '',
        '| t (s) | RSS (MiB) |',
        '|---:|---:|',
        ...samples.map((s) => `| ${s.atSeconds.toFixed(0)} | ${s.rssMiB.toFixed(1)} |`),
        '',
      ];
      const report = lines.join('\n');
      process.stdout.write(report);
      if (flags['no-write'] !== true) {
        const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'soak-latest.md'), report);
      }
      process.exitCode = verdict.flat ? 0 : 1;
    } finally {
      await server.stop();
    }
  } finally {
    await redis.stop();
    await issuer.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
