import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../src/config/parse-config.js';
import { createEnvoySchema, formatIssues } from './support/envoy-schema.js';
import { contextHeadersOf, identityHeadersOf } from './support/example-policy.js';
import {
  formatK8sIssues,
  validateK8sTree,
  type K8sDoc,
  type K8sIssue,
  type K8sTree,
} from './support/k8s-schema.js';

const OPTIONS = {
  externalSecrets: ['idgate-secrets'],
  unlistedFiles: ['overlays/istio/istio-operator.yaml'],
  externalNamespaces: ['apps'],
};

/** idgate's shutdown grace from the shipped config, in seconds (`shutdownGrace: 10s` or `shutdownGraceMs`). */
function shutdownGraceSeconds(): number {
  const cfg = parse(readFileSync('k8s/base/idgate.yaml', 'utf8')) as { server?: Record<string, unknown> };
  const server = cfg.server ?? {};
  if (typeof server['shutdownGraceMs'] === 'number') return server['shutdownGraceMs'] / 1000;
  const raw = server['shutdownGrace'] ?? server['shutdownGraceMs'];
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(raw));
  if (m === null) return 10; // idgate's documented default
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2] ?? 's']!;
}

let tree: K8sTree;
let issues: K8sIssue[];
beforeAll(async () => {
  ({ tree, issues } = await validateK8sTree('k8s', { ...OPTIONS, shutdownGraceSeconds: shutdownGraceSeconds() }));
});

const find = (kind: string, name: string): K8sDoc => {
  const doc = tree.docs.find((d) => d.kind === kind && d.name === name);
  if (doc === undefined) throw new Error(`${kind} ${name} not found`);
  return doc;
};
const get = (obj: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);

