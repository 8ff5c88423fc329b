/** Options for {@link testConfigYaml}: a complete idgate config for integration tests, all on loopback. */
export interface TestConfigOptions {
  /** Issuer URL (`iss`) and its JWKS URL. */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience?: string;
  /** Fixed ports; 0 (default) = any free port, reported in the process's `listening` lines. */
  readonly ports?: { grpc?: number; http?: number; public?: number; admin?: number };
  /** `memory` (default) or a redis URL. */
  readonly redisUrl?: string;
  /** Local verdict cache TTL (e.g. `0s` to read Redis every time). */
  readonly localCacheTtl?: string;
  /** Didit API base (the test's sandbox) — when set, workflows and Didit settings are included. */
  readonly didit?: {
    /** Omit to embed the sandbox in `idgate serve` (`sandboxPort: 0`; its port is logged as role `sandbox`). */
    readonly apiBaseUrl?: string;
    readonly apiKey: string;
    readonly webhookSecret: string;
    readonly kycWorkflowId: string;
    readonly ageWorkflowId: string;
    readonly publicBaseUrl?: string;
    readonly reconcileAfter?: string;
    readonly sweepInterval?: string;
    readonly returnToAllowlist?: readonly string[];
    /**
     * `didit.stepUpWait` (default here `10s`, i.e. up to the Check's own deadline: the suites written
     * before the start URL expect Didit's URL on a first Check against the fast local sandbox even on a
     * loaded machine). `null` leaves it out, so the product default (50 ms) applies.
     */
    readonly stepUpWait?: string | null;
  };
  readonly adminToken?: string;
  /** `network.trustedProxies` (default none). */
  readonly trustedProxies?: readonly string[];
  /** When set, tokens are read from this cookie first, then from `Authorization: Bearer`. */
  readonly cookieToken?: string;
  readonly extraRoutes?: string;
  readonly allowSampleRate?: number;
  /** Replaces the whole `store:` section body (indented two spaces), e.g. for Sentinel or Cluster. */
  readonly storeYaml?: string;
  /** Extra keys of the `test` issuer, one per line, indented four spaces (e.g. `    requiredType: at+jwt`). */
  readonly issuerYaml?: string;
  /** Extra inline keys of `server.grpc`, e.g. `decisionTimeout: 150ms`. */
  readonly grpcYaml?: string;
  /** Extra inline keys of `server.httpAuthz`, e.g. `tls: { certFile: … }`. */
  readonly httpAuthzYaml?: string;
  /** `logging.level` (default info). */
  readonly logLevel?: string;
  /** `policy.default` (default deny). */
  readonly policyDefault?: 'deny' | 'allow';
  /** Extra keys of `policy:`, one per line, indented two spaces (e.g. `  pathParameters: strip`). */
  readonly policyYaml?: string;
}

/** A config in the YAML format of examples/idgate.yaml, with the routes the integration tests exercise. */
export function testConfigYaml(o: TestConfigOptions): string {
  const p = o.ports ?? {};
  const d = o.didit;
  return `
server:
  grpc: { host: 127.0.0.1, port: ${p.grpc ?? 0}${o.grpcYaml ? `, ${o.grpcYaml}` : ''} }
  httpAuthz: { host: 127.0.0.1, port: ${p.http ?? 0}${o.httpAuthzYaml ? `, ${o.httpAuthzYaml}` : ''} }
  public: { host: 127.0.0.1, port: ${p.public ?? 0}${d?.publicBaseUrl ? `, baseUrl: ${d.publicBaseUrl}` : ''} }
  admin: { host: 127.0.0.1, port: ${p.admin ?? 0}${o.adminToken ? `, token: ${o.adminToken}` : ''} }
  shutdownGrace: 2s
issuers:
  - name: test
    issuer: ${o.issuer}
    audiences: [${o.audience ?? 'idgate-test'}]
    jwksUri: ${o.jwksUri}
    algorithms: [RS256, ES256]
    jwks: { minRefetchInterval: 1s }
${o.issuerYaml ? `${o.issuerYaml.replace(/\n+$/, '')}\n` : ''}${o.cookieToken ? `    sources: [{ type: cookie, name: ${o.cookieToken} }, { type: header, name: authorization, scheme: Bearer }]\n` : ''}${
  d
    ? `workflows:
  kyc: { workflowId: ${d.kycWorkflowId}, maxAge: 365d }
  adult: { workflowId: ${d.ageWorkflowId}, minAge: 18, requireAmlClear: true }
didit:
  mode: sandbox
  ${d.apiBaseUrl !== undefined ? `apiBaseUrl: ${d.apiBaseUrl}` : 'sandboxPort: 0'}
  apiKey: ${d.apiKey}
  webhookSecret: ${d.webhookSecret}
  requestTimeout: 2s
  maxRetries: 1
  reconcileAfter: ${d.reconcileAfter ?? '2m'}
  sweepInterval: ${d.sweepInterval ?? '60s'}
  maxStepUps: 5
${d.stepUpWait === null ? '' : `  stepUpWait: ${d.stepUpWait ?? '10s'}\n`}  returnToAllowlist: [${(d?.returnToAllowlist ?? []).join(', ')}]
`
    : ''
}policy:
  default: ${o.policyDefault ?? 'deny'}
${o.policyYaml ? `${o.policyYaml.replace(/\n+$/, '')}\n` : ''}  routes:
    - id: health
      match: { path: /healthz }
      public: true
    - id: partner
      match: { contextExtensions: { policy: partner } }
      require: { scopes: [partner] }
    - id: api
      match: { prefix: /api }
      require: { scopes: [read] }
      claimHeaders: { x-idgate-email: email }
${d ? `    - id: payments
      match: { prefix: /payments }
      require: { verification: [kyc] }
    - id: adult
      match: { prefix: /adult }
      require: { verification: [adult] }
` : ''}${o.extraRoutes ?? ''}
store:
${o.storeYaml !== undefined ? o.storeYaml.replace(/\n+$/, '') : o.redisUrl ? `  type: redis\n  redis: { url: "${o.redisUrl}", commandTimeout: 500ms }\n  localCacheTtl: ${o.localCacheTtl ?? '5s'}` : '  type: memory'}
${o.trustedProxies ? `network:\n  trustedProxies: [${o.trustedProxies.map((c) => JSON.stringify(c)).join(', ')}]\n` : ''}logging:
  level: ${o.logLevel ?? 'info'}
  allowSampleRate: ${o.allowSampleRate ?? 0}
`;
}
