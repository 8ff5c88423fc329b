import type { CelCompiler } from '../cel/compile-cel.js';
import { didYouMean } from '../core/suggest.js';
import { HEADER_NAME_RE } from './config-schema.js';
import { formatPath } from './format-path.js';

/** A problem found by a cross-section check, located by its path in the raw document. */
export interface RawIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** Point at the mapping key rather than its value (unknown or conflicting keys). */
  readonly at?: 'key' | 'value';
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Items of a string-or-list field with the path of each (the field itself for the single-string form). */
function listItems(v: unknown, path: readonly PropertyKey[]): { value: string; path: PropertyKey[] }[] {
  if (typeof v === 'string') return [{ value: v, path: [...path] }];
  return arr(v).flatMap((item, i) => (typeof item === 'string' ? [{ value: item, path: [...path, i] }] : []));
}

const ASYMMETRIC = /^(?:RS|PS|ES)(?:256|384|512)$|^EdDSA$/;
const SYMMETRIC = /^HS(?:256|384|512)$/;

/**
 * Checks what a per-field schema cannot: references between sections (issuers, workflows, sensitivity
 * levels, acr values), uniqueness, combinations that are only valid together, and literal secrets.
 * Works on the raw parsed YAML and tolerates any shape (the schema reports shape errors), so every
 * problem is reported in the same pass. `cel` is the load's compiler (it remembers what the schema compiled).
 */
export function crossCheckConfig(raw: unknown, cel: CelCompiler): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: readonly PropertyKey[], message: string, at: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, at });
  };
  const root = obj(raw) ?? {};

  checkDualDurations(root, [], add);

  const didit = obj(root['didit']);
  const mode = didit?.['mode'];
  checkIssuers(root, add);

  if (Object.keys(obj(root['workflows']) ?? {}).length > 0 && didit === undefined) {
    add(['workflows'], 'workflows need a didit section with an explicit mode (sandbox or live)', 'key');
  }

  const policy = obj(root['policy']) ?? {};
  const refs = routeRefs(root, cel);
  for (const [name, level] of Object.entries(refs.levels)) {
    checkRequirementRefs(obj(level), ['policy', 'sensitivity', name], refs, add);
  }
  checkRoutes(policy['routes'], ['policy', 'routes'], refs, add);
  checkRoutes(obj(policy['defaults'])?.['routes'], ['policy', 'defaults', 'routes'], refs, add);

  checkDidit(root, didit, add);
  checkSecrets(root, mode, add);

  const store = obj(root['store']);
  if (store?.['type'] === 'redis') {
    const redis = obj(store['redis']);
    if (redis === undefined) add(['store'], 'store.type redis needs a redis section (url, sentinels or cluster)');
    else {
      const kinds = ['url', 'sentinels', 'cluster'].filter((k) => redis[k] !== undefined);
      if (kinds.length !== 1) {
        add(['store', 'redis'], `set exactly one of url, sentinels, cluster${kinds.length > 1 ? ` (found: ${kinds.join(', ')})` : ''}`);
      }
      if (redis['sentinels'] !== undefined && redis['sentinelName'] === undefined) {
        add(['store', 'redis', 'sentinels'], 'sentinels need sentinelName', 'key');
      }
    }
  }

  return issues;
}

export type Add = (path: readonly PropertyKey[], message: string, at?: 'key' | 'value') => void;

/** What route checks look up in the rest of the document: issuers, workflows, levels, headers, context, risk. */
export interface RouteRefs {
  readonly issuerNames: readonly string[];
  readonly workflowNames: readonly string[];
  readonly acrOrder: readonly string[];
  /** `policy.sensitivity`, raw. */
  readonly levels: Readonly<Obj>;
  readonly headerPrefix: string;
  readonly strippedHeaders: ReadonlySet<string>;
  readonly reservedHeaders: ReadonlySet<string>;
  readonly conditions: ConditionRefs;
}

