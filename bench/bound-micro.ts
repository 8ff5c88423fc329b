/**
 * In-process cost of the lower bound's per-Check work and of each of idgate's stages added to it
 * (bound-server.ts), without the transport: decode the CheckRequest bytes, then the bound's Check.
 *
 * `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 dist/bench/bound-micro.js
 *   [--iterations N] [--rounds N]`
 *
 * Each stage set (cumulative: bound, +ctx, +trace, +policy, +id, +metrics) is timed in turn, `--rounds`
 * times alternating (default 3), `--iterations` Checks each (default 20,000): process CPU µs per Check
 * (user + system) and bytes allocated per Check (used-heap growth over 1,000 Checks after a full GC, with a
 * young generation large enough that no GC runs in between; it varies by a few hundred bytes between
 * rounds, hence the median) — the figure the machine's load cannot move.
 * Compare with `pipeline-micro.js`, idgate's own pipeline measured the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { decodeCheckRequest } from '../src/extauthz/check-codec.js';
import { BenchIssuer } from './bench-issuer.js';
import { BOUND_STAGES, createBoundCheck, type BoundCall, type BoundCheck } from './bound-server.js';
import { isMainModule } from './bench-grpc-server.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { renderBenchConfig } from './idgate-config.js';
import { median } from './transport-cpu.js';
import { parseFlags } from './parse-flags.js';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { iterations: 'string', rounds: 'string' });
  const iterations = Number(flags.iterations ?? 20_000);
  const rounds = Number(flags.rounds ?? 3);
  // The bench's own token (the bound never verifies it: its token is cached by definition) and config.
  const issuer = new BenchIssuer();
  await issuer.listen();
  const token = await issuer.mint('RS256', { sub: 'user-0' });
  await issuer.close();
  const dir = mkdtempSync(join(tmpdir(), 'idgate-bound-micro-'));
  const configFile = join(dir, 'idgate.yaml');
  writeFileSync(configFile, renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, redisUrl: 'redis://127.0.0.1:1', localCacheTtlMs: 60_000, routes: 1, celConditions: true }));
  const body = loadUpstreamCheckCodec().serializeRequest(buildCheckRequest({ token }));
  const call: BoundCall = { metadata: new grpc.Metadata(), getDeadline: () => Infinity };
  const sets = BOUND_STAGES.map((_, i) => BOUND_STAGES.slice(0, i));
  sets.push([...BOUND_STAGES]);
  const checks: { label: string; check: BoundCheck }[] = [];
  for (const stages of sets) checks.push({ label: ['bound', ...stages].join('+'), check: await createBoundCheck({ stages, configFile }) });
  rmSync(dir, { recursive: true, force: true });
  const once = (check: BoundCheck): void => {
    if (!Buffer.isBuffer(check(decodeCheckRequest(body), call))) throw new Error('the bound refused the bench Check');
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  /** Bytes allocated per Check over 1,000 Checks after a full GC (undefined without --expose-gc). */
  const allocated = (check: BoundCheck): number | undefined => {
    if (gc === undefined) return undefined;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000; i++) once(check);
    return (process.memoryUsage().heapUsed - before) / 1_000;
  };
  const cpu = new Map<string, number[]>();
  const bytes = new Map<string, number[]>();
  for (const { label, check } of checks) {
    for (let i = 0; i < 5_000; i++) once(check);
    cpu.set(label, []);
    bytes.set(label, []);
  }
  for (let round = 0; round < rounds; round++) {
    for (const { label, check } of checks) {
      const start = process.cpuUsage();
      for (let i = 0; i < iterations; i++) once(check);
      const used = process.cpuUsage(start);
      cpu.get(label)?.push((used.user + used.system) / iterations);
      const b = allocated(check);
      if (b !== undefined) bytes.get(label)?.push(b);
    }
  }
  const lines = ['| stages | µs CPU per Check (rounds) | median | bytes allocated per Check (rounds) | median |', '|---|---|---:|---|---:|'];
  for (const { label } of checks) {
    const runs = cpu.get(label) ?? [];
    const b = bytes.get(label) ?? [];
    const bytesCells = b.length > 0 ? `${b.map((v) => v.toFixed(0)).join(', ')} | ${median(b).toFixed(0)}` : 'n/a (run with --expose-gc) | n/a';
    lines.push(`| ${label} | ${runs.map((v) => v.toFixed(2)).join(', ')} | ${median(runs).toFixed(2)} | ${bytesCells} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bound-micro: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
