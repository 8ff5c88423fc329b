import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

/** One problem in a manifest tree: the file (relative to the tree root), a path inside the document, what. */
export interface K8sIssue {
  readonly file: string;
  readonly path: string;
  readonly message: string;
}

/** One parsed Kubernetes object. */
export interface K8sDoc {
  /** File relative to the tree root, plus `#n` when the file holds several documents. */
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** metadata.namespace, else the namespace of the kustomization listing the file, else `default`. */
  readonly namespace: string;
  readonly obj: Readonly<Record<string, unknown>>;
}

/** A kustomization.yaml and what it pulls in. */
export interface KustomizationInfo {
  readonly file: string;
  readonly namespace?: string;
  /** Names of ConfigMaps it generates. */
  readonly generatedConfigMaps: readonly string[];
  /** Generator input files (relative to the tree root). */
  readonly generatorFiles: readonly string[];
  /** Resource files it lists directly (relative to the tree root). */
  readonly resourceFiles: readonly string[];
}

/** Everything read from one manifest tree. */
export interface K8sTree {
  readonly root: string;
  readonly docs: readonly K8sDoc[];
  readonly kustomizations: readonly KustomizationInfo[];
  /** Problems found while reading (YAML errors, kustomization structure). */
  readonly issues: readonly K8sIssue[];
}

/** Options of {@link validateK8sTree}. */
export interface K8sValidateOptions {
  /** Secrets that are created outside the manifests (documented `kubectl create secret`). */
  readonly externalSecrets: readonly string[];
  /** YAML files deliberately not listed by any kustomization (e.g. an IstioOperator applied with istioctl). */
  readonly unlistedFiles: readonly string[];
  /** Namespaces assumed to exist outside the tree (targets of policies and routes). */
  readonly externalNamespaces?: readonly string[];
  /** idgate's shutdown grace in seconds, which every idgate pod's terminationGracePeriodSeconds must exceed. */
  readonly shutdownGraceSeconds?: number;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function asObj(v: unknown): Obj {
  return isObj(v) ? v : {};
}
function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const KUSTOMIZATION_KEYS = new Set([
  'apiVersion', 'kind', 'metadata', 'namespace', 'namePrefix', 'nameSuffix', 'labels', 'commonLabels',
  'commonAnnotations', 'resources', 'components', 'configMapGenerator', 'secretGenerator', 'generatorOptions',
  'images', 'patches', 'replicas', 'replacements', 'configurations', 'crds', 'openapi', 'buildMetadata',
]);

function listYamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listYamlFiles(full));
    // `*.values.yaml` are Helm values snippets (e.g. overlays/istio/istiod.values.yaml), not manifests.
    else if (/\.ya?ml$/.test(entry.name) && !/\.values\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out.sort();
}

/**
 * Reads a manifest tree: every kustomization.yaml is checked structurally (known keys, every listed
 * resource / patch / generator file exists), every other YAML file that is not a generator input is parsed
 * as one or more Kubernetes objects. Namespaces come from metadata or the listing kustomization.
 */
