/**
 * What makes a paced Check slow: the tail of `hot` at a fixed rate, set against what the target's process
 * did at the same wall-clock moments (issue 15 §2, the p99 goal).
 *
 * `node dist/bench/paced-tail.js [--builds floor:dist,dist] [--pairs 2] [--rate 1000] [--seconds 10]
 *   [--saturation N] [--gc-after-saturation] [--gc-in-window-ms N] [--idle-ms N] [--pre-rate R [--pre-seconds S]] [--slow-ms 5]
 *   [--episodes 8] [--node-flags="--trace-gc-nvp --expose-gc"]`
 *
 * Each build (as in `cpu-per-check.js`: a compiled `dist/`, `floor:<dist>` = its transport floor, `h2:<dist>` =
 * idgate on its node:http2 transport) is started
 * pinned to core 0 with the stall probe (`stall-probe.ts`) preloaded, warmed up (5,000 Checks at
 * saturation), optionally given N more calls at saturation, left idle, and a slower paced phase first (run.js's
 * order is saturation, 100/s, then 1,000/s), then loaded by h2load at `--rate` for `--seconds`. The h2load log gives
 * every Check's start (µs since the epoch) and latency; the probe gives every GC and event-loop stall of the
 * target over the same window. Printed per run: the latency percentiles, the Checks slower than `--slow-ms`,
 * how many of those overlap a GC pause or a stall, when they happen in the phase, and the largest episodes
 * (slow Checks within 20 ms of each other) with whatever the target was doing then.
 *
 * V8's own view: `IDGATE_BENCH_NODE_FLAGS=--trace-gc` (idgate only) or `--node-flags="--trace-gc-nvp"` (every
 * build) prints each major GC of the run (with `--trace-gc-nvp`, its pause split into phases of ≥ 1 ms);
 * `IDGATE_BENCH_GC_LOG=/tmp/x` also writes every non-JSON line the target printed from the warm-up on to
 * `/tmp/x-<pair>-<floor|idgate>.log`, with the phases' start times printed in the same time base.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openAbSession } from './ab-session.js';
import { sampleCheck } from './check-sample.js';
import { encodeCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { runH2load } from './h2load.js';
import { parseFlags } from './parse-flags.js';
import { clockTicksPerSecond, sampleUsage } from './proc-stats.js';
import { SCENARIOS } from './scenarios.js';
import { parseCalls, renderTailAnalysis, type Gc, type Stall } from './tail-analysis.js';
import type { BuildTargets } from './targets.js';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    builds: 'string', pairs: 'string', saturation: 'string', 'pre-rate': 'string', 'pre-seconds': 'string', 'node-flags': 'string', 'gc-after-saturation': 'boolean', 'gc-in-window-ms': 'string', rate: 'string', seconds: 'string', 'idle-ms': 'string', 'slow-ms': 'string', episodes: 'string', scenario: 'string',
  });
  const def = SCENARIOS[(flags.scenario ?? 'hot') as keyof typeof SCENARIOS];
  if (def === undefined || def.generator !== 'h2load' || def.tokens !== 'single') throw new TypeError('--scenario must be a single-token h2load scenario');
  // `floor:<dist>` = that build's transport floor, `h2:<dist>` = idgate on its node:http2 transport.
  const prefixOf = (build: string): 'floor' | 'h2' | undefined => (build.startsWith('floor:') ? 'floor' : build.startsWith('h2:') ? 'h2' : undefined);
  const builds = String(flags.builds ?? 'floor:dist,dist').split(',').map((b) => {
    const prefix = prefixOf(b);
    return prefix === undefined ? resolve(b) : `${prefix}:${resolve(b.slice(prefix.length + 1))}`;
  });
  const distOf = (build: string): string => {
    const prefix = prefixOf(build);
    return prefix === undefined ? build : build.slice(prefix.length + 1);
  };
  const targetOf = (build: string): 'floor' | 'idgate-h2' | 'idgate' => {
    const prefix = prefixOf(build);
    return prefix === 'floor' ? 'floor' : prefix === 'h2' ? 'idgate-h2' : 'idgate';
  };
  const pairs = Number(flags.pairs ?? 2);
  const rate = Number(flags.rate ?? 1000);
  const seconds = Number(flags.seconds ?? 10);
  const idleMs = Number(flags['idle-ms'] ?? 0);
  const saturationCalls = Number(flags.saturation ?? 0);
  const preRate = Number(flags['pre-rate'] ?? 0);
  const preSeconds = Number(flags['pre-seconds'] ?? 10);
  const slowMs = Number(flags['slow-ms'] ?? 5);
  const episodesShown = Number(flags.episodes ?? 8);
  const session = await openAbSession(def, 'tail');
  const { children, workDir, issuer, ctx } = session;
  try {
    const codec = loadUpstreamCheckCodec();
    const body = encodeCheckRequest(codec, { token: await issuer.mint(def.algorithm, { sub: def.subject === 'verified' ? 'user-0' : 'unverified-0' }) });
    const bodyFile = join(workDir, 'body.bin');
    writeFileSync(bodyFile, body);
    const logFile = join(workDir, 'h2load.log');
    const ticks = clockTicksPerSecond();
    const clients = Math.min(8, Math.max(1, Math.ceil(rate / 500)));
    for (let pair = 0; pair < pairs; pair++) {
      for (const build of builds) {
        const mod = (await import(pathToFileURL(join(distOf(build), 'bench', 'targets.js')).href)) as BuildTargets;
        // This build's probe (the bench's own tool), preloaded into every build under test alike.
        const probe = new URL('./stall-probe.js', import.meta.url).href;
        const spawnedAt = Date.now();
        const target = await mod.startTarget(targetOf(build), ctx, {
          cpus: '0',
          children,
          tempRoot: workDir,
          runtimeFlags: [...(mod.runtimeFlagsOf?.(targetOf(build)) ?? mod.NODE_RUNTIME_FLAGS), ...String(flags['node-flags'] ?? '').split(' ').filter(Boolean), '--import', probe],
        });
        try {
          const sample = await sampleCheck(target.grpcPort, body, codec);
          if (sample.verdict !== def.expected) throw new Error(`${build}: expected ${def.expected}, got ${sample.verdict}`);
          const h2 = (n: number, perClient: number | undefined): ReturnType<typeof runH2load> =>
            runH2load({ port: target.grpcPort, bodyFile, logFile, clients: perClient === undefined ? 8 : clients, streams: 32, requests: n, ...(perClient !== undefined ? { rpsPerClient: perClient } : {}), cpus: '1', timeoutMs: 300_000 }, children);
          // With IDGATE_BENCH_NODE_FLAGS=--trace-gc (idgate only), V8's lines from the warm-up on; phase starts are
          // printed in the same time base (ms since the target was spawned, which V8's lines count from, ± start-up).
          const majorLines: string[] = [];
          const stallLines: string[] = [];
          const off = target.onLine((line) => {
            if (line.includes('"bench-stalls"')) stallLines.push(line);
            else if (!line.startsWith('{') && majorLines.length < 20_000) majorLines.push(line.trim());
          });
          const phases: string[] = [];
          const mark = (label: string): void => {
            phases.push(`${label} @${Date.now() - spawnedAt} ms`);
          };
          mark('warm-up');
          await h2(5_000, undefined);
          // The order of run.js's phases, when asked: saturation, then a slower paced phase, then this one.
          if (saturationCalls > 0) {
            mark('saturation');
            await h2(saturationCalls, undefined);
          }
          if (flags['gc-after-saturation'] === true) {
            await new Promise((r) => setTimeout(r, 200));
            mark('forced GC');
            process.kill(target.pid, 'SIGWINCH');
          }
          if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
          if (preRate > 0) {
            await new Promise((r) => setTimeout(r, 500));
            mark(`${preRate}/s`);
            const preClients = Math.min(8, Math.max(1, Math.ceil(preRate / 500)));
            await runH2load({ port: target.grpcPort, bodyFile, logFile, clients: preClients, streams: 32, requests: preRate * preSeconds, rpsPerClient: preRate / preClients, cpus: '1', timeoutMs: 300_000 }, children);
          }
          await new Promise((r) => setTimeout(r, 500));
          // Start the probe's window with the phase.
          process.kill(target.pid, 'SIGUSR2');
          mark(`${rate}/s`);
          const before = sampleUsage(target.pid);
          // A forced full GC at a known moment of the window (`--gc-in-window-ms`, needs --expose-gc): what the
          // Checks after a major GC pay, in any build, without waiting for V8 to start one.
          const gcInWindowMs = flags['gc-in-window-ms'] !== undefined ? Number(flags['gc-in-window-ms']) : undefined;
          const gcTimer = gcInWindowMs !== undefined ? setTimeout(() => {
            mark('forced GC');
            process.kill(target.pid, 'SIGWINCH');
          }, gcInWindowMs) : undefined;
          await h2(rate * seconds, rate / clients);
          clearTimeout(gcTimer);
          const after = sampleUsage(target.pid);
          process.kill(target.pid, 'SIGUSR2');
          await new Promise((r) => setTimeout(r, 300));
          off();
          const last = stallLines[stallLines.length - 1];
          const probed = last !== undefined ? (JSON.parse(last) as { gcs: Gc[]; stalls: Stall[] }) : { gcs: [], stalls: [] };
          let cpuTicks = 0;
          for (const [pid, t] of after.cpuTicksByPid) cpuTicks += t - (before.cpuTicksByPid.get(pid) ?? 0);
          const calls = parseCalls(readFileSync(logFile, 'utf8'));
          process.stdout.write(`pair ${pair + 1} ${build}: ${rate}/s for ${seconds} s, CPU ${((cpuTicks / ticks) * 1000 / ((after.atMs - before.atMs) / 1000)).toFixed(0)} m, load ${(loadavg()[0] ?? 0).toFixed(2)}${probed === undefined ? ' (no probe output)' : ''}\n`);
          process.stdout.write(`${renderTailAnalysis(calls, probed.gcs, probed.stalls, slowMs, episodesShown)}\n`);
          process.stdout.write(`  phases: ${phases.join(', ')}, end @${Date.now() - spawnedAt} ms\n`);
          for (const line of majorLines) {
            if (line.includes('Mark-Compact')) process.stdout.write(`  ${line}\n`);
            // --trace-gc-nvp: a major GC's pause and its phases of ≥ 1 ms.
            else if (line.includes('gc=mc')) process.stdout.write(`  ${line.split(' ').filter((f) => /^(\d+|ms:|pause=|gc=)/.test(f) || Number(f.split('=')[1]) >= 1 && /^(clear|evacuate|mark|sweep|finish|incremental|compact)[.=a-z_]*=/.test(f)).join(' ')}\n`);
          }
          if (majorLines.length > 0 && process.env.IDGATE_BENCH_GC_LOG !== undefined) writeFileSync(`${process.env.IDGATE_BENCH_GC_LOG}-${pair + 1}-${targetOf(build)}.log`, `${majorLines.join('\n')}\n`);
        } finally {
          await target.stop();
        }
      }
    }
  } finally {
    await session.close();
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
}
