import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { createDiditSandbox } from '../src/sandbox/create-didit-sandbox.js';
import { BenchIssuer } from './bench-issuer.js';
import { classifyCheckResponse } from './check-sample.js';
import { buildCheckRequest, loadUpstreamCheckCodec } from './encode-check-request.js';
import { CHECK_PATH, type ChildRegistry } from './h2load.js';
import { summarizeLatencies, type LatencySummary } from './percentiles.js';
import { startRedis } from './redis-process.js';
import { idgateCli } from './targets.js';

/** The name `run.js --scenario` knows this scenario by. */
export const STEPUP_SLOW_DIDIT = 'stepup-slow-didit';

/** What the scenario measured. */
export interface StepUpSlowDiditResult {
  readonly subjects: number;
  readonly checks: number;
  readonly concurrency: number;
  readonly createDelayMs: number;
  readonly deadlineMs: number;
  /** Checks answered with a step-up (401 challenge) before the deadline. */
  readonly stepUpsInBudget: number;
  /** Everything else by kind: `deny:<code>`, `rpc:<status>`. */
  readonly other: Readonly<Record<string, number>>;
  readonly latencyMs: LatencySummary;
  readonly sessionsCreated: number;
  readonly passed: boolean;
}

const API_KEY = 'bench-slow-didit-api-key';
const SECRET = 'bench-slow-didit-webhook-secret-0123456789';
const WORKFLOW_ID = '11111111-2222-4333-8444-00000000be01';

/**
 * `stepup-slow-didit`: idgate (`authz` on Redis) in front of the Didit sandbox whose every session creation
 * takes 1 s, as the real Didit over the internet. `subjects` distinct new users each send `perSubject`
 * Checks at `concurrency` in flight, with the shipped Envoy ext_authz timeout (250 ms) as the gRPC deadline.
 * Passes when every Check is a step-up answered within the deadline and Didit got exactly one session per
 * subject once the background creations are done.
 */
