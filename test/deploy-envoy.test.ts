import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  createEnvoySchema,
  formatIssues,
  validateEnvoyBootstrap,
  type EnvoySchema,
} from './support/envoy-schema.js';
import { contextHeadersOf, identityHeadersOf, loadExampleConfig } from './support/example-policy.js';

const ENVOY_DIR = 'envoy';
const BROKEN_DIR = 'test/fixtures/deploy-broken/envoy';

function load(path: string): unknown {
  return parse(readFileSync(path, 'utf8'));
}

let schema: EnvoySchema;
beforeAll(() => {
  schema = createEnvoySchema();
});

describe('envoy/ bootstraps validate against the upstream v3 protos', () => {
  const files = readdirSync(ENVOY_DIR).filter((f) => f.endsWith('.yaml'));

  it('has the three documented bootstraps', () => {
    expect(files.sort()).toEqual(['front-proxy-tls.yaml', 'front-proxy.yaml', 'http-service.yaml']);
  });

  it.each(files)('%s has no schema or link issues', (file) => {
    const issues = validateEnvoyBootstrap(schema, load(join(ENVOY_DIR, file)));
    expect(formatIssues(issues)).toBe('');
  });
});

describe('the validator rejects broken bootstraps, naming the path', () => {
  const FILTER = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
  const AUTHZ = `${FILTER}.http_filters[0].typed_config`;

  it('accepts the valid base the broken fixtures derive from', () => {
    expect(formatIssues(validateEnvoyBootstrap(schema, load(join(BROKEN_DIR, '_valid-base.yaml'))))).toBe('');
  });

  it.each([
    { file: 'misspelt-field.yaml', path: 'static_resources.clusters[0].conect_timeout', message: 'unknown field "conect_timeout" in envoy.config.cluster.v3.Cluster' },
    { file: 'wrong-type.yaml', path: `${AUTHZ}.grpc_service.timeout`, message: 'expected a duration' },
    { file: 'misplaced-field.yaml', path: `${AUTHZ}.grpc_service.failure_mode_allow`, message: 'unknown field "failure_mode_allow" in envoy.config.core.v3.GrpcService' },
    { file: 'unknown-type.yaml', path: `${AUTHZ}.@type`, message: 'unknown type "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuth"' },
    { file: 'two-oneof-members.yaml', path: AUTHZ, message: 'oneof "services"' },
    { file: 'http1-idgate-cluster.yaml', path: 'static_resources.clusters[0]', message: 'cluster "idgate" is used for gRPC' },
    { file: 'missing-cluster.yaml', path: `${FILTER}.route_config.virtual_hosts[0].routes[0].route.cluster`, message: 'names cluster "ap"' },
    { file: 'bad-enum.yaml', path: `${AUTHZ}.status_on_error.code`, message: 'invalid value string "ServiceUnavail" for enum envoy.type.v3.StatusCode' },
    { file: 'scalar-for-list.yaml', path: `${FILTER}.route_config.virtual_hosts[0].domains`, message: 'expected a list' },
  ])('$file → $path', ({ file, path, message }) => {
    const issues = validateEnvoyBootstrap(schema, load(join(BROKEN_DIR, file)));
    expect(issues.length, formatIssues(issues)).toBeGreaterThan(0);
    expect(issues.find((i) => i.path === path && i.message.includes(message)), formatIssues(issues)).toBeDefined();
  });

  it('every broken fixture is covered by a case above', () => {
    const files = readdirSync(BROKEN_DIR).filter((f) => f.endsWith('.yaml') && !f.startsWith('_'));
    expect(files).toHaveLength(9);
  });
});