export function loadK8sTree(rootDir: string, options: Pick<K8sValidateOptions, 'unlistedFiles'>): K8sTree {
  const root = resolve(rootDir);
  const rel = (p: string): string => relative(root, p);
  const issues: K8sIssue[] = [];
  const kustomizations: KustomizationInfo[] = [];
  const files = listYamlFiles(root);
  const fileNamespace = new Map<string, string | undefined>();
  const generatorInputs = new Set<string>();
  const listed = new Set<string>();

  for (const file of files.filter((f) => /(^|\/)kustomization\.ya?ml$/.test(f))) {
    const k = asObj(parseYaml(readFileSync(file, 'utf8')));
    const dir = dirname(file);
    const kf = rel(file);
    for (const key of Object.keys(k)) {
      if (!KUSTOMIZATION_KEYS.has(key)) issues.push({ file: kf, path: key, message: `unknown kustomization field "${key}"` });
    }
    if (k['apiVersion'] !== 'kustomize.config.k8s.io/v1beta1' || k['kind'] !== 'Kustomization') {
      issues.push({ file: kf, path: 'apiVersion', message: 'expected apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization' });
    }
    const namespace = str(k['namespace']);
    const resourceFiles: string[] = [];
    asArr(k['resources']).forEach((r, i) => {
      const target = typeof r === 'string' ? resolve(dir, r) : '';
      if (typeof r !== 'string' || !existsSync(target)) {
        issues.push({ file: kf, path: `resources[${i}]`, message: `listed resource ${String(r)} does not exist` });
        return;
      }
      if (statSync(target).isDirectory()) {
        if (!existsSync(join(target, 'kustomization.yaml'))) {
          issues.push({ file: kf, path: `resources[${i}]`, message: `directory ${r} has no kustomization.yaml` });
        }
        return;
      }
      resourceFiles.push(rel(target));
      listed.add(target);
      fileNamespace.set(target, namespace);
    });
    asArr(k['patches']).forEach((p, i) => {
      const path = str(asObj(p)['path']);
      if (path === undefined) return;
      const target = resolve(dir, path);
      if (!existsSync(target)) issues.push({ file: kf, path: `patches[${i}].path`, message: `patch file ${path} does not exist` });
      else listed.add(target);
    });
    const generatedConfigMaps: string[] = [];
    const generatorFiles: string[] = [];
    for (const gen of ['configMapGenerator', 'secretGenerator'] as const) {
      asArr(k[gen]).forEach((g, i) => {
        const go = asObj(g);
        const name = str(go['name']);
        if (name === undefined) issues.push({ file: kf, path: `${gen}[${i}].name`, message: 'generator needs a name' });
        if (gen === 'configMapGenerator' && name !== undefined) generatedConfigMaps.push(name);
        if (gen === 'secretGenerator' && (go['literals'] !== undefined || go['files'] !== undefined || go['envs'] !== undefined)) {
          issues.push({ file: kf, path: `${gen}[${i}]`, message: 'secret values must not live in the repository; create the Secret with kubectl' });
        }
        asArr(go['files']).forEach((f, j) => {
          const spec = String(f);
          const source = spec.includes('=') ? spec.slice(spec.indexOf('=') + 1) : spec;
          const target = resolve(dir, source);
          if (!existsSync(target)) {
            issues.push({ file: kf, path: `${gen}[${i}].files[${j}]`, message: `generator input ${source} does not exist` });
          } else {
            generatorInputs.add(target);
            generatorFiles.push(rel(target));
          }
        });
      });
    }
    kustomizations.push({ file: kf, ...(namespace !== undefined ? { namespace } : {}), generatedConfigMaps, generatorFiles, resourceFiles });
  }

  const docs: K8sDoc[] = [];
  const unlisted = new Set(options.unlistedFiles.map((f) => resolve(root, f)));
  for (const file of files) {
    if (/(^|\/)kustomization\.ya?ml$/.test(file) || generatorInputs.has(file)) continue;
    const rf = rel(file);
    if (!listed.has(file) && !unlisted.has(file)) {
      issues.push({ file: rf, path: '(file)', message: 'not listed by any kustomization (resources/patches) nor declared as applied separately' });
    }
    const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
    const all = Array.isArray(parsed) ? parsed : [parsed];
    all.forEach((d, i) => {
      if (d.errors.length > 0) {
        issues.push({ file: rf, path: `#${i}`, message: `YAML error: ${d.errors[0]?.message ?? ''}` });
        return;
      }
      const obj = d.toJS() as unknown;
      if (obj === null || obj === undefined) return;
      const label = all.length > 1 ? `${rf}#${i}` : rf;
      if (!isObj(obj)) {
        issues.push({ file: label, path: '(root)', message: 'expected a Kubernetes object' });
        return;
      }
      const meta = asObj(obj['metadata']);
      docs.push({
        file: label,
        apiVersion: str(obj['apiVersion']) ?? '',
        kind: str(obj['kind']) ?? '',
        name: str(meta['name']) ?? '',
        namespace: str(meta['namespace']) ?? fileNamespace.get(file) ?? 'default',
        obj,
      });
    });
  }
  return { root, docs, kustomizations, issues };
}

/** npm packages holding model classes, tried in order: `<package>/<group>/<version>/<Kind>`. */
const MODEL_PACKAGES = [
  'kubernetes-models',
  '@kubernetes-models/istio',
  '@kubernetes-models/gateway-api',
  '@kubernetes-models/envoy-gateway',
  '@kubernetes-models/prometheus-operator',
] as const;

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: unknown): { validate(): void };
}

interface ResolvedModel {
  readonly module: string;
  readonly ctor: ModelClass;
}

