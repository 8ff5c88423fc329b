import { z } from 'zod';
import { didYouMean } from '../core/suggest.js';
import { describeType } from './duration.js';
import {
  checkNetwork,
  durationKeys,
  fail,
  headerName,
  HEADER_NAME_RE,
  pickDuration,
  SCALAR_JSON_SCHEMA,
  singleKeyJsonSchema,
} from './schema-helpers.js';
import { conditionListSchema, contextSchema, riskBandListSchema, riskSchema } from './condition-schema.js';
import { resolveSecret, type SecretSources } from './secret-ref.js';
import { checkPrincipalPattern } from './spiffe-id.js';
import type { CelCompiler } from '../cel/compile-cel.js';
import type {
  ClaimMatcher,
  DemoIssuerConfig,
  DiditConfig,
  GuardrailConfig,
  PathMatch,
  Requirements,
  RouteConfig,
  RouteMatch,
  ServerConfig,
  TenantConfig,
  TokenSource,
} from './types.js';

/** Every JWT algorithm a configuration may name (never `none`). */
export const JWT_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512',
] as const;

/** One of {@link JWT_ALGORITHMS}. */
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export { HEADER_NAME_RE };
/** Issuer, workflow and sensitivity-level names. */
export const NAME_RE = /^[a-z0-9_-]+$/;
/** Route and guardrail ids. */
export const ROUTE_ID_RE = /^[A-Za-z0-9_.-]+$/;
const HOST_RE = /^(?:\*\.)?[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$|^\[[0-9a-f:.]+\]$/;
const METHOD_RE = /^[A-Z]+$/;
const MiB = 1024 * 1024;

/** Shortest admin token accepted: a guessable token on an operator API is worse than none. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * The methods a route may name: the IANA HTTP Method Registry's single-word methods. A typo (`GTE`) or an
 * invented method would otherwise make a route that silently never matches.
 */
export const HTTP_METHODS: readonly string[] = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY',
  'ACL', 'BIND', 'CHECKIN', 'CHECKOUT', 'COPY', 'LABEL', 'LINK', 'LOCK', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL',
  'MKREDIRECTREF', 'MKWORKSPACE', 'MOVE', 'ORDERPATCH', 'PRI', 'PROPFIND', 'PROPPATCH', 'REBIND', 'REPORT', 'SEARCH',
  'UNBIND', 'UNCHECKOUT', 'UNLINK', 'UNLOCK', 'UPDATE', 'UPDATEREDIRECTREF',
];
const KNOWN_METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);

function checkMethod(s: string): string | undefined {
  const m = s.toUpperCase();
  if (!METHOD_RE.test(m)) return `not a valid method: ${JSON.stringify(s)}`;
  return KNOWN_METHODS.has(m) ? undefined : `unknown HTTP method ${JSON.stringify(s)}${didYouMean(m, HTTP_METHODS)}`;
}

/** Default role claims (`policy.roleClaims`). */
export const DEFAULT_ROLE_CLAIMS: readonly string[] = ['roles', 'groups', 'realm_access.roles'];

/** A string or a list of strings, each checked by `check` (returns an error message or undefined). */
function stringOrList(check?: (s: string) => string | undefined, split = false) {
  return z.unknown().transform((value, ctx): string[] | undefined => {
    if (value === undefined) return undefined;
    const items: unknown[] = Array.isArray(value) ? value : [value];
    const out: string[] = [];
    items.forEach((item, i) => {
      const path = Array.isArray(value) ? [i] : [];
      if (typeof item !== 'string' || item === '') {
        fail(ctx, typeof item === 'string' ? 'must not be empty' : `expected a string, got ${describeType(item)}`, path);
        return;
      }
      const parts = split ? item.split(/\s+/).filter((p) => p !== '') : [item];
      for (const part of parts) {
        const problem = check?.(part);
        if (problem !== undefined) fail(ctx, problem, path);
        else out.push(part);
      }
    });
    return out;
  }).meta(STRING_OR_LIST_JSON_SCHEMA);
}

/** JSON Schema of {@link stringOrList} for `idgate schema` (each item's own check is left to `idgate validate`). */
const STRING_OR_LIST_JSON_SCHEMA = {
  anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', items: { type: 'string', minLength: 1 } }],
};

/** JSON Schema of a secret reference (see `resolveSecret`) for `idgate schema`. */
const SECRET_JSON_SCHEMA = {
  description: 'A secret: { env: NAME } (an environment variable), { file: /path } (e.g. a mounted Secret), or a literal string (sandbox only).',
  anyOf: [
    { type: 'object', properties: { env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } }, required: ['env'], additionalProperties: false },
    { type: 'object', properties: { file: { type: 'string', pattern: '^/' } }, required: ['file'], additionalProperties: false },
    { type: 'string', minLength: 1 },
  ],
};

function secret() {
  return (sources: SecretSources) =>
    z.unknown().transform((value, ctx): string | undefined => {
      if (value === undefined) return undefined;
      const r = resolveSecret(value, sources);
      return 'error' in r ? fail(ctx, r.error) : r.value;
    }).meta(SECRET_JSON_SCHEMA);
}

function isHttpUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '';
}

// Every schema here is built by a function, per load, never as a module-level constant: a load's schemas
// (~500 zod objects, each with its own closures: ~1.2 MiB of heap) are garbage once the configuration is
// parsed, where module-level ones stayed resident for the life of the process (issue 15 §3, bench/README.md
// "Memory, fourth round"). The few schemas built per use while parsing cost microseconds per load.
const httpUrl = () => z.string().refine(isHttpUrl, { error: 'must be an absolute http(s) URL' });
const port = () => z.number().int().min(0).max(65535);
const host = () => z.string().min(1);

function listen(defaultPort: number) {
  return { host: host().default('0.0.0.0'), port: port().default(defaultPort) };
}

/** TLS of an authz listener (`server.grpc.tls`, `server.httpAuthz.tls`); see docs/deployment.md "TLS". */
export const listenerTlsSchema = () => z
  .strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    clientCaFile: z.string().min(1).optional(),
    allowedSans: z
      .array(
        z
          .string()
          .min(1)
          .refine((s) => !/[\s,"]/.test(s), { error: 'a SAN must not contain spaces, commas or quotes' })
          .refine((s) => !/^(DNS|URI|IP Address):/i.test(s), {
            error: 'write the SAN without a type prefix: spiffe://… or https://… for a URI SAN, a host name for a DNS SAN',
          }),
      )
      .default([]),
    ...durationKeys('reloadInterval', 100),
  })
  .superRefine((o, ctx) => {
    if (o.allowedSans.length > 0 && o.clientCaFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowedSans'], message: 'allowedSans needs clientCaFile (client certificates are only requested with a CA to verify them)' });
    }
  })
  .transform((o) => ({
    /** PEM certificate chain served (e.g. a cert-manager Secret's `tls.crt`). */
    certFile: o.certFile,
    /** PEM private key of that certificate (`tls.key`). */
    keyFile: o.keyFile,
    /** PEM CA bundle that client certificates must chain to; set = mTLS (a client certificate is required). */
    ...(o.clientCaFile !== undefined ? { clientCaFile: o.clientCaFile } : {}),
    /**
     * Client certificate SANs allowed (needs `clientCaFile`): entries with a scheme (`spiffe://…`) match URI
     * SANs, others DNS SANs; exact match. Empty = any certificate the CA verified.
     */
    allowedSans: o.allowedSans,
    /** How often the files are checked for rotation (default 10 s). */
    reloadIntervalMs: pickDuration(o, 'reloadInterval', 10_000),
  }));

