import type { GuardrailConfig, IdgateConfig, Requirements, RouteConfig, TenantConfig, WorkflowConfig } from '../config/types.js';
import { NO_REQUIREMENTS } from '../config/config-schema.js';
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
import { mergeAllRequirements, type EffectiveRequirements } from './effective-requirements.js';
import type { DecidedBy, Outcome, TraceStep, VerificationNeed } from '../core/outcome.js';
import { effectiveMethod } from './method-override.js';
import type { RequestPath } from './path-matcher.js';
import { createRequestFacts } from './request-facts.js';
import { compileRequestMatchers, matchesRequest, type RequestMatchers } from './request-match.js';
import { compileOwnership } from './compile-ownership.js';
import { describeRequirementSources, type RequirementSource } from './requirement-sources.js';

/** Seconds a client is told to wait when the identity provider's keys cannot be fetched. */
const DEPENDENCY_RETRY_AFTER_S = 5;
/** Seconds a client is told to wait when its tenant's policy failed to load. */
const POLICY_RETRY_AFTER_S = 5;
/**
 * Most merged plans (route × set of matching guardrails) kept: each is built on first use; beyond this,
 * plans are built per request (correct, slower) so that a request mix cannot grow memory without bound.
 */
const MAX_CACHED_PLANS = 4096;
/** Up to this many guardrails, the set matching a request is a number bitmask; beyond, a string key. */
const MAX_MASK_GUARDRAILS = 30;
/** Issuer names whose token pass step is kept (a config has a handful). */
const MAX_CACHED_ISSUER_STEPS = 256;

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
   * Org-wide policies (`policy.guardrails`, `policy.tenants`, `policy.defaults`): the request's owning
   * tenant (by host and path prefix) selects among its routes, then `policy.defaults.routes`, then
   * `policy.default`; an unowned request among `policy.routes`. Every matching guardrail then applies: an
   * `action: deny` guardrail denies (`route_denied`); its requirements are merged into the selected route's
   * (stricter wins, a public route then needs a token); its conditions and risk bands run, each guardrail's
   * on its own and before the route's. A tenant whose files failed with no previous good version denies
   * what it owns with 503 `policy_unavailable`. Every outcome names the layer and rule in `decidedBy`.
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


/** What evaluation needs after route selection: the route's own, or merged with matching guardrails. */
interface Plan {
  readonly requirements: EffectiveRequirements;
  /** The verification needs of `requirements` (no step-ups), built once. */
  readonly staticNeeds: readonly VerificationNeed[];
  /** The `verification` trace step of `staticNeeds`, built once. */
  readonly staticNeedsStep: TraceStep;
  /** Matching guardrails, in file order; empty on a policy without guardrails. */
  readonly guards: readonly GuardrailRuntime[];
  /** A guardrail adds a verification need: the route's `shadow`/`failOpen` cannot waive a platform floor. */
  readonly guardNeeds: boolean;
  /** `requirement` trace steps naming who set each requirement (org-wide policies only). */
  readonly sources: readonly TraceStep[];
}

interface RouteRuntime extends CompiledRoute, Plan, RequestMatchers {
  readonly contextExtensions?: readonly (readonly [string, string])[];
  readonly headers: ClaimHeaderMapper;
  readonly context: CompiledContextStage;
  /** Trace steps of the route selection, built once. */
  readonly selectedStep: { readonly request: TraceStep; readonly contextExtensions: TraceStep };
  /** The route's two selections (`selectIn`'s answers), built once: no object per Check. */
  readonly selected: { readonly request: RuntimeSelection; readonly contextExtensions: RuntimeSelection };
  /** The requirement sets merged into `requirements` (the route's and its level's), for guardrail merges. */
  readonly inputs: readonly RequirementSource[];
  readonly decidedBy: DecidedBy;
  /** Merged plans by set of matching guardrails, built on first use. */
  readonly plans: Map<number | string, Plan>;
}

interface GuardrailRuntime extends RequestMatchers {
  readonly config: GuardrailConfig;
  /** Its bit in the matching-set bitmask (or its index, beyond {@link MAX_MASK_GUARDRAILS}). */
  readonly bit: number;
  readonly index: number;
  readonly inputs: readonly RequirementSource[];
  /** Its own floor merged alone: to tell which layer a failed requirement came from. */
  readonly requirements: EffectiveRequirements;
  readonly context: CompiledContextStage;
  readonly decidedBy: DecidedBy;
}

