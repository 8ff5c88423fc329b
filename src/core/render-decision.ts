import { boundedLru } from './bounded-lru.js';
import { isBrowserNavigation } from './browser-navigation.js';
import type { Decision, DenyDecision, StepUpDecision } from './decision.js';
import type { DenyCode } from './deny-code.js';
import type { DecidedBy } from './outcome.js';
import { createIdentityHeaderTest, type IdentityHeaderTest } from './identity-header-name.js';
import { encodeIdentityValue, toHeaderSafe } from './encode-identity-value.js';
import { parseHttpUrl } from './parse-http-url.js';
import type { RequestContext } from './request-context.js';

/** How decisions are turned into what the proxy applies. Build once at startup; never mutated. */
export interface RenderOptions {
  /** Prefix of identity headers (default `x-idgate-`); client-sent ones are always removed. */
  readonly identityHeaderPrefix?: string;
  /** Further header names (lower-case) always removed from the upstream request on allow. */
  readonly stripHeaders?: readonly string[];
  /** Also remove `authorization` on allow (default false). */
  readonly removeAuthorization?: boolean;
  /** `realm` of the `WWW-Authenticate: Bearer` challenge (default `idgate`). */
  readonly realm?: string;
  /** Prefix of the problem document `type` URI; the deny code is appended (default `urn:idgate:problem:`). */
  readonly problemTypeBase?: string;
  /** `Retry-After` seconds for 503/429 when the decision carries none (default 1). */
  readonly defaultRetryAfterSeconds?: number;
}

/** HTTP statuses a rendered deny can carry (all members of Envoy's `envoy.type.v3.StatusCode`). */
export type DeniedHttpStatus = DenyDecision['status'] | 302;

/** Header list entries: `[lower-case name, value]`. */
export type HeaderEntry = readonly [name: string, value: string];

/** Dynamic metadata returned to the proxy (`envoy.filters.http.ext_authz` namespace in Envoy). */
export type VerdictMetadata = Readonly<Record<string, string | number | boolean>>;

/**
 * A transport-neutral verdict: what the gRPC front end puts into a CheckResponse and the HTTP authz mode
 * into its reply.
 * - allow: set `upstreamHeaders` (overwrite), then remove `removeHeaders` from the upstream request.
 * - deny: answer the client with `status`, `headers` and `body` (a 302 step-up redirect is a deny too).
 */
export type RenderedVerdict =
  | {
      readonly allow: true;
      readonly upstreamHeaders: readonly HeaderEntry[];
      readonly removeHeaders: readonly string[];
      readonly metadata: VerdictMetadata;
    }
  | {
      readonly allow: false;
      readonly status: DeniedHttpStatus;
      /** The stable deny code (also in the body, the `x-idgate-reason` header and the metadata). */
      readonly code: DenyCode;
      readonly headers: readonly HeaderEntry[];
      /** Empty for redirects. */
      readonly body: string;
      readonly metadata: VerdictMetadata;
    };

const DEFAULT_PREFIX = 'x-idgate-';
const WELL_KNOWN_IDENTITY_SUFFIXES = ['subject', 'issuer', 'verified'] as const;
const TOKEN_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

const TITLES: Readonly<Record<DenyCode, string>> = {
  token_missing: 'Authentication required',
  token_invalid: 'Invalid token',
  token_expired: 'Token expired',
  token_not_yet_valid: 'Token not yet valid',
  claims_mismatch: 'Insufficient claims',
  claims_invalid: 'Unrepresentable claim',
  mfa_required: 'Multi-factor authentication required',
  reauthentication_required: 'Re-authentication required',
  path_invalid: 'Invalid request path',
  request_invalid: 'Invalid request',
  method_override: 'Method override not allowed',
  no_route: 'Access denied',
  route_denied: 'Access denied',
  network_denied: 'Network not allowed',
  country_denied: 'Country not allowed',
  time_denied: 'Outside allowed time window',
  device_denied: 'Device not allowed',
  condition_denied: 'Access denied',
  risk_denied: 'Risk too high',
  verification_required: 'Identity verification required',
  verification_declined: 'Identity verification declined',
  verification_in_review: 'Identity verification in review',
  verification_insufficient: 'Identity verification insufficient',
  verification_loop: 'Too many verification attempts',
  dependency_unavailable: 'Service temporarily unavailable',
  policy_unavailable: 'Service temporarily unavailable',
  deadline_exceeded: 'Service temporarily unavailable',
  internal_error: 'Internal error',
};