/** The {@link RouteRefs} of a raw document (any shape). `cel` is the load's compiler. */
export function routeRefs(raw: unknown, cel: CelCompiler): RouteRefs {
  const root = obj(raw) ?? {};
  const issuerNames = arr(root['issuers']).flatMap((i) => {
    const name = obj(i)?.['name'];
    return typeof name === 'string' ? [name] : [];
  });
  const workflowNames = Object.keys(obj(root['workflows']) ?? {});
  const policy = obj(root['policy']) ?? {};
  const headers = obj(root['headers']) ?? {};
  const prefix = typeof headers['prefix'] === 'string' ? headers['prefix'].toLowerCase() : 'x-idgate-';
  const context = obj(root['context']) ?? {};
  return {
    issuerNames,
    workflowNames,
    acrOrder: arr(policy['acrOrder']).filter((s): s is string => typeof s === 'string'),
    levels: obj(policy['sensitivity']) ?? {},
    headerPrefix: prefix,
    strippedHeaders: new Set(arr(headers['strip']).filter((s): s is string => typeof s === 'string').map((s) => s.toLowerCase())),
    reservedHeaders: new Set(['subject', 'issuer', 'verified'].map((s) => `${prefix}${s}`)),
    conditions: {
      workflowNames,
      hasCountryHeader: context['countryHeader'] !== undefined,
      riskEnabled: obj(root['risk'])?.['enabled'] === true,
      readsRisk: (expression) => {
        const compiled = cel.compile(expression);
        return compiled.ok && compiled.program.variables.has('risk');
      },
    },
  };
}

/**
 * Checks a raw route list at `path` (`policy.routes`, `policy.defaults.routes`, a tenant file's `routes`):
 * unique ids (`seen` spans several lists, e.g. a tenant's files: id → where it was first used), one action,
 * references, conditions and claim headers.
 */
export function checkRoutes(
  routes: unknown,
  path: readonly PropertyKey[],
  refs: RouteRefs,
  add: Add,
  seen: Map<string, string> = new Map(),
  label: (at: readonly PropertyKey[]) => string = formatPath,
): void {
  const { issuerNames, levels } = refs;
  const levelNames = Object.keys(levels);
  arr(routes).forEach((r, i) => {
    const route = obj(r);
    if (route === undefined) return;
    const routePath = [...path, i];
    const id = route['id'];
    if (typeof id === 'string') {
      const first = seen.get(id);
      if (first !== undefined) add([...routePath, 'id'], `duplicate route id "${id}" (first used by ${first})`);
      else seen.set(id, label(routePath));
    }
    const actionKeys = ['action', 'public', 'deny'].filter((k) => route[k] !== undefined);
    if (actionKeys.length > 1) add([...routePath, actionKeys[1] ?? ''], `set only one of: ${actionKeys.join(', ')}`, 'key');
    const action = route['action'] ?? (route['public'] === true ? 'public' : route['deny'] === true ? 'deny' : 'require');
    for (const k of ['public', 'deny'] as const) {
      if (route[k] === false) add([...routePath, k], `${k}: false has no effect; remove it`, 'key');
    }
    const require = obj(route['require']);
    if (action !== 'require') {
      if (route['require'] !== undefined) add([...routePath, 'require'], `a ${String(action)} route cannot have requirements`, 'key');
      if (route['sensitivity'] !== undefined) add([...routePath, 'sensitivity'], `sensitivity applies only to require routes, not ${String(action)}`, 'key');
    }
    checkRequirementRefs(require, [...routePath, 'require'], refs, add);

    const sensitivity = route['sensitivity'];
    if (typeof sensitivity === 'string' && !Object.hasOwn(levels, sensitivity)) {
      add(
        [...routePath, 'sensitivity'],
        `unknown sensitivity level "${sensitivity}"${didYouMean(sensitivity, levelNames)} (defined: ${levelNames.join(', ') || 'none'})`,
      );
    }
    if (action === 'require') {
      const level = typeof sensitivity === 'string' ? obj(levels[sensitivity]) : undefined;
      const needsIdentity = require?.['authenticated'] !== false || level !== undefined;
      if (needsIdentity && issuerNames.length === 0) {
        add(routePath, 'this route needs an authenticated caller but no issuers are configured');
      }
      const routeIssuers = listItems(require?.['issuers'], []).map((x) => x.value);
      const levelIssuers = listItems(level?.['issuers'], []).map((x) => x.value);
      if (routeIssuers.length > 0 && levelIssuers.length > 0 && !routeIssuers.some((n) => levelIssuers.includes(n))) {
        add([...routePath, 'require', 'issuers'], `no issuer is accepted by both this route and sensitivity level "${String(sensitivity)}"`);
      }
    }

    const identified = action === 'require' && (require?.['authenticated'] !== false || typeof sensitivity === 'string');
    checkConditions(route, routePath, String(action), identified, refs.conditions, add);

    for (const header of Object.keys(obj(route['claimHeaders']) ?? {})) {
      const h = header.toLowerCase();
      const hp = [...routePath, 'claimHeaders', header];
      if (!HEADER_NAME_RE.test(header)) continue; // the schema reports it
      if (refs.reservedHeaders.has(h)) add(hp, `${h} is set by idgate itself`, 'key');
      else if (!h.startsWith(refs.headerPrefix) && !refs.strippedHeaders.has(h)) {
        add(hp, `claim headers must start with "${refs.headerPrefix}" (or be listed in headers.strip) so clients cannot forge them`, 'key');
      }
    }
  });
}

