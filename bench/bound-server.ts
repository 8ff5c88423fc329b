import { hash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import { loadConfig } from '../src/config/load-config.js';
import type { AllowDecision, Decision } from '../src/core/decision.js';
import type { Principal } from '../src/core/principal.js';
import { EMPTY_REQUEST_CONTEXT, type RequestContext } from '../src/core/request-context.js';
import { compileRenderOptions, renderDecision } from '../src/core/render-decision.js';
import type { PolicyEvaluator } from '../src/core/stages.js';
import { identityValue } from '../src/engine/create-engine.js';
import { newDecisionId } from '../src/engine/new-decision-id.js';
import { decodeCheckRequest, encodeVerdictResponse } from '../src/extauthz/check-codec.js';
import type { CheckRequestMessage } from '../src/extauthz/check-wire-types.js';
import { authorizationService } from '../src/extauthz/grpc-service-definitions.js';
import { toRequestContext } from '../src/extauthz/to-request-context.js';
import { createMetrics, type IdgateMetrics } from '../src/observability/metrics.js';
import { compilePolicy } from '../src/policy/compile-policy.js';
import { grpcTraceContext } from '../src/extauthz/grpc-trace-context.js';
import { BENCH_SERVER_OPTIONS, isMainModule, listenBenchServer, runBenchServerMain, type BenchGrpcServer } from './bench-grpc-server.js';
import { BENCH_ISSUER_NAME, BENCH_WORKFLOW } from './idgate-config.js';

/**
 * The stages of idgate's cached allow that can be added to the bound one at a time (bench/README.md,
 * "Hot path: the lower bound (fifth round)"), each with idgate's own code:
 * - `ctx`: the request context (`toRequestContext`: header map, canonical path, limits);
 * - `trace`: the grpc-js metadata reads for trace context and the call deadline;
 * - `policy`: the bench policy compiled from idgate's config, evaluated for the cached principal (needs `ctx`);
 * - `id`: a fresh decision id per Check, which makes the answer per-Check: rendered and encoded each time;
 * - `metrics`: idgate's metrics (prom-client registry with default metrics) — the Check counter/histogram
 *   and the token and verdict cache counters, timed with `performance.now()` as the engine does.
 */
export const BOUND_STAGES = ['ctx', 'trace', 'policy', 'id', 'metrics'] as const;
export type BoundStage = (typeof BOUND_STAGES)[number];

/** A running lower-bound Check server. */
export type BoundServer = BenchGrpcServer;

/** What the bound keeps per token: the cached principal and idgate's allow for it, rendered and encoded once. */
interface CachedAllow {
  readonly principal: Principal;
  readonly decision: AllowDecision;
  readonly bytes: Buffer;
}

/** The bench policy's only route; the bound answers every Check as idgate answers the `hot` scenario's. */
const BENCH_ROUTE = 'orders';
/** Stands in for the decision id in the once-built answer, so its bytes are as long as idgate's. */
const FIXED_DECISION_ID = '00000000-0000-4000-8000-000000000000';
const BEARER = /^Bearer +(\S+)$/i;

/** The bearer token of a decoded CheckRequest (`header_map` as Envoy sends it, else the `headers` map). */
function bearerToken(message: CheckRequestMessage): string | undefined {
  const http = message.attributes?.request?.http;
  let value: string | undefined;
  for (const h of http?.header_map?.headers ?? []) {
    if (h.key === 'authorization') {
      value = h.raw_value != null ? Buffer.from(h.raw_value).toString('utf8') : (h.value ?? undefined);
      break;
    }
  }
  value ??= http?.headers?.['authorization'];
  return value === undefined ? undefined : BEARER.exec(value)?.[1];
}

/**
 * The principal idgate would cache for `token`, read from the payload without verifying it: the bound
 * measures a cached allow, whose verification happened once, before the measurement.
 */
function principalOf(token: string): Principal | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || typeof claims['sub'] !== 'string' || typeof claims['iss'] !== 'string') return undefined;
  return {
    issuerName: BENCH_ISSUER_NAME,
    issuer: claims['iss'],
    sub: claims['sub'],
    subject: `${BENCH_ISSUER_NAME}:${claims['sub']}`,
    claims,
    ...(typeof claims['exp'] === 'number' ? { expiresAt: claims['exp'] } : {}),
    source: 'header',
    tokenId: hash('sha256', token.slice(0, token.lastIndexOf('.')), 'hex').slice(0, 16),
  };
}

/** The allow idgate's engine builds for `principal` on the bench route with the `kyc` verification satisfied. */
function allowFor(principal: Principal, decisionId: string): AllowDecision {
  const subject = identityValue(principal.subject);
  const issuer = identityValue(principal.issuerName);
  return {
    kind: 'allow',
    headers: { 'x-idgate-subject': subject, 'x-idgate-issuer': issuer, 'x-idgate-verified': BENCH_WORKFLOW },
    metadata: { route: BENCH_ROUTE, subject, issuer, verified: BENCH_WORKFLOW },
    routeId: BENCH_ROUTE,
    subject: principal.subject,
    decisionId,
  };
}

/** Why the bound refused a Check (bench-only: the server answers it with this gRPC status, never an allow). */
export interface BoundRefusal {
  readonly code: grpc.status;
  readonly details: string;
}

/** What the bound reads of the gRPC call besides the message (the `trace` stage). */
export interface BoundCall {
  readonly metadata: grpc.Metadata;
  getDeadline(): grpc.Deadline;
}

/** One Check of the bound: the decoded CheckRequest in, the CheckResponse bytes (or a refusal) out. */
export type BoundCheck = (message: CheckRequestMessage, call: BoundCall) => Buffer | BoundRefusal;