/** Options with defaults applied and derived lookups precomputed (see {@link compileRenderOptions}). */
export interface CompiledRenderOptions {
  readonly compiled: true;
  readonly prefix: string;
  readonly reasonHeader: string;
  /** Names removed on allow whether or not the proxy showed them to us (unless we set them). */
  readonly alwaysRemove: readonly string[];
  /** Whether a request header is a client copy of an identity header, in any case, `-` or `_` spelling. */
  readonly isIdentityHeader: IdentityHeaderTest;
  readonly realm: string;
  readonly problemTypeBase: string;
  readonly defaultRetryAfterSeconds: number;
}

/**
 * Applies defaults and precomputes lookups once, so rendering does no option work per request.
 * @throws TypeError when the prefix or a strip name is not a lower-case HTTP token.
 */
export function compileRenderOptions(options: RenderOptions = {}): CompiledRenderOptions {
  const prefix = options.identityHeaderPrefix ?? DEFAULT_PREFIX;
  if (!TOKEN_NAME.test(prefix)) throw new TypeError(`identityHeaderPrefix ${JSON.stringify(prefix)} is not a lower-case header name`);
  for (const name of options.stripHeaders ?? []) {
    if (!TOKEN_NAME.test(name)) throw new TypeError(`strip header ${JSON.stringify(name)} is not a lower-case header name`);
  }
  // Envoy's allowed_headers may hide client-sent identity headers from us, so the well-known ones are
  // listed for removal even when we cannot see them.
  const alwaysRemove = new Set<string>([
    ...WELL_KNOWN_IDENTITY_SUFFIXES.map((suffix) => prefix + suffix),
    ...(options.stripHeaders ?? []),
  ]);
  if (options.removeAuthorization === true) alwaysRemove.add('authorization');
  const retry = options.defaultRetryAfterSeconds ?? 1;
  if (!Number.isFinite(retry) || retry < 0) throw new TypeError('defaultRetryAfterSeconds must be a non-negative number');
  return Object.freeze({
    compiled: true,
    prefix,
    reasonHeader: prefix + 'reason',
    alwaysRemove: Object.freeze([...alwaysRemove]),
    isIdentityHeader: createIdentityHeaderTest(prefix, options.stripHeaders ?? []),
    realm: options.realm ?? 'idgate',
    problemTypeBase: options.problemTypeBase ?? 'urn:idgate:problem:',
    defaultRetryAfterSeconds: Math.ceil(retry),
  });
}

/**
 * Turns the engine's {@link Decision} into a transport-neutral {@link RenderedVerdict}.
 *
 * - allow: the decision's headers (valid lower-case names only) as upstream headers. Identity values
 *   arrive already in the identity encoding (core/encode-identity-value); as a backstop every value is
 *   made header-safe (anything but visible ASCII, space and tab percent-encoded), so no value can inject
 *   a header or make a front end throw. The subject in the metadata uses the identity encoding too.
 *   `removeHeaders` lists every client-sent header (valid names only) that folds (case, `_` as `-`) to the
 *   identity prefix or a strip name, the well-known identity headers, the configured strip names and
 *   (optionally) `authorization` — except names we set ourselves.
 * - deny: an RFC 9457 `application/problem+json` body `{type,title,status,detail,code,instance?,decision_id?,…extra}`,
 *   `cache-control: no-store`, `x-idgate-reason`, an RFC 6750 challenge on 401 and `retry-after` on 503/429.
 * - step_up: a 302 to the verification URL for browsers (GET/HEAD accepting `text/html`), otherwise a 401
 *   with the RFC 9470 `insufficient_user_authentication` challenge and the URL in the problem body. A
 *   verification URL that is not absolute http(s) renders as a 503 `internal_error` (fail closed).
 *
 * Pure and total: never throws for any decision value. Pass options through {@link compileRenderOptions}
 * once at startup on the hot path; raw {@link RenderOptions} are compiled on every call.
 */
export function renderDecision(
  decision: Decision,
  ctx: RequestContext,
  renderOptions: RenderOptions | CompiledRenderOptions = {},
): RenderedVerdict {
  const options = 'compiled' in renderOptions ? renderOptions : compileRenderOptions(renderOptions);
  switch (decision.kind) {
    case 'allow':
      return renderAllow(decision.headers, decision, ctx, options);
    case 'deny':
      return renderDeny(decision, ctx, options);
    case 'step_up':
      return renderStepUp(decision, ctx, options);
    default: {
      const unreachable: never = decision;
      void unreachable;
      return renderDeny(
        { kind: 'deny', status: 503, code: 'internal_error', message: 'unknown decision' },
        ctx,
        options,
      );
    }
  }
}