/** Top-level `server:`: the listeners. */
export function serverSchema(sources: SecretSources) {
  return z
    .strictObject({
      /** gRPC ext_authz + health. Default 0.0.0.0:9191. */
      grpc: z
        .strictObject({
          ...listen(9191),
          maxMessageBytes: z.number().int().min(1024).max(64 * MiB).default(MiB),
          ...durationKeys('decisionTimeout', 1),
          transport: z.enum(['grpcjs', 'http2']).default('http2').meta({
            description:
              'The gRPC implementation serving Check and health on this port: http2 (default, a Check-only node:http2 ' +
              'transport) or grpcjs (@grpc/grpc-js), with the same answers; see bench/README.md "node:http2 transport, seventh round".',
          }),
          tls: listenerTlsSchema().optional(),
        })
        .transform((o) => ({
          host: o.host,
          port: o.port,
          /**
           * Which gRPC implementation serves this listener: `http2` (default) answers Checks, health and errors on
           * node:http2 directly (src/extauthz/h2-check-server.ts), `grpcjs` the same through @grpc/grpc-js.
           */
          transport: o.transport,
          /** Largest CheckRequest accepted, bytes (default 1 MiB). */
          maxMessageBytes: o.maxMessageBytes,
          /**
           * The longest one decision may take, gRPC and HTTP mode alike (default 150 ms): a Check is answered by
           * min(received + this, the proxy's deadline − 20 ms), else 503 `deadline_exceeded`.
           */
          decisionTimeoutMs: pickDuration(o, 'decisionTimeout', 150),
          /** Serve TLS (and optionally require client certificates); unset = plaintext (mesh or localhost). */
          ...(o.tls !== undefined ? { tls: o.tls } : {}),
        }))
        .prefault({}),
      /** HTTP authorization mode (Envoy http_service, nginx auth_request, Traefik ForwardAuth). Default :9192. */
      httpAuthz: z
        .strictObject({
          ...listen(9192),
          enabled: z.boolean().default(true),
          /** Envoy `http_service.path_prefix` stripped from incoming paths (default `/check`). */
          pathPrefix: z
            .string()
            .regex(/^\/[A-Za-z0-9._~\/-]*$/, { error: 'must be a path starting with / (letters, digits, . _ ~ / -)' })
            .transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p))
            .default('/check'),
          /** Serve HTTPS (and optionally require client certificates); unset = plaintext. */
          tls: listenerTlsSchema().optional(),
        })
        .prefault({}),
      /** Public HTTP: Didit webhooks, verification callback, interstitial pages. Default :8080. */
      public: z
        .strictObject({
          ...listen(8080),
          baseUrl: httpUrl().optional(),
          maxBodyBytes: z.number().int().min(1024).max(64 * MiB).default(MiB),
        })
        .transform((o) => ({
          host: o.host,
          port: o.port,
          /** Externally visible base URL of this listener (for the Didit callback), e.g. `https://idgate.example.com`. */
          baseUrl: (o.baseUrl ?? `http://127.0.0.1:${o.port}`).replace(/\/+$/, ''),
          /** Largest webhook body accepted, bytes (default 1 MiB). */
          maxBodyBytes: o.maxBodyBytes,
        }))
        .prefault({}),
      /** Admin: /metrics, /healthz, /readyz, admin API. Default :9090. */
      admin: z
        .strictObject({
          ...listen(9090),
          token: secret()(sources)
            .refine((t) => t === undefined || t.length >= MIN_ADMIN_TOKEN_LENGTH, { error: `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters` })
            .optional(),
        })
        .transform((o) => ({
          host: o.host,
          port: o.port,
          /** Bearer token for the admin API (from an env/file reference); unset = admin API disabled. */
          ...(o.token !== undefined ? { token: o.token } : {}),
        }))
        .prefault({}),
      ...durationKeys('shutdownGrace'),
    })
    .transform((o) => ({
      grpc: o.grpc,
      httpAuthz: o.httpAuthz,
      public: o.public,
      admin: o.admin,
      /** How long SIGTERM waits for in-flight requests before exiting (default 10 s). */
      shutdownGraceMs: pickDuration(o, 'shutdownGrace', 10_000),
    }))
    .prefault({});
}

const tokenSource = () => z.discriminatedUnion(
  'type',
  [
    z
      .strictObject({ type: z.literal('header'), name: headerName(), scheme: z.string().regex(/^[A-Za-z0-9_-]+$/).optional() })
      .transform((o): TokenSource => {
        const scheme = o.scheme ?? (o.name === 'authorization' ? 'Bearer' : undefined);
        return scheme === undefined ? { type: 'header', name: o.name } : { type: 'header', name: o.name, scheme };
      }),
    z.strictObject({ type: z.literal('cookie'), name: z.string().regex(HEADER_NAME_RE, { error: 'not a valid cookie name' }) }),
    z.strictObject({ type: z.literal('envoyMetadata'), namespace: z.string().min(1), key: z.string().min(1) }),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? 'type must be one of: header, cookie, envoyMetadata' : undefined) },
);

/** An issuer's `jwks:` (key fetching and caching). */
export const jwksSchema = () => z
  .strictObject({
    ...durationKeys('refreshInterval', 1000),
    ...durationKeys('maxStale', 1000),
    ...durationKeys('minRefetchInterval'),
    ...durationKeys('fetchTimeout', 1),
    maxBodyBytes: z.number().int().min(1024).max(16 * MiB).default(256 * 1024),
  })
  .transform((o) => ({
    /** Keys are refreshed in the background after this long (default 10 min). */
    refreshIntervalMs: pickDuration(o, 'refreshInterval', 600_000),
    /**
     * Stale-if-error bound: while the endpoint fails, cached keys keep verifying for up to this long after the
     * last successful fetch; after that tokens are answered `dependency_unavailable` (default 24 h).
     */
    maxStaleMs: pickDuration(o, 'maxStale', 86_400_000),
    /** Minimum time between two refetches triggered by unknown `kid`s (default 30 s). */
    minRefetchIntervalMs: pickDuration(o, 'minRefetchInterval', 30_000),
    /** Timeout of one JWKS / discovery HTTP request (default 2 s). */
    fetchTimeoutMs: pickDuration(o, 'fetchTimeout', 2_000),
    /** Largest JWKS / discovery document accepted, bytes (default 256 KiB). */
    maxBodyBytes: o.maxBodyBytes,
  }))
  .prefault({});