export interface ConditionRefs {
  readonly workflowNames: readonly string[];
  readonly hasCountryHeader: boolean;
  readonly riskEnabled: boolean;
  /** True when a (valid) CEL expression reads the `risk` variable. */
  readonly readsRisk: (expression: string) => boolean;
}

/**
 * Route `conditions` and `risk` bands: unique condition names, workflows of step-ups, a country header for
 * country tests, risk scoring switched on for risk tests and bands, and effects that can work on the route
 * (a deny route never evaluates conditions; a step-up needs an authenticated caller).
 */
export function checkConditions(route: Obj, path: readonly PropertyKey[], action: string, needsIdentity: boolean, refs: ConditionRefs, add: Add): void {
  const conditions = arr(route['conditions']);
  const bands = arr(route['risk']);
  if (action === 'deny') {
    if (route['conditions'] !== undefined) add([...path, 'conditions'], 'a deny route always denies; its conditions would never be evaluated', 'key');
    if (route['risk'] !== undefined) add([...path, 'risk'], 'a deny route always denies; its risk bands would never be evaluated', 'key');
    return;
  }
  const checkEffect = (effect: unknown, at: readonly PropertyKey[]): void => {
    const workflow = obj(effect)?.['stepUp'];
    if (typeof workflow !== 'string') return;
    if (!refs.workflowNames.includes(workflow)) {
      add([...at, 'stepUp'], `unknown workflow "${workflow}"${didYouMean(workflow, refs.workflowNames)} (defined: ${refs.workflowNames.join(', ') || 'none'})`);
    } else if (!needsIdentity) {
      add([...at, 'stepUp'], `a step-up needs an authenticated caller, but this ${action === 'public' ? 'route is public' : 'route has authenticated: false'}`);
    }
  };
  const riskOff = (at: readonly PropertyKey[], what: string, where: 'key' | 'value' = 'value'): void => {
    if (!refs.riskEnabled) add(at, `${what} no effect unless risk.enabled is true (no risk score is computed)`, where);
  };

  const names = new Map<string, number>();
  conditions.forEach((c, j) => {
    const condition = obj(c);
    if (condition === undefined) return;
    const at = [...path, 'conditions', j];
    const name = condition['name'];
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first !== undefined) add([...at, 'name'], `duplicate condition name "${name}" (first used by conditions[${first}])`);
      else names.set(name, j);
    }
    const when = obj(condition['when']);
    if (when?.['country'] !== undefined && !refs.hasCountryHeader) {
      add([...at, 'when', 'country'], 'country tests need context.countryHeader (the trusted header carrying the client country)', 'key');
    }
    if (when?.['risk'] !== undefined) riskOff([...at, 'when', 'risk'], 'a risk test has');
    const expression = when?.['cel'];
    if (typeof expression === 'string' && refs.readsRisk(expression)) riskOff([...at, 'when', 'cel'], 'an expression reading risk has');
    checkEffect(condition['then'], [...at, 'then']);
  });
  if (bands.length > 0) riskOff([...path, 'risk'], 'risk bands have', 'key');
  bands.forEach((b, j) => checkEffect(obj(b)?.['then'], [...path, 'risk', j, 'then']));
}

function checkIssuers(root: Obj, add: Add): void {
  const seen = new Map<string, number>();
  arr(root['issuers']).forEach((raw, i) => {
    const issuer = obj(raw);
    if (issuer === undefined) return;
    const path = ['issuers', i];
    const name = issuer['name'];
    if (typeof name === 'string') {
      const first = seen.get(name);
      if (first !== undefined) add([...path, 'name'], `duplicate issuer name "${name}" (first used by issuers[${first}])`);
      else seen.set(name, i);
    }
    const keySources = ['jwksUri', 'discoveryUrl', 'secret'].filter((k) => issuer[k] !== undefined);
    if (keySources.length !== 1) {
      add(path, `set exactly one of jwksUri, discoveryUrl, secret${keySources.length > 1 ? ` (found: ${keySources.join(', ')})` : ''}`);
    }
    const hasSecret = issuer['secret'] !== undefined;
    const algorithms = issuer['algorithms'];
    arr(algorithms).forEach((alg, k) => {
      if (typeof alg !== 'string') return;
      const at = [...path, 'algorithms', k];
      if (alg.toLowerCase() === 'none') add(at, 'alg "none" is never allowed');
      else if (SYMMETRIC.test(alg) && !hasSecret) add(at, `${alg} needs a shared secret; use an asymmetric algorithm with jwksUri/discoveryUrl`);
      else if (ASYMMETRIC.test(alg) && hasSecret) add(at, `${alg} is asymmetric and cannot be used with a shared secret`);
    });
  });
}