function renderAllow(
  headers: Readonly<Record<string, string>>,
  decision: Extract<Decision, { kind: 'allow' }>,
  ctx: RequestContext,
  options: CompiledRenderOptions,
): RenderedVerdict {
  // Arrays, not Sets: a decision sets a handful of headers and alwaysRemove is a handful of names, so a
  // linear search is cheaper than building two Sets per Check. The names set are looked up in
  // `upstreamHeaders` itself, not in a second array per allow (bench/README.md, fifth round).
  const upstreamHeaders: HeaderEntry[] = [];
  for (const rawName in headers) {
    const value = headers[rawName];
    if (typeof value !== 'string') continue;
    const name = rawName.toLowerCase();
    if (!TOKEN_NAME.test(name) || isSet(upstreamHeaders, name)) continue;
    upstreamHeaders.push([name, toHeaderSafe(value)]);
  }
  const removeHeaders: string[] = [];
  for (const name of options.alwaysRemove) {
    if (!isSet(upstreamHeaders, name)) removeHeaders.push(name);
  }
  // Every spelling that folds to an identity header (`x-idgate_roles`, `x_idgate_email`): Envoy forwards
  // underscore names by default and WSGI/CGI/Rack upstreams read them as the real header. Request header
  // names are unique, so the only names already listed are alwaysRemove's.
  const isIdentity = options.isIdentityHeader;
  for (const name in ctx.headers) {
    // Only valid header names: a name is echoed into headers_to_remove / x-envoy-auth-headers-to-remove.
    if (isIdentity(name) && !isSet(upstreamHeaders, name) && !options.alwaysRemove.includes(name) && TOKEN_NAME.test(name)) {
      removeHeaders.push(name);
    }
  }
  const metadata: Record<string, string | number | boolean> = { decision: 'allow' };
  addCommonMetadata(metadata, decision);
  for (const key in decision.metadata) {
    const value = decision.metadata[key];
    if (value !== undefined) metadata[key] = value;
  }
  return { allow: true, upstreamHeaders, removeHeaders, metadata };
}

/** Whether `entries` sets header `name`. */
function isSet(entries: readonly HeaderEntry[], name: string): boolean {
  for (let i = 0; i < entries.length; i++) if (entries[i]![0] === name) return true;
  return false;
}

function renderDeny(decision: DenyDecision, ctx: RequestContext, options: CompiledRenderOptions): RenderedVerdict {
  const { status, code } = decision;
  const headers: HeaderEntry[] = [
    ['content-type', 'application/problem+json'],
    ['cache-control', 'no-store'],
    [options.reasonHeader, code],
  ];
  // RFC 6750 §3.1: 401s always carry the challenge; a 403 carries it when the policy gave one
  // (insufficient_scope), so clients learn which scope to ask for.
  if (status === 401 || (status === 403 && decision.challenge?.['error'] !== undefined)) {
    headers.push(['www-authenticate', bearerChallenge(decision, options.realm)]);
  }
  if (status === 503 || status === 429) {
    const seconds = decision.retryAfter;
    const retry =
      seconds !== undefined && Number.isFinite(seconds) && seconds >= 0
        ? Math.ceil(seconds)
        : options.defaultRetryAfterSeconds;
    headers.push(['retry-after', String(retry)]);
  }
  const body = problemBody(options, code, status, decision.message, ctx.requestId, decision.decisionId, decision.extra);
  const metadata: Record<string, string | number | boolean> = { decision: 'deny', code, status };
  addCommonMetadata(metadata, decision);
  return { allow: false, status, code, headers: headers.map(([n, v]) => [n, toHeaderSafe(v)] as const), body, metadata };
}

/**
 * Verification URLs already checked and re-serialised, by their text (`false`: refused). A pending session's
 * URL is handed out on every Check of its subject until the session settles, and parsing it with WHATWG
 * `URL` was most of a step-up's rendering; the answer depends on the text alone, so it is kept. Bounded to
 * a few hundred URLs of ~100 bytes, least recently used out first (a flood of new sessions cannot grow it).
 */
const locations = boundedLru<string, string | false>(512);

/** The verification URL re-serialised (so the Location header is percent-encoded); undefined when refused. */
function locationOf(verificationUrl: string): string | undefined {
  let location = locations.get(verificationUrl);
  if (location === undefined) {
    location = parseHttpUrl(verificationUrl)?.href ?? false;
    locations.set(verificationUrl, location);
  }
  return location === false ? undefined : location;
}

