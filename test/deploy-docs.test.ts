import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const DOCS = ['docs/deployment.md', 'envoy/README.md', 'docs/platform-teams.md'];
const PATH_RE = /(?<![\w./-])((?:envoy|k8s|docs|test|examples|src|proto)\/[\w./*-]*[\w*]|Dockerfile|\.dockerignore)(?:#([\w.]+))?/g;

/** Repository paths (and optional `#dotted.key` into a YAML file) mentioned in a Markdown file. */
function referencedPaths(markdown: string): { path: string; key?: string }[] {
  const found = new Map<string, { path: string; key?: string }>();
  for (const m of markdown.matchAll(PATH_RE)) {
    const path = (m[1] ?? '').replace(/[.]+$/, '');
    const key = m[2];
    found.set(`${path}#${key ?? ''}`, { path, ...(key !== undefined ? { key } : {}) });
  }
  return [...found.values()];
}

function yamlHasKey(file: string, dotted: string): boolean {
  return parseAllDocuments(readFileSync(file, 'utf8')).some((doc) => {
    let node: unknown = doc.toJS();
    for (const part of dotted.split('.')) {
      if (node === null || typeof node !== 'object' || !(part in node)) return false;
      node = (node as Record<string, unknown>)[part];
    }
    return true;
  });
}

describe.each(DOCS)('%s', (doc) => {
  const text = readFileSync(doc, 'utf8');
  const refs = referencedPaths(text);

  it('references files', () => {
    expect(refs.length).toBeGreaterThan(2);
  });

  it.each(refs.map((r) => [`${r.path}${r.key !== undefined ? `#${r.key}` : ''}`, r] as const))('%s exists', (_label, ref) => {
    const path = ref.path;
    if (path.includes('*')) {
      // A glob in the file name (test/deploy-*.test.ts) must match at least one file.
      const dir = dirname(path);
      const re = new RegExp(`^${basename(path).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      expect(existsSync(dir) && readdirSync(dir).some((f) => re.test(f)), ref.path).toBe(true);
      return;
    }
    expect(existsSync(path), ref.path).toBe(true);
    if (ref.key !== undefined) expect(yamlHasKey(path, ref.key), `${ref.path} has no key ${ref.key}`).toBe(true);
  });
});

describe('docs/deployment.md agrees with the manifests', () => {
  const text = readFileSync('docs/deployment.md', 'utf8');

  it('creates exactly the Secret keys the manifests read', () => {
    const created = [...text.matchAll(/--from-literal=([\w-]+)=/g)].map((m) => m[1]).sort();
    const manifests = ['k8s/base/deployment-authz.yaml', 'k8s/base/deployment-webhook.yaml', 'k8s/base/redis.yaml']
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const read = [...new Set([...manifests.matchAll(/secretKeyRef: \{ name: idgate-secrets, key: ([\w-]+) \}/g)].map((m) => m[1]))].sort();
    expect(read.length).toBeGreaterThan(0);
    expect(created).toEqual(read);
  });

  it('names every environment variable the config references', () => {
    const config = readFileSync('k8s/base/idgate.yaml', 'utf8');
    const envs = [...new Set([...config.matchAll(/^[^#\n]*\{ env: (\w+) \}/gm)].map((m) => m[1] ?? ''))];
    expect(envs.length).toBe(4);
    for (const env of envs) expect(text, env).toContain(env);
  });

  it('quotes the same Istio provider that istio-operator.yaml installs', () => {
    const operator = readFileSync('k8s/overlays/istio/istio-operator.yaml', 'utf8');
    for (const line of ['service: idgate-authz.idgate.svc.cluster.local', 'port: 9191', 'timeout: 0.25s', 'failOpen: false', 'statusOnError: "503"']) {
      expect(operator, line).toContain(line);
      expect(text, line).toContain(line);
    }
  });
});