interface TenantRuntime {
  readonly config: TenantConfig;
  readonly byContext: readonly RouteRuntime[];
  readonly byRequest: readonly RouteRuntime[];
  /** `policy_unavailable` for everything the tenant owns. */
  readonly ownerBy: DecidedBy;
  /** `policy.default` deciding for a request the tenant owns. */
  readonly defaultBy: DecidedBy;
  /** Revision string of decisions this tenant's ownership took part in. */
  readonly revision: string;
  readonly defaultsBy: Map<RouteRuntime, DecidedBy>;
}

type Selection = RouteSelection & { readonly route: RouteRuntime; readonly decidedBy: DecidedBy };
type RuntimeSelection = RouteSelection & { readonly route: RouteRuntime };

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
  const guardrailConfigs = policy.guardrails;
  const tenantConfigs = policy.tenants;
  const defaultsConfigs = policy.defaults.routes;
  /** A policy with any org-wide part; without, evaluation takes exactly the single-file path. */
  const org = guardrailConfigs.length > 0 || tenantConfigs.length > 0 || defaultsConfigs.length > 0;
  const platformRevision = `platform@${policy.revision}`;
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
  const workflowMaxAge = (name: string): number => (workflows[name] as WorkflowConfig).maxAgeMs;

  const levelOf = (owner: string, name: string | undefined): Requirements | undefined => {
    if (name === undefined) return undefined;
    const level = Object.hasOwn(policy.sensitivity, name) ? policy.sensitivity[name] : undefined;
    if (level === undefined) throw new TypeError(`${owner}: unknown sensitivity level ${name}`);
    return level;
  };
  const checkWorkflows = (owner: string, requirements: EffectiveRequirements, conditions: RouteConfig['conditions'], bands: RouteConfig['riskBands']): void => {
    const stepUpWorkflows = [...conditions.map((c) => c.then), ...bands.map((b) => b.then)].flatMap((e) => (e.kind === 'step_up' ? [e.workflow] : []));
    for (const w of [...requirements.verification, ...stepUpWorkflows]) {
      if (!Object.hasOwn(workflows, w)) throw new TypeError(`${owner}: unknown workflow ${w}`);
    }
  };
  const needsOf = (requirements: EffectiveRequirements): VerificationNeed[] => {
    const maxAges = new Map<string, number>();
    for (const workflow of requirements.verification) {
      const maxAgeMs = requirements.verificationMaxAgeMs ?? workflowMaxAge(workflow);
      maxAges.set(workflow, Math.min(maxAges.get(workflow) ?? Infinity, maxAgeMs));
    }
    return [...maxAges].map(([workflow, maxAgeMs]) => ({ workflow, maxAgeMs, onInReview: requirements.onInReview, onDeclined: requirements.onDeclined }));
  };
  /**
   * The needs of merged layers: a workflow's max age is the shortest any layer requiring it allows (its
   * `verificationMaxAge`, else the workflow's), capped by every layer's `verificationMaxAge`. Unlike a
   * route's own override, another layer's override can only shorten a max age, never lengthen it.
   */
  const mergedNeeds = (inputs: readonly Requirements[], merged: EffectiveRequirements): VerificationNeed[] => {
    const cap = Math.min(...inputs.map((r) => r.verificationMaxAgeMs ?? Infinity));
    return merged.verification.map((workflow) => ({
      workflow,
      maxAgeMs: Math.min(cap, ...inputs.filter((r) => r.verification.includes(workflow)).map((r) => r.verificationMaxAgeMs ?? workflowMaxAge(workflow))),
      onInReview: merged.onInReview,
      onDeclined: merged.onDeclined,
    }));
  };
  /**
   * `verified token from issuer <name>`, built once per issuer name: the pass step of every authenticated
   * Check. Names come from the issuer config; the bound only guards against an unexpected caller.
   */
  const tokenPassSteps = new Map<string, TraceStep>();
  const tokenPassStep = (issuerName: string): TraceStep => {
    let step = tokenPassSteps.get(issuerName);
    if (step === undefined) {
      step = Object.freeze<TraceStep>({ step: 'token', result: 'pass', detail: `verified token from issuer ${issuerName}` });
      if (tokenPassSteps.size < MAX_CACHED_ISSUER_STEPS) tokenPassSteps.set(issuerName, step);
    }
    return step;
  };
  const sourceSteps = (inputs: readonly RequirementSource[]): TraceStep[] =>
    describeRequirementSources(inputs, workflowMaxAge).map((detail) => ({ step: 'requirement', result: 'info', detail }));

  const compileRoute = (route: RouteConfig, layer: DecidedBy['layer'], revision: string): RouteRuntime => {
    const label = layer === 'tenant' ? `tenant route ${route.id}` : layer === 'defaults' ? `defaults route ${route.id}` : layer === 'default' ? 'default' : `platform route ${route.id}`;
    const level = levelOf(`route ${route.id}`, route.sensitivity);
    const inputs: RequirementSource[] = [{ requirements: route.require, label }];
    if (route.action === 'require' && level !== undefined) inputs.push({ requirements: level, label: `sensitivity ${route.sensitivity ?? ''} (${label})` });
    const requirements = mergeAllRequirements(inputs.map((i) => i.requirements), policy.acrOrder);
    checkWorkflows(`route ${route.id}`, requirements, route.conditions, route.riskBands);
    const context = compileContextStage(route.id, route.conditions, route.riskBands, cel);
    const ext = route.match.contextExtensions;
    const staticNeeds = needsOf(requirements);
    const selected = {} as { request: RuntimeSelection; contextExtensions: RuntimeSelection };
    const runtime: RouteRuntime = {
      staticNeeds,
      staticNeedsStep: needsStep(staticNeeds),
      guards: [],
      guardNeeds: false,
      sources: org && route.action === 'require' ? sourceSteps(inputs) : [],
      selectedStep: {
        request: infoStep('route', `route ${route.id} (${route.action}) selected by host/path/method${route.match.principals !== undefined ? '/principal' : ''}`),
        contextExtensions: infoStep('route', `route ${route.id} (${route.action}) selected by contextExtensions`),
      },
      config: route,
      requirements,
      ...(ext !== undefined && Object.keys(ext).length > 0 ? { contextExtensions: Object.entries(ext) } : {}),
      ...compileRequestMatchers(route.match),
      headers: compileClaimHeaders(route.claimHeaders),
      context,
      usesRisk: context.usesRisk,
      // Only a `require` route's own requirements apply; a public route merged with a floor needs just the
      // floor, but keeps its In Review/Declined handling for its own step-ups.
      inputs: (route.action === 'require' ? inputs : [{ requirements: { ...NO_REQUIREMENTS, onInReview: requirements.onInReview, onDeclined: requirements.onDeclined }, label }]).map(
        (i) => ({ ...i, requirements: verdictNeutral(i.requirements, requirements.verification.length > 0 || stepsUp(route)) }),
      ),
      decidedBy: { layer, id: layer === 'default' ? 'default' : route.id, revision },
      plans: new Map(),
      selected,
    };
    selected.request = Object.freeze({ route: runtime, by: 'request' });
    selected.contextExtensions = Object.freeze({ route: runtime, by: 'contextExtensions' });
    return runtime;
  };

  const routes: RouteRuntime[] = policy.routes.map((route) => compileRoute(route, 'platform', platformRevision));
  const byContext = routes.filter((r) => r.contextExtensions !== undefined);
  const byRequest = routes.filter((r) => r.contextExtensions === undefined);

  const guardrails: GuardrailRuntime[] = guardrailConfigs.map((g, index) => {
    const label = `guardrail ${g.id}`;
    const level = levelOf(label, g.sensitivity);
    const verifies = g.require.verification.length > 0 || (level?.verification.length ?? 0) > 0 || stepsUp(g);
    const inputs: RequirementSource[] = [{ requirements: verdictNeutral(g.require, verifies), label }];
    if (level !== undefined) inputs.push({ requirements: verdictNeutral(level, verifies), label: `sensitivity ${g.sensitivity ?? ''} (${label})` });
    const requirements = mergeAllRequirements(inputs.map((i) => i.requirements), policy.acrOrder);
    checkWorkflows(label, requirements, g.conditions, g.riskBands);
    return {
      config: g,
      index,
      bit: index < MAX_MASK_GUARDRAILS ? 2 ** index : index,
      inputs,
      requirements,
      context: compileContextStage(g.id, g.conditions, g.riskBands, cel),
      decidedBy: { layer: 'guardrail', id: g.id, revision: platformRevision },
      ...compileRequestMatchers(g.match),
    };
  });
  const wideMask = guardrails.length > MAX_MASK_GUARDRAILS;

  const defaultsRoutes = defaultsConfigs.map((route) => compileRoute(route, 'defaults', platformRevision));
  const defaultsByContext = defaultsRoutes.filter((r) => r.contextExtensions !== undefined);
  const defaultsByRequest = defaultsRoutes.filter((r) => r.contextExtensions === undefined);
  const tenantRoutes: RouteRuntime[] = [];
  const tenants: TenantRuntime[] = tenantConfigs.map((t) => {
    const revision = `${platformRevision} tenant/${t.name}@${t.revision}`;
    const own = t.status === 'failed' ? [] : t.routes.map((route) => compileRoute(route, 'tenant', revision));
    tenantRoutes.push(...own);
    return {
      config: t,
      byContext: own.filter((r) => r.contextExtensions !== undefined),
      byRequest: own.filter((r) => r.contextExtensions === undefined),
      ownerBy: { layer: 'tenant', id: t.name, revision },
      defaultBy: { layer: 'default', id: 'default', revision },
      revision,
      defaultsBy: new Map(defaultsRoutes.map((r) => [r, { ...r.decidedBy, revision }])),
    };
  });
  const ownerOf = compileOwnership(tenantConfigs);
  /** `policy.default` as a route with nothing of its own, so that `default: allow` can take guardrail floors. */
  const defaultRoute = compileRoute(
    {
      id: 'default',
      match: { hosts: [], paths: [], methods: [] },
      action: 'public',
      require: NO_REQUIREMENTS,
      claimHeaders: {},
      shadow: false,
      failOpen: false,
      conditions: [],
      riskBands: [],
    },
    'default',
    platformRevision,
  );
  const defaultBy: DecidedBy = { layer: 'default', id: 'default', revision: platformRevision };
  const requestBy: DecidedBy = { layer: 'platform', id: 'request', revision: platformRevision };
  let cachedPlans = 0;

  const selectIn = (inContext: readonly RouteRuntime[], inRequest: readonly RouteRuntime[], ctx: RequestContext, path: RequestPath): RuntimeSelection | undefined => {
    for (const r of inContext) {
      if (r.contextExtensions?.every(([k, v]) => Object.hasOwn(ctx.contextExtensions, k) && ctx.contextExtensions[k] === v) && matchesRequest(r, ctx, path)) {
        return r.selected.contextExtensions;
      }
    }
    for (const r of inRequest) if (matchesRequest(r, ctx, path)) return r.selected.request;
    return undefined;
  };
  const select = (ctx: RequestContext): RuntimeSelection | undefined => selectIn(byContext, byRequest, ctx, { path: ctx.path });

  /**
   * Org-wide selection: the owning tenant's routes, then `policy.defaults.routes`, else `policy.default`
   * (`route` undefined); an unowned request: the platform routes, else `policy.default`.
   */
  const selectOrg = (
    ctx: RequestContext,
    path: RequestPath,
  ): { readonly failed: TenantRuntime } | { readonly failed?: undefined; readonly selection?: Selection; readonly defaultBy: DecidedBy } => {
    const owner = tenants.length > 0 ? ownerOf(ctx.host, path) : -1;
    const tenant = owner >= 0 ? tenants[owner] : undefined;
    if (tenant === undefined) {
      const s = selectIn(byContext, byRequest, ctx, path);
      return s === undefined ? { defaultBy } : { selection: { ...s, decidedBy: s.route.decidedBy }, defaultBy };
    }
    if (tenant.config.status === 'failed') return { failed: tenant };
    const own = selectIn(tenant.byContext, tenant.byRequest, ctx, path);
    if (own !== undefined) return { selection: { ...own, decidedBy: own.route.decidedBy }, defaultBy: tenant.defaultBy };
    const fallback = selectIn(defaultsByContext, defaultsByRequest, ctx, path);
    if (fallback !== undefined) return { selection: { ...fallback, decidedBy: tenant.defaultsBy.get(fallback.route) ?? fallback.route.decidedBy }, defaultBy: tenant.defaultBy };
    return { defaultBy: tenant.defaultBy };
  };

  /** The guardrails matching a request (file order) and the key of that set; undefined when none match. */
  const matchGuardrails = (ctx: RequestContext, path: RequestPath): { readonly key: number | string; readonly list: GuardrailRuntime[] } | undefined => {
    let list: GuardrailRuntime[] | undefined;
    let mask = 0;
    for (const g of guardrails) {
      if (!matchesRequest(g, ctx, path)) continue;
      (list ??= []).push(g);
      mask += g.bit;
    }
    if (list === undefined) return undefined;
    return { key: wideMask ? list.map((g) => g.index).join(',') : mask, list };
  };

  /** The route merged with a set of matching guardrails: built once per route and set (bounded cache). */
  const planFor = (route: RouteRuntime, matched: { readonly key: number | string; readonly list: readonly GuardrailRuntime[] }): Plan => {
    const cached = route.plans.get(matched.key);
    if (cached !== undefined) return cached;
    const inputs = [...route.inputs, ...matched.list.flatMap((g) => g.inputs)];
    const requirements = mergeAllRequirements(inputs.map((i) => i.requirements), policy.acrOrder);
    const staticNeeds = mergedNeeds(inputs.map((i) => i.requirements), requirements);
    const plan: Plan = {
      requirements,
      staticNeeds,
      staticNeedsStep: needsStep(staticNeeds),
      guards: matched.list,
      guardNeeds: matched.list.some((g) => g.requirements.verification.length > 0),
      sources: sourceSteps(inputs),
    };
    if (cachedPlans < MAX_CACHED_PLANS) {
      cachedPlans++;
      route.plans.set(matched.key, plan);
    }
    return plan;
  };

  /** Identity failures of a route that needs a caller: 401 (or 503 when the issuer's keys are unavailable). */
  const denyIdentity = (
    auth: Exclude<AuthResult, { kind: 'verified' }>,
    routeId: string,
    shadow: boolean,
    trace: TraceStep[],
    decidedBy: DecidedBy,
  ): Outcome => {
    if (auth.kind === 'anonymous') {
      trace.push({ step: 'token', result: 'fail', detail: 'no token presented' });
      // RFC 6750 §3.1: no error code when the request carried no credentials at all.
      return { kind: 'deny', routeId, status: 401, code: 'token_missing', message: 'a bearer token is required', challenge: {}, shadow, trace, decidedBy };
    }
    trace.push({ step: 'token', result: 'fail', detail: `token rejected: ${auth.code}` });
    if (auth.code === 'dependency_unavailable') {
      return { kind: 'deny', routeId, status: 503, code: auth.code, message: auth.message, retryAfter: DEPENDENCY_RETRY_AFTER_S, shadow, trace, decidedBy };
    }
    return { kind: 'deny', routeId, status: 401, code: auth.code, message: auth.message, challenge: { error: 'invalid_token' }, shadow, trace, decidedBy };
  };

  /**
   * The steps after identity: the matching guardrails' conditions and risk bands (each list on its own,
   * in file order), then the route's, then the verification needs (the plan's own merged with step-ups),
   * then the outcome.
   */
  const finish = (
    route: RouteRuntime,
    plan: Plan,
    decidedBy: DecidedBy,
    ctx: RequestContext,
    auth: AuthResult,
    now: number,
    risk: RiskAssessment | undefined,
    headers: Readonly<Record<string, string>> | undefined,
    shadow: boolean,
    trace: TraceStep[],
  ): Outcome => {
    const cfg = route.config;
    // `default` for `policy.default` under a guardrail floor (decidedBy tells it from a route of that id).
    const routeId = cfg.id;
    if (headers === undefined) {
      // A mapped claim cannot be represented in a header (lone surrogate, control character).
      return { kind: 'deny', routeId, status: 403, code: 'claims_invalid', message: 'a claim of the token cannot be passed on', shadow, trace, decidedBy };
    }
    const req = plan.requirements;
    let stepUps: readonly StepUpRequest[] = [];
    let platformNeeds = plan.guardNeeds;
    if (plan.guards.length > 0) {
      const principal = auth.kind === 'verified' ? auth.principal : undefined;
      const facts = factsFor(ctx, principal, now, risk);
      const collected: StepUpRequest[] = [];
      // Each guardrail's list on its own: its `then: allow` ends only its own list, never the route's.
      for (const g of plan.guards) {
        if (!g.context.active) continue;
        const result = g.context.evaluate(facts, trace);
        if (result.kind === 'deny') {
          trace.push({ step: `guardrail:${g.config.id}`, result: 'fail', detail: `guardrail ${g.config.id}: ${result.rule} denied (${result.code})` });
          return { kind: 'deny', routeId, status: 403, code: result.code, message: result.message, shadow: policy.shadow, trace, decidedBy: g.decidedBy };
        }
        if (result.stepUps.length > 0) platformNeeds = true;
        collected.push(...result.stepUps);
      }
      if (route.context.active) {
        const result = route.context.evaluate(facts, trace);
        if (result.kind === 'deny') return { kind: 'deny', routeId, status: 403, code: result.code, message: result.message, shadow, trace, decidedBy };
        collected.push(...result.stepUps);
      }
      stepUps = collected;
    } else if (route.context.active) {
      const principal = auth.kind === 'verified' ? auth.principal : undefined;
      const result = route.context.evaluate(factsFor(ctx, principal, now, risk), trace);
      if (result.kind === 'deny') {
        return { kind: 'deny', routeId, status: 403, code: result.code, message: result.message, shadow, trace, decidedBy };
      }
      stepUps = result.stepUps;
    }
    // A platform floor's verification is not the route's to shadow or fail open.
    const verifyShadow = platformNeeds ? policy.shadow : shadow;
    const failOpen = cfg.failOpen && !platformNeeds;
    if (req.verification.length === 0 && stepUps.length === 0) {
      return { kind: 'allow', routeId, headers, shadow, failOpen: cfg.failOpen, trace, decidedBy };
    }
    if (stepUps.length === 0 && auth.kind === 'verified') {
      // Hot path: only the plan's own needs, precomputed at compile time.
      trace.push(plan.staticNeedsStep);
      return { kind: 'verify', routeId, headers, needs: plan.staticNeeds, shadow: verifyShadow, failOpen, trace, decidedBy };
    }
    const maxAges = new Map<string, number>();
    const want = (workflow: string, maxAgeMs: number): void => {
      const current = maxAges.get(workflow);
      maxAges.set(workflow, current === undefined ? maxAgeMs : Math.min(current, maxAgeMs));
    };
    for (const need of plan.staticNeeds) want(need.workflow, need.maxAgeMs);
    for (const s of stepUps) want(s.workflow, s.maxAgeMs ?? workflowMaxAge(s.workflow));
    if (auth.kind !== 'verified') {
      // A step-up needs a verified caller: on a public route (or `default: allow`) that is a 401.
      return denyIdentity(auth, routeId, verifyShadow, trace, decidedBy);
    }
    const needs: VerificationNeed[] = [...maxAges].map(([workflow, maxAgeMs]) => ({
      workflow,
      maxAgeMs,
      onInReview: req.onInReview,
      onDeclined: req.onDeclined,
    }));
    trace.push({ step: 'verification', result: 'info', detail: `needs ${needs.map((n) => n.workflow).join(', ')}` });
    return { kind: 'verify', routeId, headers, needs, shadow: verifyShadow, failOpen, trace, decidedBy };
  };

  /** The denials before any route, whatever the caller; see `admits` (the engine records no risk for them). */
  const refuseBeforeRoutes = (ctx: RequestContext, trace: TraceStep[]): Outcome | undefined => {
    const decidedBy = requestBy;
    if (ctx.pathError !== undefined) {
      trace.push({ step: 'path', result: 'fail', detail: 'the request path cannot be canonicalised safely' });
      return { kind: 'deny', status: 400, code: 'path_invalid', message: 'request path is not acceptable', shadow: policy.shadow, trace, decidedBy };
    }
    if (ctx.pathParameters === 'encoded' || (ctx.pathParameters === 'raw' && policy.pathParameters !== 'strip')) {
      // Servlet containers route `/admin;x/users` as `/admin/users`; refusing them (Spring Security's
      // StrictHttpFirewall does the same) leaves no spelling the policy and the upstream read differently.
      trace.push({ step: 'path', result: 'fail', detail: ctx.pathParameters === 'encoded' ? 'an encoded ";" is in the path' : 'the path carries ";" path parameters (policy.pathParameters: reject)' });
      return { kind: 'deny', status: 400, code: 'request_invalid', message: 'path parameters (";") are not accepted', shadow: policy.shadow, trace, decidedBy };
    }
    if (ctx.method === '') {
      trace.push({ step: 'request', result: 'fail', detail: 'the proxy sent no method' });
      return { kind: 'deny', status: 400, code: 'request_invalid', message: 'malformed request', shadow: policy.shadow, trace, decidedBy };
    }
    // Before any route: a trusted context header that is not one well-formed value fails closed everywhere.
    const fault = contextHeaderFault(ctx);
    if (fault !== undefined) {
      trace.push({ step: 'context', result: 'fail', detail: fault.message });
      return { kind: 'deny', status: 403, code: fault.code, message: fault.message, shadow: policy.shadow, trace, decidedBy };
    }
    return undefined;
  };

  const evaluate = (ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined): Outcome => {
    const trace: TraceStep[] = [];
    const decidedBy = requestBy;
    const refused = refuseBeforeRoutes(ctx, trace);
    if (refused !== undefined) return refused;
    const effective = effectiveMethod(ctx, methodOverride);
    if (!effective.ok) {
      trace.push({ step: 'request', result: 'fail', detail: effective.reason });
      return { kind: 'deny', status: 400, code: 'method_override', message: 'method override is not allowed', shadow: policy.shadow, trace, decidedBy };
    }
    const evaluateAs = org ? evaluateOrg : evaluateRoutes;
    if (effective.method !== ctx.method) {
      trace.push({ step: 'request', result: 'info', detail: `evaluated as ${effective.method} (method override honoured)` });
      return evaluateAs({ ...ctx, method: effective.method }, auth, now, risk, trace);
    }
    return evaluateAs(ctx, auth, now, risk, trace);
  };

  /** A single-file policy: the platform routes, first match, else `policy.default`. */
  const evaluateRoutes = (ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined, trace: TraceStep[]): Outcome => {
    const selection = select(ctx);
    if (selection === undefined) {
      trace.push({ step: 'route', result: policy.default === 'allow' ? 'info' : 'fail', detail: `no route matched; policy default ${policy.default}` });
      return policy.default === 'allow'
        ? { kind: 'allow', headers: {}, shadow: policy.shadow, failOpen: false, trace, decidedBy: defaultBy }
        : { kind: 'deny', status: 403, code: 'no_route', message: 'no policy route matches this request', shadow: policy.shadow, trace, decidedBy: defaultBy };
    }
    const route = selection.route;
    trace.push(route.selectedStep[selection.by]);
    return decideRoute(route, route, route.decidedBy, ctx, auth, now, risk, trace);
  };

  /** An org-wide policy: guardrail denies, ownership, the selected layer's route, merged with guardrail floors. */
  const evaluateOrg = (ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined, trace: TraceStep[]): Outcome => {
    const path: RequestPath = { path: ctx.path };
    const matched = guardrails.length > 0 ? matchGuardrails(ctx, path) : undefined;
    if (matched !== undefined) {
      trace.push({ step: 'guardrails', result: 'info', detail: `matched ${matched.list.map((g) => g.config.id).join(', ')}` });
      const deny = matched.list.find((g) => g.config.action === 'deny');
      if (deny !== undefined) {
        trace.push({ step: `guardrail:${deny.config.id}`, result: 'fail', detail: `guardrail ${deny.config.id}: action deny` });
        return { kind: 'deny', status: 403, code: 'route_denied', message: 'access to this route is denied', shadow: policy.shadow, trace, decidedBy: deny.decidedBy };
      }
    }
    const chosen = selectOrg(ctx, path);
    if (chosen.failed !== undefined) {
      const name = chosen.failed.config.name;
      trace.push({ step: 'tenant', result: 'fail', detail: `tenant ${name} owns this request but its policy failed to load` });
      return {
        kind: 'deny',
        status: 503,
        code: 'policy_unavailable',
        message: 'the policy for this request is unavailable',
        retryAfter: POLICY_RETRY_AFTER_S,
        shadow: policy.shadow,
        trace,
        decidedBy: chosen.failed.ownerBy,
      };
    }
    const selection = chosen.selection;
    if (selection === undefined) {
      trace.push({ step: 'route', result: policy.default === 'allow' ? 'info' : 'fail', detail: `no route matched; policy default ${policy.default}` });
      if (policy.default === 'deny') {
        return { kind: 'deny', status: 403, code: 'no_route', message: 'no policy route matches this request', shadow: policy.shadow, trace, decidedBy: chosen.defaultBy };
      }
      if (matched === undefined) return { kind: 'allow', headers: {}, shadow: policy.shadow, failOpen: false, trace, decidedBy: chosen.defaultBy };
      // `default: allow` under a guardrail floor: "require the floor".
      const plan = planFor(defaultRoute, matched);
      for (const s of plan.sources) trace.push(s);
      return decideRoute(defaultRoute, plan, chosen.defaultBy, ctx, auth, now, risk, trace);
    }
    const route = selection.route;
    trace.push(route.selectedStep[selection.by]);
    const plan = matched === undefined ? route : planFor(route, matched);
    for (const s of plan.sources) trace.push(s);
    return decideRoute(route, plan, selection.decidedBy, ctx, auth, now, risk, trace);
  };

  /**
   * Which layer a failed requirement belongs to: the route when its own requirements fail too, else the
   * first matching guardrail whose floor alone fails (a merge-only failure, such as issuer lists that
   * intersect to nothing, stays with the route).
   */
  const blame = (route: RouteRuntime, plan: Plan, decidedBy: DecidedBy, fails: (req: EffectiveRequirements) => boolean): DecidedBy => {
    if (plan.guards.length === 0) return decidedBy;
    if (route.config.action === 'require' && route.requirements.authenticated && fails(route.requirements)) return decidedBy;
    return plan.guards.find((g) => g.requirements.authenticated && fails(g.requirements))?.decidedBy ?? decidedBy;
  };

  /** The selected route's action, identity and requirements (the plan's), then {@link finish}. */
  const decideRoute = (route: RouteRuntime, plan: Plan, decidedBy: DecidedBy, ctx: RequestContext, auth: AuthResult, now: number, risk: RiskAssessment | undefined, trace: TraceStep[]): Outcome => {
    const cfg = route.config;
    const routeId = cfg.id;
    const shadow = cfg.shadow || policy.shadow;

    switch (cfg.action) {
      case 'deny':
        return { kind: 'deny', routeId: cfg.id, status: 403, code: 'route_denied', message: 'access to this route is denied', shadow, trace, decidedBy };
      case 'public':
        // A public route under a guardrail's floor needs what the floor requires.
        if (plan === route || !plan.requirements.authenticated) return finish(route, plan, decidedBy, ctx, auth, now, risk, anonymousHeaders(route, auth, trace), shadow, trace);
        break;
      case 'require':
        break;
      default:
        unreachable(cfg.action, 'route action');
    }

    const req = plan.requirements;
    if (!req.authenticated) return finish(route, plan, decidedBy, ctx, auth, now, risk, anonymousHeaders(route, auth, trace), shadow, trace);
    switch (auth.kind) {
      case 'anonymous':
      case 'failed': {
        const by = blame(route, plan, decidedBy, (r) => r.authenticated);
        return denyIdentity(auth, routeId, by.layer === 'guardrail' ? policy.shadow : shadow, trace, by);
      }
      case 'verified':
        break;
      default:
        unreachable(auth, 'auth result');
    }
    const principal = auth.principal;
    trace.push(tokenPassStep(principal.issuerName));
    const failure = checkRequirements(req, principal, settings, now, trace);
    if (failure !== undefined) {
      const by = blame(route, plan, decidedBy, (r) => checkRequirements(r, principal, settings, now, []) !== undefined);
      return {
        kind: 'deny',
        routeId,
        status: failure.status,
        code: failure.code,
        message: failure.message,
        ...(failure.challenge !== undefined ? { challenge: failure.challenge } : {}),
        shadow: by.layer === 'guardrail' ? policy.shadow : shadow,
        trace,
        decidedBy: by,
      };
    }
    return finish(route, plan, decidedBy, ctx, auth, now, risk, route.headers(principal.claims, trace), shadow, trace);
  };

  /** The route an org-wide policy selects for a request (ownership first), undefined for `policy.default`. */
  const selectAny = (ctx: RequestContext): RuntimeSelection | undefined => {
    if (!org) return select(ctx);
    const chosen = selectOrg(ctx, { path: ctx.path });
    return chosen.failed === undefined ? chosen.selection : undefined;
  };

  return {
    routes: [...routes, ...tenantRoutes, ...defaultsRoutes],
    matchRoute: (ctx) => {
      const s = selectAny(ctx);
      return s === undefined ? undefined : { route: s.route, by: s.by };
    },
    needsRisk: (ctx) => {
      try {
        const effective = effectiveMethod(ctx, methodOverride);
        if (!effective.ok) return false;
        const as = effective.method === ctx.method ? ctx : { ...ctx, method: effective.method };
        if (selectAny(as)?.route.usesRisk === true) return true;
        return guardrails.length > 0 && (matchGuardrails(as, { path: as.path })?.list.some((g) => g.context.usesRisk) ?? false);
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
        return { kind: 'deny', status: 503, code: 'internal_error', message: 'internal error', shadow: false, trace: [], decidedBy: requestBy };
      }
    },
  };
}