export async function runStepUpSlowDidit(options: { quick: boolean; children?: ChildRegistry; log?: (line: string) => void }): Promise<StepUpSlowDiditResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const subjects = options.quick ? 40 : 200;
  const perSubject = 3;
  const concurrency = 16;
  const deadlineMs = 250;
  const createDelayMs = 1_000;
  const dir = mkdtempSync(join(tmpdir(), 'idgate-bench-slow-didit-'));
  const issuer = new BenchIssuer();
  const sandbox = createDiditSandbox({ logger: pino({ level: 'silent' }), apiKey: API_KEY, webhookSecret: SECRET, createDelayMs });
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let idgate: ChildProcess | undefined;
  const client: { c?: grpc.Client } = {};
  try {
    await issuer.listen();
    await sandbox.listen();
    redis = await startRedis({ ...(options.children ? { children: options.children } : {}), tempRoot: dir });
    const configPath = join(dir, 'idgate.yaml');
    writeFileSync(
      configPath,
      `server:
  grpc: { host: 127.0.0.1, port: 0 }
  httpAuthz: { enabled: false }
  public: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
issuers:
  - name: bench
    issuer: ${issuer.issuer}
    audiences: [${issuer.audience}]
    jwksUri: ${issuer.jwksUri}
    algorithms: [RS256, ES256]
workflows:
  kyc: { workflowId: ${WORKFLOW_ID} }
didit:
  mode: sandbox
  apiBaseUrl: ${sandbox.url}
  apiKey: ${API_KEY}
  webhookSecret: ${SECRET}
policy:
  routes:
    - id: orders
      match: { prefix: /api }
      require: { verification: [kyc] }
store:
  type: redis
  redis: { url: "${redis.url}" }
logging: { level: info }
`,
    );
    const cli = idgateCli(resolve(import.meta.dirname, '..'));
    idgate = spawn(process.execPath, [cli, 'authz', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    options.children?.add(idgate);
    const grpcPort = await new Promise<number>((res, rej) => {
      const t = setTimeout(() => rej(new Error('idgate did not report its gRPC port within 20 s')), 20_000);
      const onLine = (line: string): void => {
        try {
          const l = JSON.parse(line) as Record<string, unknown>;
          if (l.msg === 'listening' && l.role === 'grpc' && typeof l.port === 'number') {
            clearTimeout(t);
            res(l.port);
          }
        } catch {
          // not JSON
        }
      };
      createInterface({ input: idgate!.stdout! }).on('line', onLine);
      createInterface({ input: idgate!.stderr! }).on('line', onLine);
      idgate!.once('exit', (code) => rej(new Error(`idgate exited with ${code}`)));
    });

    const codec = loadUpstreamCheckCodec();
    client.c = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const call = (token: string, timeoutMs: number): Promise<{ kind: string; ms: number }> => {
      const message = codec.serializeRequest(buildCheckRequest({ token, path: '/api/orders' }));
      const started = performance.now();
      return new Promise((res) => {
        client.c!.makeUnaryRequest(
          CHECK_PATH,
          (b: Buffer) => b,
          (b: Buffer) => codec.deserializeResponse(b),
          message,
          new grpc.Metadata(),
          { deadline: Date.now() + timeoutMs },
          (err, value) => {
            const ms = performance.now() - started;
            if (err !== null || value === undefined) return res({ kind: `rpc:${grpc.status[err?.code ?? 2]}`, ms });
            const v = classifyCheckResponse(value);
            const code = /"code":"([a-z_]+)"/.exec(v.body ?? '')?.[1] ?? v.verdict;
            res({ kind: v.verdict === 'step_up' ? 'step_up' : `${v.verdict}:${code}`, ms });
          },
        );
      });
    };
    // Warm the channel and idgate's keys (Envoy keeps its connection open): a verified subject-less call.
    await call(await issuer.mint('ES256', { sub: 'warm-up' }), 5_000);

    const tokens = await Promise.all(Array.from({ length: subjects }, (_, i) => issuer.mint('ES256', { sub: `slow-${i}` })));
    const queue = tokens.flatMap((t) => Array.from({ length: perSubject }, () => t));
    const latencies: number[] = [];
    const kinds: Record<string, number> = {};
    let next = 0;
    log(`${STEPUP_SLOW_DIDIT}: ${queue.length} Checks of ${subjects} new subjects, ${concurrency} in flight, deadline ${deadlineMs} ms, Didit creation ${createDelayMs} ms`);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < queue.length) {
          const token = queue[next++] as string;
          const r = await call(token, deadlineMs);
          latencies.push(r.ms);
          kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
        }
      }),
    );
    // The creations run on in the background: wait for them (bounded) before counting sessions.
    const waitUntil = Date.now() + 30_000;
    const benchSessions = (): number => sandbox.sessions().filter((s) => s.vendorData?.startsWith('bench:slow-') === true).length;
    while (benchSessions() < subjects && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 100));
    const sessionsCreated = benchSessions();
    const stepUpsInBudget = kinds['step_up'] ?? 0;
    const other = Object.fromEntries(Object.entries(kinds).filter(([k]) => k !== 'step_up'));
    return {
      subjects,
      checks: queue.length,
      concurrency,
      createDelayMs,
      deadlineMs,
      stepUpsInBudget,
      other,
      latencyMs: summarizeLatencies(Float64Array.from(latencies).sort()),
      sessionsCreated,
      passed: stepUpsInBudget === queue.length && sessionsCreated === subjects,
    };
  } finally {
    client.c?.close();
    if (idgate !== undefined && idgate.exitCode === null) {
      idgate.kill('SIGTERM');
      await new Promise((r) => idgate!.once('exit', r));
    }
    await redis?.stop();
    await sandbox.close();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The report section of the scenario (markdown). */
export function renderStepUpSlowDidit(r: StepUpSlowDiditResult): string {
  const f = (ms: number): string => `${ms.toFixed(1)} ms`;
  return [
    `## ${STEPUP_SLOW_DIDIT}`,
    '',
    `Didit's session creation delayed ${r.createDelayMs} ms; ${r.checks} Checks of ${r.subjects} new subjects, ${r.concurrency} in flight, gRPC deadline ${r.deadlineMs} ms (the shipped Envoy timeout).`,
    '',
    '| Checks | step-ups in budget | other | p50 | p99 | max | Didit sessions / distinct subjects | verdict |',
    '|---|---|---|---|---|---|---|---|',
    `| ${r.checks} | ${r.stepUpsInBudget} | ${Object.keys(r.other).length === 0 ? '—' : JSON.stringify(r.other)} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p99)} | ${f(r.latencyMs.max)} | ${r.sessionsCreated} / ${r.subjects} | ${r.passed ? 'PASS' : 'FAIL'} |`,
    '',
  ].join('\n');
}

// `node dist/bench/stepup-slow-didit.js [--quick]` runs just this scenario.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  runStepUpSlowDidit({ quick: process.argv.includes('--quick') })
    .then((r) => {
      process.stdout.write(renderStepUpSlowDidit(r));
      process.exitCode = r.passed ? 0 : 1;
    })
    .catch((err: unknown) => {
      process.stderr.write(`${STEPUP_SLOW_DIDIT}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    });
}