describe('k8s/ manifests', () => {
  it('validate against upstream schemas and cross-file links with no issue', () => {
    expect(formatK8sIssues(issues)).toBe('');
  });

  it('cover every kind the deployment needs', () => {
    const kinds = new Set(tree.docs.map((d) => `${d.apiVersion} ${d.kind}`));
    for (const k of [
      'v1 Namespace', 'v1 ServiceAccount', 'apps/v1 Deployment', 'v1 Service', 'policy/v1 PodDisruptionBudget',
      'autoscaling/v2 HorizontalPodAutoscaler', 'networking.k8s.io/v1 NetworkPolicy', 'apps/v1 StatefulSet',
      'security.istio.io/v1 AuthorizationPolicy', 'install.istio.io/v1alpha1 IstioOperator',
      'gateway.envoyproxy.io/v1alpha1 SecurityPolicy', 'gateway.networking.k8s.io/v1beta1 ReferenceGrant',
      'monitoring.coreos.com/v1 ServiceMonitor', 'networking.istio.io/v1alpha3 EnvoyFilter',
      'gateway.envoyproxy.io/v1alpha1 ClientTrafficPolicy', 'monitoring.coreos.com/v1 PrometheusRule',
    ]) {
      expect(kinds, k).toContain(k);
    }
  });

  it('generate the config ConfigMap from k8s/base/idgate.yaml and commit no Secret', () => {
    const base = tree.kustomizations.find((k) => k.file === 'base/kustomization.yaml');
    expect(base?.generatedConfigMaps).toEqual(['idgate-config']);
    expect(base?.generatorFiles).toEqual(['base/idgate.yaml']);
    expect(tree.docs.filter((d) => d.kind === 'Secret')).toEqual([]);
  });

  it('run authz and webhook as separate Deployments with only the right ports', () => {
    const ports = (name: string): unknown =>
      (get(find('Deployment', name).obj, 'spec.template.spec.containers') as { ports: { containerPort: number }[] }[])[0]?.ports.map((p) => p.containerPort);
    expect(ports('idgate-authz')).toEqual([9191, 9192, 9090]);
    expect(ports('idgate-webhook')).toEqual([8080, 9090]);
    const args = (name: string): unknown => (get(find('Deployment', name).obj, 'spec.template.spec.containers') as { args: string[] }[])[0]?.args;
    expect(args('idgate-authz')).toEqual(['authz', '--config', '/etc/idgate/idgate.yaml']);
    expect(args('idgate-webhook')).toEqual(['webhook', '--config', '/etc/idgate/idgate.yaml']);
  });

  it('declare the authz gRPC port as gRPC so meshes use HTTP/2', () => {
    expect(get(find('Service', 'idgate-authz').obj, 'spec.ports')).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'grpc', port: 9191, appProtocol: 'grpc' })]),
    );
  });

  it('run Redis with AOF on a persistent volume', () => {
    const redis = find('StatefulSet', 'idgate-redis');
    const args = (get(redis.obj, 'spec.template.spec.containers') as { args: string[] }[])[0]?.args ?? [];
    expect(args.join(' ')).toContain('--appendonly yes');
    expect(get(redis.obj, 'spec.volumeClaimTemplates')).toHaveLength(1);
  });

  it('configure the Istio provider fail-closed with an explicit deadline', () => {
    const op = find('IstioOperator', 'idgate-mesh-config');
    expect(get(op.obj, 'spec.meshConfig.extensionProviders')).toEqual([
      { name: 'idgate', envoyExtAuthzGrpc: { service: 'idgate-authz.idgate.svc.cluster.local', port: 9191, timeout: '0.25s', failOpen: false, statusOnError: '503' } },
    ]);
    expect(get(find('AuthorizationPolicy', 'idgate-ext-authz').obj, 'spec.action')).toBe('CUSTOM');
  });

  // Issue 16 §4: `istioctl install -f istio-operator.yaml` alone reinstalls Istio with the default profile.
  it('ship the Istio provider as a merge snippet (IstioOperator and istiod Helm values) that changes nothing else', () => {
    const op = find('IstioOperator', 'idgate-mesh-config');
    expect(Object.keys(get(op.obj, 'spec') as object)).toEqual(['meshConfig']);
    expect(Object.keys(get(op.obj, 'spec.meshConfig') as object)).toEqual(['extensionProviders']);
    const values = parse(readFileSync('k8s/overlays/istio/istiod.values.yaml', 'utf8')) as Record<string, unknown>;
    // istiod's chart takes meshConfig at the top level of its values; nothing else may be set by the snippet.
    expect(Object.keys(values)).toEqual(['meshConfig']);
    expect(Object.keys(values['meshConfig'] as object)).toEqual(['extensionProviders']);
    expect(get(values, 'meshConfig.extensionProviders')).toEqual(get(op.obj, 'spec.meshConfig.extensionProviders'));
    // The instructions never tell anyone to install the snippet on its own.
    const bare = /^\s*#?\s*istioctl install -f (k8s\/overlays\/istio\/)?(istio-operator|istiod\.values)\.yaml/m;
    for (const file of ['k8s/overlays/istio/kustomization.yaml', 'k8s/overlays/istio/istio-operator.yaml', 'k8s/overlays/istio/istiod.values.yaml', 'docs/deployment.md', 'README.md']) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(bare);
    }
    expect(readFileSync('k8s/overlays/istio/kustomization.yaml', 'utf8')).toContain('Do NOT `istioctl install -f` either file on');
  });

  it('configure Envoy Gateway fail-closed against idgate-authz:9191', () => {
    expect(get(find('SecurityPolicy', 'idgate').obj, 'spec.extAuth')).toMatchObject({
      failOpen: false,
      grpc: { backendRefs: [{ name: 'idgate-authz', namespace: 'idgate', port: 9191 }] },
    });
  });
});