async function findModel(apiVersion: string, kind: string): Promise<ResolvedModel | undefined> {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(apiVersion) || !/^\w+$/.test(kind)) return undefined;
  for (const pkg of MODEL_PACKAGES) {
    const module = `${pkg}/${apiVersion}/${kind}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(module)) as Record<string, unknown>;
    } catch {
      continue;
    }
    const ctor = mod[kind] as ModelClass | undefined;
    if (ctor !== undefined && ctor.apiVersion === apiVersion && ctor.kind === kind) return { module, ctor };
  }
  return undefined;
}

/**
 * Runs each document through its kubernetes-models class `validate()` (the upstream OpenAPI / CRD schema:
 * types, enums, required fields, formats). A document whose apiVersion+kind has no model is an issue.
 */
export async function validateModels(docs: readonly K8sDoc[]): Promise<{ issues: K8sIssue[]; models: Map<K8sDoc, ResolvedModel> }> {
  const issues: K8sIssue[] = [];
  const models = new Map<K8sDoc, ResolvedModel>();
  for (const doc of docs) {
    const model = await findModel(doc.apiVersion, doc.kind);
    if (model === undefined) {
      issues.push({ file: doc.file, path: 'kind', message: `unknown kind ${doc.apiVersion} ${doc.kind} (no model in ${MODEL_PACKAGES.join(', ')})` });
      continue;
    }
    models.set(doc, model);
    try {
      new model.ctor(doc.obj).validate();
    } catch (err) {
      // ajv's ValidationError carries one entry per failure; its instancePath is a JSON pointer.
      const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors;
      if (Array.isArray(errors) && errors.length > 0) {
        for (const e of errors) {
          const path = (e.instancePath ?? '').split('/').slice(1).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`)).join('').replace(/^\./, '');
          issues.push({ file: doc.file, path: path === '' ? '(root)' : path, message: `schema: ${e.message ?? 'invalid'}` });
        }
      } else {
        issues.push({ file: doc.file, path: '(schema)', message: (err as Error).message });
      }
    }
  }
  return { issues, models };
}

/**
 * Rejects fields the schema does not know (what `kubectl apply --validate=strict` does): the upstream
 * schemas allow unknown properties, so a misspelt `readOnlyRootFileSytem` would silently be dropped.
 * Uses the TypeScript declarations shipped with each model (`I<Kind>` interface) through the compiler API.
 */