/** Where tokens come from when an issuer names no `sources`: `Authorization: Bearer`. */
function defaultTokenSources(): TokenSource[] {
  return [{ type: 'header', name: 'authorization', scheme: 'Bearer' }];
}

/** One `issuers[]` entry. */
export function issuerSchema(sources: SecretSources) {
  return z
    .strictObject({
      name: z.string().regex(NAME_RE, { error: 'must match [a-z0-9_-]+' }),
      issuer: z.string().min(1),
      audiences: z.array(z.string().min(1)).min(1),
      jwksUri: httpUrl().optional(),
      discoveryUrl: httpUrl().optional(),
      secret: secret()(sources).optional(),
      algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).optional(),
      ...durationKeys('clockSkew'),
      subjectClaim: z.string().min(1).default('sub'),
      requiredType: z.string().min(1).optional(),
      ...durationKeys('maxTokenLifetime', 1000),
      authorizedParties: z.array(z.string().min(1)).min(1).optional(),
      sources: z.array(tokenSource()).min(1).optional(),
      jwks: jwksSchema(),
    })
    .transform((o) => ({
      /** Short name used in subjects (`<name>:<sub>`) and in policy (`issuers: [corp]`). `[a-z0-9_-]+`. */
      name: o.name,
      /** Expected `iss` claim, exactly. */
      issuer: o.issuer,
      /** Accepted `aud` values (at least one is required). */
      audiences: o.audiences,
      /** JWKS URL; exactly one of jwksUri, discoveryUrl, secret must be set (secret only for HS*). */
      ...(o.jwksUri !== undefined ? { jwksUri: o.jwksUri } : {}),
      /** OIDC discovery document URL (`…/.well-known/openid-configuration`); its `jwks_uri` is used. */
      ...(o.discoveryUrl !== undefined ? { discoveryUrl: o.discoveryUrl } : {}),
      /** Shared secret for HS* algorithms (resolved from an env/file reference, never literal in logs). */
      ...(o.secret !== undefined ? { secret: o.secret } : {}),
      /** Allowed `alg` values. Never `none`; HS* only with `secret`, asymmetric only without it. */
      algorithms: o.algorithms ?? (o.secret !== undefined ? ['HS256' as const] : ['RS256' as const]),
      /** Allowed clock skew for exp/nbf/iat (default 30 s). */
      clockSkewMs: pickDuration(o, 'clockSkew', 30_000),
      /** Claim holding the subject (default `sub`). */
      subjectClaim: o.subjectClaim,
      /**
       * Required `typ` header value, if any (e.g. `at+jwt`, RFC 9068): an OIDC ID token (`typ: JWT`, `aud` = the
       * client) presented as an access token is then refused.
       */
      ...(o.requiredType !== undefined ? { requiredType: o.requiredType } : {}),
      /** Longest accepted token lifetime (`exp - iat`); when set, a token without `iat` is refused. */
      ...(pickDuration(o, 'maxTokenLifetime') !== undefined ? { maxTokenLifetimeMs: pickDuration(o, 'maxTokenLifetime') as number } : {}),
      /** When set, the token's `azp` (authorized party, OIDC) must be one of these client ids; absent `azp` is refused. */
      ...(o.authorizedParties !== undefined ? { authorizedParties: o.authorizedParties } : {}),
      /** Where tokens for this issuer come from (default: `Authorization: Bearer`). */
      sources: o.sources ?? defaultTokenSources(),
      jwks: o.jwks,
    }));
}

/** Top-level `headers:`. */
export const headersSchema = () => z
  .strictObject({
    /** Prefix of identity headers idgate sets and strips from clients (default `x-idgate-`). */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, { error: 'must be letters, digits and dashes (e.g. x-idgate-)' })
      .transform((s) => s.toLowerCase())
      .default('x-idgate-'),
    /** Further client-sent header names always removed before the upstream sees the request. */
    strip: z.array(headerName()).default([]),
    /** Remove the `authorization` header on allow (default false). */
    removeAuthorization: z.boolean().default(false),
  })
  .prefault({});

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

const MATCHER_KEYS = ['equals', 'oneOf', 'contains', 'present'] as const;

/** `true` / `"x"` / `3` (equals), or `{ equals | oneOf | contains | present }`. */
const claimMatcher = () => z.unknown().transform((value, ctx): ClaimMatcher => {
  if (isScalar(value)) return { equals: value };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(ctx, `expected a value or one of { ${MATCHER_KEYS.join(' | ')} }, got ${describeType(value)}`);
  }
  const entries = Object.entries(value);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) return fail(ctx, `use exactly one of: ${MATCHER_KEYS.join(', ')}`);
  const [key, arg] = entry;
  switch (key) {
    case 'equals':
      return isScalar(arg) ? { equals: arg } : fail(ctx, 'expected a string, number or boolean', [key]);
    case 'oneOf':
      return Array.isArray(arg) && arg.length > 0 && arg.every(isScalar)
        ? { oneOf: arg }
        : fail(ctx, 'expected a non-empty list of strings, numbers or booleans', [key]);
    case 'contains':
      return typeof arg === 'string' && arg !== '' ? { contains: arg } : fail(ctx, 'expected a non-empty string', [key]);
    case 'present':
      return arg === true ? { present: true } : fail(ctx, 'only `present: true` is meaningful', [key]);
    default:
      return fail(ctx, `unknown matcher "${key}"${didYouMean(key, MATCHER_KEYS)}; use one of: ${MATCHER_KEYS.join(', ')}`, [key]);
  }
}).meta({
  description: 'A value the claim must equal, or one of { equals | oneOf | contains | present: true }.',
  anyOf: [
    SCALAR_JSON_SCHEMA,
    singleKeyJsonSchema('equals', SCALAR_JSON_SCHEMA),
    singleKeyJsonSchema('oneOf', { type: 'array', minItems: 1, items: SCALAR_JSON_SCHEMA }),
    singleKeyJsonSchema('contains', { type: 'string', minLength: 1 }),
    singleKeyJsonSchema('present', { const: true }),
  ],
});