/**
 * The bound's per-Check work with `stages` added (see {@link startBoundServer}); the same function the
 * server calls and `bound-micro.js` times in-process.
 * @throws Error when `policy` is asked for without a config file.
 */
export async function createBoundCheck(options: { stages?: readonly BoundStage[]; configFile?: string }): Promise<BoundCheck> {
  const stages = new Set(options.stages ?? []);
  const render = compileRenderOptions({});
  const configPrefix = `${hash('sha256', 'bench-bound', 'hex').slice(0, 16)}|`;
  const cache = new LRUCache<string, CachedAllow>({ max: 10_000 });
  let policy: PolicyEvaluator | undefined;
  if (stages.has('policy')) {
    if (options.configFile === undefined) throw new Error('the policy stage needs --config');
    policy = compilePolicy(await loadConfig(options.configFile, { env: process.env }));
  }
  const metrics: IdgateMetrics | undefined = stages.has('metrics') ? createMetrics() : undefined;
  const withCtx = stages.has('ctx') || policy !== undefined;
  const withTrace = stages.has('trace');
  const withId = stages.has('id');

  return (message, call) => {
    const started = metrics !== undefined ? performance.now() : 0;
    const now = Date.now();
    const token = bearerToken(message);
    if (token === undefined) return { code: grpc.status.UNAUTHENTICATED, details: 'no bearer token' };
    const key = `${configPrefix}${hash('sha256', token, 'hex')}|header:authorization`;
    let cached = cache.get(key);
    if (cached === undefined) {
      const principal = principalOf(token);
      if (principal === undefined) return { code: grpc.status.UNAUTHENTICATED, details: 'unreadable token' };
      const decision = allowFor(principal, FIXED_DECISION_ID);
      cached = { principal, decision, bytes: encodeVerdictResponse(renderDecision(decision, EMPTY_REQUEST_CONTEXT, render)) };
      cache.set(key, cached);
    }
    metrics?.recordTokenCache('hit');
    let ctx: RequestContext = EMPTY_REQUEST_CONTEXT;
    if (withCtx) {
      const parsed = toRequestContext(message, now, {});
      if (!parsed.ok) return { code: grpc.status.INVALID_ARGUMENT, details: parsed.error };
      ctx = parsed.value;
    }
    if (withTrace) {
      // As ExtAuthzServer.check: the deadline, and the proxy's trace context from the call's metadata.
      const deadline = call.getDeadline();
      const traceContext = grpcTraceContext(call.metadata);
      if (traceContext !== undefined || deadline === undefined) ctx = { ...ctx, ...(traceContext !== undefined ? { traceContext } : {}) };
    }
    if (policy !== undefined) {
      const outcome = policy.evaluate(ctx, { kind: 'verified', principal: cached.principal }, now);
      if (outcome.kind !== 'verify') return { code: grpc.status.FAILED_PRECONDITION, details: `policy answered ${outcome.kind}` };
    }
    metrics?.recordVerdictCache('hit');
    let bytes = cached.bytes;
    if (withId) {
      const decision: Decision = { ...cached.decision, decisionId: newDecisionId() };
      bytes = encodeVerdictResponse(renderDecision(decision, ctx, render));
    }
    metrics?.recordCheck('allow', undefined, BENCH_ROUTE, 'grpc', (performance.now() - started) / 1000);
    return bytes;
  };
}

/**
 * Starts the **lower bound** of a cached allow (issue 15 §2): the transport floor's grpc-js server and
 * options, doing only what any identity gate must do for a Check whose token and verdict are cached —
 * decode the CheckRequest with idgate's codec (every header), hash the bearer token (sha256, as identity/
 * keys its cache) and look it up in an LRU, and send the allow idgate sends for that token (identity
 * headers, headers-to-remove and metadata, rendered and encoded by idgate's code once per token). The
 * bench sends only valid tokens on the bench route, so anything else is an RPC error here (bench-only:
 * idgate would deny with a verdict). `stages` adds idgate's further per-Check work one item at a time
 * ({@link BOUND_STAGES}).
 * @throws Error when the address cannot be bound, or `policy` is asked for without a config file.
 */
export async function startBoundServer(options: { host?: string; port?: number; stages?: readonly BoundStage[]; configFile?: string }): Promise<BoundServer> {
  const check = await createBoundCheck(options);
  const server = new grpc.Server({ ...BENCH_SERVER_OPTIONS });
  // idgate's own service definition and request codec; the answer is already bytes.
  const definition = authorizationService((bytes) => decodeCheckRequest(bytes), (bytes: Buffer) => bytes);
  server.addService(definition, {
    Check: (call: grpc.ServerUnaryCall<CheckRequestMessage, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const answer = check(call.request, call);
      if (Buffer.isBuffer(answer)) callback(null, answer);
      else callback(answer);
    },
  });
  return listenBenchServer(server, options);
}

/**
 * `--stages a,b` as {@link BoundStage}s (empty = the bare bound).
 * @throws TypeError naming an unknown stage.
 */
export function parseBoundStages(list: string | undefined): BoundStage[] {
  const names = (list ?? '').split(',').filter(Boolean);
  for (const name of names) {
    if (!(BOUND_STAGES as readonly string[]).includes(name)) throw new TypeError(`unknown bound stage ${name} (known: ${BOUND_STAGES.join(', ')})`);
  }
  return names as BoundStage[];
}

if (isMainModule(import.meta.url)) {
  runBenchServerMain('bound-server', (options) =>
    startBoundServer({ ...options, stages: parseBoundStages(options.stages), ...(options.config !== undefined ? { configFile: options.config } : {}) }),
  );
}
