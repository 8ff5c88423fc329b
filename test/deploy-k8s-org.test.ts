import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { checkCrossReferences, checkUnknownFields, formatK8sIssues, validateModels, type K8sDoc } from './support/k8s-schema.js';

/**
 * k8s/overlays/org (issue #14, delivery): one ConfigMap per policy owner, each team's RBAC limited to its
 * ConfigMap, both idgate roles mounting the files where the platform file looks for them. Checked on what
 * `kubectl kustomize` renders (the patches and generators applied), against examples/org as tested.
 */

const OVERLAY = 'k8s/overlays/org';
const EXAMPLE = 'examples/org';
const ROLES = ['idgate-authz', 'idgate-webhook'];
/** Verbs that would let a team go beyond editing its own file (or hand itself more rights). */
const FORBIDDEN_VERBS = ['*', 'create', 'delete', 'deletecollection', 'list', 'watch', 'escalate', 'bind', 'impersonate'];

type Obj = Record<string, unknown>;
interface Tenant { readonly name: string; readonly files: readonly string[] }
interface ProjectedSource { configMap?: { name: string; items?: { key: string; path: string }[] } }
interface Rule { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs?: string[] }

const platform = parse(readFileSync(`${EXAMPLE}/platform.yaml`, 'utf8')) as { policy: Obj & { tenants: Tenant[] }; workflows: Obj };
const tenants = platform.policy.tenants;

let docs: K8sDoc[];
beforeAll(() => {
  const run = spawnSync('kubectl', ['kustomize', OVERLAY], { encoding: 'utf8', timeout: 60_000 });
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`kubectl kustomize ${OVERLAY} failed (kubectl is needed on PATH): ${String(run.error ?? run.stderr)}`);
  }
  docs = parseAllDocuments(run.stdout).map((d, i) => {
    const obj = d.toJS() as Obj;
    const meta = (obj['metadata'] ?? {}) as Obj;
    return {
      file: `rendered#${i}`,
      apiVersion: String(obj['apiVersion']),
      kind: String(obj['kind']),
      name: String(meta['name']),
      namespace: String(meta['namespace'] ?? 'default'),
      obj,
    };
  });
});

const find = (kind: string, name: string): Obj => {
  const doc = docs.find((d) => d.kind === kind && d.name === name);
  if (doc === undefined) throw new Error(`${kind} ${name} not rendered`);
  return doc.obj;
};
const configMapData = (name: string): Record<string, string> => (find('ConfigMap', name)['data'] ?? {}) as Record<string, string>;
const podSpec = (deployment: string): Obj => ((find('Deployment', deployment)['spec'] as Obj)['template'] as Obj)['spec'] as Obj;

/** The files a Deployment's container sees under `mountPath`, as `relative path → ConfigMap name/key`. */
function mountedFiles(deployment: string): { configPath: string; files: Map<string, { configMap: string; key: string }> } {
  const spec = podSpec(deployment);
  const container = (spec['containers'] as Obj[])[0]!;
  const args = container['args'] as string[];
  const configPath = args[args.indexOf('--config') + 1] ?? '';
  const mount = (container['volumeMounts'] as { name: string; mountPath: string }[]).find((m) => configPath.startsWith(`${m.mountPath}/`));
  const files = new Map<string, { configMap: string; key: string }>();
  if (mount === undefined) return { configPath, files };
  const volume = (spec['volumes'] as (Obj & { name: string })[]).find((v) => v.name === mount.name);
  const sources = ((volume?.['projected'] as Obj | undefined)?.['sources'] ?? []) as ProjectedSource[];
  for (const source of sources) {
    for (const item of source.configMap?.items ?? []) {
      files.set(posix.join(mount.mountPath, item.path), { configMap: source.configMap!.name, key: item.key });
    }
  }
  return { configPath, files };
}

describe('k8s/overlays/org renders', () => {
  it('valid objects: upstream schemas, no unknown field, and every cross-reference resolves', async () => {
    const { issues, models } = await validateModels(docs);
    const tree = { root: OVERLAY, docs, kustomizations: [], issues: [] };
    const all = [...issues, ...checkUnknownFields(docs, models), ...checkCrossReferences(tree, { externalSecrets: ['idgate-secrets'], unlistedFiles: [], shutdownGraceSeconds: 10 })];
    expect(formatK8sIssues(all)).toBe('');
  });

  it('one ConfigMap for the platform file and one per tenant, and no longer the single-file config', () => {
    const names = docs.filter((d) => d.kind === 'ConfigMap').map((d) => d.name).sort();
    expect(names).toEqual(['idgate-platform', ...tenants.map((t) => `idgate-tenant-${t.name}`)].sort());
    for (const t of tenants) expect(Object.keys(configMapData(`idgate-tenant-${t.name}`))).toEqual(t.files.map((f) => posix.basename(f)));
  });
});