const mfaSchema = () => z.unknown().transform((value, ctx): Requirements['mfa'] => {
  if (value === undefined || value === false) return undefined;
  // `mfa: true` means the IdP reported multi-factor login in `amr` (RFC 8176 value `mfa`).
  if (value === true) return { amr: ['mfa'] };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(ctx, `expected true or { amr, acrAtLeast }, got ${describeType(value)}`);
  }
  const o = value as Record<string, unknown>;
  let amr: string[] | undefined;
  let acrAtLeast: string | undefined;
  for (const [key, arg] of Object.entries(o)) {
    if (key === 'amr') {
      const list = Array.isArray(arg) ? arg : [arg];
      if (list.length === 0 || !list.every((s) => typeof s === 'string' && s !== '')) fail(ctx, 'expected a non-empty list of amr values', [key]);
      else amr = list as string[];
    } else if (key === 'acrAtLeast') {
      if (typeof arg !== 'string' || arg === '') fail(ctx, 'expected an acr value', [key]);
      else acrAtLeast = arg;
    } else {
      fail(ctx, `unknown key "${key}"${didYouMean(key, ['amr', 'acrAtLeast'])}`, [key]);
    }
  }
  if (amr === undefined && acrAtLeast === undefined) return fail(ctx, 'set amr, acrAtLeast or both');
  return { ...(amr !== undefined ? { amr } : {}), ...(acrAtLeast !== undefined ? { acrAtLeast } : {}) };
}).meta({
  description: 'true (the token\'s amr has mfa), false, or { amr, acrAtLeast }.',
  anyOf: [
    { type: 'boolean' },
    {
      type: 'object',
      properties: { amr: STRING_OR_LIST_JSON_SCHEMA, acrAtLeast: { type: 'string', minLength: 1 } },
      minProperties: 1,
      additionalProperties: false,
    },
  ],
});

const nonEmpty = (s: string): string | undefined => (s === '' ? 'must not be empty' : undefined);

/**
 * Requirements as written in a route's `require:` block or a sensitivity level. `forRoute`: an explicit
 * `require` route needs an authenticated caller unless it says `authenticated: false`; a sensitivity level
 * only adds what it names.
 */
function requirementsSchema(forRoute: boolean) {
  return z
    .strictObject({
      authenticated: z.boolean().optional(),
      issuers: stringOrList(nonEmpty).optional(),
      claims: z.record(z.string().min(1), claimMatcher()).optional(),
      scopes: stringOrList(nonEmpty, true).optional(),
      roles: stringOrList(nonEmpty).optional(),
      anyRoles: stringOrList(nonEmpty).optional(),
      allRoles: stringOrList(nonEmpty).optional(),
      mfa: mfaSchema().optional(),
      ...durationKeys('maxTokenAge', 1000),
      verification: stringOrList(nonEmpty).optional(),
      ...durationKeys('verificationMaxAge', 1000),
      onInReview: z.enum(['deny', 'allow']).default('deny'),
      onDeclined: z.enum(['deny', 'retry']).default('deny'),
    })
    .transform((o): Requirements => {
      const maxTokenAgeMs = pickDuration(o, 'maxTokenAge');
      const verificationMaxAgeMs = pickDuration(o, 'verificationMaxAge');
      const r = {
        issuers: o.issuers ?? [],
        claims: o.claims ?? {},
        scopes: unique(o.scopes ?? []),
        anyRoles: unique([...(o.roles ?? []), ...(o.anyRoles ?? [])]),
        allRoles: unique(o.allRoles ?? []),
        ...(o.mfa !== undefined ? { mfa: o.mfa } : {}),
        ...(maxTokenAgeMs !== undefined ? { maxTokenAgeMs } : {}),
        verification: unique(o.verification ?? []),
        ...(verificationMaxAgeMs !== undefined ? { verificationMaxAgeMs } : {}),
        onInReview: o.onInReview,
        onDeclined: o.onDeclined,
      };
      return { authenticated: o.authenticated ?? (forRoute || impliesAuthentication(r)), ...r };
    });
}

/** True when any requirement besides `authenticated` is set (each one needs a verified caller). */
export function impliesAuthentication(r: Omit<Requirements, 'authenticated'>): boolean {
  return (
    r.issuers.length > 0 ||
    Object.keys(r.claims).length > 0 ||
    r.scopes.length > 0 ||
    r.anyRoles.length > 0 ||
    r.allRoles.length > 0 ||
    r.mfa !== undefined ||
    r.maxTokenAgeMs !== undefined ||
    r.verification.length > 0
  );
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** Requirements of a route that needs nothing (public/deny routes). */
export const NO_REQUIREMENTS: Requirements = {
  authenticated: false,
  issuers: [],
  claims: {},
  scopes: [],
  anyRoles: [],
  allRoles: [],
  verification: [],
  onInReview: 'deny',
  onDeclined: 'deny',
};

function checkPath(kind: 'exact' | 'prefix' | 'glob'): (s: string) => string | undefined {
  return (s) => {
    if (!s.startsWith('/')) return `path must start with "/": ${JSON.stringify(s)}`;
    if (/[?#\0\s]/.test(s)) return `path must not contain "?", "#", spaces or NUL: ${JSON.stringify(s)}`;
    if (/\/\/|\/\.\.?(?:\/|$)|%/.test(s)) return `path is not canonical (no "//", "." or ".." segments, no %-escapes): ${JSON.stringify(s)}`;
    if (kind !== 'glob' && s.includes('*')) return `"*" is only meaningful in a glob: ${JSON.stringify(s)}`;
    if (kind === 'glob' && s.split('/').some((seg) => seg.includes('**') && seg !== '**')) {
      return `"**" must be a whole segment (e.g. /api/**/items): ${JSON.stringify(s)}`;
    }
    if (s.length > 1024) return 'path too long (max 1024)';
    return undefined;
  };
}

const pathMatchList = () => z.array(
  z.unknown().transform((value, ctx): PathMatch => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(ctx, 'expected { exact | prefix | glob: /path }');
    const entries = Object.entries(value);
    const [entry] = entries;
    if (entries.length !== 1 || entry === undefined) return fail(ctx, 'use exactly one of: exact, prefix, glob');
    const [key, arg] = entry;
    if (key !== 'exact' && key !== 'prefix' && key !== 'glob') return fail(ctx, `unknown key "${key}"${didYouMean(key, ['exact', 'prefix', 'glob'])}`, [key]);
    if (typeof arg !== 'string') return fail(ctx, 'expected a path', [key]);
    const problem = checkPath(key)(arg);
    if (problem !== undefined) return fail(ctx, problem, [key]);
    return key === 'exact' ? { exact: arg } : key === 'prefix' ? { prefix: arg } : { glob: arg };
  }).meta({
    oneOf: ['exact', 'prefix', 'glob'].map((key) => singleKeyJsonSchema(key, { type: 'string', pattern: '^/' })),
  }),
);

const checkHost = (s: string): string | undefined => (HOST_RE.test(s.toLowerCase()) ? undefined : `not a valid host name: ${JSON.stringify(s)}`);

const matchSchema = () => z
  .strictObject({
    path: stringOrList(checkPath('exact')).optional(),
    prefix: stringOrList(checkPath('prefix')).optional(),
    glob: stringOrList(checkPath('glob')).optional(),
    paths: pathMatchList().optional(),
    host: stringOrList(checkHost).optional(),
    hosts: stringOrList(checkHost).optional(),
    method: stringOrList(checkMethod).optional(),
    methods: stringOrList(checkMethod).optional(),
    contextExtensions: z.record(z.string().min(1), z.string()).optional(),
    caseSensitive: z.boolean().optional(),
    principals: stringOrList(checkPrincipalPattern).optional(),
  })
  .superRefine((o, ctx) => {
    // `{ path: /a, glob: /b/** }` reads like "both"; it would mean "either". One kind per match, or the
    // explicit list, which says what it means.
    const kinds = (['path', 'prefix', 'glob', 'paths'] as const).filter((k) => o[k] !== undefined);
    if (kinds.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [kinds[1] as string],
        message: `use one of path, prefix, glob or paths per match, not ${kinds.join(' and ')} (they would match either, not both); list several with paths: [{ exact: … }, { prefix: … }]`,
      });
    }
    // An empty list would match no caller at all: surely a mistake, not a way to write `deny`.
    if (o.principals?.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['principals'], message: 'list at least one SPIFFE ID, or omit principals to match any caller' });
    }
  })
  .transform((o): RouteMatch => {
    const paths: PathMatch[] = [
      ...(o.paths ?? []),
      ...(o.path ?? []).map((exact) => ({ exact })),
      ...(o.prefix ?? []).map((prefix) => ({ prefix })),
      ...(o.glob ?? []).map((glob) => ({ glob })),
    ];
    return {
      ...(o.contextExtensions !== undefined ? { contextExtensions: o.contextExtensions } : {}),
      hosts: unique([...(o.host ?? []), ...(o.hosts ?? [])].map((h) => h.toLowerCase())),
      paths,
      methods: unique([...(o.method ?? []), ...(o.methods ?? [])].map((m) => m.toUpperCase())),
      ...(o.caseSensitive === false ? { caseSensitive: false as const } : {}),
      ...(o.principals !== undefined ? { principals: unique(o.principals) } : {}),
    };
  })
  .prefault({});

