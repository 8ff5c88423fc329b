import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BenchIssuer } from './bench-issuer.js';
import { isMainModule } from './bench-grpc-server.js';
import type { ChildRegistry } from './h2load.js';
import { renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';
import { clockTicksPerSecond, parseProcStat, pinProcess } from './proc-stats.js';
import type { LaunchContext, RunningTarget, startTarget as StartTarget } from './targets.js';

/**
 * Start-up of `idgate authz` (memory store, the memory report's config) per build, A B A B…: wall time
 * from spawn to the `ready` line, and the CPU time (utime + stime) the process spent until then — the
 * figure that survives a shared machine. Each build starts with its own `bench/targets.js` (same command
 * line and node flags as run.js), pinned to core 0.
 *
 *   node dist/bench/start-up-time.js --builds dist/ab/tsc/dist,dist [--runs 10]
 */
async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { builds: 'string', runs: 'string' });
  const builds = String(flags.builds ?? 'dist').split(',').map((b) => resolve(b));
  const runs = Number(flags.runs ?? 10);
  pinProcess(process.pid, '1');
  const ticks = clockTicksPerSecond();
  const workDir = mkdtempSync(join(tmpdir(), 'idgate-start-up-'));
  const issuer = new BenchIssuer();
  await issuer.listen();
  const children: ChildRegistry = new Set();
  const ctx: LaunchContext = {
    configYaml: renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 60_000, routes: 1, celConditions: false }),
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    extraArgs: [],
    command: 'authz',
  };
  const starters = new Map<string, typeof StartTarget>();
  for (const build of builds) {
    starters.set(build, ((await import(pathToFileURL(join(build, 'bench', 'targets.js')).href)) as { startTarget: typeof StartTarget }).startTarget);
  }
  const results = new Map<string, { wallMs: number[]; cpuMs: number[] }>(builds.map((b) => [b, { wallMs: [], cpuMs: [] }]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const build of builds) {
        const started = performance.now();
        const target: RunningTarget = await (starters.get(build) as typeof StartTarget)('idgate', ctx, { cpus: '0', children, tempRoot: workDir });
        const wallMs = performance.now() - started;
        const stat = parseProcStat(readFileSync(`/proc/${target.pid}/stat`, 'utf8'));
        await target.stop();
        const r = results.get(build);
        r?.wallMs.push(wallMs);
        r?.cpuMs.push(((stat?.cpuTicks ?? Number.NaN) * 1000) / ticks);
      }
    }
  } finally {
    await issuer.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? Number.NaN;
  process.stdout.write(`| build | runs | to ready, wall ms (median) | CPU to ready, ms (median) | CPU per run |\n|---|---:|---:|---:|---|\n`);
  for (const [build, r] of results) {
    process.stdout.write(`| ${build} | ${r.wallMs.length} | ${median(r.wallMs).toFixed(0)} | ${median(r.cpuMs).toFixed(0)} | ${r.cpuMs.map((c) => c.toFixed(0)).join(' ')} |\n`);
  }
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`start-up-time: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
