import { isAbsolute, normalize, sep } from 'node:path';
import { didYouMean } from '../core/suggest.js';
import { checkConditions, checkRequirementRefs, type RawIssue, type RouteRefs } from './cross-check.js';
import { hostsOverlap, prefixesOverlap } from './ownership.js';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function strings(v: unknown): string[] {
  return arr(v).filter((s): s is string => typeof s === 'string');
}

/**
 * The platform file's org-wide checks (`policy.guardrails`, `policy.tenants`), on the raw document like
 * `crossCheckConfig`: unique guardrail ids, no `contextExtensions` in a guardrail, one action, references
 * to issuers, workflows and sensitivity levels; unique tenant names, tenant files that stay inside the
 * platform file's directory, and ownership grants that never overlap between two tenants. Any issue here
 * fails the whole load (it is the platform's file).
 */
export function checkOrgPolicy(raw: unknown, refs: RouteRefs): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: readonly PropertyKey[], message: string, at: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, at });
  };
  const policy = obj(obj(raw)?.['policy']) ?? {};
  checkGuardrails(policy['guardrails'], refs, add);
  checkTenants(policy['tenants'], add);
  return issues;
}

type Add = (path: readonly PropertyKey[], message: string, at?: 'key' | 'value') => void;

function checkGuardrails(guardrails: unknown, refs: RouteRefs, add: Add): void {
  const seen = new Map<string, number>();
  const levelNames = Object.keys(refs.levels);
  arr(guardrails).forEach((g, i) => {
    const guardrail = obj(g);
    if (guardrail === undefined) return;
    const path = ['policy', 'guardrails', i];
    const id = guardrail['id'];
    if (typeof id === 'string') {
      const first = seen.get(id);
      if (first !== undefined) add([...path, 'id'], `duplicate guardrail id "${id}" (first used by policy.guardrails[${first}])`);
      else seen.set(id, i);
    }
    if (obj(guardrail['match'])?.['contextExtensions'] !== undefined) {
      add(
        [...path, 'match', 'contextExtensions'],
        'a guardrail applies to every request it matches, whatever the proxy labels it: contextExtensions is not allowed in guardrails (match on hosts, paths, methods or principals)',
        'key',
      );
    }
    if (guardrail['action'] !== undefined && guardrail['deny'] !== undefined) add([...path, 'deny'], 'set only one of: action, deny', 'key');
    if (guardrail['deny'] === false) add([...path, 'deny'], 'deny: false has no effect; remove it', 'key');
    const action = guardrail['action'] ?? (guardrail['deny'] === true ? 'deny' : 'require');
    if (action === 'deny') {
      if (guardrail['require'] !== undefined) add([...path, 'require'], 'a deny guardrail cannot have requirements', 'key');
      if (guardrail['sensitivity'] !== undefined) add([...path, 'sensitivity'], 'sensitivity applies only to require guardrails, not deny', 'key');
    }
    checkRequirementRefs(obj(guardrail['require']), [...path, 'require'], refs, add);
    const sensitivity = guardrail['sensitivity'];
    if (typeof sensitivity === 'string' && !Object.hasOwn(refs.levels, sensitivity)) {
      add(
        [...path, 'sensitivity'],
        `unknown sensitivity level "${sensitivity}"${didYouMean(sensitivity, levelNames)} (defined: ${levelNames.join(', ') || 'none'})`,
      );
    }
    // A guardrail's step-up applies on top of whatever route decided; the route or the floor authenticates.
    checkConditions(guardrail, path, String(action), true, refs.conditions, add);
  });
}

/** One host × prefix a tenant owns, with where its host is written. */
interface Grant {
  readonly tenant: string;
  readonly index: number;
  readonly host: string;
  readonly prefix: string;
  readonly hostIndex: number;
}

function checkTenants(tenants: unknown, add: Add): void {
  const names = new Map<string, number>();
  const files = new Map<string, string>();
  const grants: Grant[][] = [];
  arr(tenants).forEach((t, i) => {
    const tenant = obj(t);
    if (tenant === undefined) return;
    const path = ['policy', 'tenants', i];
    const name = typeof tenant['name'] === 'string' ? tenant['name'] : `#${i}`;
    if (typeof tenant['name'] === 'string') {
      const first = names.get(name);
      if (first !== undefined) add([...path, 'name'], `duplicate tenant name "${name}" (first used by policy.tenants[${first}])`);
      else names.set(name, i);
    }
    arr(tenant['files']).forEach((f, k) => {
      if (typeof f !== 'string' || f === '') return;
      const at = [...path, 'files', k];
      const problem = tenantFileProblem(f);
      if (problem !== undefined) {
        add(at, problem);
        return;
      }
      const key = normalize(f);
      const owner = files.get(key);
      if (owner !== undefined) add(at, `file "${f}" is already a file of tenant "${owner}" (each file belongs to one tenant)`);
      else files.set(key, name);
    });
    const owns = obj(tenant['owns']);
    const hosts = strings(owns?.['hosts']).map((h) => h.toLowerCase());
    const prefixes = owns?.['prefixes'] === undefined ? ['/'] : strings(owns['prefixes']);
    grants.push(hosts.flatMap((host, hostIndex) => prefixes.map((prefix) => ({ tenant: name, index: i, host, prefix, hostIndex }))));
  });
  // Report each overlapping pair of tenants once, on the later one, naming both grants. Prefixes are
  // compared ignoring case: dispatch is case-sensitive, but behind a case-insensitive upstream `/Shop` and
  // `/shop` are one resource, and two teams must not both decide it.
  const overlap = (a: Grant, b: Grant): boolean => hostsOverlap(a.host, b.host) && prefixesOverlap(a.prefix.toLowerCase(), b.prefix.toLowerCase());
  grants.forEach((later, j) => {
    for (const earlier of grants.slice(0, j)) {
      const clash = later.flatMap((b) => earlier.filter((a) => overlap(a, b)).map((a) => [a, b] as const))[0];
      if (clash === undefined) continue;
      const [a, b] = clash;
      const byCase = prefixesOverlap(a.prefix, b.prefix) ? '' : ' (prefixes compared ignoring case)';
      add(
        ['policy', 'tenants', b.index, 'owns', 'hosts', b.hostIndex],
        `ownership overlap: tenant "${b.tenant}" (host ${b.host}, prefix ${b.prefix}) overlaps tenant "${a.tenant}" (host ${a.host}, prefix ${a.prefix}, policy.tenants[${a.index}])${byCase}; a request may belong to one tenant only`,
      );
    }
  });
}

/**
 * Tenant files must resolve inside the platform file's directory (where a team's ConfigMap is mounted
 * below the platform's): a relative path that never climbs out of it. The loader also refuses a file a
 * symlink leads out of that directory.
 */
function tenantFileProblem(file: string): string | undefined {
  if (isAbsolute(file)) return `tenant files are relative to the platform file's directory, not absolute: "${file}"`;
  const n = normalize(file);
  if (n === '..' || n.startsWith(`..${sep}`) || n.startsWith('../')) return `tenant file "${file}" escapes the platform file's directory`;
  if (n === '.' || n.endsWith(sep)) return `tenant file "${file}" names a directory, not a file`;
  return undefined;
}