/** One `policy.routes[]` entry; `cel` compiles condition expressions so their errors are load errors. */
function routeSchema(cel: CelCompiler) {
  return z
    .strictObject({
      id: z.string().regex(ROUTE_ID_RE, { error: 'must match [A-Za-z0-9_.-]+' }),
      match: matchSchema(),
      action: z.enum(['public', 'deny', 'require']).optional(),
      public: z.boolean().optional(),
      deny: z.boolean().optional(),
      require: requirementsSchema(true).optional(),
      sensitivity: z.string().min(1).optional(),
      claimHeaders: z.record(headerName(), z.string().min(1)).default({}),
      shadow: z.boolean().default(false),
      failOpen: z.boolean().default(false),
      conditions: conditionListSchema(cel).default([]),
      risk: riskBandListSchema().default([]),
    })
    .transform((o): RouteConfig => {
      const action = o.action ?? (o.public === true ? 'public' : o.deny === true ? 'deny' : 'require');
      const require = action === 'require' ? (o.require ?? { ...NO_REQUIREMENTS, authenticated: true }) : NO_REQUIREMENTS;
      return {
        id: o.id,
        match: o.match,
        action,
        require,
        ...(o.sensitivity !== undefined ? { sensitivity: o.sensitivity } : {}),
        claimHeaders: Object.fromEntries(Object.entries(o.claimHeaders).map(([h, c]) => [h.toLowerCase(), c])),
        shadow: o.shadow,
        failOpen: o.failOpen,
        conditions: o.conditions,
        riskBands: o.risk,
      };
    });
}

/** Top-level `policy:`; `cel` compiles the routes' condition expressions. */
export function policySchema(cel: CelCompiler) {
  return z
    .strictObject({
      /** What happens when no route matches (default `deny`). */
      default: z.enum(['deny', 'allow']).default('deny'),
      /** Shadow mode for the whole policy: evaluate and log, but allow (default false). */
      shadow: z.boolean().default(false),
      /**
       * `;` path parameters (`/a;jsessionid=1/b`): `reject` (default) denies them with `request_invalid`, as
       * Spring Security's strict firewall does; `strip` matches on the path with each segment's parameters
       * removed (how servlet containers route), for upstreams that use them. An encoded `;` is always rejected.
       */
      pathParameters: z.enum(['reject', 'strip']).default('reject'),
      /**
       * A request that asks for another method (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`
       * or `?_method=`): `deny` (default) refuses it with 400 `method_override` when the override differs from
       * the method; `honor` evaluates the policy with the override as the method.
       */
      methodOverride: z.enum(['deny', 'honor']).default('deny'),
      /** Roles are read from these claims (default `roles`, `groups`, `realm_access.roles`). Dotted paths allowed. */
      roleClaims: z.array(z.string().min(1)).min(1).default([...DEFAULT_ROLE_CLAIMS]),
      /** Ordered `acr` values, weakest first, for `mfa.acrAtLeast` comparisons. */
      acrOrder: z.array(z.string().min(1)).default([]),
      /** Data-sensitivity levels → minimum requirements merged into every route of that level. */
      sensitivity: z.record(z.string().regex(NAME_RE, { error: 'level names must match [a-z0-9_-]+' }), requirementsSchema(false)).default({}),
      /** First match wins. */
      routes: z.array(routeSchema(cel)).default([]),
      guardrails: z
        .array(guardrailSchema(cel))
        .default([])
        .meta({ description: 'Platform rules applied to every request they match (not first match): deny, or floors merged into the selected route (stricter wins).' }),
      tenants: z
        .array(tenantSchema())
        .default([])
        .meta({ description: 'Teams that own hosts and path prefixes; each one\'s routes live in its own files (first match within the tenant).' }),
      defaults: z
        .strictObject({ routes: z.array(routeSchema(cel)).default([]) })
        .prefault({})
        .meta({ description: 'Routes for requests a tenant owns but none of its routes matches (first match), before policy.default.' }),
    })
    // `revision` is computed by the loader (a hash of the platform file), never written.
    .transform((o) => ({ ...o, revision: '' }))
    .prefault({});
}

/**
 * One `policy.guardrails[]` entry: `match` as a route's (without `contextExtensions`: a guardrail applies
 * to every request it matches, whatever the proxy labels it), `deny` or `require` floors, conditions and
 * risk bands.
 */
