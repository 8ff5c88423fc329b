/**
 * What every A/B tool of the bench (`cpu-per-check.ts`, `paced-tail.ts`) sets up before it starts targets:
 * the harness pinned to core 1 (the targets get core 0), a temp dir, the JWKS issuer, redis-server seeded
 * with the bench subject's Approved verdict when the scenario uses Redis, the OTLP sink when it is traced
 * (`hot-traced`; without it the scenario ran untraced here until the twelfth round), and the scenario's
 * idgate config.
 * SIGINT/SIGTERM kill every child the session registered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchIssuer } from './bench-issuer.js';
import type { ChildRegistry } from './h2load.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW, renderScenarioConfig } from './idgate-config.js';
import { startOtlpSink, type OtlpSink } from './otlp-sink.js';
import { pinProcess } from './proc-stats.js';
import { startRedis, type RedisProcess } from './redis-process.js';
import { commandOf, type ScenarioDef } from './scenarios.js';
import { seedApprovedVerdicts } from './seed-verdict.js';
import type { LaunchContext } from './targets.js';

/** An open A/B session; `close()` stops everything it started. */
export interface AbSession {
  readonly children: ChildRegistry;
  readonly workDir: string;
  readonly issuer: BenchIssuer;
  readonly ctx: LaunchContext;
  close(): Promise<void>;
}

/** Opens a session for `def`; the temp dir is named `idgate-<prefix>-…`. */
export async function openAbSession(def: ScenarioDef, prefix: string): Promise<AbSession> {
  const children: ChildRegistry = new Set();
  const stopAll = (): void => {
    for (const child of children) child.kill('SIGKILL');
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopAll();
      process.exit(130);
    });
  }
  // The harness (node generator, JWKS) stays off the server's core, as run.js does.
  pinProcess(process.pid, '1');
  const workDir = mkdtempSync(join(tmpdir(), `idgate-${prefix}-`));
  const issuer = new BenchIssuer();
  await issuer.listen();
  let redis: RedisProcess | undefined;
  let sink: OtlpSink | undefined;
  const close = async (): Promise<void> => {
    stopAll();
    await redis?.stop().catch(() => undefined);
    await sink?.close();
    await issuer.close();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    if (def.store !== 'memory') {
      redis = await startRedis({ cpus: '1', children, tempRoot: workDir });
      await seedApprovedVerdicts(redis.url, [`${BENCH_ISSUER_NAME}:user-0`], BENCH_WORKFLOW, Date.now());
    }
    if (def.tracingSampleRatio !== undefined) sink = await startOtlpSink();
  } catch (err) {
    await close();
    throw err;
  }
  const ctx: LaunchContext = {
    configYaml: renderScenarioConfig(def, {
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      redisUrl: redis?.url,
      tracingEndpoint: sink?.endpoint,
      celConditions: true,
    }),
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    extraArgs: def.extraArgs,
    command: commandOf(def),
  };
  return { children, workDir, issuer, ctx, close };
}