/** Whether a route's or guardrail's conditions or risk bands can ask for a verification. */
/** A read-only `info` trace step, built once at compile time and shared by every Check's trace. */
function infoStep(step: string, detail: string): TraceStep {
  return Object.freeze({ step, result: 'info', detail });
}

/** The `verification` step of a plan's own needs. */
function needsStep(needs: readonly VerificationNeed[]): TraceStep {
  return infoStep('verification', `needs ${needs.map((n) => n.workflow).join(', ')}`);
}

function stepsUp(rule: Pick<RouteConfig, 'conditions' | 'riskBands'>): boolean {
  return [...rule.conditions.map((c) => c.then), ...rule.riskBands.map((b) => b.then)].some((e) => e.kind === 'step_up');
}

/**
 * A requirement set as merged with others: its In Review/Declined handling counts only when its rule (route
 * or guardrail, with its level) asks for a verification or steps up. Otherwise its defaults (deny) say nothing, and merged as given they
 * would turn another layer's `onInReview: allow` into deny without any intent (and make the merge depend
 * on which layers happened to match). Unchanged on the single-file path, which merges nothing.
 */
function verdictNeutral(r: Requirements, ruleVerifies: boolean): Requirements {
  return !ruleVerifies ? { ...r, onInReview: 'allow', onDeclined: 'retry' } : r;
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
