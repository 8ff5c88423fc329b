import type { z } from 'zod';
import type { CelProgram } from '../cel/compile-cel.js';
import type { demoIssuerSchema, headersSchema, loggingSchema, networkSchema, tracingSchema } from './config-schema.js';
import type { DeepReadonly } from './deep-readonly.js';
/**
 * The validated configuration: what `loadConfig()` returns after parsing YAML, resolving `${ENV}` secret
 * references, applying defaults and checking every value. Every duration is in **milliseconds**, every
 * name is already lower-cased where the protocol is case-insensitive (header names).
 *
 * Nothing on the request path reads the YAML or this object's raw form: `policy/` compiles it once.
 * The YAML spelling of each field is the same key (camelCase); durations are written as `30s`, `5m`,
 * `250ms`, `1h` or a number of seconds.
 */
export interface IdgateConfig {
  readonly server: ServerConfig;
  readonly issuers: readonly IssuerConfig[];
  readonly headers: HeadersConfig;
  readonly policy: PolicyConfig;
  readonly workflows: Readonly<Record<string, WorkflowConfig>>;
  readonly didit: DiditConfig;
  readonly store: StoreConfig;
  readonly network: NetworkConfig;
  readonly logging: LoggingConfig;
  /** OpenTelemetry tracing (off by default; see docs/deployment.md, "Tracing"). */
  readonly tracing: TracingConfig;
  /**
   * A local OpenID Provider for trying idgate without one (`make run`): discovery, JWKS and a token
   * endpoint on 127.0.0.1:`port`, issuer `http://127.0.0.1:<port>`. Only allowed with `didit.mode: sandbox`.
   */
  readonly demoIssuer?: DemoIssuerConfig;
  /** Where request context (country, device) comes from. */
  readonly context: ContextConfig;
  /** Continuous-verification signals and their weights. */
  readonly risk: RiskConfig;
}

/**
 * Trusted request-context inputs. These headers are believed as Envoy sends them, so the proxy must set
 * (overwrite) them itself — e.g. Envoy's geoip filter or an edge CDN header — and never pass a client's copy.
 */
export interface ContextConfig {
  /** Header carrying the client's ISO 3166-1 alpha-2 country (lower-case name), e.g. `x-geo-country`. */
  readonly countryHeader?: string;
  /** Headers whose values together fingerprint a device (hashed, never stored raw), e.g. `x-device-id`. */
  readonly deviceHeaders: readonly string[];
}

/** Continuous verification: what is remembered per subject and how signals are weighted. */
export interface RiskConfig {
  /** Record activity and compute signals for authenticated requests (default false). */
  readonly enabled: boolean;
  /** Weight each signal adds to the score (0..100 each; defaults new_device 30, country_change 40, impossible_travel 60, velocity 30, too_many_ips 40). */
  readonly weights: Readonly<Record<import('../risk/risk-assessment.js').RiskSignalName, number>>;
  /** A country change faster than this is impossible travel (default 1 h). */
  readonly impossibleTravelMs: number;
  /** Velocity window and the most requests per subject allowed in it (default 1 min / 300). */
  readonly velocityWindowMs: number;
  readonly velocityMax: number;
  /** Window and the most distinct source IPs one token may be used from (default 1 h / 5). */
  readonly tokenIpWindowMs: number;
  readonly maxIpsPerToken: number;
  /** How long per-subject risk state is kept after the last request (default 30 d). */
  readonly stateTtlMs: number;
}

/** What a condition (or a risk band) does when it matches. */
export type ConditionEffect =
  /** Deny with this code (one of DENY_CODES, typically network_denied, country_denied, time_denied, device_denied, condition_denied, risk_denied). */
  | { readonly kind: 'deny'; readonly code: import('../core/deny-code.js').DenyCode; readonly message?: string }
  /** Require this workflow (a name in `workflows`), optionally fresher than `maxAgeMs` (e.g. liveness within 15 min). */
  | { readonly kind: 'step_up'; readonly workflow: string; readonly maxAgeMs?: number }
  /** Stop evaluating further conditions (identity and verification requirements still apply). */
  | { readonly kind: 'allow' };