describe('the gateways never pass a client-forged identity or context header (issue 11)', () => {
  // Read from the policy the manifests deploy, so a claimHeaders or context header added there without
  // the gateway files following fails here.
  const policy = parseConfig(readFileSync('k8s/base/idgate.yaml', 'utf8'), {
    sourceName: 'k8s/base/idgate.yaml',
    env: { IDGATE_DIDIT_API_KEY: 'k'.repeat(40), IDGATE_DIDIT_WEBHOOK_SECRET: 's'.repeat(43), IDGATE_ADMIN_TOKEN: 'admin-token-0123456789', IDGATE_REDIS_PASSWORD: 'p' },
  });
  const MUST_REMOVE = [...identityHeadersOf(policy), ...contextHeadersOf(policy)];

  it('Istio: the ingress gateway drops underscore names and removes client copies before authorization', () => {
    const filter = find('EnvoyFilter', 'idgate-header-hygiene');
    expect(get(filter.obj, 'spec.workloadSelector.labels')).toEqual(get(find('AuthorizationPolicy', 'idgate-ext-authz').obj, 'spec.selector.matchLabels'));
    const [patch] = get(filter.obj, 'spec.configPatches') as { applyTo: string; match: { context: string }; patch: { operation: string; value: unknown } }[];
    expect(patch).toMatchObject({ applyTo: 'NETWORK_FILTER', match: { context: 'GATEWAY' }, patch: { operation: 'MERGE' } });
    // The patch value is Envoy configuration: check it against the upstream protos. It is MERGEd into
    // Istio's own filter, so only required-field findings (stat_prefix, route_config, name) are expected.
    const { issues: envoyIssues, visited } = createEnvoySchema().walk(patch!.patch.value, 'envoy.config.listener.v3.Filter');
    expect(formatIssues(envoyIssues.filter((i) => !/required/.test(i.message)))).toBe('');
    expect(envoyIssues.length).toBeLessThanOrEqual(3);
    const hcm = visited.find((v) => v.type === 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager')?.value;
    expect(hcm?.['common_http_protocol_options']).toEqual({ headers_with_underscores_action: 'DROP_HEADER' });
    const early = visited.find((v) => v.type === 'envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation')?.value;
    const removed = (early?.['mutations'] as { remove?: string }[]).map((m) => m.remove);
    for (const h of MUST_REMOVE) expect(removed, h).toContain(h);
  });

  it('Envoy Gateway: the Gateway drops underscore names and removes client copies before authorization', () => {
    const policyDoc = find('ClientTrafficPolicy', 'idgate-header-hygiene');
    const gateway = (get(find('HTTPRoute', 'idgate-webhook').obj, 'spec.parentRefs') as { name: string; namespace: string }[])[0]!;
    expect(policyDoc.namespace).toBe(gateway.namespace);
    expect(get(policyDoc.obj, 'spec.targetRefs')).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: gateway.name }]);
    expect(get(policyDoc.obj, 'spec.headers.withUnderscoresAction')).toBe('DropHeader');
    const removed = get(policyDoc.obj, 'spec.headers.earlyRequestHeaders.remove') as string[];
    for (const h of MUST_REMOVE) expect(removed, h).toContain(h);
  });
});

describe('the k8s checker rejects a broken manifest set', () => {
  let broken: K8sIssue[];
  beforeAll(async () => {
    ({ issues: broken } = await validateK8sTree('test/fixtures/deploy-broken/k8s', {
      externalSecrets: ['idgate-secrets'],
      unlistedFiles: ['istio-operator.yaml'],
      shutdownGraceSeconds: 10,
    }));
  });

  it.each([
    { file: 'services.yaml#0', path: 'spec.selector', message: 'selects no pods' },
    { file: 'services.yaml#1', path: 'spec.ports[0].targetPort', message: 'grpcc is not a container port' },
    { file: 'deployment.yaml', path: 'spec.template.spec.containers[0].securityContext.readOnlyRootFileSytem', message: 'unknown field "readOnlyRootFileSytem" (did you mean "readOnlyRootFilesystem"?)' },
    { file: 'deployment.yaml', path: 'spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem', message: 'must be true' },
    { file: 'deployment.yaml', path: 'spec.replicas', message: 'schema: must be integer' },
    { file: 'deployment.yaml', path: 'spec.template.spec.containers[0].readinessProbe.httpGet.port', message: 'port admn is not a container port' },
    { file: 'deployment.yaml', path: 'spec.template.spec.volumes[0].configMap.name', message: 'ConfigMap "idgate-cfg" is not defined' },
    { file: 'deployment.yaml', path: 'spec.template.spec.containers[0].env[0].value', message: 'looks like a secret' },
    { file: 'deployment.yaml', path: 'spec.template.spec.terminationGracePeriodSeconds', message: "must exceed idgate's shutdown grace" },
    { file: 'networkpolicy.yaml', path: 'spec.podSelector', message: 'selects no pods' },
    { file: 'secret.yaml', path: 'data', message: 'literal Secret data' },
    { file: 'authorization-policy.yaml', path: 'spec.provider.name', message: 'provider "idgat" is not an extensionProviders name' },
    { file: 'authorization-policy.yaml', path: 'spec.rules[0].to[0].operation.notPath', message: 'unknown field "notPath" (did you mean "notPaths"?)' },
    { file: 'istio-operator.yaml', path: 'spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.port', message: 'not declared gRPC' },
    { file: 'istio-operator.yaml', path: 'spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.failOpen', message: 'must be false' },
    { file: 'unknown-kind.yaml', path: 'kind', message: 'unknown kind example.com/v1 Widget' },
    { file: 'kustomization.yaml', path: 'resources[6]', message: 'missing.yaml does not exist' },
    { file: 'stray.yaml', path: '(file)', message: 'not listed by any kustomization' },
  ])('$file $path: $message', ({ file, path, message }) => {
    expect(broken.find((i) => i.file === file && i.path === path && i.message.includes(message)), formatK8sIssues(broken)).toBeDefined();
  });
});
