/**
 * CPU per stage of idgate's own hot-path work, in-process, A/B between builds: decode, decode +
 * toRequestContext, engine decision (cached token, verdict in the memory store, metrics and decision-log
 * observer as the server wires them), render, render + encode, and `respond`: what the gRPC front ends
 * answer per Check (`CheckVerdicts.respondBytes`, each call with a decision of its own id, so an allow
 * cache is exercised as in the server). Each stage runs alone in its own loop of
 * `--iterations` calls (default 50,000) and is timed with `process.cpuUsage()`, so unlike pipeline-micro's
 * per-call `performance.now()` stamps the figure is not the sum of timer reads; rounds after the first
 * are printed (the first warms up).
 *
 * `node dist/bench/stage-cpu.js [--build dist/base/dist] [--iterations N] [--rounds 3] [--stage decode]
 * [--path allow|stepup]` (`--build`: a compiled `dist/` whose `src/` is measured, e.g. the base build kept in
 * `dist/base/dist`; default this build). Pin it (`taskset -c 0`) and alternate builds.
 *
 * `--path stepup` measures the `stepup` scenario's Check instead: the subject has no verdict and a pending
 * session, so every decision is a step-up, and a step-up is always logged — through the production logger
 * (`createLogger`: redaction, JWT scrubbing) into a discarding destination, so the decision log's cost is
 * in `decide`. Run under `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128`, each
 * stage also prints the bytes it allocates per call (used-heap growth over 5,000 calls after a full GC).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { BenchIssuer } from './bench-issuer.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { renderBenchConfig } from './idgate-config.js';
import { parseFlags } from './parse-flags.js';

type Modules = {
  parseConfig: typeof import('../src/config/parse-config.js').parseConfig;
  createEngine: typeof import('../src/engine/create-engine.js').createEngine;
  codec: typeof import('../src/extauthz/check-codec.js');
  toRequestContext: typeof import('../src/extauthz/to-request-context.js').toRequestContext;
  render: typeof import('../src/core/render-decision.js');
  createAuthenticator: typeof import('../src/identity/authenticator.js').createAuthenticator;
  compilePolicy: typeof import('../src/policy/compile-policy.js').compilePolicy;
  createMemoryStore: typeof import('../src/store/memory/create-memory-store.js').createMemoryStore;
  createVerificationGate: typeof import('../src/verification/create-verification-gate.js').createVerificationGate;
  createMetrics: typeof import('../src/observability/metrics.js').createMetrics;
  createDecisionLog: typeof import('../src/observability/decision-log.js').createDecisionLog;
  createDecisionObserver: typeof import('../src/observability/create-decision-observer.js').createDecisionObserver;
  createLogger: typeof import('../src/observability/create-logger.js').createLogger;
  CheckVerdicts: typeof import('../src/extauthz/check-verdicts.js').CheckVerdicts;
  newDecisionId: typeof import('../src/engine/new-decision-id.js').newDecisionId;
};

async function load(srcRoot: string): Promise<Modules> {
  const m = async <T>(path: string): Promise<T> => (await import(pathToFileURL(resolve(srcRoot, path)).href)) as T;
  return {
    parseConfig: (await m<typeof import('../src/config/parse-config.js')>('config/parse-config.js')).parseConfig,
    createEngine: (await m<typeof import('../src/engine/create-engine.js')>('engine/create-engine.js')).createEngine,
    codec: await m<typeof import('../src/extauthz/check-codec.js')>('extauthz/check-codec.js'),
    toRequestContext: (await m<typeof import('../src/extauthz/to-request-context.js')>('extauthz/to-request-context.js')).toRequestContext,
    render: await m<typeof import('../src/core/render-decision.js')>('core/render-decision.js'),
    createAuthenticator: (await m<typeof import('../src/identity/authenticator.js')>('identity/authenticator.js')).createAuthenticator,
    compilePolicy: (await m<typeof import('../src/policy/compile-policy.js')>('policy/compile-policy.js')).compilePolicy,
    createMemoryStore: (await m<typeof import('../src/store/memory/create-memory-store.js')>('store/memory/create-memory-store.js')).createMemoryStore,
    createVerificationGate: (await m<typeof import('../src/verification/create-verification-gate.js')>('verification/create-verification-gate.js')).createVerificationGate,
    createMetrics: (await m<typeof import('../src/observability/metrics.js')>('observability/metrics.js')).createMetrics,
    createDecisionLog: (await m<typeof import('../src/observability/decision-log.js')>('observability/decision-log.js')).createDecisionLog,
    createDecisionObserver: (await m<typeof import('../src/observability/create-decision-observer.js')>('observability/create-decision-observer.js')).createDecisionObserver,
    createLogger: (await m<typeof import('../src/observability/create-logger.js')>('observability/create-logger.js')).createLogger,
    CheckVerdicts: (await m<typeof import('../src/extauthz/check-verdicts.js')>('extauthz/check-verdicts.js')).CheckVerdicts,
    newDecisionId: (await m<typeof import('../src/engine/new-decision-id.js')>('engine/new-decision-id.js')).newDecisionId,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { build: 'string', iterations: 'string', rounds: 'string', stage: 'string', path: 'string' });
  const stepUp = flags.path === 'stepup';
  if (flags.path !== undefined && flags.path !== 'allow' && !stepUp) throw new TypeError(`--path must be allow or stepup, got ${flags.path}`);
  const build = flags.build ?? resolve(import.meta.dirname, '..');
  const iterations = Number(flags.iterations ?? 50_000);
  const rounds = Number(flags.rounds ?? 3);
  const M = await load(resolve(build, 'src'));
  const logger = pino({ level: 'silent' });
  const issuer = new BenchIssuer();
  await issuer.listen();
  try {
    const yaml = renderBenchConfig({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, localCacheTtlMs: 60_000, routes: 1, celConditions: false });
    const config = M.parseConfig(yaml, { sourceName: 'bench.yaml', env: {} });
    const authenticator = M.createAuthenticator({ logger }, { issuers: config.issuers });
    await authenticator.start();
    const store = M.createMemoryStore({ logger });
    const token = await issuer.mint('RS256', { sub: 'alice', scope: 'orders:read', roles: ['customer'] });
    const now = Date.now();
    if (stepUp) {
      // As the sandbox hands out its sessions: the hosted page's URL with the session id in the path.
      await store.putPending({ subject: 'bench:alice', workflow: 'kyc', sessionId: 'b7c1d2e3-0000-4000-8000-00000000beef', url: 'http://127.0.0.1:8099/session/b7c1d2e3-0000-4000-8000-00000000beef', createdAt: now }, 3_600_000);
    } else {
      await store.putVerdict({ subject: 'bench:alice', workflow: 'kyc', sessionId: 's', status: 'Approved', eventAt: now, decidedAt: now, facts: {} });
    }
    const gate = M.createVerificationGate(
      { store, didit: { createSession: () => Promise.reject(new Error('unused')) }, logger },
      { workflows: config.workflows, callbackUrl: 'http://127.0.0.1:8080/verification/callback', maxStepUps: 5 },
    );
    const policy = M.compilePolicy(config);
    // As the server wires it: metrics (default metrics off: no lag monitor in a CPU loop) and a decision
    // log that samples no allows, writing nowhere (through the production logger when step-ups are logged).
    const logLogger = stepUp
      ? M.createLogger({ level: 'info', destination: { write: () => undefined } })
      : pino({ level: 'info' }, { write: () => undefined });
    const decisionLog = M.createDecisionLog({ logger: logLogger, allowSampleRate: 0 });
    const observer = M.createDecisionObserver({ metrics: M.createMetrics(undefined, { defaultMetrics: false }), decisionLog: () => decisionLog }, 'grpc');
    const engine = M.createEngine({ authenticator, policy: () => policy, verification: gate, observer }, { headerPrefix: 'x-idgate-' });
    const renderOptions = M.render.compileRenderOptions({});
    const body = loadUpstreamCheckCodec().serializeRequest(buildCheckRequest({ token, path: '/api/orders?page=2' }));
    const mapped = M.toRequestContext(M.codec.decodeCheckRequest(body), Date.now());
    if (!mapped.ok) throw new Error(mapped.error);
    const ctx = mapped.value;
    const decided = engine.decide(ctx, Date.now() + 100);
    const decision = decided instanceof Promise ? await decided : decided;
    if (decision.kind !== (stepUp ? 'step_up' : 'allow')) throw new Error(`expected ${stepUp ? 'step_up' : 'allow'}, got ${decision.kind}`);
    const verdicts = new M.CheckVerdicts({}, logger);
    // The same decision with 1,024 different ids (as the engine hands them out), taken in turn.
    const decisions = Array.from({ length: 1024 }, () => ({ ...decision, decisionId: M.newDecisionId() }));
    let next = 0;
    const stages: Record<string, () => unknown> = {
      decode: () => M.codec.decodeCheckRequest(body),
      'decode+map': () => M.toRequestContext(M.codec.decodeCheckRequest(body), 1),
      decide: () => engine.decide(ctx, Date.now() + 100),
      render: () => M.render.renderDecision(decision, ctx, renderOptions),
      'render+encode': () => M.codec.encodeVerdictResponse(M.render.renderDecision(decision, ctx, renderOptions)),
      respond: () => verdicts.respondBytes(ctx, decisions[next++ & 1023]!),
    };
    const results = new Map<string, string[]>();
    let sink = 0;
    const gc = (globalThis as { gc?: () => void }).gc;
    const allocated = new Map<string, string>();
    for (let round = 0; round < rounds + 1; round++) {
      for (const [name, run] of Object.entries(stages)) {
        if (flags.stage !== undefined && flags.stage !== name) continue;
        const start = process.cpuUsage();
        for (let i = 0; i < iterations; i++) sink += run() === undefined ? 1 : 0;
        const used = process.cpuUsage(start);
        if (round > 0) results.set(name, [...(results.get(name) ?? []), ((used.user + used.system) / iterations).toFixed(2)]);
      }
    }
    if (gc !== undefined) {
      for (const [name, run] of Object.entries(stages)) {
        if (flags.stage !== undefined && flags.stage !== name) continue;
        gc();
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < 5_000; i++) sink += run() === undefined ? 1 : 0;
        allocated.set(name, ((process.memoryUsage().heapUsed - before) / 5_000).toFixed(0));
      }
    }
    process.stdout.write(`${build} (µs CPU per call, rounds): ${[...results].map(([name, v]) => `${name} ${v.join('/')}`).join('  ')}${sink > 0 ? ' !' : ''}\n`);
    if (gc !== undefined) process.stdout.write(`  bytes allocated per call: ${[...allocated].map(([name, b]) => `${name} ${b}`).join('  ')}\n`);
    await authenticator.close();
  } finally {
    await issuer.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