/** A comparison for device-posture values (from a trusted header or a claim). */
export type PostureComparison =
  | { readonly equals: string | number | boolean }
  | { readonly notEquals: string | number | boolean }
  | { readonly oneOf: readonly (string | number | boolean)[] }
  /** Numeric when both sides are numbers, else dotted-version / lexicographic order (`14.2.1` ≥ `14.2`). */
  | { readonly atLeast: string | number }
  | { readonly atMost: string | number }
  | { readonly present: boolean };

/** A time window in a named IANA time zone. */
export interface TimeWindow {
  /** Days as `mon`..`sun` (empty = every day). */
  readonly days: readonly ('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[];
  /** Minutes after local midnight, `from` inclusive, `to` exclusive; `from > to` wraps past midnight. */
  readonly fromMinute: number;
  readonly toMinute: number;
  /** IANA zone, e.g. `Europe/Madrid` (DST handled by the zone rules). */
  readonly timeZone: string;
}

/** The test of a condition: exactly one kind. */
export type ConditionTest =
  | { readonly kind: 'sourceIp'; readonly in?: readonly string[]; readonly notIn?: readonly string[] }
  | { readonly kind: 'country'; readonly in?: readonly string[]; readonly notIn?: readonly string[] }
  | { readonly kind: 'time'; readonly within?: TimeWindow; readonly outside?: TimeWindow }
  | { readonly kind: 'device'; readonly header?: string; readonly claim?: string; readonly test: PostureComparison }
  | { readonly kind: 'risk'; readonly scoreAtLeast: number }
  /** A CEL expression over `request`, `claims`, `context`, `verification`, `risk`; must yield a bool. */
  | {
      readonly kind: 'cel';
      readonly expression: string;
      /**
       * The program the loader compiled while validating `expression` (not enumerable: it is not part of the
       * configuration's data), so the policy compiler does not compile it again. Absent from a hand-built
       * configuration; the policy compiler then compiles `expression` itself.
       */
      readonly program?: CelProgram;
    };

/** One contextual condition of a route: when `when` matches, `then` applies. Evaluated in order. */
export interface ConditionConfig {
  /** Shown in traces, logs and explain. */
  readonly name: string;
  readonly when: ConditionTest;
  readonly then: ConditionEffect;
}

/** A risk band of a route: when the request's risk score is at least `atLeast`, `then` applies (highest band first). */
export interface RiskBand {
  readonly atLeast: number;
  readonly then: ConditionEffect;
}


/** TLS of an authz listener (`server.grpc.tls`, `server.httpAuthz.tls`); see docs/deployment.md "TLS". */
export interface ListenerTlsConfig {
  /** PEM certificate chain served (e.g. a cert-manager Secret's `tls.crt`). */
  readonly certFile: string;
  /** PEM private key of that certificate (`tls.key`). */
  readonly keyFile: string;
  /** PEM CA bundle that client certificates must chain to; set = mTLS (a client certificate is required). */
  readonly clientCaFile?: string;
  /**
   * Client certificate SANs allowed (needs `clientCaFile`): entries with a scheme (`spiffe://…`) match URI
   * SANs, others DNS SANs; exact match. Empty = any certificate the CA verified.
   */
  readonly allowedSans: readonly string[];
  /** How often the files are checked for rotation (default 10 s). */
  readonly reloadIntervalMs: number;
}

export interface ServerConfig {
  /** gRPC ext_authz + health. Default 0.0.0.0:9191. */
  readonly grpc: ListenConfig & {
    /** Largest CheckRequest accepted, bytes (default 1 MiB). */
    readonly maxMessageBytes: number;
    /**
     * The longest one decision may take, gRPC and HTTP mode alike (default 150 ms): a Check is answered by
     * min(received + this, the proxy's deadline − 20 ms), else 503 `deadline_exceeded`.
     */
    readonly decisionTimeoutMs: number;
    /** Serve TLS (and optionally require client certificates); unset = plaintext (mesh or localhost). */
    readonly tls?: ListenerTlsConfig;
  };
  /** HTTP authorization mode (Envoy http_service, nginx auth_request, Traefik ForwardAuth). Default :9192. */
  readonly httpAuthz: ListenConfig & {
    readonly enabled: boolean;
    /** Envoy `http_service.path_prefix` stripped from incoming paths (default `/check`). */
    readonly pathPrefix: string;
    /** Serve HTTPS (and optionally require client certificates); unset = plaintext. */
    readonly tls?: ListenerTlsConfig;
  };
  /** Public HTTP: Didit webhooks, verification callback, interstitial pages. Default :8080. */
  readonly public: ListenConfig & {
    /** Externally visible base URL of this listener (for the Didit callback), e.g. `https://idgate.example.com`. */
    readonly baseUrl: string;
    /** Largest webhook body accepted, bytes (default 1 MiB). */
    readonly maxBodyBytes: number;
  };
  /** Admin: /metrics, /healthz, /readyz, admin API. Default :9090. */
  readonly admin: ListenConfig & {
    /** Bearer token for the admin API (from an env/file reference); unset = admin API disabled. */
    readonly token?: string;
  };
  /** How long SIGTERM waits for in-flight requests before exiting (default 10 s). */
  readonly shutdownGraceMs: number;
}

export interface ListenConfig {
  readonly host: string;
  readonly port: number;
}

export type JwtAlgorithm =
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA'
  | 'HS256' | 'HS384' | 'HS512';

/** Where to look for a caller's token, tried in order; the first one present is used. */
export type TokenSource =
  | { readonly type: 'header'; readonly name: string; readonly scheme?: string } // e.g. authorization / Bearer
  | { readonly type: 'cookie'; readonly name: string }
  /** Claims already verified by Envoy's jwt_authn filter (`payload_in_metadata`); plain Envoy only. */
  | { readonly type: 'envoyMetadata'; readonly namespace: string; readonly key: string };

export interface IssuerConfig {
  /** Short name used in subjects (`<name>:<sub>`) and in policy (`issuers: [corp]`). `[a-z0-9_-]+`. */
  readonly name: string;
  /** Expected `iss` claim, exactly. */
  readonly issuer: string;
  /** Accepted `aud` values (at least one is required). */
  readonly audiences: readonly string[];
  /** JWKS URL; exactly one of jwksUri, discoveryUrl, secret must be set (secret only for HS*). */
  readonly jwksUri?: string;
  /** OIDC discovery document URL (`…/.well-known/openid-configuration`); its `jwks_uri` is used. */
  readonly discoveryUrl?: string;
  /** Shared secret for HS* algorithms (resolved from an env/file reference, never literal in logs). */
  readonly secret?: string;
  /** Allowed `alg` values. Never `none`; HS* only with `secret`, asymmetric only without it. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Allowed clock skew for exp/nbf/iat (default 30 s). */
  readonly clockSkewMs: number;
  /** Claim holding the subject (default `sub`). */
  readonly subjectClaim: string;
  /**
   * Required `typ` header value, if any (e.g. `at+jwt`, RFC 9068): an OIDC ID token (`typ: JWT`, `aud` = the
   * client) presented as an access token is then refused.
   */
  readonly requiredType?: string;
  /** Longest accepted token lifetime (`exp - iat`); when set, a token without `iat` is refused. */
  readonly maxTokenLifetimeMs?: number;
  /** When set, the token's `azp` (authorized party, OIDC) must be one of these client ids; absent `azp` is refused. */
  readonly authorizedParties?: readonly string[];
  /** Where tokens for this issuer come from (default: `Authorization: Bearer`). */
  readonly sources: readonly TokenSource[];
  readonly jwks: JwksConfig;
}

export interface JwksConfig {
  /** Keys are refreshed in the background after this long (default 10 min). */
  readonly refreshIntervalMs: number;
  /**
   * Stale-if-error bound: while the endpoint fails, cached keys keep verifying for up to this long after the
   * last successful fetch; after that tokens are answered `dependency_unavailable` (default 24 h).
   */
  readonly maxStaleMs: number;
  /** Minimum time between two refetches triggered by unknown `kid`s (default 30 s). */
  readonly minRefetchIntervalMs: number;
  /** Timeout of one JWKS / discovery HTTP request (default 2 s). */
  readonly fetchTimeoutMs: number;
  /** Largest JWKS / discovery document accepted, bytes (default 256 KiB). */
  readonly maxBodyBytes: number;
}


export interface PolicyConfig {
  /** What happens when no route matches (default `deny`). */
  readonly default: 'deny' | 'allow';
  /** Shadow mode for the whole policy: evaluate and log, but allow (default false). */
  readonly shadow: boolean;
  /**
   * `;` path parameters (`/a;jsessionid=1/b`): `reject` (default) denies them with `request_invalid`, as
   * Spring Security's strict firewall does; `strip` matches on the path with each segment's parameters
   * removed (how servlet containers route), for upstreams that use them. An encoded `;` is always rejected.
   */
  readonly pathParameters: 'reject' | 'strip';
  /**
   * A request that asks for another method (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`
   * or `?_method=`): `deny` (default) refuses it with 400 `method_override` when the override differs from
   * the method; `honor` evaluates the policy with the override as the method. Absent = `deny`.
   */
  readonly methodOverride?: 'deny' | 'honor';
  /** Roles are read from these claims (default `roles`, `groups`, `realm_access.roles`). Dotted paths allowed. */
  readonly roleClaims: readonly string[];
  /** Ordered `acr` values, weakest first, for `mfa.acrAtLeast` comparisons. */
  readonly acrOrder: readonly string[];
  /** Data-sensitivity levels → minimum requirements merged into every route of that level. */
  readonly sensitivity: Readonly<Record<string, Requirements>>;
  /** First match wins. */
  readonly routes: readonly RouteConfig[];
}

export interface RouteConfig {
  /** Unique id, shown in logs, metrics, explain and `context_extensions: { policy: <id> }`. */
  readonly id: string;
  readonly match: RouteMatch;
  /** `public` = no identity needed; `deny` = always deny; `require` = check the requirements. */
  readonly action: 'public' | 'deny' | 'require';
  readonly require: Requirements;
  /** Data-sensitivity level (key of `policy.sensitivity`). */
  readonly sensitivity?: string;
  /** Claim → upstream header mappings (header name lower-case, must start with the headers prefix or be listed). */
  readonly claimHeaders: Readonly<Record<string, string>>;
  /** Shadow mode for this route. */
  readonly shadow: boolean;
  /** When true and a dependency (Redis, Didit) fails, allow instead of 503 (default false: fail closed). */
  readonly failOpen: boolean;
  /** Contextual conditions, evaluated in order after identity (default none). */
  readonly conditions: readonly ConditionConfig[];
  /** Risk-score bands (default none: the score is only logged). */
  readonly riskBands: readonly RiskBand[];
}

export interface RouteMatch {
  /**
   * Matches when Envoy's `context_extensions` contain all these key/value pairs
   * (e.g. `{ policy: payments }`). Checked before host/path.
   */
  readonly contextExtensions?: Readonly<Record<string, string>>;
  /** Host names (lower-case); `*.example.com` wildcards allowed. Empty = any host. */
  readonly hosts: readonly string[];
  /** Path matchers over the canonical path. Empty = any path. */
  readonly paths: readonly PathMatch[];
  /**
   * `false`: `paths` match regardless of ASCII letter case (Envoy's `case_sensitive: false`), for upstreams
   * that route case-insensitively (IIS, ASP.NET, Express's default router). Absent = case-sensitive.
   */
  readonly caseSensitive?: false;
  /** Upper-case methods. Empty = any method. */
  readonly methods: readonly string[];
}

export type PathMatch =
  | { readonly exact: string }
  /** Segment-aware prefix: `/api` matches `/api` and `/api/x`, not `/apix`. */
  | { readonly prefix: string }
  /** `*` matches within one segment, `**` across segments. */
  | { readonly glob: string };

export type ClaimMatcher =
  | { readonly equals: string | number | boolean }
  | { readonly oneOf: readonly (string | number | boolean)[] }
  /** The claim (an array, or a space-separated string) contains this value. */
  | { readonly contains: string }
  /** The claim is present (any value). */
  | { readonly present: true };

export interface Requirements {
  /** A verified token is required (implied by every other requirement). */
  readonly authenticated: boolean;
  /** Only tokens from these issuer names (empty = any configured issuer). */
  readonly issuers: readonly string[];
  /** Claim name (dotted path allowed) → matcher; all must hold. */
  readonly claims: Readonly<Record<string, ClaimMatcher>>;
  /** All of these must be in `scope` (space-separated) or `scp` (array). */
  readonly scopes: readonly string[];
  /** At least one of these must be in the role claims. */
  readonly anyRoles: readonly string[];
  /** All of these must be in the role claims. */
  readonly allRoles: readonly string[];
  readonly mfa?: {
    /** At least one of these in `amr`. */
    readonly amr?: readonly string[];
    /** `acr` at least this value in `policy.acrOrder`. */
    readonly acrAtLeast?: string;
  };
  /** `auth_time` no older than this. */
  readonly maxTokenAgeMs?: number;
  /** Didit workflows (names in `workflows`) that must be satisfied, all of them. */
  readonly verification: readonly string[];
  /** Overrides the workflow's maxAge for this route (verification freshness). */
  readonly verificationMaxAgeMs?: number;
  /** What an In Review verdict does (default deny 403 `verification_in_review`). */
  readonly onInReview: 'deny' | 'allow';
  /** What a Declined verdict does (default deny 403 `verification_declined`; `retry` = step up again). */
  readonly onDeclined: 'deny' | 'retry';
}

export interface WorkflowConfig {
  /** The policy-level name (key in `workflows`). */
  readonly name: string;
  /** Didit's workflow UUID. */
  readonly workflowId: string;
  /** How long an Approved verdict counts (default 365 d). */
  readonly maxAgeMs: number;
  /** Derived requirements checked from the Didit decision when the verdict is written. */
  readonly minAge?: number;
  readonly requireAmlClear: boolean;
  readonly requireDocumentValid: boolean;
}

export interface DiditConfig {
  /** `sandbox` = the embedded local Didit look-alike (default for `make run`); `live` = the real API. */
  readonly mode: 'sandbox' | 'live';
  /** Verification API base URL (default `https://verification.didit.me`; the sandbox's own URL in sandbox mode). */
  readonly apiBaseUrl: string;
  readonly apiKey?: string;
  readonly webhookSecret?: string;
  /** A second secret accepted during rotation. */
  readonly webhookSecretPrevious?: string;
  /**
   * Key of the step-up start tickets (`<public.baseUrl>/verification/start/<ticket>`), ≥ 16 characters,
   * shared by every authz and webhook replica. Unset: derived from the webhook secret(s).
   */
  readonly startTicketSecret?: string;
  /** The previous ticket key, still accepted during a roll. */
  readonly startTicketSecretPrevious?: string;
  /** How long a start ticket is valid (default 10 min). */
  readonly startTicketTtlMs: number;
  /**
   * The longest a Check waits for Didit's session creation before it answers with idgate's start URL
   * (default 50 ms; never longer than the Check's own deadline).
   */
  readonly stepUpWaitMs: number;
  readonly requestTimeoutMs: number;
  readonly maxRetries: number;
  /** Allowed clock difference for `X-Timestamp` (default 300 s). */
  readonly webhookToleranceMs: number;
  /** Pending sessions older than this are reconciled by fetching their decision (default 2 min). */
  readonly reconcileAfterMs: number;
  /** Sweep interval (default 60 s). */
  readonly sweepIntervalMs: number;
  /** Cap on consecutive step-ups per subject+workflow within an hour (default 5). */
  readonly maxStepUps: number;
  /** Extra origins allowed as `return_to` targets besides the request's own host. */
  readonly returnToAllowlist: readonly string[];
  /** Port of the embedded sandbox when mode is `sandbox` (default 8099). */
  readonly sandboxPort: number;
  /**
   * Allow a plain-http `apiBaseUrl` in live mode (default false), e.g. for a local stand-in. In live mode the
   * API key must be ≥ 20 characters and the webhook secrets ≥ 32, and none may equal the sandbox's values.
   */
  readonly allowInsecureApiBaseUrl: boolean;
}

export interface StoreConfig {
  readonly type: 'memory' | 'redis';
  readonly redis?: {
    /** `redis://host:port/db` for standalone. */
    readonly url?: string;
    readonly sentinels?: readonly { host: string; port: number }[];
    readonly sentinelName?: string;
    readonly cluster?: readonly { host: string; port: number }[];
    readonly password?: string;
    readonly keyPrefix: string;
    readonly commandTimeoutMs: number;
    readonly connectTimeoutMs: number;
  };
  /** Local per-replica verdict cache TTL (default 5 s; 0 disables). */
  readonly localCacheTtlMs: number;
  readonly localCacheMaxEntries: number;
}

// Sections whose type is what their schema outputs (field documentation lives on the schema).
export type HeadersConfig = DeepReadonly<z.output<typeof headersSchema>>;
export type NetworkConfig = DeepReadonly<z.output<typeof networkSchema>>;
export type LoggingConfig = DeepReadonly<z.output<typeof loggingSchema>>;
export type TracingConfig = DeepReadonly<z.output<typeof tracingSchema>>;
export type DemoIssuerConfig = DeepReadonly<z.output<typeof demoIssuerSchema>>;
