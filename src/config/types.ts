import type { z } from 'zod';
import type { CelProgram } from '../cel/compile-cel.js';
import type { contextSchema, riskSchema } from './condition-schema.js';
import type {
  cachesSchema,
  createConfigSchema,
  demoIssuerSchema,
  diditSchema,
  headersSchema,
  issuerSchema,
  jwksSchema,
  listenerTlsSchema,
  loggingSchema,
  networkSchema,
  policySchema,
  serverSchema,
  storeSchema,
  toWorkflow,
  tracingSchema,
} from './config-schema.js';
import type { DeepReadonly } from './deep-readonly.js';

/**
 * The validated configuration: what `loadConfig()` returns after parsing YAML, resolving `${ENV}` secret
 * references, applying defaults and checking every value. Every duration is in **milliseconds**, every
 * name is already lower-cased where the protocol is case-insensitive (header names).
 *
 * Nothing on the request path reads the YAML or this object's raw form: `policy/` compiles it once.
 * The YAML spelling of each field is the same key (camelCase); durations are written as `30s`, `5m`,
 * `250ms`, `1h` or a number of seconds.
 *
 * The sections whose type is exactly what their schema outputs are derived from it (their fields are
 * documented on the schema); the shapes built by hand-written parsers (conditions, matchers, requirements,
 * routes) are declared here.
 */
export type IdgateConfig = DeepReadonly<z.output<ReturnType<typeof createConfigSchema>>>;



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
  /** The caller workload's SPIFFE ID (Envoy's `source.principal`): exact IDs or `…/*` prefixes. */
  | { readonly kind: 'principal'; readonly in?: readonly string[]; readonly notIn?: readonly string[] }
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





/** Where to look for a caller's token, tried in order; the first one present is used. */
export type TokenSource =
  | { readonly type: 'header'; readonly name: string; readonly scheme?: string } // e.g. authorization / Bearer
  | { readonly type: 'cookie'; readonly name: string }
  /** Claims already verified by Envoy's jwt_authn filter (`payload_in_metadata`); plain Envoy only. */
  | { readonly type: 'envoyMetadata'; readonly namespace: string; readonly key: string };





/**
 * Where a config object was declared: the file as the operator named it (the platform file's path, or a
 * tenant file's path joined to the platform file's directory) and a 1-based line and column. Set by the
 * loader as a non-enumerable `source` property (like `program` on cel tests): it is not configuration data,
 * so it never takes part in comparisons (`planReload`) or serialisation.
 */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * One `policy.guardrails[]` entry: a platform rule applied to **every** request it matches (not first
 * match), whatever route or default decided. Its `match` has no `contextExtensions`.
 */
export interface GuardrailConfig {
  /** Unique among guardrails; the same pattern as route ids. */
  readonly id: string;
  readonly match: RouteMatch;
  /** `deny` denies every matching request; `require` sets floors merged into the selected route's. */
  readonly action: 'require' | 'deny';
  /** The floors; {@link NO_REQUIREMENTS}-like (authenticated false) when absent. */
  readonly require: Requirements;
  /** Data-sensitivity level (key of `policy.sensitivity`) whose requirements also apply. */
  readonly sensitivity?: string;
  readonly conditions: readonly ConditionConfig[];
  readonly riskBands: readonly RiskBand[];
  /** Where it was declared (non-enumerable; absent on a hand-built configuration). */
  readonly source?: SourcePosition;
}

/** How a tenant's files loaded: this load's files, the last good routes kept, or none at all. */
export type TenantStatus = 'ok' | 'stale' | 'failed';

/** One `policy.tenants[]` entry with its routes read from its own files. */
export interface TenantConfig {
  /** `[a-z0-9_-]+`, unique; the prefix of its qualified route ids. */
  readonly name: string;
  /** What the tenant owns: hosts (exact or `*.` wildcard, lower-case) and canonical path prefixes (default `/`). */
  readonly owns: { readonly hosts: readonly string[]; readonly prefixes: readonly string[] };
  /** Absolute paths, resolved against the platform file's directory. */
  readonly files: readonly string[];
  /** Route ids already qualified `<name>/<id>`; the previous good routes when `status` is `stale`; [] when failed. */
  readonly routes: readonly RouteConfig[];
  readonly status: TenantStatus;
  /** The formatted load error (ConfigError.format()) when stale or failed. */
  readonly error?: string;
  /** First 12 hex of sha256 over its files' bytes, in order (the kept version's when stale); `failed` when failed. */
  readonly revision: string;
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
  /** Where it was declared (non-enumerable; absent on a hand-built configuration). */
  readonly source?: SourcePosition;
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
  /**
   * Caller workload SPIFFE IDs (Envoy's `source.principal`, set by mTLS): exact IDs or `…/*` prefixes.
   * Absent = any caller; when set, a request without a principal never matches.
   */
  readonly principals?: readonly string[];
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




export type HeadersConfig = DeepReadonly<z.output<ReturnType<typeof headersSchema>>>;
export type CachesConfig = DeepReadonly<z.output<ReturnType<typeof cachesSchema>>>;
export type NetworkConfig = DeepReadonly<z.output<ReturnType<typeof networkSchema>>>;
export type LoggingConfig = DeepReadonly<z.output<ReturnType<typeof loggingSchema>>>;
export type TracingConfig = DeepReadonly<z.output<ReturnType<typeof tracingSchema>>>;
export type DemoIssuerConfig = DeepReadonly<z.output<ReturnType<typeof demoIssuerSchema>>>;
export type ServerConfig = DeepReadonly<z.output<ReturnType<typeof serverSchema>>>;
export type ListenerTlsConfig = DeepReadonly<z.output<ReturnType<typeof listenerTlsSchema>>>;
export type IssuerConfig = DeepReadonly<z.output<ReturnType<typeof issuerSchema>>>;
export type JwksConfig = DeepReadonly<z.output<ReturnType<typeof jwksSchema>>>;
export type WorkflowConfig = DeepReadonly<ReturnType<typeof toWorkflow>>;
export type DiditConfig = DeepReadonly<z.output<ReturnType<typeof diditSchema>>>;
export type StoreConfig = DeepReadonly<z.output<ReturnType<typeof storeSchema>>>;
export type { JwtAlgorithm } from './config-schema.js';
export type ContextConfig = DeepReadonly<z.output<ReturnType<typeof contextSchema>>>;
export type RiskConfig = DeepReadonly<z.output<ReturnType<typeof riskSchema>>>;
export type PolicyConfig = DeepReadonly<z.output<ReturnType<typeof policySchema>>>;