function guardrailSchema(cel: CelCompiler) {
  return z
    .strictObject({
      id: z.string().regex(ROUTE_ID_RE, { error: 'must match [A-Za-z0-9_.-]+' }),
      match: matchSchema(),
      action: z.enum(['require', 'deny']).optional(),
      deny: z.boolean().optional(),
      require: requirementsSchema(false).optional(),
      sensitivity: z.string().min(1).optional(),
      conditions: conditionListSchema(cel).default([]),
      risk: riskBandListSchema().default([]),
    })
    .transform((o): GuardrailConfig => ({
      id: o.id,
      match: o.match,
      action: o.action ?? (o.deny === true ? 'deny' : 'require'),
      require: o.require ?? NO_REQUIREMENTS,
      ...(o.sensitivity !== undefined ? { sensitivity: o.sensitivity } : {}),
      conditions: o.conditions,
      riskBands: o.risk,
    }))
    .meta({ description: 'A guardrail: id, match (hosts, paths, methods, principals), deny: true or require floors, sensitivity, conditions, risk bands.' });
}

/** Tenant names: the first segment of their qualified route ids (`payments/refunds`). */
export const TENANT_NAME_RE = NAME_RE;

/**
 * One `policy.tenants[]` declaration as the platform file writes it. Its routes, status and revision are
 * filled in by the loader from its files (`resolveTenants`); until then it reads as failed.
 */
const tenantSchema = () => z
  .strictObject({
    name: z.string().regex(TENANT_NAME_RE, { error: 'tenant names must match [a-z0-9_-]+' }),
    owns: z
      .strictObject({
        hosts: z.array(z.string().min(1).refine((s) => checkHost(s) === undefined, { error: 'not a valid host name (exact, or *.example.com)' })).min(1),
        prefixes: z
          .array(z.string().min(1).refine((s) => checkPath('prefix')(s) === undefined, { error: 'must be a canonical path prefix starting with /' }))
          .min(1)
          .default(['/']),
      })
      .meta({ description: 'The hosts (exact or *.wildcard) and canonical path prefixes (default /) this tenant owns.' }),
    files: z
      .array(z.string().min(1))
      .min(1)
      .meta({ description: 'The tenant\'s policy files, relative to the platform file\'s directory (and inside it); each holds only routes:.' }),
  })
  .transform((o): TenantConfig => ({
    name: o.name,
    owns: { hosts: unique(o.owns.hosts.map((h) => h.toLowerCase())), prefixes: unique(o.owns.prefixes) },
    files: o.files,
    routes: [],
    status: 'failed',
    error: 'tenant files not read',
    revision: 'failed',
  }));

/** A tenant file: only `routes:` (today's route format). */
export function tenantFileSchema(cel: CelCompiler) {
  return z.strictObject({ routes: z.array(routeSchema(cel)).default([]) });
}

const workflowSchema = () => z.strictObject({
  workflowId: z.string().min(1),
  ...durationKeys('maxAge', 1000),
  minAge: z.number().int().min(1).max(150).optional(),
  requireAmlClear: z.boolean().default(false),
  requireDocumentValid: z.boolean().default(false),
});

/** One workflow as the configuration holds it: its key in `workflows` becomes its `name`. */
export function toWorkflow(name: string, w: z.output<ReturnType<typeof workflowSchema>>) {
  return {
    /** The policy-level name (key in `workflows`). */
    name,
    /** Didit's workflow UUID. */
    workflowId: w.workflowId,
    /** How long an Approved verdict counts (default 365 d). */
    maxAgeMs: pickDuration(w, 'maxAge', 365 * 86_400_000),
    /** Derived requirements checked from the Didit decision when the verdict is written. */
    ...(w.minAge !== undefined ? { minAge: w.minAge } : {}),
    requireAmlClear: w.requireAmlClear,
    requireDocumentValid: w.requireDocumentValid,
  };
}

const workflowsSchema = () => z
  .record(z.string().regex(NAME_RE, { error: 'workflow names must match [a-z0-9_-]+' }), workflowSchema())
  .transform((o): Record<string, ReturnType<typeof toWorkflow>> => Object.fromEntries(Object.entries(o).map(([name, w]) => [name, toWorkflow(name, w)])))
  .default({});

/** The embedded sandbox's built-in API key: `didit.apiKey` when a sandbox-mode configuration sets none. */
const SANDBOX_API_KEY = 'sandbox-api-key';

/** Live-mode credential rules: key, minimum length, and the sandbox's built-in value it must not equal. */
const LIVE_SECRET_RULES = [
  ['apiKey', 20, SANDBOX_API_KEY],
  // Didit's webhook secrets are 43-character URL-safe strings.
  ['webhookSecret', 32, 'sandbox-webhook-secret'],
  ['webhookSecretPrevious', 32, 'sandbox-webhook-secret'],
] as const;

function ticketSecret(sources: SecretSources) {
  return secret()(sources)
    .optional()
    .refine((v) => v === undefined || v.length >= 16, { error: 'must be at least 16 characters' });
}