export function checkRequirementRefs(
  require: Obj | undefined,
  path: readonly PropertyKey[],
  refs: { issuerNames: readonly string[]; workflowNames: readonly string[]; acrOrder: readonly string[] },
  add: Add,
): void {
  if (require === undefined) return;
  for (const item of listItems(require['issuers'], [...path, 'issuers'])) {
    if (!refs.issuerNames.includes(item.value)) {
      add(item.path, `unknown issuer "${item.value}"${didYouMean(item.value, refs.issuerNames)} (defined: ${refs.issuerNames.join(', ') || 'none'})`);
    }
  }
  for (const item of listItems(require['verification'], [...path, 'verification'])) {
    if (!refs.workflowNames.includes(item.value)) {
      add(item.path, `unknown workflow "${item.value}"${didYouMean(item.value, refs.workflowNames)} (defined: ${refs.workflowNames.join(', ') || 'none'})`);
    }
  }
  const acr = obj(require['mfa'])?.['acrAtLeast'];
  if (typeof acr === 'string' && !refs.acrOrder.includes(acr)) {
    add([...path, 'mfa', 'acrAtLeast'], `acr "${acr}" is not listed in policy.acrOrder${didYouMean(acr, refs.acrOrder)}`);
  }
  if (require['authenticated'] === false) {
    const others = Object.keys(require).filter((k) => !['authenticated', 'onInReview', 'onDeclined'].includes(k));
    if (others.length > 0) add([...path, 'authenticated'], `authenticated: false contradicts ${others.join(', ')} (each needs a verified caller)`);
  }
}

function checkDidit(root: Obj, didit: Obj | undefined, add: Add): void {
  if (didit?.['mode'] !== 'live') return;
  if (root['demoIssuer'] !== undefined) {
    add(['demoIssuer'], 'demoIssuer is a local try-out issuer and is only allowed with didit.mode: sandbox');
  }
  for (const key of ['apiKey', 'webhookSecret']) {
    if (didit[key] === undefined) add(['didit'], `didit.mode live needs ${key}`);
  }
  const publicBase = obj(obj(root['server'])?.['public'])?.['baseUrl'];
  if (publicBase === undefined) add(['server'], 'server.public.baseUrl is required when didit.mode is live (Didit redirects browsers there)');
  else if (typeof publicBase === 'string' && publicBase.startsWith('http:')) {
    add(['server', 'public', 'baseUrl'], 'server.public.baseUrl must use https when didit.mode is live');
  }
}

/**
 * Literal secrets are only accepted with `didit.mode: sandbox` (a laptop or CI); anything else must come
 * from the environment or a mounted file, so a policy file can be shared and committed without secrets.
 */
function checkSecrets(root: Obj, mode: unknown, add: Add): void {
  if (mode === 'sandbox' || mode === undefined) return;
  const check = (value: unknown, path: PropertyKey[]): void => {
    if (typeof value === 'string') {
      add(path, 'literal secrets are only allowed with didit.mode sandbox; use { env: NAME } or { file: /path }');
    }
  };
  const didit = obj(root['didit']) ?? {};
  for (const key of ['apiKey', 'webhookSecret', 'webhookSecretPrevious', 'startTicketSecret', 'startTicketSecretPrevious']) check(didit[key], ['didit', key]);
  arr(root['issuers']).forEach((issuer, i) => check(obj(issuer)?.['secret'], ['issuers', i, 'secret']));
  check(obj(obj(root['server'])?.['admin'])?.['token'], ['server', 'admin', 'token']);
  check(obj(obj(root['store'])?.['redis'])?.['password'], ['store', 'redis', 'password']);
}

/** `clockSkew` and `clockSkewMs` (any `x` / `xMs` pair) in the same mapping is ambiguous. */
function checkDualDurations(value: unknown, path: readonly PropertyKey[], add: Add): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkDualDurations(v, [...path, i], add));
    return;
  }
  const o = obj(value);
  if (o === undefined) return;
  for (const key of Object.keys(o)) {
    if (key.endsWith('Ms') && key.length > 2 && Object.hasOwn(o, key.slice(0, -2))) {
      add([...path, key], `set either ${key.slice(0, -2)} or ${key}, not both`, 'key');
    }
    // User-chosen names live under these keys, not configuration keys.
    if (key !== 'claims' && key !== 'contextExtensions' && key !== 'claimHeaders') checkDualDurations(o[key], [...path, key], add);
  }
}