export function checkUnknownFields(docs: readonly K8sDoc[], models: ReadonlyMap<K8sDoc, ResolvedModel>, cwd = process.cwd()): K8sIssue[] {
  const modules = [...new Set([...models.values()].map((m) => m.module))];
  if (modules.length === 0) return [];
  const virtualFile = resolve(cwd, 'test/support/__k8s_model_types__.ts');
  const aliases = new Map<string, string>();
  const lines = modules.map((module, i) => {
    const kind = module.slice(module.lastIndexOf('/') + 1);
    aliases.set(module, `T${i}`);
    return `import type { I${kind} as I${i} } from '${module}';\nexport type T${i} = I${i};`;
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.getSourceFile = (name, lang, ...rest) =>
    resolve(name) === virtualFile ? ts.createSourceFile(name, source, lang) : original.getSourceFile.call(host, name, lang, ...rest);
  host.fileExists = (name) => resolve(name) === virtualFile || original.fileExists.call(host, name);
  host.readFile = (name) => (resolve(name) === virtualFile ? source : original.readFile.call(host, name));
  const program = ts.createProgram([virtualFile], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(virtualFile);
  const typeOf = new Map<string, ts.Type>();
  if (sf !== undefined) {
    for (const stmt of sf.statements) {
      if (ts.isTypeAliasDeclaration(stmt)) typeOf.set(stmt.name.text, checker.getTypeAtLocation(stmt.name));
    }
  }

  const issues: K8sIssue[] = [];
  const members = (t: ts.Type): ts.Type[] =>
    (t.isUnion() ? t.types : [t]).filter((m) => (m.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)) === 0);
  const isOpen = (t: ts.Type): boolean => (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0;

  const walk = (value: unknown, type: ts.Type, path: string, file: string): void => {
    if (value === null || value === undefined) return;
    if (OPEN_PATHS.some((re) => re.test(path))) return;
    const ms = members(type);
    if (ms.some(isOpen)) return;
    if (Array.isArray(value)) {
      // The number index covers arrays, tuples and intersections of array types alike.
      const elems = ms.map((m) => checker.getIndexTypeOfType(m, ts.IndexKind.Number)).filter((t): t is ts.Type => t !== undefined);
      const elem = elems[0];
      if (elem === undefined) return;
      value.forEach((v, i) => walk(v, elem, `${path}[${i}]`, file));
      return;
    }
    if (!isObj(value)) return;
    // Generated CRD types are often intersections (`{…} & (Exclude<…> | …)`); the checker resolves their properties.
    const objects = ms.filter((m) => (m.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) !== 0 && checker.getIndexTypeOfType(m, ts.IndexKind.Number) === undefined);
    if (objects.length === 0) return;
    for (const [key, v] of Object.entries(value)) {
      const p = path === '' ? key : `${path}.${key}`;
      let propType: ts.Type | undefined;
      for (const m of objects) {
        const prop = checker.getPropertyOfType(m, key);
        if (prop !== undefined) {
          propType = checker.getTypeOfSymbol(prop);
          break;
        }
        const index = checker.getIndexTypeOfType(m, ts.IndexKind.String);
        if (index !== undefined) {
          propType = index;
          break;
        }
      }
      if (propType === undefined) {
        const known = objects.flatMap((m) => checker.getPropertiesOfType(m).map((sym) => sym.name));
        issues.push({ file, path: p, message: `unknown field "${key}"${suggest(key, known)}` });
        continue;
      }
      walk(v, propType, p, file);
    }
  };

  for (const [doc, model] of models) {
    const alias = aliases.get(model.module);
    const type = alias === undefined ? undefined : typeOf.get(alias);
    if (type === undefined) continue;
    const open = SCHEMALESS_FIELDS[`${doc.apiVersion} ${doc.kind}`] ?? [];
    const checked: Obj = {};
    for (const [k, v] of Object.entries(doc.obj)) if (!open.includes(k)) checked[k] = v;
    walk(checked, type, '', doc.file);
  }
  return issues;
}

/**
 * Top-level fields whose model carries no schema at all; they are checked by hand in
 * {@link checkCrossReferences} instead (IstioOperator: the extension providers).
 */
const SCHEMALESS_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'install.istio.io/v1alpha1 IstioOperator': ['spec'],
};

/**
 * Nested fields whose schema is an open object (`x-kubernetes-preserve-unknown-fields`) that the generated
 * types render as `{}`: an EnvoyFilter patch value is Envoy configuration, checked against the Envoy
 * protos by the deployment test instead.
 */
const OPEN_PATHS: readonly RegExp[] = [/^spec\.configPatches\[\d+\]\.patch\.value$/];

function suggest(key: string, known: readonly string[]): string {
  const lower = key.toLowerCase();
  const close = known.find((k) => k.toLowerCase() === lower || editDistance(k.toLowerCase(), lower) <= 2);
  return close === undefined ? '' : ` (did you mean "${close}"?)`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_x, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

interface PodSource {
  readonly doc: K8sDoc;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: Obj;
}

function selectorMatches(selector: Obj, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(asObj(selector['matchLabels']))) {
    if (labels[k] !== v) return false;
  }
  for (const e of asArr(selector['matchExpressions'])) {
    const ex = asObj(e);
    const key = String(ex['key']);
    const values = asArr(ex['values']).map(String);
    const has = Object.hasOwn(labels, key);
    switch (ex['operator']) {
      case 'In': if (!has || !values.includes(labels[key] ?? '')) return false; break;
      case 'NotIn': if (has && values.includes(labels[key] ?? '')) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

function isEmptySelector(selector: Obj): boolean {
  return Object.keys(asObj(selector['matchLabels'])).length === 0 && asArr(selector['matchExpressions']).length === 0;
}

function containerPorts(spec: Obj): { name?: string; port: number }[] {
  return asArr(spec['containers']).flatMap((c) =>
    asArr(asObj(c)['ports']).map((p) => {
      const po = asObj(p);
      const name = str(po['name']);
      return { ...(name !== undefined ? { name } : {}), port: Number(po['containerPort']) };
    }),
  );
}

function portExists(ports: readonly { name?: string; port: number }[], ref: unknown): boolean {
  if (typeof ref === 'number') return ports.some((p) => p.port === ref);
  if (typeof ref === 'string') return /^\d+$/.test(ref) ? ports.some((p) => p.port === Number(ref)) : ports.some((p) => p.name === ref);
  return false;
}

const ISTIO_OPERATOR_SPEC_KEYS = new Set(['profile', 'hub', 'tag', 'revision', 'namespace', 'meshConfig', 'components', 'values', 'unvalidatedValues']);
const ISTIO_PROVIDER_TYPES = new Set([
  'envoyExtAuthzHttp', 'envoyExtAuthzGrpc', 'zipkin', 'datadog', 'stackdriver', 'skywalking', 'opentelemetry',
  'prometheus', 'envoyFileAccessLog', 'envoyHttpAls', 'envoyTcpAls', 'envoyOtelAls', 'sds',
]);

const SECRETISH_ENV = /(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE)/i;

/**
 * Links between documents that no single schema can check: selectors select real pods, ports and probe
 * ports exist, referenced ConfigMaps/Secrets exist (or are documented external Secrets), NetworkPolicy
 * selectors select pods, workloads are hardened, no literal secrets, Istio providers and Envoy Gateway
 * backends point at the idgate-authz gRPC port.
 */
export function checkCrossReferences(tree: K8sTree, options: K8sValidateOptions): K8sIssue[] {
  const issues: K8sIssue[] = [];
  const add = (doc: K8sDoc | string, path: string, message: string): void => {
    issues.push({ file: typeof doc === 'string' ? doc : doc.file, path, message });
  };
  const of = (kind: string): K8sDoc[] => tree.docs.filter((d) => d.kind === kind);
  const pods: PodSource[] = [];
  for (const doc of tree.docs) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(doc.kind)) continue;
    const template = asObj(asObj(doc.obj['spec'])['template']);
    const labels = asObj(asObj(template['metadata'])['labels']) as Record<string, string>;
    pods.push({ doc, labels, spec: asObj(template['spec']) });
  }
  const podsIn = (ns: string): PodSource[] => pods.filter((p) => p.doc.namespace === ns);
  const configMaps = new Set<string>([
    ...of('ConfigMap').map((d) => `${d.namespace}/${d.name}`),
    ...tree.kustomizations.flatMap((k) => k.generatedConfigMaps.map((n) => `${k.namespace ?? 'default'}/${n}`)),
  ]);
  const secrets = new Set<string>(of('Secret').map((d) => `${d.namespace}/${d.name}`));
  const services = of('Service');
  const findService = (ns: string, name: string): K8sDoc | undefined => services.find((s) => s.namespace === ns && s.name === name);

  // Workloads: selector vs template labels, hardening, probes, references.
  for (const pod of pods) {
    const { doc, labels, spec } = pod;
    const selector = asObj(asObj(doc.obj['spec'])['selector']);
    if (!selectorMatches(selector, labels)) add(doc, 'spec.selector', 'does not match the pod template labels');
    const psc = asObj(spec['securityContext']);
    if (psc['runAsNonRoot'] !== true) add(doc, 'spec.template.spec.securityContext.runAsNonRoot', 'must be true');
    if (asObj(psc['seccompProfile'])['type'] !== 'RuntimeDefault') add(doc, 'spec.template.spec.securityContext.seccompProfile', 'must be RuntimeDefault');
    const ports = containerPorts(spec);
    asArr(spec['topologySpreadConstraints']).forEach((t, i) => {
      if (!selectorMatches(asObj(asObj(t)['labelSelector']), labels)) {
        add(doc, `spec.template.spec.topologySpreadConstraints[${i}].labelSelector`, 'does not select the pods of this workload');
      }
    });
    const volumes = asArr(spec['volumes']).map(asObj);
    for (const [vi, v] of volumes.entries()) {
      const cm = str(asObj(v['configMap'])['name']);
      if (cm !== undefined && !configMaps.has(`${doc.namespace}/${cm}`)) add(doc, `spec.template.spec.volumes[${vi}].configMap.name`, `ConfigMap "${cm}" is not defined or generated`);
      const sec = str(asObj(v['secret'])['secretName']);
      if (sec !== undefined && !secrets.has(`${doc.namespace}/${sec}`) && !options.externalSecrets.includes(sec)) {
        add(doc, `spec.template.spec.volumes[${vi}].secret.secretName`, `Secret "${sec}" is neither defined nor a documented external Secret`);
      }
    }
    asArr(spec['containers']).forEach((c, ci) => {
      const co = asObj(c);
      const cp = `spec.template.spec.containers[${ci}]`;
      const sc = asObj(co['securityContext']);
      if (sc['allowPrivilegeEscalation'] !== false) add(doc, `${cp}.securityContext.allowPrivilegeEscalation`, 'must be false');
      if (sc['readOnlyRootFilesystem'] !== true) add(doc, `${cp}.securityContext.readOnlyRootFilesystem`, 'must be true');
      if (!asArr(asObj(sc['capabilities'])['drop']).includes('ALL')) add(doc, `${cp}.securityContext.capabilities.drop`, 'must drop ALL');
      if (co['resources'] === undefined) add(doc, `${cp}.resources`, 'requests/limits are required');
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const po = asObj(co[probe]);
        for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
          const h = po[handler];
          if (h === undefined) continue;
          const port = asObj(h)['port'];
          if (!portExists(ports, port)) add(doc, `${cp}.${probe}.${handler}.port`, `port ${String(port)} is not a container port`);
        }
      }
      const claims = asArr(asObj(doc.obj['spec'])['volumeClaimTemplates']).map((c) => asObj(asObj(c)['metadata'])['name']);
      const volumeNames = new Set([...volumes.map((v) => v['name']), ...claims]);
      asArr(co['volumeMounts']).forEach((m, mi) => {
        if (!volumeNames.has(asObj(m)['name'])) add(doc, `${cp}.volumeMounts[${mi}].name`, `no volume named ${String(asObj(m)['name'])}`);
      });
      asArr(co['env']).forEach((e, ei) => {
        const eo = asObj(e);
        const ep = `${cp}.env[${ei}]`;
        if (typeof eo['value'] === 'string' && SECRETISH_ENV.test(String(eo['name']))) {
          add(doc, `${ep}.value`, `${String(eo['name'])} looks like a secret: take it from a Secret (valueFrom.secretKeyRef)`);
        }
        const vf = asObj(eo['valueFrom']);
        const cmRef = str(asObj(vf['configMapKeyRef'])['name']);
        if (cmRef !== undefined && !configMaps.has(`${doc.namespace}/${cmRef}`)) add(doc, `${ep}.valueFrom.configMapKeyRef.name`, `ConfigMap "${cmRef}" is not defined or generated`);
        const secRef = str(asObj(vf['secretKeyRef'])['name']);
        if (secRef !== undefined && !secrets.has(`${doc.namespace}/${secRef}`) && !options.externalSecrets.includes(secRef)) {
          add(doc, `${ep}.valueFrom.secretKeyRef.name`, `Secret "${secRef}" is neither defined nor a documented external Secret`);
        }
      });
    });
    const grace = spec['terminationGracePeriodSeconds'];
    if (options.shutdownGraceSeconds !== undefined && labels['app.kubernetes.io/name'] === 'idgate') {
      if (typeof grace !== 'number' || grace <= options.shutdownGraceSeconds) {
        add(doc, 'spec.template.spec.terminationGracePeriodSeconds', `must exceed idgate's shutdown grace (${options.shutdownGraceSeconds}s)`);
      }
    }
    if (doc.kind === 'StatefulSet') {
      const svcName = str(asObj(doc.obj['spec'])['serviceName']);
      const svc = svcName === undefined ? undefined : findService(doc.namespace, svcName);
      if (svc === undefined) add(doc, 'spec.serviceName', `headless Service "${String(svcName)}" is not defined`);
      else if (asObj(svc.obj['spec'])['clusterIP'] !== 'None') add(svc, 'spec.clusterIP', 'a StatefulSet governing Service must be headless (None)');
    }
  }

  // Services: selectors select pods; targetPorts exist on those pods.
  for (const svc of services) {
    const spec = asObj(svc.obj['spec']);
    const selector = asObj(spec['selector']) as Record<string, string>;
    const selected = podsIn(svc.namespace).filter((p) => Object.entries(selector).every(([k, v]) => p.labels[k] === v));
    if (Object.keys(selector).length === 0 || selected.length === 0) {
      add(svc, 'spec.selector', 'selects no pods of any workload in this namespace');
      continue;
    }
    asArr(spec['ports']).forEach((p, i) => {
      const po = asObj(p);
      const target = po['targetPort'] ?? po['port'];
      for (const pod of selected) {
        if (!portExists(containerPorts(pod.spec), target)) {
          add(svc, `spec.ports[${i}].targetPort`, `${String(target)} is not a container port of ${pod.doc.kind} ${pod.doc.name}`);
        }
      }
    });
  }

  // Selectors of PDBs and NetworkPolicies; HPA targets.
  for (const pdb of of('PodDisruptionBudget')) {
    const sel = asObj(asObj(pdb.obj['spec'])['selector']);
    if (!podsIn(pdb.namespace).some((p) => selectorMatches(sel, p.labels))) add(pdb, 'spec.selector', 'selects no pods');
  }
  for (const hpa of of('HorizontalPodAutoscaler')) {
    const ref = asObj(asObj(hpa.obj['spec'])['scaleTargetRef']);
    if (!pods.some((p) => p.doc.namespace === hpa.namespace && p.doc.kind === ref['kind'] && p.doc.name === ref['name'])) {
      add(hpa, 'spec.scaleTargetRef', `${String(ref['kind'])} ${String(ref['name'])} is not defined`);
    }
  }
  for (const np of of('NetworkPolicy')) {
    const spec = asObj(np.obj['spec']);
    const sel = asObj(spec['podSelector']);
    if (!isEmptySelector(sel) && !podsIn(np.namespace).some((p) => selectorMatches(sel, p.labels))) {
      add(np, 'spec.podSelector', 'selects no pods');
    }
    for (const dir of ['ingress', 'egress'] as const) {
      asArr(spec[dir]).forEach((rule, ri) => {
        asArr(asObj(rule)[dir === 'ingress' ? 'from' : 'to']).forEach((peer, pi) => {
          const po = asObj(peer);
          if (po['podSelector'] === undefined || po['namespaceSelector'] !== undefined) return;
          const ps = asObj(po['podSelector']);
          if (!isEmptySelector(ps) && !podsIn(np.namespace).some((p) => selectorMatches(ps, p.labels))) {
            add(np, `spec.${dir}[${ri}].${dir === 'ingress' ? 'from' : 'to'}[${pi}].podSelector`, 'selects no pods in this namespace');
          }
        });
      });
    }
  }

  // No literal secret values anywhere.
  for (const s of of('Secret')) {
    const spec = s.obj;
    if (spec['data'] !== undefined || spec['stringData'] !== undefined) add(s, 'data', 'literal Secret data must not be committed; create the Secret with kubectl');
  }

  // Istio: AuthorizationPolicy CUSTOM providers exist and point at the idgate-authz gRPC port.
  const providers = new Map<string, { doc: K8sDoc; path: string; value: Obj }>();
  const collectProviders = (doc: K8sDoc, mesh: Obj, base: string): void => {
    asArr(mesh['extensionProviders']).forEach((p, i) => {
      const po = asObj(p);
      const name = str(po['name']);
      if (name !== undefined) providers.set(name, { doc, path: `${base}.extensionProviders[${i}]`, value: po });
    });
  };
  for (const doc of of('IstioOperator')) collectProviders(doc, asObj(asObj(doc.obj['spec'])['meshConfig']), 'spec.meshConfig');
  for (const doc of of('ConfigMap').filter((d) => d.name === 'istio')) {
    const mesh = str(asObj(doc.obj['data'])['mesh']);
    if (mesh !== undefined) collectProviders(doc, asObj(parseYaml(mesh)), 'data.mesh');
  }
  for (const doc of of('IstioOperator')) {
    const spec = asObj(doc.obj['spec']);
    for (const key of Object.keys(spec)) {
      if (!ISTIO_OPERATOR_SPEC_KEYS.has(key)) add(doc, `spec.${key}`, `unknown IstioOperator spec field "${key}"`);
    }
  }
  for (const p of providers.values()) {
    const types = Object.keys(p.value).filter((k) => k !== 'name');
    if (types.length !== 1 || !ISTIO_PROVIDER_TYPES.has(types[0] ?? '')) {
      add(p.doc, p.path, `an extension provider has a name and exactly one provider type, got ${types.join(', ') || 'none'}`);
    }
  }
  const GRPC_PROVIDER_KEYS = new Set(['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck', 'clearRouteCache']);
  for (const [name, p] of providers) {
    const grpc = p.value['envoyExtAuthzGrpc'];
    if (!isObj(grpc)) continue;
    const gp = `${p.path}.envoyExtAuthzGrpc`;
    for (const key of Object.keys(grpc)) if (!GRPC_PROVIDER_KEYS.has(key)) add(p.doc, `${gp}.${key}`, `unknown envoyExtAuthzGrpc field "${key}"`);
    if (typeof grpc['timeout'] !== 'string' || !/^\d+(\.\d+)?(ms|s|m|h)$/.test(grpc['timeout'])) add(p.doc, `${gp}.timeout`, 'set an explicit timeout like 0.25s (Istio defaults to 600s)');
    if (grpc['failOpen'] !== false) add(p.doc, `${gp}.failOpen`, 'must be false (fail closed)');
    if (grpc['statusOnError'] !== undefined && !(typeof grpc['statusOnError'] === 'string' && /^[1-5]\d\d$/.test(grpc['statusOnError']))) {
      add(p.doc, `${gp}.statusOnError`, 'must be an HTTP status code as a string, e.g. "503"');
    }
    const host = str(grpc['service']) ?? '';
    const m = /^(?:([\w-]+)\/)?([\w-]+)\.([\w-]+)\.svc\.cluster\.local$/.exec(host);
    const svc = m === null ? undefined : findService(m[3] ?? '', m[2] ?? '');
    if (svc === undefined) {
      add(p.doc, `${gp}.service`, `"${host}" is not <service>.<namespace>.svc.cluster.local of a Service in these manifests`);
      continue;
    }
    const port = asArr(asObj(svc.obj['spec'])['ports']).map(asObj).find((sp) => sp['port'] === grpc['port']);
    if (port === undefined) add(p.doc, `${gp}.port`, `${String(grpc['port'])} is not a port of Service ${svc.name}`);
    else if (port['appProtocol'] !== 'grpc' && !String(port['name']).startsWith('grpc')) {
      add(p.doc, `${gp}.port`, `port ${String(grpc['port'])} of Service ${svc.name} is not declared gRPC (name grpc* or appProtocol: grpc) for provider ${name}`);
    }
  }
  for (const ap of of('AuthorizationPolicy')) {
    const spec = asObj(ap.obj['spec']);
    if (spec['action'] !== 'CUSTOM') continue;
    const name = str(asObj(spec['provider'])['name']);
    if (name === undefined || !providers.has(name)) {
      add(ap, 'spec.provider.name', `provider "${String(name)}" is not an extensionProviders name (${[...providers.keys()].join(', ') || 'none defined'})`);
    }
    if (asArr(spec['rules']).length === 0) add(ap, 'spec.rules', 'a CUSTOM policy without rules never matches (use rules: [{}] for everything)');
  }

  // Envoy Gateway / Gateway API: backends exist, cross-namespace references are granted.
  const grants = of('ReferenceGrant');
  const granted = (fromKind: string, fromNs: string, toNs: string, toName: string): boolean =>
    grants.some((g) => {
      if (g.namespace !== toNs) return false;
      const spec = asObj(g.obj['spec']);
      const fromOk = asArr(spec['from']).map(asObj).some((f) => f['kind'] === fromKind && f['namespace'] === fromNs);
      const toOk = asArr(spec['to']).map(asObj).some((t) => t['kind'] === 'Service' && (t['name'] === undefined || t['name'] === toName));
      return fromOk && toOk;
    });
  const checkBackend = (doc: K8sDoc, ref: Obj, path: string): void => {
    if ((ref['kind'] ?? 'Service') !== 'Service') return;
    const ns = str(ref['namespace']) ?? doc.namespace;
    const name = str(ref['name']) ?? '';
    const svc = findService(ns, name);
    if (svc === undefined) {
      if (!(options.externalNamespaces ?? []).includes(ns)) add(doc, path, `Service ${ns}/${name} is not defined`);
      return;
    }
    if (!asArr(asObj(svc.obj['spec'])['ports']).map(asObj).some((sp) => sp['port'] === ref['port'])) {
      add(doc, `${path}.port`, `${String(ref['port'])} is not a port of Service ${ns}/${name}`);
    }
    if (ns !== doc.namespace && !granted(doc.kind, doc.namespace, ns, name)) {
      add(doc, path, `cross-namespace reference to Service ${ns}/${name} needs a ReferenceGrant in ${ns}`);
    }
  };
  for (const sp of of('SecurityPolicy')) {
    const ext = asObj(asObj(sp.obj['spec'])['extAuth']);
    if (Object.keys(ext).length === 0) continue;
    if (ext['failOpen'] !== false) add(sp, 'spec.extAuth.failOpen', 'must be false (fail closed)');
    asArr(asObj(ext['grpc'])['backendRefs']).forEach((r, i) => checkBackend(sp, asObj(r), `spec.extAuth.grpc.backendRefs[${i}]`));
  }
  for (const route of [...of('HTTPRoute'), ...of('GRPCRoute')]) {
    asArr(asObj(route.obj['spec'])['rules']).forEach((rule, ri) => {
      asArr(asObj(rule)['backendRefs']).forEach((r, bi) => checkBackend(route, asObj(r), `spec.rules[${ri}].backendRefs[${bi}]`));
    });
  }
  return issues;
}

/**
 * Validates a whole manifest tree: structure ({@link loadK8sTree}), upstream schemas
 * ({@link validateModels}), unknown fields ({@link checkUnknownFields}) and links
 * ({@link checkCrossReferences}). Returns every issue (empty = valid) and the parsed tree.
 */
export async function validateK8sTree(rootDir: string, options: K8sValidateOptions): Promise<{ tree: K8sTree; issues: K8sIssue[] }> {
  const tree = loadK8sTree(rootDir, options);
  const { issues: modelIssues, models } = await validateModels(tree.docs);
  return {
    tree,
    issues: [...tree.issues, ...modelIssues, ...checkUnknownFields(tree.docs, models), ...checkCrossReferences(tree, options)],
  };
}

/** Formats issues one per line as `file: path: message`. */
export function formatK8sIssues(issues: readonly K8sIssue[]): string {
  return issues.map((i) => `${i.file}: ${i.path}: ${i.message}`).join('\n');
}
