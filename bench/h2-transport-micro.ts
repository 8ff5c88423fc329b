/**
 * Bytes allocated and CPU per Check of the node:http2 Check transport, in-process: this build's
 * `H2CheckServer` with a decider that answers one fixed allow at once (so the engine's own work, which
 * `pipeline-micro.ts` measures, is left out; the CheckRequest is still decoded and mapped, and the allow comes
 * from the allow cache as in production) or the node:http2 floor (`--server h2floor`), driven over 127.0.0.1
 * by a node:http2 client in the same process.
 * The client's own allocation is in every figure, the same for every build, so an A/B between builds (copy
 * the compiled file into the base build's `bench/`, run each alternately) shows what the server side changed.
 *
 * `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 dist/bench/h2-transport-micro.js
 *   [--server idgate|h2floor] [--checks 2000] [--rounds 5] [--grpc-timeout 200m] [--in-flight 32]
 *   [--alloc-profile FILE.heapprofile [--survivors]]`
 *
 * `--grpc-timeout V` sends that header on every Check, as Envoy's ext_authz filter does; `--in-flight N` sends the
 * Checks N at a time (default 32; 1 = one Check per turn, as a paced load). `--alloc-profile FILE` adds one round
 * under V8's sampling heap profiler (garbage included) and prints where the bytes are allocated, per Check,
 * by function and by caller chain (`alloc-sampler.ts`), and writes the raw profile to FILE for DevTools; with
 * `--survivors`, only what outlived a minor GC (run it with the image's semi-space, not 128 MiB, to see promotion).
 *
 * Each round: a forced GC, then `--checks` Checks, `--in-flight` at a time on one connection; bytes = heap used after −
 * before, valid only when no GC ran in between (a round with a GC is reported and left out; the 128 MiB
 * semi-space makes that rare). CPU = the process's user + system time per Check (client included).
 */
import * as http2 from 'node:http2';
import { PerformanceObserver } from 'node:perf_hooks';
import pino from 'pino';
import type { AllowDecision } from '../src/core/decision.js';
import { newDecisionId } from '../src/engine/new-decision-id.js';
import { renderAllocationProfile, sampleAllocations, writeHeapProfile } from './alloc-sampler.js';
import { createH2CheckServer } from '../src/extauthz/h2-check-server.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { startH2FloorServer } from './h2-floor-server.js';
import { CHECK_PATH } from './h2load.js';
import { parseFlags } from './parse-flags.js';

const REQUEST_HEADERS = { ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' };

/** One Check over `session`: resolves when its stream has closed (reply and trailers read). */
function check(session: http2.ClientHttp2Session, framed: Buffer, headers: http2.OutgoingHttpHeaders): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    stream.on('data', () => undefined);
    stream.on('close', () => (stream.rstCode === 0 ? resolve() : reject(new Error(`stream reset ${stream.rstCode}`))));
    stream.on('error', reject);
    stream.end(framed);
  });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { server: 'string', checks: 'string', rounds: 'string', 'grpc-timeout': 'string', 'in-flight': 'string', 'alloc-profile': 'string', survivors: 'boolean' });
  // As Envoy's ext_authz filter: a `grpc-timeout` on every Check (default none, as h2load in the bench).
  const headers = flags['grpc-timeout'] !== undefined ? { ...REQUEST_HEADERS, 'grpc-timeout': String(flags['grpc-timeout']) } : REQUEST_HEADERS;
  const inFlight = Number(flags['in-flight'] ?? 32);
  const which = flags.server ?? 'idgate';
  const checks = Number(flags.checks ?? 2_000);
  const rounds = Number(flags.rounds ?? 5);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const logger = pino({ level: 'silent' });
  // What the engine answers a cached allow with, a fresh decision id each time as the engine gives one.
  const allow: Omit<AllowDecision, 'decisionId'> = { kind: 'allow', routeId: 'orders', subject: 'bench:alice', headers: { 'x-idgate-subject': 'alice' }, metadata: {} };
  const decider = { decide: (): AllowDecision => ({ ...allow, decisionId: newDecisionId() }) };
  const body = loadUpstreamCheckCodec().serializeRequest(buildCheckRequest({ token: 'aaa.bbb.ccc', path: '/api/orders?page=2' }));
  const framed = Buffer.alloc(5 + body.length);
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);

  let port: number;
  let close: () => Promise<unknown>;
  if (which === 'h2floor') {
    const floor = await startH2FloorServer({});
    port = floor.port;
    close = () => floor.close();
  } else {
    const server = createH2CheckServer({ decider, logger, renderOptions: {}, maxMessageBytes: 1024 * 1024, decisionTimeoutMs: 150 });
    port = await server.listen('127.0.0.1', 0);
    close = () => server.drain(1_000);
  }
  const session = http2.connect(`http://127.0.0.1:${port}`);
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const run = async (n: number): Promise<void> => {
    for (let done = 0; done < n; done += inFlight) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < Math.min(inFlight, n - done); i++) batch.push(check(session, framed, headers));
      await Promise.all(batch);
    }
  };
  await run(2_000);
  const bytes: number[] = [];
  const cpu: number[] = [];
  for (let round = 0; round < rounds; round++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const gcsBefore = gcs;
    const heapBefore = process.memoryUsage().heapUsed;
    const cpuBefore = process.cpuUsage();
    await run(checks);
    const used = process.cpuUsage(cpuBefore);
    const heapAfter = process.memoryUsage().heapUsed;
    // The observer's entries arrive after the GC; give them a turn.
    await new Promise((r) => setImmediate(r));
    cpu.push((used.user + used.system) / checks);
    if (gcs === gcsBefore) bytes.push((heapAfter - heapBefore) / checks);
    else process.stderr.write(`round ${round + 1}: ${gcs - gcsBefore} GC(s) in the round, bytes left out\n`);
  }
  observer.disconnect();
  const profileFile = flags['alloc-profile'];
  if (profileFile !== undefined) {
    const profile = await sampleAllocations(() => run(checks), 256, { survivorsOnly: flags.survivors === true });
    writeHeapProfile(profile, profileFile);
    process.stdout.write(renderAllocationProfile(profile, checks, { top: 30, stacks: true }));
  }
  session.close();
  await close();
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? Number.NaN;
  process.stdout.write(
    `${which}: bytes allocated per Check (client included) ${bytes.map((b) => b.toFixed(0)).join(', ')} (median ${median(bytes).toFixed(0)}); ` +
      `CPU µs per Check ${cpu.map((c) => c.toFixed(1)).join(', ')} (median ${median(cpu).toFixed(1)})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`h2-transport-micro: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