describe('what the shipped bootstraps promise', () => {
  const front = (): Record<string, unknown> => load(join(ENVOY_DIR, 'front-proxy.yaml')) as Record<string, unknown>;

  it('resolves every @type it uses to a real message (walk reaches them)', () => {
    const { visited } = schema.walk(front(), 'envoy.config.bootstrap.v3.Bootstrap');
    const types = new Set(visited.map((v) => v.type));
    for (const t of [
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
      'envoy.extensions.filters.http.ext_authz.v3.CheckSettings',
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      'envoy.config.core.v3.HealthCheck.GrpcHealthCheck',
    ]) {
      expect(types, t).toContain(t);
    }
  });

  it('front-proxy-tls is front-proxy with an mTLS UpstreamTlsContext (h2, CA-verified idgate SAN, client cert) on the idgate cluster only', () => {
    const tlsDoc = load(join(ENVOY_DIR, 'front-proxy-tls.yaml')) as { static_resources: { clusters: Array<Record<string, unknown>> } };
    const { visited } = schema.walk(tlsDoc, 'envoy.config.bootstrap.v3.Bootstrap');
    const upstreamTls = visited.filter((v) => v.type === 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(upstreamTls).toHaveLength(1);
    expect(upstreamTls[0]?.value).toMatchObject({
      sni: 'idgate.idgate.svc.cluster.local',
      common_tls_context: {
        alpn_protocols: ['h2'],
        tls_certificates: [{ certificate_chain: { filename: expect.any(String) }, private_key: { filename: expect.any(String) } }],
        validation_context: {
          trusted_ca: { filename: expect.any(String) },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'idgate.idgate.svc.cluster.local' } }],
        },
      },
    });
    // Everything but the idgate cluster's transport socket and address is the plaintext front-proxy.
    const plain = front() as { static_resources: { clusters: Array<Record<string, unknown>> } };
    const strip = (doc: { static_resources: { clusters: Array<Record<string, unknown>> } }) => {
      const copy = structuredClone(doc);
      const idgate = copy.static_resources.clusters.find((c) => c.name === 'idgate') as Record<string, unknown>;
      delete idgate.transport_socket;
      delete idgate.load_assignment;
      return copy;
    };
    expect(strip(tlsDoc)).toEqual(strip(plain));
    // The walker checks inside the TLS context (a misspelt field there is an issue).
    const broken = structuredClone(tlsDoc);
    const socket = (broken.static_resources.clusters.find((c) => c.name === 'idgate') as { transport_socket: { typed_config: { common_tls_context: Record<string, unknown> } } }).transport_socket;
    socket.typed_config.common_tls_context.validation_contxt = {};
    expect(formatIssues(validateEnvoyBootstrap(schema, broken))).toContain('validation_contxt');
  });

  it('front-proxy fails closed with a 0.25s deadline and routes payments by context_extensions', () => {
    const { visited } = schema.walk(front(), 'envoy.config.bootstrap.v3.Bootstrap');
    const authz = visited.find((v) => v.type === 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    expect(authz?.value).toMatchObject({
      failure_mode_allow: false,
      transport_api_version: 'V3',
      status_on_error: { code: 'ServiceUnavailable' },
      include_peer_certificate: true,
      metadata_context_namespaces: ['envoy.filters.http.jwt_authn'],
      grpc_service: { envoy_grpc: { cluster_name: 'idgate' }, timeout: '0.25s' },
    });
    const routes = visited.filter((v) => v.type === 'envoy.config.route.v3.Route').map((r) => r.value);
    const byMatch = (key: string, value: string): Record<string, unknown> | undefined =>
      routes.find((r) => (r['match'] as Record<string, unknown>)[key] === value) as Record<string, unknown> | undefined;
    const perRoute = (r: Record<string, unknown> | undefined): unknown =>
      (r?.['typed_per_filter_config'] as Record<string, unknown> | undefined)?.['envoy.filters.http.ext_authz'];
    expect(perRoute(byMatch('prefix', '/payments/'))).toMatchObject({ check_settings: { context_extensions: { policy: 'payments' } } });
    for (const [key, value] of [['path', '/healthz'], ['prefix', '/public/'], ['path', '/webhooks/didit'], ['prefix', '/verification/']] as const) {
      expect(perRoute(byMatch(key, value)), value).toMatchObject({ disabled: true });
    }
    expect(byMatch('path', '/webhooks/didit')?.['route']).toMatchObject({ cluster: 'idgate_public' });
    expect(byMatch('prefix', '/verification/')?.['route']).toMatchObject({ cluster: 'idgate_public' });
    const catchAll = routes[routes.length - 1];
    expect(catchAll).toMatchObject({ match: { prefix: '/' }, route: { cluster: 'app' } });
    expect(perRoute(catchAll)).toBeUndefined();
  });

  it('http-service sends checks to :9192 under /check and passes only x-idgate- headers upstream', () => {
    const doc = load(join(ENVOY_DIR, 'http-service.yaml'));
    const { visited } = schema.walk(doc, 'envoy.config.bootstrap.v3.Bootstrap');
    const authz = visited.find((v) => v.type === 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    expect(authz?.value).toMatchObject({
      failure_mode_allow: false,
      http_service: {
        server_uri: { cluster: 'idgate_http', timeout: '0.25s' },
        path_prefix: '/check',
        authorization_response: { allowed_upstream_headers: { patterns: [{ prefix: 'x-idgate-' }] } },
      },
    });
    const clientHeaders = (authz?.value['http_service'] as { authorization_response: { allowed_client_headers: { patterns: { exact: string }[] } } })
      .authorization_response.allowed_client_headers.patterns.map((p) => p.exact);
    expect(clientHeaders).toEqual(expect.arrayContaining(['location', 'www-authenticate', 'retry-after', 'content-type', 'cache-control']));
    const cluster = visited.find((v) => v.type === 'envoy.config.cluster.v3.Cluster' && v.value['name'] === 'idgate_http');
    expect(JSON.stringify(cluster?.value)).toContain('"port_value":9192');
  });
});