describe('each team may change only its own ConfigMap', () => {
  const roles = (): Obj[] => docs.filter((d) => d.kind === 'Role').map((d) => d.obj);

  it('grants no cluster-wide rights and every binding names a Role of this overlay', () => {
    expect(docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')).toEqual([]);
    for (const binding of docs.filter((d) => d.kind === 'RoleBinding')) {
      const ref = binding.obj['roleRef'] as { kind: string; name: string };
      expect(ref.kind, binding.name).toBe('Role');
      expect(docs.some((d) => d.kind === 'Role' && d.name === ref.name), ref.name).toBe(true);
    }
  });

  const owners = [
    { owner: 'platform', cm: 'idgate-platform', group: 'platform-team' },
    ...tenants.map((t) => ({ owner: t.name, cm: `idgate-tenant-${t.name}`, group: `team-${t.name}` })),
  ];

  it.each(owners)('$owner: a Role on exactly its ConfigMap, get/update/patch only, bound to $group', ({ cm, group }) => {
    const mine = roles().filter((r) => ((r['rules'] ?? []) as Rule[]).some((rule) => rule.resourceNames?.includes(cm)));
    expect(mine, `Roles naming ${cm}`).toHaveLength(1);
    const role = mine[0]!;
    expect(role['rules']).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: [cm], verbs: ['get', 'update', 'patch'] }]);
    const roleName = (role['metadata'] as Obj)['name'];
    const bindings = docs.filter((d) => d.kind === 'RoleBinding' && (d.obj['roleRef'] as Obj)['name'] === roleName);
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.obj['subjects']).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }]);
  });

  it('no Role has a wildcard, an escalation verb, a rule without resourceNames, or a second team\'s ConfigMap', () => {
    const configMaps = owners.map((o) => o.cm);
    for (const role of roles()) {
      const name = String((role['metadata'] as Obj)['name']);
      for (const rule of (role['rules'] ?? []) as Rule[]) {
        for (const list of [rule.apiGroups, rule.resources, rule.resourceNames, rule.verbs]) expect(list ?? [], name).not.toContain('*');
        for (const verb of FORBIDDEN_VERBS) expect(rule.verbs ?? [], `${name} ${verb}`).not.toContain(verb);
        expect(rule.resources, name).toEqual(['configmaps']);
        expect(rule.resourceNames?.length, `${name}: resourceNames`).toBe(1);
        expect(configMaps, name).toContain(rule.resourceNames?.[0]);
      }
    }
  });
});

describe('both idgate roles mount the files where the platform file names them', () => {
  it.each(ROLES.map((r) => [r]))('%s: --config is the platform file, every tenant file beside it', (deployment) => {
    const { configPath, files } = mountedFiles(deployment);
    expect(configPath).toBe('/etc/idgate/platform.yaml');
    const dir = posix.dirname(configPath);
    const expected = new Map([
      [configPath, { configMap: 'idgate-platform', key: 'platform.yaml' }],
      ...tenants.flatMap((t) => t.files.map((f) => [posix.join(dir, f), { configMap: `idgate-tenant-${t.name}`, key: posix.basename(f) }] as const)),
    ]);
    expect(Object.fromEntries(files)).toEqual(Object.fromEntries(expected));
    // A projected volume (no subPath) is refreshed in place by kubelet, which is what hot reload needs.
    const container = (podSpec(deployment)['containers'] as Obj[])[0]!;
    for (const m of container['volumeMounts'] as Obj[]) expect(m['subPath'], String(m['name'])).toBeUndefined();
  });

  it.each(tenants.flatMap((t) => t.files.map((f) => [t.name, f])))('%s: %s is shipped byte-identical to examples/org', (name, file) => {
    expect(configMapData(`idgate-tenant-${name}`)[posix.basename(file)]).toBe(readFileSync(join(EXAMPLE, file), 'utf8'));
  });

  it('the shipped platform file holds the example policy as tested (only server, issuer, Didit and store differ)', () => {
    const shipped = parse(configMapData('idgate-platform')['platform.yaml'] ?? '') as { policy: unknown; workflows: Obj; didit: Obj; store: Obj };
    expect(shipped.policy).toEqual(platform.policy);
    expect(Object.keys(shipped.workflows)).toEqual(Object.keys(platform.workflows));
    expect(shipped.didit['mode']).toBe('live');
    expect(shipped.store['type']).toBe('redis');
  });
});

describe('the rendered files load as idgate would load them from the volume', () => {
  // Needs the tenant loader (issue #14 config branch): until it is merged the platform file's
  // `guardrails`/`tenants`/`defaults` are unknown keys.
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idgate-org-k8s-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('laid out as kubelet writes the authz Deployment\'s volume (..data symlinks), every tenant loads ok', async () => {
    // kubelet's atomic writer: the files live in a timestamped directory, `..data` points at it, and each
    // top-level name is a symlink through `..data` — so the loader's containment rule sees symlinks.
    const { configPath, files } = mountedFiles('idgate-authz');
    const payload = join(dir, '..2026_01_05_10_00_00.000000001');
    const top = new Set<string>();
    for (const [path, { configMap, key }] of files) {
      const rel = posix.relative(posix.dirname(configPath), path);
      const target = join(payload, rel);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, configMapData(configMap)[key] ?? '');
      top.add(rel.split('/')[0]!);
    }
    await symlink(posix.basename(payload), join(dir, '..data'));
    for (const name of top) await symlink(posix.join('..data', name), join(dir, name));
    const env = { IDGATE_DIDIT_API_KEY: 'k'.repeat(40), IDGATE_DIDIT_WEBHOOK_SECRET: 's'.repeat(43), IDGATE_ADMIN_TOKEN: 'admin-token-0123456789', IDGATE_REDIS_PASSWORD: 'p' };
    const config = await loadConfig(join(dir, posix.basename(configPath)), { env });
    const loaded = (config.policy as unknown as { tenants?: { name: string; status: string }[] }).tenants ?? [];
    expect(loaded.map((t) => [t.name, t.status])).toEqual(tenants.map((t) => [t.name, 'ok']));
  });
});