/** Top-level `didit:`. */
export function diditSchema(sources: SecretSources) {
  return z
    .strictObject({
      mode: z.enum(['sandbox', 'live']),
      apiBaseUrl: httpUrl().optional(),
      apiKey: secret()(sources).optional(),
      webhookSecret: secret()(sources).optional(),
      webhookSecretPrevious: secret()(sources).optional(),
      startTicketSecret: ticketSecret(sources),
      startTicketSecretPrevious: ticketSecret(sources),
      ...durationKeys('startTicketTtl', 1000),
      ...durationKeys('stepUpWait'),
      ...durationKeys('requestTimeout', 1),
      maxRetries: z.number().int().min(0).max(10).default(2),
      ...durationKeys('webhookTolerance', 1000),
      ...durationKeys('reconcileAfter', 1000),
      ...durationKeys('sweepInterval', 1000),
      maxStepUps: z.number().int().min(1).max(100).default(5),
      returnToAllowlist: z.array(httpUrl().transform((s) => new URL(s).origin)).default([]),
      sandboxPort: port().default(8099),
      allowInsecureApiBaseUrl: z.boolean().default(false),
    })
    .superRefine((o, ctx) => {
      // Live mode talks to the real Didit with real money and real people: no sandbox-grade credentials,
      // and no plain-http API base (the API key travels in a header) unless explicitly allowed.
      if (o.mode !== 'live') return;
      for (const [key, min, sandboxValue] of LIVE_SECRET_RULES) {
        const value = o[key];
        if (value === undefined) continue;
        // Messages name the key and the rule, never the value.
        if (value === sandboxValue) {
          ctx.addIssue({ code: 'custom', path: [key], message: `is the sandbox's built-in value; use the live ${key} from the Didit Console` });
        } else if (value.length < min) {
          ctx.addIssue({ code: 'custom', path: [key], message: `is too short for didit.mode live (at least ${min} characters)` });
        }
      }
      const base = o.apiBaseUrl;
      if (base !== undefined && base.startsWith('http:') && !o.allowInsecureApiBaseUrl) {
        ctx.addIssue({
          code: 'custom',
          path: ['apiBaseUrl'],
          message: 'must use https when didit.mode is live (set allowInsecureApiBaseUrl: true only for a local stand-in)',
        });
      }
    })
    .transform((o) => ({
      /** `sandbox` = the embedded local Didit look-alike (default for `make run`); `live` = the real API. */
      mode: o.mode,
      /** Verification API base URL (default `https://verification.didit.me`; the sandbox's own URL in sandbox mode). */
      apiBaseUrl: (o.apiBaseUrl ?? (o.mode === 'live' ? 'https://verification.didit.me' : `http://127.0.0.1:${o.sandboxPort}`)).replace(/\/+$/, ''),
      /**
       * Didit API key. Unset, the sandbox's built-in key (live mode requires one: `didit.mode live needs
       * apiKey`, so a live configuration never runs with it).
       */
      apiKey: o.apiKey ?? SANDBOX_API_KEY,
      ...(o.webhookSecret !== undefined ? { webhookSecret: o.webhookSecret } : {}),
      /** A second secret accepted during rotation. */
      ...(o.webhookSecretPrevious !== undefined ? { webhookSecretPrevious: o.webhookSecretPrevious } : {}),
      /**
       * Key of the step-up start tickets (`<public.baseUrl>/verification/start/<ticket>`), ≥ 16 characters,
       * shared by every authz and webhook replica. Unset: derived from the webhook secret(s).
       */
      ...(o.startTicketSecret !== undefined ? { startTicketSecret: o.startTicketSecret } : {}),
      /** The previous ticket key, still accepted during a roll. */
      ...(o.startTicketSecretPrevious !== undefined ? { startTicketSecretPrevious: o.startTicketSecretPrevious } : {}),
      /** How long a start ticket is valid (default 10 min). */
      startTicketTtlMs: pickDuration(o, 'startTicketTtl', 600_000),
      /**
       * The longest a Check waits for Didit's session creation before it answers with idgate's start URL
       * (default 50 ms; never longer than the Check's own deadline).
       */
      stepUpWaitMs: pickDuration(o, 'stepUpWait', 50),
      requestTimeoutMs: pickDuration(o, 'requestTimeout', 5_000),
      maxRetries: o.maxRetries,
      /** Allowed clock difference for `X-Timestamp` (default 300 s). */
      webhookToleranceMs: pickDuration(o, 'webhookTolerance', 300_000),
      /** Pending sessions older than this are reconciled by fetching their decision (default 2 min). */
      reconcileAfterMs: pickDuration(o, 'reconcileAfter', 120_000),
      /** Sweep interval (default 60 s). */
      sweepIntervalMs: pickDuration(o, 'sweepInterval', 60_000),
      /** Cap on consecutive step-ups per subject+workflow within an hour (default 5). */
      maxStepUps: o.maxStepUps,
      /** Extra origins allowed as `return_to` targets besides the request's own host. */
      returnToAllowlist: o.returnToAllowlist,
      /** Port of the embedded sandbox when mode is `sandbox` (default 8099). */
      sandboxPort: o.sandboxPort,
      /**
       * Allow a plain-http `apiBaseUrl` in live mode (default false), e.g. for a local stand-in. In live mode the
       * API key must be ≥ 20 characters and the webhook secrets ≥ 32, and none may equal the sandbox's values.
       */
      allowInsecureApiBaseUrl: o.allowInsecureApiBaseUrl,
    }))
    .prefault({ mode: 'sandbox' });
}

const hostPort = () => z.strictObject({ host: z.string().min(1), port: port().min(1) });

/** Top-level `store:` (where verdicts and sessions live). */
export function storeSchema(sources: SecretSources) {
  return z
    .strictObject({
      type: z.enum(['memory', 'redis']).default('memory'),
      redis: z
        .strictObject({
          /** `redis://host:port/db` for standalone. */
          url: z
            .string()
            .refine((s) => URL.canParse(s) && /^rediss?:$/.test(new URL(s).protocol), { error: 'must be a redis:// or rediss:// URL' })
            .optional(),
          sentinels: z.array(hostPort()).min(1).optional(),
          sentinelName: z.string().min(1).optional(),
          cluster: z.array(hostPort()).min(1).optional(),
          password: secret()(sources).optional(),
          keyPrefix: z.string().min(1).default('idgate:v1:'),
          ...durationKeys('commandTimeout', 1),
          ...durationKeys('connectTimeout', 1),
        })
        .transform((o) => ({
          ...(o.url !== undefined ? { url: o.url } : {}),
          ...(o.sentinels !== undefined ? { sentinels: o.sentinels } : {}),
          ...(o.sentinelName !== undefined ? { sentinelName: o.sentinelName } : {}),
          ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
          ...(o.password !== undefined ? { password: o.password } : {}),
          keyPrefix: o.keyPrefix,
          commandTimeoutMs: pickDuration(o, 'commandTimeout', 500),
          connectTimeoutMs: pickDuration(o, 'connectTimeout', 2_000),
        }))
        .optional(),
      ...durationKeys('localCacheTtl'),
      localCacheMaxEntries: z.number().int().min(1).max(10_000_000).default(2_000),
    })
    .transform((o) => ({
      type: o.type,
      ...(o.redis !== undefined ? { redis: o.redis } : {}),
      /** Local per-replica verdict cache TTL (default 5 s; 0 disables). */
      localCacheTtlMs: pickDuration(o, 'localCacheTtl', 5_000),
      localCacheMaxEntries: o.localCacheMaxEntries,
    }))
    .prefault({});
}

/** Top-level `network:`. */
export const networkSchema = () => z
  .strictObject({
    /** CIDRs of proxies whose `x-forwarded-for` / `x-forwarded-*` headers are trusted. Empty = trust none. */
    trustedProxies: stringOrList(checkNetwork)
      .optional()
      .transform((v) => v ?? []),
  })
  .prefault({});

/**
 * Top-level `caches:` — the bounds of two per-replica caches of the `authz` role (the third, of verdicts, is
 * `store.localCacheMaxEntries`). Full, each entry costs about 1 KiB of heap; sizing: docs/deployment.md,
 * "Memory per active subject".
 */