describe('the shipped bootstraps make identity and context headers trustworthy (issue 11)', () => {
  // Read from the policy file, so a claimHeaders mapping or context header added there without the Envoy
  // files following fails here.
  const policy = loadExampleConfig();
  const IDENTITY = identityHeadersOf(policy);
  const CONTEXT = contextHeadersOf(policy);
  const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const EARLY = 'envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation';

  it.each(['front-proxy.yaml', 'front-proxy-tls.yaml', 'http-service.yaml'])('%s drops underscore names and removes client copies before any filter', (file) => {
    const { visited, issues } = schema.walk(load(join(ENVOY_DIR, file)), 'envoy.config.bootstrap.v3.Bootstrap');
    expect(formatIssues(issues)).toBe('');
    const hcm = visited.find((v) => v.type === HCM)?.value as Record<string, unknown>;
    expect(hcm['common_http_protocol_options']).toMatchObject({ headers_with_underscores_action: 'DROP_HEADER' });
    const early = visited.filter((v) => v.type === EARLY);
    expect(early).toHaveLength(1);
    const removed = (early[0]!.value['mutations'] as { remove?: string }[]).map((m) => m.remove);
    for (const h of [...IDENTITY, ...CONTEXT]) expect(removed, h).toContain(h);
    // Nothing puts a context header back from client input afterwards.
    expect(JSON.stringify(hcm['route_config'])).not.toMatch(/request_headers_to_add/);
  });

  it('the walker really checks the early mutation (a misspelt field is an issue)', () => {
    const doc = load(join(ENVOY_DIR, 'front-proxy.yaml')) as Record<string, unknown>;
    const text = JSON.stringify(doc).replace('"remove":"x-geo-country"', '"remvoe":"x-geo-country"');
    const { issues } = schema.walk(JSON.parse(text), 'envoy.config.bootstrap.v3.Bootstrap');
    expect(formatIssues(issues)).toMatch(/unknown field "remvoe"/);
  });

  it('http-service forwards the trusted context headers to idgate (else the embargo never applies)', () => {
    const { visited } = schema.walk(load(join(ENVOY_DIR, 'http-service.yaml')), 'envoy.config.bootstrap.v3.Bootstrap');
    const authz = visited.find((v) => v.type === 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz')?.value as {
      allowed_headers: { patterns: { exact?: string; prefix?: string }[] };
    };
    const exact = authz.allowed_headers.patterns.map((p) => p.exact);
    for (const h of CONTEXT) expect(exact, h).toContain(h);
  });

  it.each(['front-proxy.yaml', 'front-proxy-tls.yaml', 'http-service.yaml'])(
    '%s as shipped sets no country (its client copies are removed, nothing adds it): the docs must say so loudly',
    (file) => {
      const country = policy.context.countryHeader as string;
      const { visited } = schema.walk(load(join(ENVOY_DIR, file)), 'envoy.config.bootstrap.v3.Bootstrap');
      expect(visited.filter((v) => v.type.startsWith('envoy.extensions.filters.http.geoip')), 'an active geoip filter').toEqual([]);
      const text = JSON.stringify(load(join(ENVOY_DIR, file)));
      expect(text).toContain(`"remove":"${country}"`);
      expect(text.match(new RegExp(`"key":"${country}"`, 'g')) ?? [], 'a header_to_add of the country header').toEqual([]);
      // The operator is told, where they look first: the bootstrap itself, envoy/README.md and the example.
      expect(readFileSync(join(ENVOY_DIR, file), 'utf8')).toMatch(/Without a source the country is unknown/);
      expect(readFileSync(join(ENVOY_DIR, 'README.md'), 'utf8')).toMatch(/ship no country source/i);
      expect(readFileSync('examples/idgate.yaml', 'utf8')).toMatch(/no country source/i);
    },
  );

  it.each(['front-proxy.yaml', 'http-service.yaml'])('%s: the commented geoip filter is valid, sets the policy country header and runs before ext_authz', (file) => {
    const text = readFileSync(join(ENVOY_DIR, file), 'utf8');
    const start = text.indexOf('# - name: envoy.filters.http.geoip');
    expect(start).toBeGreaterThan(0);
    const lines: string[] = [];
    for (const line of text.slice(start).split('\n')) {
      const m = /^\s*# ?(.*)$/.exec(line);
      // The block ends at the first line that is not a comment or not indented under `- name:`.
      if (m === null || (lines.length > 0 && !m[1]!.startsWith(' '))) break;
      lines.push(m[1]!);
    }
    const [filter] = parse(lines.join('\n')) as unknown[];
    const { issues, visited } = schema.walk(filter, 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter');
    expect(formatIssues(issues)).toBe('');
    const common = visited.find((v) => v.type === 'envoy.extensions.geoip_providers.common.v3.CommonGeoipProviderConfig');
    expect(common?.value).toMatchObject({ geo_headers_to_add: { country: policy.context.countryHeader } });
    expect(start).toBeLessThan(text.indexOf('- name: envoy.filters.http.ext_authz'));
  });
});