function renderStepUp(decision: StepUpDecision, ctx: RequestContext, options: CompiledRenderOptions): RenderedVerdict {
  const location = locationOf(decision.verificationUrl);
  if (location === undefined) {
    return renderDeny(
      {
        kind: 'deny',
        status: 503,
        code: 'internal_error',
        message: 'the verification session could not be offered',
        ...(decision.routeId !== undefined ? { routeId: decision.routeId } : {}),
        ...(decision.subject !== undefined ? { subject: decision.subject } : {}),
        ...(decision.decisionId !== undefined ? { decisionId: decision.decisionId } : {}),
      },
      ctx,
      options,
    );
  }
  const code: DenyCode = 'verification_required';
  const metadata: Record<string, string | number | boolean> = {
    decision: 'step_up',
    code,
    workflow: decision.workflow,
    ...(decision.sessionId !== undefined ? { session_id: decision.sessionId } : {}),
  };
  addCommonMetadata(metadata, decision);
  if (isBrowserNavigation(ctx)) {
    metadata['status'] = 302;
    return {
      allow: false,
      status: 302,
      code,
      headers: [
        ['location', location],
        ['cache-control', 'no-store'],
        [options.reasonHeader, code],
      ],
      body: '',
      metadata,
    };
  }
  metadata['status'] = 401;
  const challenge =
    `Bearer realm=${quote(options.realm)}, error="insufficient_user_authentication", ` +
    'error_description="identity verification required"';
  const body = problemBody(options, code, 401, 'identity verification required', ctx.requestId, decision.decisionId, {
    verification_url: location,
    ...(decision.sessionId !== undefined ? { session_id: decision.sessionId } : {}),
    workflow: decision.workflow,
  });
  return {
    allow: false,
    status: 401,
    code,
    headers: [
      ['content-type', 'application/problem+json'],
      ['cache-control', 'no-store'],
      [options.reasonHeader, code],
      ['www-authenticate', challenge],
    ],
    body,
    metadata,
  };
}

function addCommonMetadata(
  metadata: Record<string, string | number | boolean>,
  decision: { readonly routeId?: string; readonly subject?: string; readonly shadow?: boolean; readonly decidedBy?: DecidedBy; readonly decisionId?: string },
): void {
  if (decision.decisionId !== undefined) metadata['decision_id'] = decision.decisionId;
  if (decision.routeId !== undefined) metadata['route_id'] = decision.routeId;
  if (decision.decidedBy !== undefined) {
    metadata['layer'] = decision.decidedBy.layer;
    // A guardrail or route id, a tenant name or `default`: policy names from the config, never request data.
    metadata['rule'] = toHeaderSafe(decision.decidedBy.id);
  }
  if (decision.subject !== undefined) metadata['subject'] = encodeIdentityValue(decision.subject) ?? toHeaderSafe(decision.subject);
  if (decision.shadow === true) metadata['shadow'] = true;
}

const RESERVED_PROBLEM_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance', 'decision_id']);

function problemBody(
  options: CompiledRenderOptions,
  code: DenyCode,
  status: number,
  detail: string,
  requestId: string,
  decisionId: string | undefined,
  extra: Readonly<Record<string, string | number | boolean>> | undefined,
): string {
  const doc: Record<string, unknown> = {
    type: options.problemTypeBase + code,
    title: TITLES[code] ?? 'Access denied',
    status,
    detail,
    code,
  };
  if (requestId !== '') doc['instance'] = requestId;
  // What a user quotes in a support ticket: it finds the decision-log line (docs/decision-log.md).
  if (decisionId !== undefined) doc['decision_id'] = decisionId;
  if (extra !== undefined) {
    for (const key in extra) {
      if (!RESERVED_PROBLEM_MEMBERS.has(key)) doc[key] = extra[key];
    }
  }
  return JSON.stringify(doc);
}

/**
 * RFC 6750 §3 challenge. A request without credentials gets only the realm (§3.1: no error code); other
 * 401s get `error` (default `invalid_token`) and `error_description` (default: the deny message), then
 * any further parameters from `decision.challenge` (e.g. `scope`, `acr_values`).
 */
function bearerChallenge(decision: DenyDecision, realm: string): string {
  const params = decision.challenge ?? {};
  let out = `Bearer realm=${quote(realm)}`;
  if (decision.code !== 'token_missing') {
    out += `, error=${quote(params['error'] ?? 'invalid_token')}`;
    out += `, error_description=${quote(params['error_description'] ?? decision.message)}`;
  }
  for (const key in params) {
    if (key === 'realm' || key === 'error' || key === 'error_description' || key === 'error_uri') continue;
    if (!TOKEN_NAME.test(key)) continue;
    const value = params[key];
    if (typeof value === 'string') out += `, ${key}=${quote(value)}`;
  }
  return out;
}

/**
 * An RFC 7230 quoted-string restricted to RFC 6750's allowed characters: printable ASCII, with `"` and `\`
 * backslash-escaped; anything else (CR, LF, controls, non-ASCII) becomes `?`.
 */
function quote(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + value[i];
    else if (c >= 0x20 && c <= 0x7e) out += value[i];
    else out += '?';
  }
  return out + '"';
}