export const cachesSchema = () => z
  .strictObject({
    tokens: z.number().int().min(1).max(10_000_000).default(2_000).meta({
      description:
        'Verified tokens kept per replica (a hit skips the signature check; an entry lives until the token\'s exp, at most 5 min). ' +
        'About 1 KiB of heap each when full. See docs/deployment.md, "Memory per active subject".',
    }),
    allows: z.number().int().min(1).max(10_000_000).default(2_000).meta({
      description:
        'Encoded allow responses kept per replica (a hit copies the bytes instead of rendering and encoding the allow). ' +
        'About 1 KiB of heap each when full. See docs/deployment.md, "Memory per active subject".',
    }),
  })
  .prefault({});

/** Top-level `logging:`. */
export const loggingSchema = () => z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Fraction of allowed requests written to the decision log (0..1; denies are always logged). */
    allowSampleRate: z.number().min(0).max(1).default(1),
    /**
     * Adds a `replay` record to every decision-log line: only what policy evaluation reads (docs/decision-log.md),
     * for `idgate policy diff --replay`. Never the token, never a header or claim the policy does not reference.
     */
    decisionReplay: z.boolean().default(false).meta({
      description:
        'Add a `replay` record to decision-log lines: only the request fields, headers and claims the policy reads ' +
        '(never the token), so `idgate policy diff --replay` can re-evaluate them under a new policy. See docs/decision-log.md.',
    }),
  })
  .prefault({});

/** Top-level `tracing:` (off by default; see docs/deployment.md, "Tracing"). */
export const tracingSchema = () => z
  .strictObject({
    /** Export spans over OTLP/HTTP (protobuf). Off: the OpenTelemetry packages are not even loaded. */
    enabled: z.boolean().default(false),
    /** The collector's OTLP/HTTP traces URL (default `http://127.0.0.1:4318/v1/traces`). */
    endpoint: z
      .url({ protocol: /^https?$/, error: 'tracing.endpoint must be an http(s) URL, e.g. http://otel-collector:4318/v1/traces' })
      .default('http://127.0.0.1:4318/v1/traces'),
    /** Parent-based: a propagated sampling flag wins; a Check without trace context is sampled at this ratio. */
    sampleRatio: z.number().min(0).max(1).default(1),
    /** `service.name` resource attribute (default `idgate`). */
    serviceName: z.string().min(1).max(128).default('idgate'),
    /**
     * Continue trace context found in request headers (CheckRequest headers, HTTP authz mode, webhook
     * deliveries). Off by default: clients can set those, so a sampled flag there would let them force spans.
     */
    trustIncomingContext: z.boolean().default(false),
  })
  .prefault({});

/** Top-level `demoIssuer:`. */
export const demoIssuerSchema = () => z.strictObject({
  port: port().default(8098),
  /** The `aud` of minted tokens (default `idgate-demo`). */
  audience: z.string().min(1).default('idgate-demo'),
});

/**
 * The zod schema of the whole YAML document: strict objects, shorthands expanded, defaults applied,
 * durations converted to ms and secret references resolved through `sources`. Cross-references between
 * sections are checked separately (`crossCheckConfig`). `cel` compiles the condition expressions; each
 * parsed `cel` test carries its program.
 */
export function createConfigSchema(sources: SecretSources, cel: CelCompiler) {
  return z
    .strictObject({
      server: serverSchema(sources),
      issuers: z.array(issuerSchema(sources)).default([]),
      headers: headersSchema(),
      policy: policySchema(cel),
      workflows: workflowsSchema(),
      didit: diditSchema(sources),
      store: storeSchema(sources),
      /** Bounds of the token and allow caches (the verdict cache's is `store.localCacheMaxEntries`). */
      caches: cachesSchema(),
      network: networkSchema(),
      logging: loggingSchema(),
      /** OpenTelemetry tracing (off by default; see docs/deployment.md, "Tracing"). */
      tracing: tracingSchema(),
      /**
       * A local OpenID Provider for trying idgate without one (`make run`): discovery, JWKS and a token
       * endpoint on 127.0.0.1:`port`, issuer `http://127.0.0.1:<port>`. Only allowed with `didit.mode: sandbox`.
       */
      demoIssuer: demoIssuerSchema().optional(),
      /** Where request context (country, device) comes from. */
      context: contextSchema(),
      /** Continuous-verification signals and their weights. */
      risk: riskSchema(),
    })
    // Through a pipe, the port check runs only on a document without any issue (as a refinement of the
    // object itself it would also run after issues zod lets continue).
    .transform((config) => config)
    .superRefine((config, ctx) => {
      for (const clash of portClashes(config)) ctx.addIssue({ code: 'custom', path: clash.path, message: clash.message });
    });
}

/**
 * Two listeners of `idgate serve` on one port (and an overlapping address: equal, or either a wildcard)
 * would fail at boot with EADDRINUSE — or, on platforms that allow sharing, split traffic between roles.
 * Port 0 (any free port) never clashes. Reported on the later of the two, naming the earlier.
 */
function portClashes(config: {
  readonly server: ServerConfig;
  readonly didit: DiditConfig;
  readonly demoIssuer?: DemoIssuerConfig | undefined;
}): { path: string[]; message: string }[] {
  const s = config.server;
  const listeners: { role: string; path: string[]; host: string; port: number }[] = [
    { role: 'server.grpc', path: ['server', 'grpc', 'port'], host: s.grpc.host, port: s.grpc.port },
    ...(s.httpAuthz.enabled ? [{ role: 'server.httpAuthz', path: ['server', 'httpAuthz', 'port'], host: s.httpAuthz.host, port: s.httpAuthz.port }] : []),
    { role: 'server.public', path: ['server', 'public', 'port'], host: s.public.host, port: s.public.port },
    { role: 'server.admin', path: ['server', 'admin', 'port'], host: s.admin.host, port: s.admin.port },
  ];
  // The embedded sandbox and the demo issuer listen on 127.0.0.1 (see app/start-idgate.ts).
  if (config.didit.mode === 'sandbox' && config.didit.apiBaseUrl === `http://127.0.0.1:${config.didit.sandboxPort}`) {
    listeners.push({ role: 'didit.sandboxPort', path: ['didit', 'sandboxPort'], host: '127.0.0.1', port: config.didit.sandboxPort });
  }
  if (config.demoIssuer !== undefined) {
    listeners.push({ role: 'demoIssuer.port', path: ['demoIssuer', 'port'], host: '127.0.0.1', port: config.demoIssuer.port });
  }
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '[::]';
  const clashes: { path: string[]; message: string }[] = [];
  listeners.forEach((b, j) => {
    const a = listeners.slice(0, j).find((x) => x.port !== 0 && x.port === b.port && (x.host === b.host || wildcard(x.host) || wildcard(b.host)));
    if (a !== undefined) clashes.push({ path: b.path, message: `port ${b.port} is already used by ${a.role}; each role needs its own port` });
  });
  return clashes;
}
