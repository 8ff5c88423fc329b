import type { IdgateConfig, RouteConfig, WorkflowConfig } from '../config/types.js';
import type { RequestContext } from '../core/request-context.js';
import { unreachable } from '../core/unreachable.js';
import type { AuthResult } from '../core/auth-result.js';
import { createCidrSet } from '../net/create-cidr-set.js';
import type { RiskAssessment } from '../core/risk-assessment.js';
import { compileClaimPath } from './claim-path.js';
import { compileClaimHeaders, type ClaimHeaderMapper } from './claim-headers.js';
import { checkRequirements, type CheckSettings } from './check-requirements.js';
import { createCelCompiler, type CelCompiler } from '../cel/compile-cel.js';
import { compileContextHeaderGuard } from './context-header-guard.js';
import { compileContextStage, type CompiledContextStage, type StepUpRequest } from './compile-conditions.js';
import { mergeRequirements, type EffectiveRequirements } from './effective-requirements.js';
import { compileHostMatcher, type HostPredicate } from './host-matcher.js';
import type { Outcome, TraceStep, VerificationNeed } from '../core/outcome.js';
import { effectiveMethod } from './method-override.js';
import { compilePathMatcher, type PathPredicate, type RequestPath } from './path-matcher.js';
import { createRequestFacts } from './request-facts.js';
import { compilePrincipalMatcher, type PrincipalPredicate } from './principal-matcher.js';

/** Seconds a client is told to wait when the identity provider's keys cannot be fetched. */
const DEPENDENCY_RETRY_AFTER_S = 5;

/** A route with its matchers and effective requirements built once. */
export interface CompiledRoute {
  readonly config: RouteConfig;
  /** Route requirements merged with its sensitivity level. */
  readonly requirements: EffectiveRequirements;
  /**
   * True when the route's decision can depend on the risk score (risk bands, a `risk` test, or a CEL
   * expression reading `risk`); the engine may skip the risk stage for other routes.
   */
  readonly usesRisk: boolean;
}

/** Which route a request selects and why. */
export interface RouteSelection {
  readonly route: CompiledRoute;
  /** `contextExtensions`: selected by Envoy's per-route context; `request`: by host, path and method. */
  readonly by: 'contextExtensions' | 'request';
}

/**
 * The policy compiled for the request path: nothing here parses or merges configuration per request.
 * Pure and synchronous; safe to share between concurrent requests.
 */
export interface CompiledPolicy {
  readonly routes: readonly CompiledRoute[];
  /**
   * Selects the route for a request: first the routes whose `contextExtensions` all match (in file order,
   * their host/path/method conditions must hold too), then the other routes by host, path and method in
   * file order. A route with `principals` also needs the caller workload's SPIFFE ID in that list. Undefined when none matches.
   */
  matchRoute(ctx: RequestContext): RouteSelection | undefined;
  /**
   * True when the route this request selects uses the risk score ({@link CompiledRoute.usesRisk}); false
   * when no route matches. Costs one route selection.
   */
  needsRisk(ctx: RequestContext): boolean;
  /** False when `evaluate` denies the request before any route (see `PolicyEvaluator.admits`). */
  admits(ctx: RequestContext): boolean;
  /**
   * Decides what the policy alone can: `allow`, `deny` (with status, code and RFC 6750/9470 challenge) or
   * `verify` (identity and context hold; listed Didit verifications must also be satisfied).
   *
   * Deny codes: `path_invalid` (400), `request_invalid` (400: no method, or `;` path parameters the policy does
   * not accept), `method_override` (400: a method override header or `_method` parameter that
   * `policy.methodOverride` does not allow; with `honor` the override is the method every matcher and condition
   * sees), `no_route` (403, default deny), `country_denied`/`device_denied` (403, before any route: a trusted
   * context header that is not one well-formed value, see {@link compileContextHeaderGuard}), `route_denied`
   * (403), `claims_invalid` (403: a `claimHeaders` claim holds a lone surrogate or a control character),
   * `token_missing` (401), `token_invalid`/`token_expired`/`token_not_yet_valid` (401,
   * also an issuer this route does not accept), `dependency_unavailable` (503, Retry-After 5: identity
   * failures always fail closed), `claims_mismatch` (403: claims, scopes, roles), `mfa_required` (401),
   * `reauthentication_required` (401); from the route's conditions and risk bands (403): `network_denied`,
   * `country_denied`, `time_denied`, `device_denied`, `condition_denied` (also any condition that cannot be
   * evaluated), `risk_denied`, or the code the condition names.
   *
   * Order: route → identity and requirements → conditions in file order → risk bands (only when `risk`
   * is given) → verification needs (the route's own, merged with step-ups from conditions and bands; for
   * the same workflow the shorter max age wins). Conditions run on public routes too (after the optional
   * token); a step-up there needs a verified token (else 401 `token_missing`).
   *
   * Never throws; odd claim types are mismatches. The trace never contains token material, claim values,
   * addresses or header values.
   *
   * @param now epoch ms (for `maxTokenAge` and time windows).
   * @param risk the risk stage's assessment of this request, when it ran.
   */
  evaluate(ctx: RequestContext, auth: AuthResult, now: number, risk?: RiskAssessment): Outcome;
}

