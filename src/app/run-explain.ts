import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { IdgateConfig } from '../config/types.js';
import { buildRequestContext, collectHeaders } from '../core/build-request-context.js';
import type { RequestContext } from '../core/request-context.js';
import type { AuthResult } from '../core/auth-result.js';
import { createAuthenticator } from '../identity/authenticator.js';
import { identityValue } from '../engine/create-engine.js';
import { compilePolicy } from '../policy/compile-policy.js';
import type { Outcome } from '../core/outcome.js';
import type { RiskAssessment, RiskSignalName } from '../core/risk-assessment.js';

/** The JSON request shape `idgate explain` reads (see examples/requests/). */
export interface ExplainRequest {
  method?: string;
  host?: string;
  /** The request target as the client sent it (path and query, not decoded). */
  path?: string;
  scheme?: string;
  headers?: Record<string, string>;
  sourceAddress?: string;
  /** The caller workload's SPIFFE ID, as Envoy would report it from mTLS (`source.principal`). */
  sourcePrincipal?: string;
  contextExtensions?: Record<string, string>;
}

export interface ExplainResult {
  readonly text: string;
  readonly json: unknown;
  /** 0 when evaluated (whatever the decision), 1 for an unusable request. */
  readonly exitCode: number;
}

/**
 * Evaluates one request offline against a config and explains the outcome step by step: route selection,
 * identity, every requirement, and what verification would be needed. A `token` is verified for real
 * (fetching the issuer's JWKS); `claims` instead simulates an already verified token (its `iss` must
 * name a configured issuer). `risk` (`{ "signals": ["new_device", …] }`, optionally with a `score`)
 * simulates a continuous-verification assessment: the score defaults to the configured weights' sum.
 * Verdicts in the store are not consulted: a `verify` outcome lists the
 * verifications the caller would need.
 */
export async function runExplain(
  deps: { logger: Logger },
  config: IdgateConfig,
  input: { request: unknown; token?: string; claims?: unknown; risk?: unknown },
): Promise<ExplainResult> {
  const evaluated = await explainRequest(deps, config, input);
  if (!evaluated.ok) {
    return { text: `request not usable: ${evaluated.error}\n`, json: { error: evaluated.error }, exitCode: 1 };
  }
  const { ctx, auth, outcome } = evaluated;
  return {
    text: renderExplainText(evaluated, config.headers.prefix),
    json: { request: { method: ctx.method, host: ctx.host, path: ctx.path, pathError: ctx.pathError }, identity: describeAuth(auth), outcome },
    exitCode: explainExitCode(outcome),
  };
}

/** One request evaluated the way `explain` does: the inputs the policy saw and its outcome. */
export type ExplainedRequest =
  | { readonly ok: false; readonly error: string }
  | {
    readonly ok: true;
    readonly ctx: RequestContext;
    readonly auth: AuthResult;
    readonly outcome: Outcome;
    /** What selected the route (e.g. `contextExtensions`), when one matched. */
    readonly by: string | undefined;
    readonly risk: RiskAssessment | undefined;
  };

/**
 * The evaluation behind `explain`, shared with `idgate policy test`: builds the `RequestContext` with the
 * front ends' builder and runs the compiled policy at `now` (default: the current time, so a suite can fix the clock).
 */
export async function explainRequest(
  deps: { logger: Logger },
  config: IdgateConfig,
  input: { request: unknown; token?: string; claims?: unknown; risk?: unknown; now?: number },
): Promise<ExplainedRequest> {
  const req = (typeof input.request === 'object' && input.request !== null ? input.request : {}) as ExplainRequest;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
  if (input.token) headers.authorization = `Bearer ${input.token}`;
  const now = input.now ?? Date.now();
  const collected = collectHeaders(headers, {});
  const mapped = typeof collected === 'string'
    ? { ok: false as const, error: collected }
    : buildRequestContext({
      method: req.method ?? 'GET',
      scheme: req.scheme ?? 'https',
      host: req.host ?? 'localhost',
      path: req.path ?? '/',
      headers: collected,
      sourceAddress: req.sourceAddress ?? '127.0.0.1',
      sourcePrincipal: typeof req.sourcePrincipal === 'string' ? req.sourcePrincipal : '',
      contextExtensions: req.contextExtensions ?? {},
      requestId: '',
      protocol: '',
      receivedAt: now,
    });
  if (!mapped.ok) return { ok: false, error: mapped.error };
  const ctx = mapped.value;
  const auth = await authenticate(deps.logger, config, ctx, input.claims, now);
  const policy = compilePolicy(config);
  const selection = policy.matchRoute(ctx);
  const risk = toRiskAssessment(input.risk, config);
  const outcome = policy.evaluate(ctx, auth, now, risk);
  return { ok: true, ctx, auth, outcome, by: selection?.by, risk };
}

/**
 * The documented exit code of `idgate explain`, so CI can gate on a decision: 0 allow (a shadow route's
 * would-be deny is allowed, so it is 0 too), 4 deny, 5 needs a verification (step-up).
 */
export function explainExitCode(outcome: Outcome): number {
  if (outcome.kind === 'allow' || outcome.shadow === true) return 0;
  return outcome.kind === 'deny' ? 4 : 5;
}

