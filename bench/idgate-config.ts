import { stringify } from 'yaml';
import type { ScenarioDef } from './scenarios.js';

/** The bench's one verification workflow (policy name). */
export const BENCH_WORKFLOW = 'kyc';
/** The issuer name in idgate's config; subjects are `bench:<sub>`. */
export const BENCH_ISSUER_NAME = 'bench';

/** What varies between the idgate configs of the scenarios. */
export interface BenchConfigOptions {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** Redis URL; undefined = the in-memory store. */
  readonly redisUrl?: string;
  /** Local verdict cache TTL, ms (0 = off: every Check reads Redis). */
  readonly localCacheTtlMs: number;
  /** Number of routes in the policy (1 = just `orders`; the `mix` scenario uses 200). */
  readonly routes: number;
  /** Give each generated route a CEL condition (only when idgate's config accepts `condition`). */
  readonly celConditions: boolean;
  /** `tracing:` on, exporting to this OTLP/HTTP URL at `sampleRatio` (the `hot-traced` scenario). */
  readonly tracing?: { readonly endpoint: string; readonly sampleRatio: number };
  /**
   * Routes require the approved `kyc` verification (default true). The memory report's `authz` on the
   * in-memory store turns it off: that role has no sandbox and no shared store to hold a verdict, so the
   * only way it allows is a policy that needs a valid token, scope and role alone.
   */
  readonly requireVerification?: boolean;
  /**
   * Entries of each per-replica cache (`caches.tokens`, `caches.allows`, `store.localCacheMaxEntries`);
   * undefined = idgate's defaults. The soak's `--cache-entries`.
   */
  readonly cacheEntries?: number;
}

/** The path of generated route `i` of the mix policy (`/api/svc-007/items`). */
export function mixRoutePath(i: number): string {
  return `/api/svc-${String(i).padStart(3, '0')}/items`;
}

function requirements(verification: boolean): Record<string, unknown> {
  return {
    authenticated: true,
    issuers: [BENCH_ISSUER_NAME],
    scopes: ['orders:read'],
    anyRoles: ['customer'],
    ...(verification ? { verification: [BENCH_WORKFLOW] } : {}),
  };
}

/**
 * Renders the idgate YAML for a bench run: every listener on 127.0.0.1 port 0 (idgate logs the bound
 * ports), one RS256+ES256 issuer on the bench JWKS, a policy whose routes need an authenticated caller with
 * scope, role and an approved `kyc` verification, the embedded Didit sandbox, and logging at `info` (the
 * harness needs the `listening`/`ready` lines) with no allow sampling: allows are not logged, while denies and
 * step-ups are, as in production.
 *
 * Keys follow `src/config/types.ts` (camelCase, durations as `250ms`/`30s`).
 */
export function renderBenchConfig(options: BenchConfigOptions): string {
  const routes: Record<string, unknown>[] = [];
  const verification = options.requireVerification ?? true;
  // The generated routes come first so that in `mix` the matcher walks the whole list before `orders`.
  for (let i = 0; i < options.routes - 1; i += 1) {
    const route: Record<string, unknown> = {
      id: `svc-${String(i).padStart(3, '0')}`,
      match: { hosts: ['shop.example.com'], paths: [{ prefix: mixRoutePath(i).replace(/\/items$/, '') }], methods: ['GET', 'POST'] },
      action: 'require',
      require: requirements(verification),
      claimHeaders: { 'x-idgate-email': 'email' },
    };
    if (options.celConditions) {
      // A realistic CEL guard that does not fire for the bench's GETs (so the route still allows).
      route['conditions'] = [
        {
          name: 'no-delete-without-admin',
          when: { cel: `request.method == 'DELETE' && !('admin' in claims.roles) && ${i} >= 0` },
          then: { deny: 'condition_denied' },
        },
      ];
    }
    routes.push(route);
  }
  routes.push({
    id: 'orders',
    match: { hosts: ['shop.example.com'], paths: [{ prefix: '/api/orders' }], methods: ['GET'] },
    action: 'require',
    require: requirements(verification),
  });
  const config = {
    server: {
      grpc: { host: '127.0.0.1', port: 0 },
      httpAuthz: { enabled: false, host: '127.0.0.1', port: 0 },
      public: { host: '127.0.0.1', port: 0, baseUrl: 'http://127.0.0.1:8080' },
      admin: { host: '127.0.0.1', port: 0 },
    },
    issuers: [
      {
        name: BENCH_ISSUER_NAME,
        issuer: options.issuer,
        audiences: [options.audience],
        jwksUri: options.jwksUri,
        algorithms: ['RS256', 'ES256'],
      },
    ],
    policy: { default: 'deny', routes },
    workflows: { [BENCH_WORKFLOW]: { workflowId: '5b1e7d2a-0c4f-4a8e-9d3b-2f6a1c8e4b70' } },
    didit: { mode: 'sandbox', sandboxPort: 0, apiKey: 'bench-sandbox-key', webhookSecret: 'bench-sandbox-webhook-secret' },
    store: {
      type: options.redisUrl === undefined ? 'memory' : 'redis',
      ...(options.redisUrl !== undefined ? { redis: { url: options.redisUrl } } : {}),
      localCacheTtlMs: `${options.localCacheTtlMs}ms`,
      ...(options.cacheEntries !== undefined ? { localCacheMaxEntries: options.cacheEntries } : {}),
    },
    ...(options.cacheEntries !== undefined ? { caches: { tokens: options.cacheEntries, allows: options.cacheEntries } } : {}),
    logging: { level: 'info', allowSampleRate: 0 },
    ...(options.tracing !== undefined
      ? { tracing: { enabled: true, endpoint: options.tracing.endpoint, sampleRatio: options.tracing.sampleRatio } }
      : {}),
  };
  return stringify(config);
}

/** What a scenario's idgate config needs beyond the scenario: where its issuer, Redis and OTLP sink are. */
export interface ScenarioConfigInputs {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** Redis URL (Redis scenarios). */
  readonly redisUrl?: string | undefined;
  /** The OTLP sink's endpoint (traced scenarios). */
  readonly tracingEndpoint?: string | undefined;
  readonly celConditions: boolean;
}

/**
 * The idgate config of scenario `def`, the one `run.ts` and the A/B tools (`ab-session.ts`) both start: the
 * local verdict cache on (60 s) but for `redis-uncached`, and tracing at the scenario's ratio when it has one.
 * @throws TypeError when `def` is traced and no sink endpoint is given (it would run untraced).
 */
export function renderScenarioConfig(def: ScenarioDef, at: ScenarioConfigInputs): string {
  if (def.tracingSampleRatio !== undefined && at.tracingEndpoint === undefined) {
    throw new TypeError(`scenario ${def.name} is traced: it needs an OTLP sink endpoint`);
  }
  return renderBenchConfig({
    issuer: at.issuer,
    jwksUri: at.jwksUri,
    audience: at.audience,
    ...(at.redisUrl !== undefined ? { redisUrl: at.redisUrl } : {}),
    localCacheTtlMs: def.store === 'redis-uncached' ? 0 : 60_000,
    routes: def.routes,
    celConditions: at.celConditions,
    ...(at.tracingEndpoint !== undefined && def.tracingSampleRatio !== undefined
      ? { tracing: { endpoint: at.tracingEndpoint, sampleRatio: def.tracingSampleRatio } }
      : {}),
  });
}