interface RouteRuntime extends CompiledRoute {
  readonly contextExtensions?: readonly (readonly [string, string])[];
  readonly host: HostPredicate;
  readonly path: PathPredicate;
  readonly methods?: ReadonlySet<string>;
  /** `match.principals`: the caller workload's SPIFFE ID must be listed. */
  readonly principal?: PrincipalPredicate;
  readonly headers: ClaimHeaderMapper;
  readonly context: CompiledContextStage;
  /** The route's own verification needs (no step-ups), built once: the common case needs no merging. */
  readonly staticNeeds: readonly VerificationNeed[];
  readonly staticNeedsDetail: string;
  /** Trace details of the route selection, built once. */
  readonly selectedDetail: { readonly request: string; readonly contextExtensions: string };
}

/**
 * Compiles a validated configuration's policy into matchers and effective requirements. Done once at load
 * and on every reload.
 *
 * @throws {TypeError} on an inconsistent configuration that `parseConfig()` would have rejected (unknown
 *   sensitivity level or workflow, `acrAtLeast` outside `acrOrder`).
 */
export function compilePolicy(config: IdgateConfig): CompiledPolicy {
  const { policy, workflows } = config;
  const methodOverride = policy.methodOverride;
  // Only a hand-built configuration has a `cel` test without its program: create the compiler on demand.
  let compiler: CelCompiler | undefined;
  const cel: CelCompiler = { compile: (expression) => (compiler ??= createCelCompiler()).compile(expression) };
  const factsFor = createRequestFacts({
    trustedProxies: createCidrSet(config.network.trustedProxies),
    ...(config.context.countryHeader !== undefined ? { countryHeader: config.context.countryHeader } : {}),
    secretHeaders: config.issuers.flatMap((i) => i.sources.flatMap((src) => (src.type === 'header' ? [src.name] : []))),
  });
  const contextHeaderFault = compileContextHeaderGuard(config);
  const settings: CheckSettings = {
    roleClaims: policy.roleClaims.map(compileClaimPath),
    acrOrder: policy.acrOrder,
    clockSkewMs: new Map(config.issuers.map((i) => [i.name, i.clockSkewMs])),
  };

  const routes: RouteRuntime[] = policy.routes.map((route) => {
    let level = undefined;
    if (route.sensitivity !== undefined) {
      level = Object.hasOwn(policy.sensitivity, route.sensitivity) ? policy.sensitivity[route.sensitivity] : undefined;
      if (level === undefined) throw new TypeError(`route ${route.id}: unknown sensitivity level ${route.sensitivity}`);
    }
    const requirements = mergeRequirements(route.require, route.action === 'require' ? level : undefined, policy.acrOrder);
    const stepUpWorkflows = [...route.conditions.map((c) => c.then), ...route.riskBands.map((b) => b.then)].flatMap((e) =>
      e.kind === 'step_up' ? [e.workflow] : [],
    );
    for (const w of [...requirements.verification, ...stepUpWorkflows]) {
      if (!Object.hasOwn(workflows, w)) throw new TypeError(`route ${route.id}: unknown workflow ${w}`);
    }
    const context = compileContextStage(route.id, route.conditions, route.riskBands, cel);
    const ext = route.match.contextExtensions;
    const ownMaxAges = new Map<string, number>();
    for (const workflow of requirements.verification) {
      const maxAgeMs = requirements.verificationMaxAgeMs ?? (workflows[workflow] as WorkflowConfig).maxAgeMs;
      ownMaxAges.set(workflow, Math.min(ownMaxAges.get(workflow) ?? Infinity, maxAgeMs));
    }
    const staticNeeds: VerificationNeed[] = [...ownMaxAges].map(([workflow, maxAgeMs]) => ({
      workflow,
      maxAgeMs,
      onInReview: requirements.onInReview,
      onDeclined: requirements.onDeclined,
    }));
    return {
      staticNeeds,
      staticNeedsDetail: `needs ${staticNeeds.map((n) => n.workflow).join(', ')}`,
      selectedDetail: {
        request: `route ${route.id} (${route.action}) selected by host/path/method${route.match.principals !== undefined ? '/principal' : ''}`,
        contextExtensions: `route ${route.id} (${route.action}) selected by contextExtensions`,
      },
      config: route,
      requirements,
      ...(ext !== undefined && Object.keys(ext).length > 0 ? { contextExtensions: Object.entries(ext) } : {}),
      host: compileHostMatcher(route.match.hosts),
      path: compilePathMatcher(route.match.paths, { caseSensitive: route.match.caseSensitive !== false }),
      ...(route.match.methods.length > 0 ? { methods: new Set(route.match.methods) } : {}),
      ...(route.match.principals !== undefined ? { principal: compilePrincipalMatcher(route.match.principals) } : {}),
      headers: compileClaimHeaders(route.claimHeaders),
      context,
      usesRisk: context.usesRisk,
    };
  });
  const byContext = routes.filter((r) => r.contextExtensions !== undefined);
  const byRequest = routes.filter((r) => r.contextExtensions === undefined);

  const matchesRequest = (r: RouteRuntime, ctx: RequestContext, path: RequestPath): boolean =>
    (r.methods === undefined || r.methods.has(ctx.method)) && r.host(ctx.host) && r.path(path) && (r.principal === undefined || r.principal(ctx.sourcePrincipal));

  const select = (ctx: RequestContext): (RouteSelection & { route: RouteRuntime }) | undefined => {
    const path: RequestPath = { path: ctx.path };
    for (const r of byContext) {
      if (r.contextExtensions?.every(([k, v]) => Object.hasOwn(ctx.contextExtensions, k) && ctx.contextExtensions[k] === v) && matchesRequest(r, ctx, path)) {
        return { route: r, by: 'contextExtensions' };
      }
    }
    for (const r of byRequest) if (matchesRequest(r, ctx, path)) return { route: r, by: 'request' };
    return undefined;
  };

  /** Identity failures of a route that needs a caller: 401 (or 503 when the issuer's keys are unavailable). */
  const denyIdentity = (auth: Exclude<AuthResult, { kind: 'verified' }>, routeId: string, shadow: boolean, trace: TraceStep[]): Outcome => {
    if (auth.kind === 'anonymous') {
      trace.push({ step: 'token', result: 'fail', detail: 'no token presented' });
      // RFC 6750 §3.1: no error code when the request carried no credentials at all.
      return { kind: 'deny', routeId, status: 401, code: 'token_missing', message: 'a bearer token is required', challenge: {}, shadow, trace };
    }
    trace.push({ step: 'token', result: 'fail', detail: `token rejected: ${auth.code}` });
    if (auth.code === 'dependency_unavailable') {
      return { kind: 'deny', routeId, status: 503, code: auth.code, message: auth.message, retryAfter: DEPENDENCY_RETRY_AFTER_S, shadow, trace };
    }
    return { kind: 'deny', routeId, status: 401, code: auth.code, message: auth.message, challenge: { error: 'invalid_token' }, shadow, trace };
  };

  /**
   * The steps after identity: conditions and risk bands, then the verification needs (the route's own
   * merged with step-ups), then the outcome.
   */
  const finish = (
    route: RouteRuntime,
    ctx: RequestContext,
    auth: AuthResult,
    now: number,
    risk: RiskAssessment | undefined,
    headers: Readonly<Record<string, string>> | undefined,
    shadow: boolean,
    trace: TraceStep[],
  ): Outcome => {
    const cfg = route.config;
    const routeId = cfg.id;
    if (headers === undefined) {
      // A mapped claim cannot be represented in a header (lone surrogate, control character).
      return { kind: 'deny', routeId, status: 403, code: 'claims_invalid', message: 'a claim of the token cannot be passed on', shadow, trace };
    }
    const req = route.requirements;
    let stepUps: readonly StepUpRequest[] = [];
    if (route.context.active) {
      const principal = auth.kind === 'verified' ? auth.principal : undefined;
      const result = route.context.evaluate(factsFor(ctx, principal, now, risk), trace);
      if (result.kind === 'deny') {
        return { kind: 'deny', routeId, status: 403, code: result.code, message: result.message, shadow, trace };
      }
      stepUps = result.stepUps;
    }
    if (req.verification.length === 0 && stepUps.length === 0) {
      return { kind: 'allow', routeId, headers, shadow, failOpen: cfg.failOpen, trace };
    }
    if (stepUps.length === 0 && auth.kind === 'verified') {
      // Hot path: only the route's own needs, precomputed at compile time.
      trace.push({ step: 'verification', result: 'info', detail: route.staticNeedsDetail });
      return { kind: 'verify', routeId, headers, needs: route.staticNeeds, shadow, failOpen: cfg.failOpen, trace };
    }
    const maxAges = new Map<string, number>();
    const want = (workflow: string, maxAgeMs: number): void => {
      const current = maxAges.get(workflow);
      maxAges.set(workflow, current === undefined ? maxAgeMs : Math.min(current, maxAgeMs));
    };
    const workflowMaxAge = (name: string): number => (workflows[name] as WorkflowConfig).maxAgeMs;
    for (const name of req.verification) want(name, req.verificationMaxAgeMs ?? workflowMaxAge(name));
    for (const s of stepUps) want(s.workflow, s.maxAgeMs ?? workflowMaxAge(s.workflow));
    if (auth.kind !== 'verified') {
      // Unreachable with a loaded configuration (a step-up needs an authenticated route); fail closed.
      return denyIdentity(auth, routeId, shadow, trace);
    }
    const needs: VerificationNeed[] = [...maxAges].map(([workflow, maxAgeMs]) => ({
      workflow,
      maxAgeMs,
      onInReview: req.onInReview,
      onDeclined: req.onDeclined,
    }));
    trace.push({ step: 'verification', result: 'info', detail: `needs ${needs.map((n) => n.workflow).join(', ')}` });
    return { kind: 'verify', routeId, headers, needs, shadow, failOpen: cfg.failOpen, trace };
  };

  /** The denials before any route, whatever the caller; see `admits` (the engine records no risk for them). */
  const refuseBeforeRoutes = (ctx: RequestContext, trace: TraceStep[]): Outcome | undefined => {
    if (ctx.pathError !== undefined) {
      trace.push({ step: 'path', result: 'fail', detail: 'the request path cannot be canonicalised safely' });
      return { kind: 'deny', status: 400, code: 'path_invalid', message: 'request path is not acceptable', shadow: policy.shadow, trace };
    }
    if (ctx.pathParameters === 'encoded' || (ctx.pathParameters === 'raw' && policy.pathParameters !== 'strip')) {
      // Servlet containers route `/admin;x/users` as `/admin/users`; refusing them (Spring Security's
      // StrictHttpFirewall does the same) leaves no spelling the policy and the upstream read differently.
      trace.push({ step: 'path', result: 'fail', detail: ctx.pathParameters === 'encoded' ? 'an encoded ";" is in the path' : 'the path carries ";" path parameters (policy.pathParameters: reject)' });
      return { kind: 'deny', status: 400, code: 'request_invalid', message: 'path parameters (";") are not accepted', shadow: policy.shadow, trace };
    }
    if (ctx.method === '') {
      trace.push({ step: 'request', result: 'fail', detail: 'the proxy sent no method' });
      return { kind: 'deny', status: 400, code: 'request_invalid', message: 'malformed request', shadow: policy.shadow, trace };
    }
    // Before any route: a trusted context header that is not one well-formed value fails closed everywhere.
    const fault = contextHeaderFault(ctx);
    if (fault !== undefined) {
      trace.push({ step: 'context', result: 'fail', detail: fault.message });
      return { kind: 'deny', status: 403, code: fault.code, message: fault.message, shadow: policy.shadow, trace };
    }
    return undefined;
  };

  const evaluate = (ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined): Outcome => {
    const trace: TraceStep[] = [];
    const refused = refuseBeforeRoutes(ctx, trace);
    if (refused !== undefined) return refused;
    const effective = effectiveMethod(ctx, methodOverride);
    if (!effective.ok) {
      trace.push({ step: 'request', result: 'fail', detail: effective.reason });
      return { kind: 'deny', status: 400, code: 'method_override', message: 'method override is not allowed', shadow: policy.shadow, trace };
    }
    if (effective.method !== ctx.method) {
      trace.push({ step: 'request', result: 'info', detail: `evaluated as ${effective.method} (method override honoured)` });
      return evaluateRoutes({ ...ctx, method: effective.method }, auth, now, risk, trace);
    }
    return evaluateRoutes(ctx, auth, now, risk, trace);
  };

  const evaluateRoutes = (ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined, trace: TraceStep[]): Outcome => {
    const selection = select(ctx);
    if (selection === undefined) {
      trace.push({ step: 'route', result: policy.default === 'allow' ? 'info' : 'fail', detail: `no route matched; policy default ${policy.default}` });
      return policy.default === 'allow'
        ? { kind: 'allow', headers: {}, shadow: policy.shadow, failOpen: false, trace }
        : { kind: 'deny', status: 403, code: 'no_route', message: 'no policy route matches this request', shadow: policy.shadow, trace };
    }
    const route = selection.route;
    const cfg = route.config;
    const routeId = cfg.id;
    const shadow = cfg.shadow || policy.shadow;
    trace.push({ step: 'route', result: 'info', detail: route.selectedDetail[selection.by] });

    switch (cfg.action) {
      case 'deny':
        return { kind: 'deny', routeId, status: 403, code: 'route_denied', message: 'access to this route is denied', shadow, trace };
      case 'public':
        return finish(route, ctx, auth, now, risk, anonymousHeaders(route, auth, trace), shadow, trace);
      case 'require':
        break;
      default:
        unreachable(cfg.action, 'route action');
    }

    const req = route.requirements;
    if (!req.authenticated) return finish(route, ctx, auth, now, risk, anonymousHeaders(route, auth, trace), shadow, trace);
    switch (auth.kind) {
      case 'anonymous':
      case 'failed':
        return denyIdentity(auth, routeId, shadow, trace);
      case 'verified':
        break;
      default:
        unreachable(auth, 'auth result');
    }
    const principal = auth.principal;
    trace.push({ step: 'token', result: 'pass', detail: `verified token from issuer ${principal.issuerName}` });
    const failure = checkRequirements(req, principal, settings, now, trace);
    if (failure !== undefined) {
      return {
        kind: 'deny',
        routeId,
        status: failure.status,
        code: failure.code,
        message: failure.message,
        ...(failure.challenge !== undefined ? { challenge: failure.challenge } : {}),
        shadow,
        trace,
      };
    }
    return finish(route, ctx, auth, now, risk, route.headers(principal.claims, trace), shadow, trace);
  };

  return {
    routes,
    matchRoute: (ctx) => {
      const s = select(ctx);
      return s === undefined ? undefined : { route: s.route, by: s.by };
    },
    needsRisk: (ctx) => {
      try {
        const effective = effectiveMethod(ctx, methodOverride);
        if (!effective.ok) return false;
        return select(effective.method === ctx.method ? ctx : { ...ctx, method: effective.method })?.route.usesRisk ?? false;
      } catch {
        // Unreachable; answering true keeps risk bands in force rather than silently skipping them.
        return true;
      }
    },
    admits: (ctx) => {
      try {
        return refuseBeforeRoutes(ctx, []) === undefined && effectiveMethod(ctx, methodOverride).ok;
      } catch {
        // Unreachable; evaluate() fails closed on the same fault, so recording nothing is right.
        return false;
      }
    },
    evaluate: (ctx, auth, now, risk) => {
      try {
        return evaluate(ctx, auth, now, risk);
      } catch {
        // Unreachable with plain-data inputs; kept so that a programming error still fails closed.
        return { kind: 'deny', status: 503, code: 'internal_error', message: 'internal error', shadow: false, trace: [] };
      }
    },
  };
}

/**
 * Public routes (and require routes with `authenticated: false`) admit every caller; when the caller did
 * present a valid token, its claim headers are passed on (the engine adds the subject/issuer headers).
 */
function anonymousHeaders(route: RouteRuntime, auth: AuthResult, trace: TraceStep[]): Readonly<Record<string, string>> | undefined {
  if (auth.kind !== 'verified') return {};
  trace.push({ step: 'token', result: 'info', detail: `verified token from issuer ${auth.principal.issuerName} (not required)` });
  return route.headers(auth.principal.claims, trace);
}