async function authenticate(
  logger: Logger,
  config: IdgateConfig,
  ctx: RequestContext,
  claims: unknown,
  now: number,
): Promise<AuthResult> {
  if (claims !== undefined) {
    const c = (typeof claims === 'object' && claims !== null ? claims : {}) as Record<string, unknown>;
    const issuer = config.issuers.find((i) => i.issuer === c.iss);
    const sub = issuer ? c[issuer.subjectClaim] : undefined;
    if (!issuer || typeof sub !== 'string') {
      return { kind: 'failed', code: 'token_invalid', message: 'simulated claims need an `iss` of a configured issuer and a subject' };
    }
    return {
      kind: 'verified',
      principal: {
        issuerName: issuer.name,
        issuer: issuer.issuer,
        sub,
        subject: `${issuer.name}:${sub}`,
        claims: c,
        ...(typeof c.exp === 'number' ? { expiresAt: c.exp } : {}),
        source: 'header',
        tokenId: createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16),
      },
    };
  }
  const authenticator = createAuthenticator({ logger }, { issuers: config.issuers });
  try {
    await authenticator.start();
    return await authenticator.authenticate(ctx, now);
  } finally {
    await authenticator.close();
  }
}

function describeAuth(auth: AuthResult): Record<string, unknown> {
  switch (auth.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'verified':
      return { kind: 'verified', subject: auth.principal.subject, issuer: auth.principal.issuerName };
    case 'failed':
      return { kind: 'failed', code: auth.code, message: auth.message };
    default: {
      const never: never = auth;
      return never;
    }
  }
}

/** The human explanation `explain` prints: request, identity, route, the trace and the decision. */
export function renderExplainText(evaluated: Extract<ExplainedRequest, { ok: true }>, headerPrefix: string): string {
  const { ctx, auth, outcome, by, risk } = evaluated;
  const lines: string[] = [];
  lines.push(`request   ${ctx.method} ${ctx.host}${ctx.path || ctx.rawPath}${ctx.pathError ? `  (path rejected: ${ctx.pathError})` : ''}`);
  const id = describeAuth(auth);
  lines.push(`identity  ${id.kind}${id.subject ? ` ${String(id.subject)}` : ''}${id.code ? ` (${String(id.code)}: ${String(id.message)})` : ''}`);
  lines.push(`route     ${outcome.routeId ?? '(none)'}${by ? ` — matched by ${by}` : ''}`);
  if (outcome.decidedBy !== undefined) {
    // The layer of an org-wide policy that decided (a guardrail, a tenant route…) and the revisions involved.
    const { layer, id, revision } = outcome.decidedBy;
    lines.push(`decided   ${layer === 'default' ? 'policy default' : `${layer} ${id}`}${revision.endsWith('@') ? '' : ` (${revision})`}`);
  }
  if (risk) lines.push(`risk      score ${risk.score}${risk.signals.length > 0 ? ` (${risk.signals.map((s) => s.name).join(', ')})` : ''} — simulated`);
  lines.push('');
  lines.push('trace');
  // Condition steps carry operator-chosen names (`condition:<name>`): widen the column to the longest.
  const width = Math.min(48, Math.max(22, ...outcome.trace.map((s) => s.step.length)));
  for (const step of outcome.trace) {
    const mark = step.result === 'pass' ? '✓' : step.result === 'fail' ? '✗' : step.result === 'skip' ? '-' : '·';
    lines.push(`  ${mark} ${step.step.padEnd(width)} ${step.detail}`);
  }
  lines.push('');
  switch (outcome.kind) {
    case 'allow':
      lines.push(`decision  ALLOW${outcome.shadow ? ' (shadow route)' : ''}`);
      // The identity headers the engine sets on an allow (engine/create-engine.ts allowFrom), then the route's claimHeaders.
      // `<prefix>verified` is added only for workflows with a stored verdict, which explain does not read.
      if (auth.kind === 'verified') {
        lines.push(`          upstream header ${headerPrefix}subject: ${identityValue(auth.principal.subject)}`);
        lines.push(`          upstream header ${headerPrefix}issuer: ${identityValue(auth.principal.issuerName)}`);
      }
      for (const [k, v] of Object.entries(outcome.headers)) lines.push(`          upstream header ${k}: ${v}`);
      break;
    case 'deny':
      lines.push(`decision  DENY ${outcome.status} ${outcome.code} — ${outcome.message}${outcome.shadow ? ' (shadow: would deny, allowed)' : ''}`);
      break;
    case 'verify':
      lines.push(`decision  NEEDS VERIFICATION: ${outcome.needs.map((n) => n.workflow).join(', ')}`);
      lines.push('          allowed once the caller has a fresh Approved verdict for each; otherwise step-up to Didit');
      break;
    default: {
      const never: never = outcome;
      return never;
    }
  }
  return `${lines.join('\n')}\n`;
}

const SIGNAL_NAMES = new Set(['new_device', 'country_change', 'impossible_travel', 'velocity', 'too_many_ips']);

/** A simulated risk assessment from `--risk`: the named signals with their configured weights (or a given score). */
function toRiskAssessment(input: unknown, config: IdgateConfig): RiskAssessment | undefined {
  if (input === undefined || typeof input !== 'object' || input === null) return undefined;
  const raw = input as { signals?: unknown; score?: unknown };
  const names = Array.isArray(raw.signals) ? raw.signals.filter((n): n is RiskSignalName => typeof n === 'string' && SIGNAL_NAMES.has(n)) : [];
  const signals = names.map((name) => ({ name, weight: config.risk.weights[name], detail: 'simulated by explain' }));
  const sum = signals.reduce((a, s) => a + s.weight, 0);
  const score = typeof raw.score === 'number' && Number.isFinite(raw.score) ? raw.score : Math.min(100, sum);
  return { score, signals };
}
